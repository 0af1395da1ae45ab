# Log In Service (spec section 2): replies, cookie, and every way a request
# can be wrong.  Every session made here is logged out again, so the store
# is left as it was found (t/store_full.t counts on that).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use DTTest qw(xml req form_encode login logout status expect_reply
              expect_error set_cookies log_leaks reply_summary
              ok_login_re %PASSWORD);

my $L = '/callrec/loginservlet';
my $good = form_encode(loginname => 'demo', password => 'demo-pass');

# Error cases: [name, method, path, req options, expected code].
my @errors = (
    ['wrong password (POST)', POST => $L,
     { form => [loginname => 'demo', password => 'nope'] }, 'login-failed'],
    ['wrong password (GET)', GET => "$L?loginname=demo&password=nope",
     {}, 'login-failed'],
    ['unknown user', POST => $L,
     { form => [loginname => 'nobody', password => 'demo-pass'] },
     'login-failed'],
    ['password of another user', POST => $L,
     { form => [loginname => 'guest', password => 'demo-pass'] },
     'login-failed'],
    ['no parameters at all (GET)', GET => $L, {}, 'missing-parameter'],
    ['no parameters at all (POST, empty body)', POST => $L,
     { content => '', content_type => 'application/x-www-form-urlencoded' },
     'missing-parameter'],
    ['missing loginname', POST => $L,
     { form => [password => 'demo-pass'] }, 'missing-parameter'],
    ['missing password', POST => $L,
     { form => [loginname => 'demo'] }, 'missing-parameter'],
    ['missing password (GET)', GET => "$L?loginname=demo",
     {}, 'missing-parameter'],
    ['malformed %ZZ in the query', GET => "$L?loginname=de%ZZmo&password=x",
     {}, 'bad-parameter'],
    ['truncated %4 at the end of the body', POST => $L,
     { content => 'loginname=demo&password=demo-pass%4',
       content_type => 'application/x-www-form-urlencoded' },
     'bad-parameter'],
    ['malformed %G0 in a parameter name', POST => $L,
     { content => "login%G0name=demo&password=demo-pass",
       content_type => 'application/x-www-form-urlencoded' },
     'bad-parameter'],
    ['NUL byte (%00) in loginname', GET => "$L?loginname=demo%00&password=x",
     {}, 'bad-parameter'],
    ['loginname twice with different values', POST => $L,
     { content => 'loginname=demo&loginname=guest&password=demo-pass',
       content_type => 'application/x-www-form-urlencoded' },
     'bad-parameter'],
    ['loginname in the query and another in the body', POST =>
     "$L?loginname=guest",
     { form => [loginname => 'demo', password => 'demo-pass'] },
     'bad-parameter'],
    ['password twice with different values', GET =>
     "$L?loginname=demo&password=demo-pass&password=other",
     {}, 'bad-parameter'],
    ['body of 1025 bytes (limit 1024)', POST => $L,
     { content => padded($good, 1025),
       content_type => 'application/x-www-form-urlencoded' }, 'too-large'],
    ['chunked body of 4000 bytes (limit 1024)', POST => $L,
     { content => chunked(padded($good, 4000)),
       content_type => 'application/x-www-form-urlencoded' }, 'too-large'],
    ['300 pairs in the query (default limit 256)', GET =>
     "$L?$good" . ('&x=1' x 300), {}, 'too-large'],
    ['POST with Content-Type text/plain', POST => $L,
     { content => $good, content_type => 'text/plain' }, 'bad-content-type'],
    ['POST with Content-Type multipart/form-data', POST => $L,
     { content => $good, content_type => 'multipart/form-data; boundary=x' },
     'bad-content-type'],
    ['PUT with good credentials', PUT => $L,
     { form => [loginname => 'demo', password => 'demo-pass'] },
     'bad-method'],
    ['DELETE', DELETE => "$L?$good", {}, 'bad-method'],
    ['PATCH', PATCH => $L,
     { form => [loginname => 'demo', password => 'demo-pass'] },
     'bad-method'],
    # '+' in a form means a space: sent unencoded, the password is wrong.
    ['the "+" password sent without encoding', GET =>
     "$L?loginname=plus&password=a+b%2Bc", {}, 'login-failed'],
    ['the "+" password with "%2B" decoded once too often', GET =>
     "$L?loginname=plus&password=a%2Bb%2Bc", {}, 'login-failed'],
    ['user of the second provider at a single-provider location', POST => $L,
     { form => [loginname => 'alias', password => 'alias-pass'] },
     'login-failed'],
);

# Successes: [name, method, path, req options, cookie path].
my @successes = (
    ['percent-encoded names login%6eame and pass%77ord', POST => $L,
     { content => 'login%6eame=demo&pass%77ord=demo-pass',
       content_type => 'application/x-www-form-urlencoded' }, '/callrec'],
    ['loginname twice with the same value', POST => $L,
     { content => 'loginname=demo&loginname=demo&password=demo-pass',
       content_type => 'application/x-www-form-urlencoded' }, '/callrec'],
    ['POST with loginname in the query, password in the body', POST =>
     "$L?loginname=demo", { form => [password => 'demo-pass'] }, '/callrec'],
    ['body of exactly 1024 bytes', POST => $L,
     { content => padded($good, 1024),
       content_type => 'application/x-www-form-urlencoded' }, '/callrec'],
    ['chunked body', POST => $L,
     { content => chunked($good),
       content_type => 'application/x-www-form-urlencoded' }, '/callrec'],
    ['content type with a charset parameter', POST => $L,
     { content => $good,
       content_type => 'application/x-www-form-urlencoded; charset=UTF-8' },
     '/callrec'],
    ['content type in another letter case', POST => $L,
     { content => $good,
       content_type => 'Application/X-WWW-Form-URLencoded' }, '/callrec'],
    ['password with "+" and "%2B" (POST, encoded)', POST => $L,
     { form => [loginname => 'plus', password => $PASSWORD{plus}] },
     '/callrec'],
    ['password with "+" and "%2B" (GET, encoded)', GET =>
     "$L?loginname=plus&password=a%2Bb%252Bc", {}, '/callrec'],
    ['first provider of a list', POST => '/multi/loginservlet',
     { form => [loginname => 'demo', password => 'demo-pass'] }, '/multi'],
    ['second provider of a list', POST => '/multi/loginservlet',
     { form => [loginname => 'alias', password => 'alias-pass'] },
     '/multi'],
    ['DownloadTokenCookiePath /short', POST => '/short/loginservlet',
     { form => [loginname => 'demo', password => 'demo-pass'] }, '/short'],
    ['DownloadTokenCookiePath /', POST => '/lifetime/loginservlet',
     { form => [loginname => 'demo', password => 'demo-pass'] }, '/'],
);

plan tests => 1 + 2 * 8 + 8 + @errors + 1 + 1 + 3 + 3 * @successes + 3;

my $start = status()->{'sessions-live'};
ok(defined $start && $start =~ /^\d+$/, 'status reports sessions-live');

my @ids;

# The two documented ways to log in, checked byte by byte.
for my $method (qw(POST GET)) {
    my ($id, $res) = login(user => 'demo', method => $method);
    push @ids, $id if defined $id;
    expect_reply($res, ok_login_re(), "$method login succeeds");
    $id //= '';
    is(substr($res->content, 55, 32), $id,
       "$method: the session id sits at offset 55");
    is($res->content,
       xml(qq{<ok sessionid="$id" number="1">Access is authorized.</ok>}),
       "$method: the reply is exactly the documented body");
    is($res->code, 200, "$method: HTTP 200");
    is($res->header('Content-Type'), 'text/xml; charset=UTF-8',
       "$method: Content-Type text/xml; charset=UTF-8");
    like($res->header('Cache-Control') // '', qr/\bno-store\b/,
         "$method: Cache-Control no-store");
    my @c = set_cookies($res);
    is(scalar @c, 1, "$method: exactly one Set-Cookie");
    is($c[0], "JSESSIONID=$id; Path=/callrec; HttpOnly; SameSite=Lax",
       "$method: the cookie carries the same id and the documented "
       . 'attributes (no Secure on http)');
}

# A new id at every login; a client's id is never adopted.
{
    my ($s1) = login();
    my ($s2) = login();
    ok(defined $s1 && defined $s2 && $s1 ne $s2, 'two logins, two ids');
    my ($c, $res) = login(req => { cookie => $s1 });
    ok(defined $c && $c ne ($s1 // ""),
       'login with a live session cookie makes a new id');
    my $new = $c // '-';
    like(join(' ', set_cookies($res)), qr/^JSESSIONID=\Q$new\E;/,
         '... and sets the new id as the cookie');
    my $forged = 'E3D794FEE4638143C1C89C18F693EB6B';
    my ($d) = login(req => { cookie => $forged });
    ok(defined $d && $d ne $forged,
       'login with a forged cookie does not adopt it');
    my ($e) = login(path => "$L;jsessionid=$forged");
    ok(defined $e && $e ne $forged,
       'login with a forged ;jsessionid= does not adopt it');
    expect_error(logout($forged), 'no-session',
                 'the forged id did not become a session');
    push @ids, grep { defined } $s1, $s2, $c, $d, $e;
    my %u = map { $_ => 1 } @ids;
    is(scalar keys %u, scalar @ids, 'no id was handed out twice');
    is(status()->{'sessions-live'}, $start + @ids,
       'sessions-live counts each login once');
}

my $before_errors = status()->{'sessions-live'};
for my $c (@errors) {
    my ($name, $method, $path, $o, $code) = @$c;
    expect_error(req($method => $path, %$o), $code, "$name -> $code");
}
is(status()->{'sessions-live'}, $before_errors,
   'no failed request created a session');

# login-failed must not tell a wrong password from an unknown user.
{
    my $wrong = req(POST => $L,
                    form => [loginname => 'demo', password => 'nope']);
    my $unknown = req(POST => $L,
                      form => [loginname => 'nobody', password => 'nope']);
    is($unknown->content, $wrong->content,
       'unknown user and wrong password get the same body');
}

# HEAD is not a login method: no body, no cookie, and above all no session.
{
    my $n = status()->{'sessions-live'};
    my $res = req(HEAD => "$L?$good");
    is($res->code, 200, 'HEAD on loginservlet: HTTP 200');
    ok(!set_cookies($res), 'HEAD on loginservlet sets no cookie');
    is(status()->{'sessions-live'}, $n, 'HEAD on loginservlet logs nobody in');
}

for my $c (@successes) {
    my ($name, $method, $path, $o, $cookie_path) = @$c;
    my $res = req($method => $path, %$o);
    my $id = $res->content =~ ok_login_re() ? $1 : undef;
    push @ids, $id if defined $id;
    expect_reply($res, ok_login_re(), "$name: logged in");
    my @c = set_cookies($res);
    is("@c", 'JSESSIONID=' . ($id // '?')
       . "; Path=$cookie_path; HttpOnly; SameSite=Lax",
       "$name: cookie with Path=$cookie_path");
    my $out = logout($id // 'none')->content;
    is($out, xml('<ok>Session closed.</ok>'),
       "$name: the session is real and logs out");
    pop @ids if defined $id && $out eq xml('<ok>Session closed.</ok>');
}

# Clean up: every session of this file ends.
my $closed = grep { logout($_)->content eq xml('<ok>Session closed.</ok>') }
    @ids;
is($closed, scalar @ids, 'every session of this test logs out');
is(status()->{'sessions-live'}, $start, 'sessions-live is back to start');

my @leaks = log_leaks();
ok(!@leaks, 'no session id reached our error log lines')
    or diag(@leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);

# The form body $base, padded with an ignored parameter to $len bytes.
sub padded
{
    my ($base, $len) = @_;
    my $pad = $len - length($base) - length('&comment=');
    die "cannot pad to $len" if $pad < 0;
    return "$base&comment=" . ('x' x $pad);
}

# A body LWP sends with Transfer-Encoding: chunked, in 100-byte chunks.
sub chunked
{
    my $body = shift;
    my @parts = unpack '(a100)*', $body;
    return sub { return shift @parts // '' };
}
