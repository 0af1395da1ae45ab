# Exactly once across restarts, under load: a private server (event, then
# prefork; t/lib/DTServer.pm) with four clients in a loop (issue a token,
# redeem it, compare the bytes) while the test restarts it gracefully
# twice, once with `apache2 -k graceful` and once with SIGUSR1, a few
# seconds apart.  Then a clean stop and start.
#
# What must hold:
#   - no token is served twice: every token served under load is unique,
#     and each is refused when tried again after the run;
#   - no unused token is lost: a pool issued before the restarts is
#     served once after them (half of it), and after the stop and start
#     (the other half, through the snapshot), then refused;
#   - a token used before the restarts (or the stop) stays used;
#   - no reply is a 5xx and no request meets a connection error.  Every
#     request has its own connection (HTTP/1.0), so the one kind of close
#     a graceful restart may cause by design (closing idle keep-alive
#     connections) cannot occur.  A graceful restart keeps the listening
#     socket open and lets old children finish, so a refused or reset
#     connection would be a real loss (of a reply, and for a redemption of
#     the token, consumed unseen): the test counts them, says when they
#     happened against the restarts, and fails on any.
#
# DT_STRESS_SECONDS=N (build-aux/stress.sh): about N seconds of load in
# all, a graceful restart every 5 s, and the counts printed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use Apache::Test qw(-withtestmore);
use DTServer ();
use DTTest ();

my @MPMS = qw(event prefork);
my $LOADERS = 4;
my $POOL = 40;            # unused tokens per pool session (two sessions)
my $USED = 10;            # tokens redeemed before the restarts
my $STRESS = DTServer::stress_seconds();
my $LOAD = $STRESS ? $STRESS / @MPMS : 6;    # seconds of load per MPM
my @RESTARTS = $STRESS
    ? map { 5 * $_ } 1 .. int(($LOAD - 1) / 5)
    : (2, 4);             # seconds into the load

# An alarm dies (rather than kills), so the private servers are stopped.
$SIG{ALRM} = sub { die "timed out\n" };
alarm($STRESS ? $STRESS + 300 : 170);

my $FILE = DTTest::slurp(Apache::Test::vars('documentroot')
                           . '/media/1165.mp3');
my %count = map { $_ => 0 }
    qw(issued served refused double errors http5xx restarts);

for my $mpm (@MPMS) {
    run($mpm);
}
diag(sprintf 'restart_load: %d graceful restarts; tokens issued %d, '
     . 'served %d, refused %d, double redemptions %d, 5xx %d, '
     . 'connection errors %d',
     @count{qw(restarts issued served refused double http5xx errors)});
done_testing();

sub first_lines
{
    my @l = @_;
    chomp @l;
    my $more = @l > 10 ? "\n... and " . (@l - 10) . " more" : "";
    return join("\n", @l[0 .. ($#l < 9 ? $#l : 9)]) . $more;
}

# Redeems each token once: {token => class}.  Many tokens are shared
# among $LOADERS clients.
sub redeem_all
{
    my ($srv, @tok) = @_;
    my $n = @tok > 200 ? $LOADERS : 1;
    my %c;
    my @res = DTServer::clients($n, dir => $srv->dir,
                                timeout => 60 + @tok / 100, child => sub {
        my ($k, $ready) = @_;
        $ready->();
        return map {
            "$_ " . $srv->classify($srv->get($srv->redeem_path($_)), $FILE)
        } @tok[grep { $_ % $n == $k - 1 } 0 .. $#tok];
    });
    for my $line (map { @$_ } @res) {
        my ($t, $c) = split / /, $line, 2;
        $c{$t} = $c;
        $count{served}++ if $c eq 'served';
        $count{refused}++ if $c =~ /^refused/;
    }
    # A token without an answer counts as one that failed.
    $c{$_} //= 'no answer' for @tok;
    return \%c;
}

sub all_are
{
    my ($c, $want) = @_;
    my @bad = map { "$_: $c->{$_}" } grep { $c->{$_} ne $want } sort keys %$c;
    return ((!@bad && scalar(keys %$c)) ? 1 : 0, @bad);
}

sub tokens
{
    my ($srv, $id, $n) = @_;
    my @t = $srv->issue_many($id, $n);
    $count{issued} += @t;
    return @t;
}

sub run
{
    my $mpm = shift;
    my $srv = DTServer->new(name => "restart-load-$mpm", mpm => $mpm);
    $srv->clean;
    if (!ok($srv->start, "$mpm: the private server starts")) {
        diag($srv->why);
        return;
    }

    # Before the restarts: two sessions hold a pool of unused tokens;
    # some tokens are used.
    my @pool_sessions = map { $srv->login // 'none' } 1 .. 2;
    my @pool_a = tokens($srv, $pool_sessions[0], $POOL);
    my @pool_b = tokens($srv, $pool_sessions[1], $POOL);
    my @used = tokens($srv, $pool_sessions[0], $USED);
    my ($ok_used) = all_are(redeem_all($srv, @used), 'served');
    ok(@pool_a + @pool_b == 2 * $POOL && $ok_used,
       "$mpm: a pool of " . 2 * $POOL . " unused tokens, $USED used ones");
    my $live0 = $srv->status->{'tokens-live'} // -1;

    # The load, and the restarts.
    my (@windows, @why);
    my $t_start;
    my @res = DTServer::clients($LOADERS, dir => $srv->dir,
                                timeout => $LOAD + 60, child => sub {
        my ($k, $ready) = @_;
        my $id = $srv->login // 'none';
        $ready->();
        my $end = time + $LOAD;
        my @l;
        # Bounded in count as well as in time.
        for my $i (1 .. 200_000) {
            last if time >= $end;
            my ($t, $r) = $srv->issue($id);
            if (!defined $t) {
                push @l, sprintf 'I %.6f %.6f %s', $r->{t0}, $r->{t1},
                    $srv->classify($r) . ' ' . DTServer::summary($r);
                next;
            }
            my $x = $srv->get($srv->redeem_path($t));
            my $c = $srv->classify($x, $FILE);
            $c .= ' ' . DTServer::summary($x) if $c =~ /^(?:error|http)/;
            push @l, sprintf 'R %s %.6f %.6f %s', $t, $x->{t0}, $x->{t1}, $c;
        }
        $srv->logout($id);
        return @l;
    }, during => sub {
        $t_start = time;
        my $n = 0;
        for my $at (@RESTARTS) {
            sleep 0.01 while time < $t_start + $at;
            my $t0 = time;
            # Both ways an operator restarts gracefully, in turn.
            my $done = $srv->graceful(signal => $n++ % 2);
            push @windows, [$t0, time];
            if ($done) {
                $count{restarts}++;
            }
            else {
                push @why, $srv->why || 'no new generation within 30 s';
            }
        }
    });
    is(scalar @windows - @why, scalar @RESTARTS,
       "$mpm: " . @RESTARTS . ' graceful restarts done under load')
        or diag(@why);
    my @fresh = new_generations($srv, $t_start + $LOAD, @windows);
    is(scalar(grep { $_ } @fresh), scalar @windows,
       "$mpm: after each restart new processes served the load ("
       . join(', ', @fresh) . ' new)');

    # What the load saw.
    my (%served, @twice, @failed, @lost, @issue_bad);
    my $redeemed = 0;
    for my $line (map { @$_ } @res) {
        if ($line =~ /^I (\S+) (\S+) (.*)$/) {
            push @issue_bad, [$1, $3];
            next;
        }
        my ($t, $t0, $t1, $c) = $line =~ /^R (\S+) (\S+) (\S+) (.*)$/
            or do { push @failed, [0, "client: $line"]; next };
        $redeemed++;
        if ($c eq 'served') {
            push @twice, $t if $served{$t}++;
        }
        elsif ($c =~ /^(?:error|http|other)/) {
            push @failed, [$t0, $c];
            push @lost, $t;
        }
        else {
            # A fresh token of a live session must be served.
            push @failed, [$t0, "fresh token: $c"];
        }
    }
    $count{issued} += $redeemed;
    $count{served} += keys %served;
    $count{double} += @twice;
    for my $f (@failed, @issue_bad) {
        $count{errors}++ if $f->[1] =~ /^error:/;
        $count{http5xx}++ if $f->[1] =~ /^http:5/;
    }
    my $n_served = keys %served;
    ok($n_served > 20 * $LOAD / 8 && !@twice,
       "$mpm: $n_served tokens served under load, none twice");
    my @report = map {
        my ($t0, $what) = @$_;
        sprintf '%+.2f s into the load%s: %s', $t0 - ($t_start // 0),
            in_window($t0, @windows), $what;
    } sort { $a->[0] <=> $b->[0] } @failed, @issue_bad;
    ok(!@report, "$mpm: no 5xx, no connection error, no refused fresh token"
       . ' (' . scalar(@report) . ')') or diag(first_lines(@report));

    # After the restarts.
    my ($all_refused, @bad) = all_are(redeem_all($srv, keys %served),
                                      'refused:unknown-token');
    ok($all_refused, "$mpm: every token served under load is refused now")
        or diag(first_lines(@bad));
    ($all_refused, @bad) = all_are(redeem_all($srv, @used),
                                   'refused:unknown-token');
    ok($all_refused, "$mpm: tokens used before the restarts stay used")
        or diag(first_lines(@bad));
    my $s = $srv->status;
    is($s->{'tokens-live'}, $live0,
       "$mpm: tokens-live as before the restarts ($live0): the pool, "
       . 'nothing lost or left over');
    is($s->{consistent}, 'yes', "$mpm: consistent: yes");
    my ($served_a, @bad_a) = all_are(redeem_all($srv, @pool_a), 'served');
    ok($served_a, "$mpm: half of the pool is served once after the restarts")
        or diag(first_lines(@bad_a));
    ($all_refused, @bad) = all_are(redeem_all($srv, @pool_a),
                                   'refused:unknown-token');
    ok($all_refused, "$mpm: ... and refused the second time")
        or diag(first_lines(@bad));

    # A clean stop and start: the snapshot keeps the sessions and the
    # unused tokens; used ones stay used.
    my @used2 = tokens($srv, $pool_sessions[1], 5);
    redeem_all($srv, @used2);
    ok($srv->stop, "$mpm: the server stops cleanly");
    if (!ok($srv->start, "$mpm: and starts again")) {
        diag($srv->why);
        return;
    }
    my @alive = grep { defined(($srv->issue($_))[0]) } @pool_sessions;
    is(scalar @alive, 2, "$mpm: both pool sessions live on after the start");
    $count{issued} += @alive;
    my ($served_b, @bad_b) = all_are(redeem_all($srv, @pool_b), 'served');
    ok($served_b, "$mpm: the rest of the pool is served once after the "
       . 'stop and start') or diag(first_lines(@bad_b));
    ($all_refused, @bad) = all_are(redeem_all($srv, @pool_b, @used2, @used),
                                   'refused:unknown-token');
    ok($all_refused, "$mpm: ... then refused, as are tokens used before "
       . 'the stop') or diag(first_lines(@bad));
    $srv->logout($_) for @pool_sessions;
    $s = $srv->status;
    is($s->{'tokens-live'}, 0, "$mpm: the store is empty at the end");
    is($s->{consistent}, 'yes', "$mpm: consistent: yes at the end");
    ok($srv->stop, "$mpm: the server stops");
    my @problems = $srv->log_problems;
    ok(!@problems, "$mpm: no crash or error in the error log")
        or diag(first_lines(@problems));
}

# For each restart, how many processes that had answered no request
# before it answered the load after it (from the access log's %P).
sub new_generations
{
    my ($srv, $end, @w) = @_;
    open my $fh, '<', $srv->access_log or return map { 0 } @w;
    my @hits;
    while (<$fh>) {
        push @hits, [$1, $2] if /^(\d+\.\d+) (\d+) /;
    }
    close $fh;
    my @n;
    for my $w (@w) {
        my %before = map { $_->[1] => 1 } grep { $_->[0] < $w->[0] } @hits;
        my %new = map { $_->[1] => 1 }
            grep { $_->[0] > $w->[1] && $_->[0] < $end
                   && !$before{$_->[1]} } @hits;
        push @n, scalar keys %new;
    }
    return @n;
}

# " (during restart N)" when t lies within a restart's window (from the
# command to the new generation answering, plus a second).
sub in_window
{
    my ($t, @w) = @_;
    for my $i (0 .. $#w) {
        return ' (during restart ' . ($i + 1) . ')'
            if $t >= $w[$i][0] - 0.5 && $t <= $w[$i][1] + 1;
    }
    return '';
}
