# Sessions survive what operators do to a running server: a graceful
# restart (SIGUSR1), a restart (SIGHUP), and a clean stop and start, which
# goes through the snapshot file (downloadtoken.snapshot in
# DefaultRuntimeDir, t/logs here).  This file stops and starts Apache::Test's
# own server with the command Apache::Test uses, so the files after it run
# against the restarted server.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(sleep);
use Apache::Test qw(-withtestmore);
use DTTest qw(xml req login logout status session_state
              expect_reply expect_error log_leaks wait_until t_logs);

my $CLOSED = xml('<ok>Session closed.</ok>');
my $vars = Apache::Test::vars();
my $pid_file = $vars->{t_pid_file};
my $error_log = t_logs() . '/error_log';
my $snapshot = t_logs() . '/downloadtoken.snapshot';

plan tests => 3 + 2 * 5 + 4 + 6 + 4;

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
    my $n = resumed();
    my $pid = read_pid();
    ok($pid && kill($sig => $pid), "SIG$sig sent to the server ($pid)");
    ok(wait_until(sub { resumed() > $n && answers() }, 30),
       "SIG$sig: the server resumed and answers");
    is(session_state($sa), 'alive', "SIG$sig: session A still works");
    is(session_state($sb), 'dead', "SIG$sig: logged-out session B stays dead");
    is(status()->{'sessions-live'}, $live, "SIG$sig: sessions-live kept");
}

# Clean stop.  The old snapshot (read at the last start) goes first, so
# that the file found afterwards is the one this stop wrote.
{
    unlink $snapshot;
    my $pid = read_pid();
    ok($pid && kill(TERM => $pid), "SIGTERM sent to the server ($pid)");
    ok(wait_until(sub { !kill(0, $pid) }, 30), 'the server stopped');
    ok(-s $snapshot, "the stop wrote $snapshot");
    my $mode = (stat $snapshot)[2];
    ok(defined $mode && !($mode & 0007),
       sprintf('the snapshot holds live sessions: not world-readable (%04o)',
               ($mode // 0) & 07777));
}

# Start again, as Apache::Test started it.
{
    my $cmd = start_cmd();
    my $out = t_logs() . '/restart_start.out';
    system("$cmd >>$out 2>&1");
    ok(wait_until(sub { -s $pid_file && answers() }, 60),
       'the server started again') or diag("ran: $cmd; see $out");
    is(session_state($sa), 'alive', 'start: session A still works');
    is(session_state($sa, via => 'cookie'), 'alive',
       'start: ... by cookie too');
    is(session_state($sb), 'dead', 'start: logged-out session B stays dead');
    is(status()->{'sessions-live'}, $live, 'start: sessions-live kept');
    is(status()->{consistent}, 'yes', 'start: consistent: yes');
}

my ($c) = login(user => 'demo');
ok(defined $c && $c ne $sa, 'a new login after the restarts gets a new id');
expect_reply(logout($sa), $CLOSED, 'session A logs out');
expect_reply(logout($c // 'none'), $CLOSED, 'the new session logs out');

my @leaks = log_leaks();
ok(!@leaks, 'no session id or token reached our error log lines')
    or diag(@leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);

sub read_pid
{
    open my $fh, '<', $pid_file or return 0;
    my $pid = <$fh> // '';
    close $fh;
    return $pid =~ /^(\d+)/ ? $1 : 0;
}

# How many times the server said it was (re)configured and running.
sub resumed
{
    open my $fh, '<', $error_log or return 0;
    my $n = grep { /resuming normal operations/ } <$fh>;
    close $fh;
    return $n;
}

sub answers
{
    my $res = req(GET => '/status');
    return $res->code == 200;
}

# The command line Apache::Test starts its server with (the same -d, -f
# and -D defines), or the same built by hand.
sub start_cmd
{
    my $server = eval { Apache::Test::config()->server };
    my $cmd = $server ? eval { $server->start_cmd } : undef;
    return $cmd if $cmd;
    return "$vars->{httpd} -d $vars->{serverroot} -f $vars->{t_conf_file}"
        . ' -D APACHE2 -D APACHE2_4';
}
