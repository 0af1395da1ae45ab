# Sessions survive what operators do to a running server: a graceful
# restart (SIGUSR1) and a restart (SIGHUP) of Apache::Test's server, and a
# clean stop and start, which goes through the snapshot file
# (downloadtoken.snapshot in DefaultRuntimeDir).
#
# The stop and start use a private server: Apache::Test's configuration
# on a port of its own, with its own pid file, error log and runtime
# directory.  Stopping Apache::Test's server instead would free its port,
# and another suite running on the machine (`-port select`) may take it
# before the start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path);
use IO::Socket::INET ();
use Apache::Test qw(-withtestmore);
use DTTest qw(xml req login logout status session_state
              expect_reply log_leaks wait_until t_logs);

my $CLOSED = xml('<ok>Session closed.</ok>');
my $vars = Apache::Test::vars();
my $error_log = t_logs() . '/error_log';
my $rdir = t_logs() . '/restart';
my $snapshot = "$rdir/downloadtoken.snapshot";
my $private_pid = 0;

plan tests => 3 + 2 * 5 + 1 + 3 + 4 + 10 + 1 + 2 + 1;

# ---- Apache::Test's server: USR1 and HUP -------------------------------

my $start = status()->{'sessions-live'} // -1;
my ($sa) = login(user => 'demo');
my ($sb) = login(user => 'guest');
$sa //= 'none';
$sb //= 'none';
is(session_state($sa), 'alive', 'session A works before any restart');
expect_reply(logout($sb), $CLOSED, 'session B logs out before the restarts');
my $live = status()->{'sessions-live'} // -1;
is($live, $start + 1, 'one session of this file is live');

for my $sig (qw(USR1 HUP)) {
    my $n = resumed($error_log);
    my $pid = read_pid($vars->{t_pid_file});
    ok($pid && kill($sig => $pid), "SIG$sig sent to the server ($pid)");
    ok(wait_until(sub { resumed($error_log) > $n && answers() }, 30),
       "SIG$sig: the server resumed and answers");
    is(session_state($sa), 'alive', "SIG$sig: session A still works");
    is(session_state($sb), 'dead', "SIG$sig: logged-out session B stays dead");
    is(status()->{'sessions-live'}, $live, "SIG$sig: sessions-live kept");
}
expect_reply(logout($sa), $CLOSED, 'session A logs out');

# ---- A private server: stop and start ------------------------------------

make_path($rdir);
unlink glob("$rdir/*");
my ($sp, $sq, $plive);
{
    local $DTTest::BASE_URL = start_private();
    ok(wait_until(\&answers, 60), 'the private server answers')
        or diag(`tail -5 $rdir/error_log 2>&1`);
    ($sp) = login(user => 'demo');
    ($sq) = login(user => 'plus');
    $sp //= 'none';
    $sq //= 'none';
    is(session_state($sp), 'alive', 'private: session P works');
    expect_reply(logout($sq), $CLOSED, 'private: session Q logs out');
    $plive = status()->{'sessions-live'} // -1;
}

# Clean stop.  No snapshot exists before it (the directory was emptied),
# so the file found afterwards is the one this stop wrote.
{
    ok(stop_private(), 'the private server stops on SIGTERM');
    ok(-s $snapshot, "the stop wrote $snapshot");
    my $mode = (stat $snapshot)[2];
    ok(defined $mode && !($mode & 0007),
       sprintf('the snapshot holds live sessions: not world-readable (%04o)',
               ($mode // 0) & 07777));
    ok(!-e "$rdir/httpd.pid", 'the pid file is gone');
}

# Start again (on a new port: the sessions do not care).
{
    local $DTTest::BASE_URL = start_private();
    ok(wait_until(\&answers, 60), 'the private server started again')
        or diag(`tail -5 $rdir/error_log 2>&1`);
    is(session_state($sp), 'alive', 'start: session P still works');
    is(session_state($sp, via => 'cookie'), 'alive',
       'start: ... by cookie too');
    is(session_state($sq), 'dead', 'start: logged-out session Q stays dead');
    my $s = status();
    is($s->{'sessions-live'}, $plive, 'start: sessions-live kept');
    is($s->{consistent}, 'yes', 'start: consistent: yes');

    my ($sc) = login(user => 'demo');
    ok(defined $sc && $sc ne $sp, 'start: a new login gets a new id');
    expect_reply(logout($sp), $CLOSED, 'start: session P logs out');
    expect_reply(logout($sc // 'none'), $CLOSED,
                 'start: the new session logs out');
    is(status()->{'sessions-live'}, $plive - 1,
       'start: sessions-live down by one');
}
ok(stop_private(), 'the private server stops again');

# Apache::Test's server was not disturbed by the private one.
is(status()->{'sessions-live'}, $start,
   "Apache::Test's server: sessions-live back to its start value");
is(status()->{consistent}, 'yes', "Apache::Test's server: consistent: yes");

my @leaks = log_leaks("$rdir/error_log");
ok(!@leaks, 'no session id or token reached our error log lines')
    or diag(@leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);

END {
    kill TERM => $private_pid if $private_pid && kill 0 => $private_pid;
}

sub read_pid
{
    my $file = shift;
    open my $fh, '<', $file or return 0;
    my $pid = <$fh> // '';
    close $fh;
    return $pid =~ /^(\d+)/ ? $1 : 0;
}

# How many times the server said it was (re)configured and running.
sub resumed
{
    my $file = shift;
    open my $fh, '<', $file or return 0;
    my $n = grep { /resuming normal operations/ } <$fh>;
    close $fh;
    return $n;
}

sub answers
{
    return req(GET => '/status')->code == 200;
}

# A port nobody listens on now, from the kernel's ephemeral range (far
# from the 8529 and up that Apache::Test picks).
sub free_port
{
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Writes Apache::Test's httpd.conf with the private port, pid file, logs
# and runtime directory, starts httpd on it, and returns its base URL.
sub start_private
{
    my $port = free_port();
    open my $in, '<', $vars->{t_conf_file} or die "$vars->{t_conf_file}: $!";
    my $conf = do { local $/; <$in> };
    close $in;
    # The first Listen becomes ours; any other (a vhost's) is dropped.
    my $listen = 0;
    $conf =~ s{^(\s*)Listen\s+\S+}
              {$1 . ($listen++ ? '#' : '') . "Listen 127.0.0.1:$port"}gme;
    $conf =~ s{^(\s*)ServerName\s+\S+}{${1}ServerName localhost:$port}gm;
    $conf =~ s{^(\s*)PidFile\s+.*$}{${1}PidFile "$rdir/httpd.pid"}gm;
    $conf =~ s{^(\s*)ErrorLog\s+.*$}{${1}ErrorLog "$rdir/error_log"}gm;
    $conf =~ s{^(\s*)DefaultRunTimeDir\s+.*$}
              {${1}DefaultRunTimeDir "$rdir"}gmi;
    $conf =~ s{^(\s*)TransferLog\s+.*$}{${1}TransferLog "$rdir/access_log"}gm;
    my $file = "$rdir/httpd.conf";
    open my $out, '>', $file or die "$file: $!";
    print $out $conf;
    close $out;
    my $cmd = "$vars->{httpd} -d $vars->{serverroot} -f $file"
        . " -D APACHE2 -D APACHE2_4";
    system("$cmd >>$rdir/start.out 2>&1");
    wait_until(sub { $private_pid = read_pid("$rdir/httpd.pid") }, 30);
    return "http://127.0.0.1:$port";
}

sub stop_private
{
    my $pid = $private_pid or return 0;
    kill TERM => $pid or return 0;
    my $gone = wait_until(sub { !kill(0, $pid) }, 30);
    $private_pid = 0 if $gone;
    return $gone;
}
