# Sessions (spec sections 1 and 4): both ways of presenting one, the idle
# timeout and the maximum lifetime, and AuthType DownloadToken on static
# content, where the session becomes r->user for httpd's own Require.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use Apache::Test qw(-withtestmore);
use DTTest qw(xml req login logout issue status session_state
              expect_reply expect_error log_leaks wait_until t_logs);

my $CLOSED = xml('<ok>Session closed.</ok>');
my $REPLY = qr/\A\Q${\ DTTest::XML_DECL}\E<reply>[A-Za-z0-9]{20}<\/reply>\n\z/;

# Static pages behind AuthType DownloadToken:
# [path, {user => expected HTTP status}]; '' is no session at all.
my @guarded = (
    ['/guarded/index.html', { demo => 200, guest => 200, '' => 401 }],
    ['/demo-only/index.html', { demo => 200, guest => 403, '' => 401 }],
    ['/operators/index.html',
     { demo => 200, plus => 200, guest => 403, '' => 401 }],
);
my $n_guarded = 0;
$n_guarded += keys %{ $_->[1] } for @guarded;

plan tests => 9 + 2 + 3 + 3 + 3 + $n_guarded + 4 + 2 + 1 + 1;

my $start = status()->{'sessions-live'} // -1;

my ($demo) = login(user => 'demo');
my ($guest) = login(user => 'guest');
my ($plus) = login(user => 'plus');
my %sess = (demo => $demo, guest => $guest, plus => $plus);

# downloadtoken with either form of the session.  The path parameter case
# also proves that <Location /callrec/downloadtoken> matched once the
# module stripped ";jsessionid=..." (else no handler would answer XML).
{
    my $q = 'id_call[]=1165&type=1&action=download';
    my $res = req(GET => "/callrec/downloadtoken;jsessionid=$demo?$q");
    expect_reply($res, $REPLY, 'downloadtoken;jsessionid=ID gives <reply>');
    my $t1 = substr($res->content, 47, 20);
    like($t1, qr/^[A-Za-z0-9]{20}$/, 'the token sits at offset 47');

    $res = req(GET => "/callrec/downloadtoken?$q", cookie => $demo);
    expect_reply($res, $REPLY, 'downloadtoken with the cookie gives <reply>');
    my $t2 = substr($res->content, 47, 20);
    isnt($t2, $t1, 'a second token differs from the first');

    # The legacy curl example: POST, form body, cookie.
    $res = req(POST => '/callrec/downloadtoken', cookie => $demo,
               form => ['id_call[]' => '1165,1166', type => 1,
                        action => 'download'],
               headers => [Accept => 'text/xml']);
    expect_reply($res, $REPLY, 'POST downloadtoken with the cookie');

    expect_error(req(GET => "/callrec/downloadtoken?$q"), 'no-session',
                 'downloadtoken without a session -> no-session');
    expect_error(req(GET => "/callrec/downloadtoken;jsessionid=?$q"),
                 'no-session', 'downloadtoken with an empty ;jsessionid=');
    expect_error(req(GET => "/callrec/downloadtoken?$q",
                     cookie => 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF'),
                 'no-session', 'downloadtoken with an unknown cookie');
    # The query after the path parameter still reaches the handler.
    $res = req(GET => "/callrec/downloadtoken;jsessionid=$demo");
    expect_error($res, 'missing-parameter',
                 'the path parameter without a query: missing-parameter');
}

# The path parameter is stripped server-wide: a static file is found.
{
    my $res = req(GET => "/guarded/index.html;jsessionid=$demo");
    is($res->code, 200, 'static file with ;jsessionid= is served (200)');
    like($res->content, qr/guarded page/, '... with the file\'s content');
}

# Idle timeout 2 s (/short/loginservlet): 3.5 s of silence ends it.
{
    my ($id, $res) = login(path => '/short/loginservlet');
    is(session_state($id // 'none'), 'alive', 'idle: alive at once');
    sleep 3.5;
    is(session_state($id // 'none'), 'dead', 'idle: dead after 3.5 s idle');
    expect_error(logout($id // 'none'), 'no-session',
                 'idle: logout of the expired session -> no-session');
}

# ... but use every 0.7 s keeps it alive past 3 s (the timeout slides).
# Steps under a second keep this true even if the module counts whole
# seconds.
{
    my ($id) = login(path => '/short/loginservlet');
    my $t0 = time;
    my @states;
    while (time - $t0 < 4.2) {
        sleep 0.7;
        push @states, session_state($id // 'none');
    }
    is(join(',', grep { $_ ne 'alive' } @states), '',
       sprintf('sliding: alive at each of %d uses over %.1f s',
               scalar @states, time - $t0));
    expect_reply(logout($id // 'none'), $CLOSED, 'sliding: logs out');
    expect_error(logout($id // 'none'), 'no-session',
                 'sliding: and is then gone');
}

# Maximum lifetime 3 s (/lifetime/loginservlet) ends it however busy.
{
    my ($id) = login(path => '/lifetime/loginservlet');
    my $t0 = time;
    my @log;
    while (time - $t0 < 4.5) {
        push @log, [time - $t0, session_state($id // 'none')];
        sleep 0.5;
    }
    push @log, [time - $t0, session_state($id // 'none')];
    my $trace = join ' ', map { sprintf '%.1f:%s', @$_ } @log;
    my @early = grep { $_->[0] < 1.5 } @log;
    ok(@early && !grep({ $_->[1] ne 'alive' } @early),
       'lifetime: alive while younger than 1.5 s') or diag($trace);
    is($log[-1][1], 'dead', 'lifetime: dead at 4.5 s although used')
        or diag($trace);
    my ($seen_dead, $revived) = (0, 0);
    for (@log) {
        $seen_dead ||= $_->[1] eq 'dead';
        $revived ||= $seen_dead && $_->[1] eq 'alive';
    }
    ok(!$revived, 'lifetime: once dead it stays dead') or diag($trace);
}

# AuthType DownloadToken + Require, on static content.
for my $g (@guarded) {
    my ($path, $want) = @$g;
    for my $user (sort keys %$want) {
        my %o = $user eq '' ? () : (cookie => $sess{$user} // 'none');
        my $res = req(GET => $path, %o);
        is($res->code, $want->{$user},
           sprintf('%s as %s -> %d', $path, $user || 'nobody',
                   $want->{$user}));
    }
}

# A dead session is no session; a garbage one neither.
{
    my ($id) = login(user => 'demo');
    logout($id // 'none');
    is(req(GET => '/guarded/index.html', cookie => $id // 'none')->code, 401,
       'a logged-out session gets 401 on the guarded page');
    is(req(GET => '/guarded/index.html', cookie => 'xyz')->code, 401,
       'a garbage session gets 401 on the guarded page');
    is(req(GET => '/guarded/index.html;jsessionid=xyz')->code, 401,
       'a garbage path parameter gets 401 on the guarded page');
    is(req(GET => '/guarded/index.html',
           headers => [Authorization => 'Basic ZGVtbzpkZW1vLXBhc3M='])->code,
       401, 'HTTP Basic credentials are no session');
}

# %u in the access log is the session's user.
{
    my $log = t_logs() . '/dt_access_log';
    req(GET => '/guarded/index.html', cookie => $guest // 'none');
    my $found = wait_until(sub {
        open my $fh, '<', $log or return 0;
        my $hit = grep { $_ eq "guest /guarded/index.html\n" } <$fh>;
        close $fh;
        return $hit;
    }, 3);
    ok($found, '%u logs the session user ("guest /guarded/index.html")');
    open my $fh, '<', $log;
    my @lines = $fh ? <$fh> : ();
    # Only this file's requests count: another file may send an encoded
    # %3Bjsessionid=, which is no path parameter and which %U shows
    # decoded.
    my @params = grep { /;jsessionid=(?:\Q$demo\E|xyz)/i } @lines;
    ok(@lines && !@params,
       '%U never shows ;jsessionid= (stripped before the log sees r->uri)')
        or diag(@params[0 .. ($#params < 4 ? $#params : 4)]);
}

my $closed = grep { logout($_)->content eq $CLOSED }
    grep { defined } $demo, $guest, $plus;
is($closed, 3, 'the three user sessions log out');

my @leaks = log_leaks();
ok(!@leaks, 'no session id or token reached our error log lines')
    or diag(@leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);
