# Log Out Service (spec section 3): a session ends, by cookie or by path
# parameter, with GET or POST; anything else that presents no live session
# gets no-session.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use DTTest qw(xml req login logout issue status session_state
              expect_reply expect_error log_leaks);

my $O = '/callrec/logoutservlet';
my $CLOSED = xml('<ok>Session closed.</ok>');

# Ways to log out: [name, via, method].
my @ways = (
    ['cookie, POST', cookie => 'POST'],
    ['cookie, GET', cookie => 'GET'],
    [';jsessionid=, POST', path => 'POST'],
    [';jsessionid=, GET', path => 'GET'],
);

# Requests without a live session: [name, method, path, req options].
my @nosession = (
    ['no session at all (POST)', POST => $O, {}],
    ['no session at all (GET)', GET => $O, {}],
    ['garbage cookie', POST => $O, { cookie => 'xyz' }],
    ['garbage path parameter', GET => "$O;jsessionid=not-a-session", {}],
    ['empty cookie value', POST => $O, { cookie => '' }],
    ['empty path parameter', GET => "$O;jsessionid=", {}],
    ['well-formed but unknown id', POST => $O,
     { cookie => 'BA803B97624F0880A4C58B78C733EB5B' }],
    ['31 hex digits', POST => $O,
     { cookie => 'BA803B97624F0880A4C58B78C733EB5' }],
    ['33 hex digits', POST => $O,
     { cookie => 'BA803B97624F0880A4C58B78C733EB5BA' }],
);

plan tests => 5 * @ways + @nosession + 4 + 3 + 2 + 3 + 3 + 1;

my $start = status()->{'sessions-live'} // -1;

for my $w (@ways) {
    my ($name, $via, $method) = @$w;
    my ($id) = login();
    $id //= 'login-failed';
    my $n = status()->{'sessions-live'} // -1;
    my $res = logout($id, via => $via, method => $method);
    expect_reply($res, $CLOSED, "logout by $name: <ok>Session closed.</ok>");
    is(status()->{'sessions-live'} // -1, $n - 1,
       "logout by $name: sessions-live drops by one");
    expect_error(logout($id, via => $via, method => $method), 'no-session',
                 "logout by $name: a second logout gets no-session");
    expect_error((issue($id, via => 'path'))[1], 'no-session',
                 "logout by $name: downloadtoken;jsessionid= refuses it");
    expect_error((issue($id, via => 'cookie'))[1], 'no-session',
                 "logout by $name: downloadtoken with the cookie refuses it");
}

for my $c (@nosession) {
    my ($name, $method, $path, $o) = @$c;
    expect_error(req($method => $path, %$o), 'no-session',
                 "$name -> no-session");
}

# A lower-case copy of a live id is another id: refused, and the real
# session is untouched by the attempt.
{
    my ($id) = login();
    $id //= 'login-failed';
    expect_error(logout(lc $id), 'no-session', 'lower-case id -> no-session');
    expect_error(logout(lc $id, via => 'path'), 'no-session',
                 'lower-case id as path parameter -> no-session');
    is(session_state($id), 'alive', 'the real session is still alive');
    expect_reply(logout($id), $CLOSED, 'the real session then logs out');
}

# Other methods do not end the session.
{
    my ($id) = login();
    $id //= 'login-failed';
    expect_error(req(PUT => "$O;jsessionid=$id", content => ''),
                 'bad-method', 'PUT logoutservlet -> bad-method');
    expect_error(req(DELETE => $O, cookie => $id), 'bad-method',
                 'DELETE logoutservlet -> bad-method');
    expect_reply(logout($id), $CLOSED,
                 'the session survived both and logs out');
}

# The JSESSIONID cookie among others, as browsers send it.
{
    my ($id) = login();
    $id //= 'login-failed';
    my $res = req(POST => $O, headers =>
                  [Cookie => "theme=dark; JSESSIONID=$id; lang=en"]);
    expect_reply($res, $CLOSED, 'JSESSIONID found among other cookies');
    expect_error(logout($id), 'no-session', '... and that ended it');
}

# Logging out ends the session everywhere, whichever form presented it,
# and its tokens with it.
{
    my ($id) = login();
    $id //= 'login-failed';
    my ($token) = issue($id, via => 'cookie');
    ok(defined $token, 'the session issued a token before logout');
    expect_reply(logout($id, via => 'path'), $CLOSED,
                 'logout by path parameter');
    expect_error(req(GET => $O, cookie => $id), 'no-session',
                 'the same session by cookie is gone too');
}

# A session of another login location (idle timeout 2 s, cookie path
# /short) ends at the common logout service.
{
    my ($id) = login(path => '/short/loginservlet');
    ok(defined $id, 'login at /short/loginservlet');
    expect_reply(logout($id // 'none'), $CLOSED,
                 'its session logs out at /callrec/logoutservlet');
    is(status()->{'sessions-live'} // -1, $start,
       'sessions-live is back to its starting value');
}

my @leaks = log_leaks();
ok(!@leaks, 'no session id or token reached our error log lines')
    or diag(@leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);
