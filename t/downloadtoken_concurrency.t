# Download Token Service under concurrent clients: eight processes, each
# with its own session, each issuing fifty tokens over one keep-alive
# connection at the same time.  The store is shared by every server
# process (prefork) and thread (event), so what must hold is exactly what
# a lost update or a torn slot would break: every reply is a token, no
# two tokens are equal, tokens-live rises by exactly 400 and the store
# stays consistent; logging the sessions out brings it back to the start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DTTest qw(XML_DECL xml login logout status reply_summary remember
              log_leaks);
use HTTP::Request ();
use IO::Handle ();
use LWP::UserAgent ();
use POSIX ();
use Time::HiRes ();

my $N_CLIENTS = 8;
my $N_EACH = 50;
my $TOTAL = $N_CLIENTS * $N_EACH;
my $S = '/callrec/downloadtoken';

# A client that hangs must fail the file, not the whole suite.
alarm 300;

# The MPM is the one httpd.conf loads; the Server header and `apache2 -V`
# name only the one compiled in by default.
sub mpm_of_conf
{
    my $file = Apache::Test::vars('t_conf_file');
    open my $fh, '<', $file or return undef;
    while (my $line = <$fh>) {
        return $1 if $line =~ /^\s*LoadModule\s+mpm_(\w+)_module\b/;
    }
    return undef;
}

sub token_re
{
    my $decl = XML_DECL;
    return qr/\A\Q$decl\E<reply>([A-Za-z0-9]{20})<\/reply>\n\z/;
}

# One client process.  Lines to the parent:
#   S <session id>  after the login       T <token>  one per token reply
#   B <summary>     any other reply       K <n>      most requests on one
#   D <t0> <t1>     the batch's times                connection
#   L <ok|reply>    after the logout
sub client
{
    my ($n, $cmd, $out) = @_;
    $out->autoflush(1);
    my ($id, $res) = login();
    print $out 'S ', ($id // 'none: ' . reply_summary($res)), "\n";
    exit_child() unless defined $id;
    my $go = <$cmd>;
    exit_child() unless defined $go && $go eq "go\n";

    my $base = 'http://'
               . Apache::TestRequest::hostport(Apache::Test::config());
    my $ua = LWP::UserAgent->new(keep_alive => 1, timeout => 60,
                                 max_redirect => 0, agent => "dt-conc/$n");
    my $most = 0;
    my $t0 = Time::HiRes::time();
    for my $i (1 .. $N_EACH) {
        my $r = HTTP::Request->new(GET => "$base$S?id_call%5B%5D="
                                   . ($n * 1000 + $i)
                                   . '&type=1&action=download');
        $r->header(Cookie => "JSESSIONID=$id");
        my $res = $ua->request($r);
        my $k = $res->header('Client-Response-Num') // 1;
        $most = $k if $k > $most;
        if ($res->code == 200 && $res->content =~ token_re()) {
            print $out "T $1\n";
        }
        else {
            my $s = reply_summary($res);
            $s =~ s/\n/ /g;
            print $out "B $s\n";
        }
    }
    my $t1 = Time::HiRes::time();
    # Under prefork an idle keep-alive connection holds a whole server
    # process; let it go so the other clients are not kept waiting.
    $ua->conn_cache->drop;
    print $out "K $most\nD $t0 $t1\n";

    my $bye = <$cmd>;
    exit_child() unless defined $bye && $bye eq "logout\n";
    my $lres = logout($id);
    print $out 'L ', ($lres->content eq xml('<ok>Session closed.</ok>')
                      ? 'ok' : reply_summary($lres)), "\n";
    exit_child();
}

# Leaves without Test::More's end-of-file report, which is the parent's.
sub exit_child
{
    POSIX::_exit(0);
}

# Reads a child's lines until one starts with $stop.
sub read_until
{
    my ($fh, $stop, $lines) = @_;
    while (my $line = <$fh>) {
        chomp $line;
        push @$lines, $line;
        return 1 if index($line, $stop) == 0;
    }
    return 0;
}

plan tests => 15;

my $mpm = mpm_of_conf();
ok(defined $mpm, 'the MPM is named by a LoadModule line of httpd.conf');
diag('the server runs the ' . ($mpm // 'unknown') . ' MPM');

my $st0 = status();
my $live0 = $st0->{'tokens-live'} // -1;
my $issued0 = $st0->{'tokens-issued'} // -1;
my $sessions0 = $st0->{'sessions-live'} // -1;

my @kids;
for my $n (1 .. $N_CLIENTS) {
    pipe(my $cmd_r, my $cmd_w) or die "pipe: $!";
    pipe(my $out_r, my $out_w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $cmd_w;
        close $out_r;
        close $_->{cmd} for @kids;
        close $_->{out} for @kids;
        client($n, $cmd_r, $out_w);
    }
    close $cmd_r;
    close $out_w;
    $cmd_w->autoflush(1);
    push @kids, { pid => $pid, cmd => $cmd_w, out => $out_r, lines => [] };
}

# Every client logs in before any issues, so the batches overlap.
my $logged_in = 0;
for my $k (@kids) {
    read_until($k->{out}, 'S ', $k->{lines});
    if (($k->{lines}[-1] // '') =~ /\AS ([0-9A-F]{32})\z/) {
        remember($1);
        $logged_in++;
    }
}
is($logged_in, $N_CLIENTS, "$N_CLIENTS clients logged in");

print { $_->{cmd} } "go\n" for @kids;
my (%seen, @bad, $reused, @spans);
$reused = 0;
for my $k (@kids) {
    read_until($k->{out}, 'D ', $k->{lines});
    for (@{ $k->{lines} }) {
        $seen{$1}++ if /\AT (\S+)\z/;
        push @bad, $1 if /\AB (.*)\z/;
        $reused++ if /\AK (\d+)\z/ && $1 > 1;
        push @spans, [$1, $2] if /\AD (\S+) (\S+)\z/;
    }
}
remember(keys %seen);
my $tokens = 0;
$tokens += $_ for values %seen;

is($tokens, $TOTAL, "all $TOTAL replies are tokens")
    or diag('first other reply: ' . ($bad[0] // 'none (a client failed)'));
is(scalar keys %seen, $TOTAL, "the $TOTAL tokens are all distinct");
is($reused, $N_CLIENTS, 'every client reused its keep-alive connection');

my $st1 = status();
is(($st1->{'tokens-live'} // -1) - $live0, $TOTAL,
   "tokens-live went up by exactly $TOTAL");
is(($st1->{'tokens-issued'} // -1) - $issued0, $TOTAL,
   "tokens-issued went up by exactly $TOTAL");
is(($st1->{'sessions-live'} // -1) - $sessions0, $N_CLIENTS,
   "sessions-live went up by $N_CLIENTS");
is($st1->{consistent} // '', 'yes', 'the store is consistent after the '
   . 'batches');

# How much the batches overlapped, for the reader of the log: with
# Apache::Test's default MaxClients, prefork serves only a few at a time.
my $overlap = 0;
for my $x (@spans) {
    $overlap++ if grep { $_ != $x && $_->[0] < $x->[1] && $x->[0] < $_->[1] }
                  @spans;
}
diag("$overlap of $N_CLIENTS batches overlapped another one in time");

# All sessions log out at once too.
print { $_->{cmd} } "logout\n" for @kids;
my $closed = 0;
for my $k (@kids) {
    read_until($k->{out}, 'L ', $k->{lines});
    $closed++ if ($k->{lines}[-1] // '') eq 'L ok';
}
is($closed, $N_CLIENTS, 'every client logged out with <ok>');

my $clean = 0;
for my $k (@kids) {
    waitpid($k->{pid}, 0);
    $clean++ if $? == 0;
}
is($clean, $N_CLIENTS, 'every client process ended cleanly');

my $st2 = status();
is($st2->{'tokens-live'} // -1, $live0,
   'after the logouts tokens-live is back where it started');
is($st2->{'sessions-live'} // -1, $sessions0,
   'after the logouts sessions-live is back where it started');
is($st2->{consistent} // '', 'yes', 'the store is consistent at the end');

my @leaks = log_leaks();
ok(!@leaks, 'no token or session id in the module\'s log lines')
    or diag("leaked: $leaks[0]");
