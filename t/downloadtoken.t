# Download Token Service (spec section 4): the legacy examples byte for
# byte, every accepted way of naming the calls, every error code with a
# request that causes it, the per-location settings, logout killing the
# session's tokens, and a couple of thousand tokens over keep-alive.
#
# Every case checks the store too: a token reply must add exactly one live
# token (status handler's tokens-live), an error reply must add none.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DTTest qw(XML_DECL xml error_body_re token_re expect_token
              req login logout status
              expect_reply expect_error reply_summary remember log_leaks);
use HTTP::Cookies ();
use HTTP::Request ();
use HTTP::Response ();
use DTRaw ();
use LWP::UserAgent ();

# ---- Requests byte for byte -------------------------------------------
# LWP (through URI) would escape the brackets of id_call[] and any stray
# byte, so the requests of this file are written out by hand.

# raw(METHOD, TARGET, options): a request of exactly these bytes, see
# t/lib/DTRaw.pm; cookie => ID sends that session.
sub raw
{
    my ($method, $target, %o) = @_;
    my $id = delete $o{cookie};
    return DTRaw::request($method, $target, %o,
                          defined $id ? (session => $id) : ());
}

my $S = '/callrec/downloadtoken';
my $Q = 'id_call[]=1165&type=1&action=download';

# id lists for the MaxCalls boundary (default DownloadTokenMaxCalls 100).
my $ids100 = join ',', 1001 .. 1100;
my $ids101 = join ',', 1001 .. 1101;

# The case table: [name, expected ('token' or an error code), request].
# A request is [METHOD, target, options for DTRaw::raw]; the session
# (cookie) is the current one unless the options say `cookie => undef`.
my @cases = (
    # --- accepted ways of naming the calls ---
    ['repeated id_call[]', 'token',
     [GET => "$S?id_call[]=1165&id_call[]=1166&type=1&action=download"]],
    ['a list and a repeat mixed', 'token',
     [GET => "$S?id_call[]=1165,1166&id_call[]=1167&type=1&action=download"]],
    ['percent-encoded name id_call%5B%5D', 'token',
     [GET => "$S?id_call%5B%5D=1165&type=1&action=download"]],
    ['encoded and plain names mixed, %74ype', 'token',
     [GET => "$S?id_call%5b%5d=1165,1166&id_call[]=1167&%74ype=1"
             . "&action=download"]],
    ['spaces (%20) around commas', 'token',
     [GET => "$S?id_call[]=1165%20,%201166%20&type=1&action=download"]],
    ['spaces (+) around commas', 'token',
     [GET => "$S?id_call[]=+1165+,+1166&type=1&action=download"]],
    ['duplicates in a list and across repeats', 'token',
     [GET => "$S?id_call[]=1165,1165,1166&id_call[]=1165&id_call[]=1166"
             . "&type=1&action=download"]],
    ['100 distinct ids (DownloadTokenMaxCalls)', 'token',
     [GET => "$S?id_call[]=$ids100&type=1&action=download"]],
    ['101 ids of which 100 distinct: duplicates fold before counting',
     'token',
     [GET => "$S?id_call[]=$ids100,1050&type=1&action=download"]],
    ['150 times the same id folds to one', 'token',
     [GET => "$S?id_call[]=" . join(',', (7) x 150) . "&type=1"
             . "&action=download"]],
    ['an 18-digit id', 'token',
     [GET => "$S?id_call[]=999999999999999999&type=1&action=download"]],
    ['type 16 at the default location', 'token',
     [GET => "$S?id_call[]=1165&type=16&action=download"]],
    ['unknown parameters are ignored', 'token',
     [GET => "$S?foo=bar&id_call[]=1165&x[]=1&type=1&callback=evil"
             . "&action=download&token=abc&empty"]],
    ['a singular parameter twice with the same value', 'token',
     [GET => "$S?id_call[]=1165&type=1&type=1&action=download"
             . "&action=download"]],
    ['POST form body', 'token', [POST => $S, { body => $Q }]],
    ['POST, form type with a charset', 'token',
     [POST => $S, { body => $Q,
                    type => 'application/x-www-form-urlencoded; '
                            . 'charset=UTF-8' }]],
    ['POST, type and action in the query, id_call[] in the body', 'token',
     [POST => "$S?type=1&action=download", { body => 'id_call[]=1165' }]],
    ['POST, id_call[] in the query and the body', 'token',
     [POST => "$S?id_call[]=1165", { body => 'id_call[]=1166&type=1'
                                             . '&action=download' }]],
    ['sid=ABC-123.x', 'token',
     [GET => "$S?sid=ABC-123.x&type=1&action=download"]],
    ['sid present: a bad id_call[] is ignored', 'token',
     [GET => "$S?id_call[]=abc&sid=ABC-123.x&type=1&action=download"]],
    ['sid present: 101 ids are ignored', 'token',
     [GET => "$S?sid=ABC-123.x&id_call[]=$ids101&type=1&action=download"]],
    ['a 64-character sid', 'token',
     [GET => "$S?sid=" . ('s' x 64) . "&type=1&action=download"]],
    ['type 16 where only 16 is served', 'token',
     [GET => "/tok16/downloadtoken?$Q" =~ s/type=1/type=16/r]],
    ['type 1 where only 1 is served', 'token',
     [GET => "/tokaudio/downloadtoken?$Q"]],
    ['action prepare where DownloadTokenActions has it', 'token',
     [GET => "/tokaction/downloadtoken?id_call[]=1165&type=16"
             . "&action=prepare"]],
    ['action download where DownloadTokenActions has it', 'token',
     [GET => "/tokaction/downloadtoken?$Q"]],
    ['a 1024-byte body where the limit is 1024', 'token',
     [POST => '/toksmall/downloadtoken',
      { body => pad("$Q&pad=", 1024) }]],
    ['50 pairs where the limit is 50', 'token',
     [POST => '/toksmall/downloadtoken',
      { body => "$Q&" . join('&', ('p') x 47) }]],

    # --- no-session ---
    ['no cookie at all', 'no-session', [GET => "$S?$Q", { cookie => undef }]],
    ['a well-formed unknown cookie', 'no-session',
     [GET => "$S?$Q", { cookie => 'BA803B97624F0880A4C58B78C733EB5B' }]],
    ['a garbage cookie', 'no-session',
     [GET => "$S?$Q", { cookie => 'bogus' }]],
    ['an unknown ;jsessionid=', 'no-session',
     [GET => "$S;jsessionid=E3D794FEE4638143C1C89C18F693EB6B?$Q",
      { cookie => undef }]],
    ['POST without a session', 'no-session',
     [POST => $S, { body => $Q, cookie => undef }]],

    # --- missing-parameter ---
    ['neither id_call[] nor sid', 'missing-parameter',
     [GET => "$S?type=1&action=download"]],
    ['no parameter at all', 'missing-parameter', [GET => $S]],
    ['no type', 'missing-parameter',
     [GET => "$S?id_call[]=1165&action=download"]],
    ['POST with an empty body', 'missing-parameter',
     [POST => $S, { body => '' }]],

    # --- bad-call-id ---
    (map {
        ["id_call[]=$_->[0]", 'bad-call-id',
         [GET => "$S?id_call[]=$_->[1]&type=1&action=download"]]
     } (['abc', 'abc'], ['-1', '-1'], ['0', '0'], ['1,,2', '1,,2'],
        ['19 digits', '1234567890123456789'],
        ['20 digits, over 2^64', '18446744073709551616'],
        ['1165, (trailing comma)', '1165,'],
        [',1165 (leading comma)', ',1165'],
        ['1165 1166 (no comma)', '1165%201166'],
        ['1.5', '1.5'], ['0x10', '0x10'], ['(empty)', ''],
        ['a bad id in a second id_call[]', '1165&id_call[]=x'])),

    # --- too-many-calls ---
    ['101 distinct ids in one list', 'too-many-calls',
     [GET => "$S?id_call[]=$ids101&type=1&action=download"]],
    ['101 distinct ids over two id_call[]', 'too-many-calls',
     [GET => "$S?id_call[]=" . join(',', 1 .. 50) . "&id_call[]="
             . join(',', 51 .. 101) . "&type=1&action=download"]],
    ['101 distinct ids as 101 repeats', 'too-many-calls',
     [POST => $S, { body => join('&', map { "id_call[]=$_" } 1 .. 101)
                            . '&type=1&action=download' }]],

    # --- bad-sid ---
    (map {
        ["sid=$_->[0]", 'bad-sid',
         [GET => "$S?sid=$_->[1]&type=1&action=download"]]
     } (['../x', '../x'], ['.hidden', '.hidden'],
        ['65 characters', 's' x 65], ['a/b', 'a/b'], ['a b', 'a%20b'],
        ['a;b', 'a;b'])),

    # --- bad-type ---
    ['type=2', 'bad-type', [GET => "$S?id_call[]=1165&type=2"]],
    ['type=01', 'bad-type',
     [GET => "$S?id_call[]=1165&type=01&action=download"]],
    ['type=16 where only 1 is served', 'bad-type',
     [GET => "/tokaudio/downloadtoken?id_call[]=1165&type=16"
             . "&action=download"]],
    ['type=1 where only 16 is served', 'bad-type',
     [GET => "/tok16/downloadtoken?$Q"]],

    # --- bad-action ---
    ['action=prepare at the default location', 'bad-action',
     [GET => "$S?id_call[]=1165&type=1&action=prepare"]],
    ['action=delete where download and prepare are served', 'bad-action',
     [GET => "/tokaction/downloadtoken?id_call[]=1165&type=1"
             . "&action=delete"]],

    # --- bad-parameter ---
    ['%zz in a value', 'bad-parameter',
     [GET => "$S?id_call[]=1165&type=%zz&action=download"]],
    ['%zz in a name', 'bad-parameter',
     [GET => "$S?id_call%zz=1165&type=1&action=download"]],
    ['a truncated escape %4', 'bad-parameter',
     [GET => "$S?id_call[]=1165&type=1&action=download%4"]],
    ['%00 in a value', 'bad-parameter',
     [GET => "$S?id_call[]=1165&type=1%00&action=download"]],
    ['%00 in a name', 'bad-parameter',
     [GET => "$S?id_call[]%00=1165&type=1&action=download"]],
    ['%zz in a POST body', 'bad-parameter',
     [POST => $S, { body => "$Q&x=%zz" }]],
    ['type twice with different values', 'bad-parameter',
     [GET => "$S?id_call[]=1165&type=1&type=16&action=download"]],
    ['action twice with different values', 'bad-parameter',
     [GET => "/tokaction/downloadtoken?id_call[]=1165&type=1"
             . "&action=download&action=prepare"]],
    ['sid twice with different values', 'bad-parameter',
     [GET => "$S?sid=a&sid=b&type=1&action=download"]],
    ['type=1 in the query, type=16 in the body', 'bad-parameter',
     [POST => "$S?type=1", { body => 'id_call[]=1165&type=16'
                                     . '&action=download' }]],

    # --- too-large ---
    ['a 1025-byte body where the limit is 1024', 'too-large',
     [POST => '/toksmall/downloadtoken',
      { body => pad("$Q&pad=", 1025) }]],
    ['a 1025-byte query where the limit is 1024', 'too-large',
     [GET => '/toksmall/downloadtoken?' . pad("$Q&pad=", 1025)]],
    ['51 pairs where the limit is 50', 'too-large',
     [POST => '/toksmall/downloadtoken',
      { body => "$Q&" . join('&', ('p') x 48) }]],
    ['51 pairs over query and body where the limit is 50', 'too-large',
     [POST => '/toksmall/downloadtoken?' . join('&', ('q') x 30),
      { body => "$Q&" . join('&', ('p') x 18) }]],
    ['an 8193-byte body at the default location (8192)', 'too-large',
     [POST => $S, { body => pad("$Q&pad=", 8193) }]],
    ['257 pairs at the default location (256)', 'too-large',
     [POST => $S, { body => "$Q&" . join('&', ('p') x 254) }]],

    # --- bad-content-type ---
    ['POST with a text/plain body', 'bad-content-type',
     [POST => $S, { body => $Q, type => 'text/plain' }]],
    ['POST with a multipart body', 'bad-content-type',
     [POST => $S, { body => "--x\r\n\r\n$Q\r\n--x--\r\n",
                    type => 'multipart/form-data; boundary=x' }]],
    ['POST with a body and no Content-Type', 'bad-content-type',
     [POST => $S, { body => $Q, type => undef }]],

    # --- bad-method ---
    (map {
        ["$_ with a session and good parameters", 'bad-method',
         [$_ => "$S?$Q", { body => $Q }]]
     } qw(PUT DELETE PATCH)),
    ['PUT without a session', 'bad-method',
     [PUT => "$S?$Q", { body => $Q, cookie => undef }]],
);

# One test file, one server: the sessions that the file opens.
my @sessions;

# Tokens that a case issues count against its session's cap (100 by
# default), so the cases rotate sessions well before it.
my ($session, $issued) = (undef, 0);

sub current_session
{
    if (!defined $session || $issued >= 80) {
        logout($session) if defined $session;
        ($session) = login();
        $session //= 'login-failed';
        $issued = 0;
    }
    return $session;
}

# `len` bytes: the prefix, then 'x' up to the length.
sub pad
{
    my ($prefix, $len) = @_;
    return $prefix . ('x' x ($len - length $prefix));
}

sub live
{
    return status()->{'tokens-live'} // -1;
}

my $N_BULK_SESSIONS = 4;
my $N_BULK_EACH = 500;

plan tests => 1             # the status handler answers
    + 5 + 1 + 5                 # the legacy GET; the jar; the curl POST
    + 2 * @cases                # the case table
    + 4                         # HEAD
    + 6                         # token lengths
    + 6                         # DownloadTokenMaxPerSession 3
    + 11                        # logout ends the tokens
    + 7                         # keep-alive bulk
    + 2;                        # clean up, log

my $start_live = live();
ok($start_live >= 0, "the status handler reports tokens-live ($start_live)");

# ---- 1. The legacy examples, byte for byte ----------------------------

# Checks one token reply in five assertions, as a connector reads it.
sub legacy_reply
{
    my ($res, $name) = @_;
    my $body = $res->content;
    is($res->code, 200, "$name: HTTP 200");
    is($res->header('Content-Type') // '', 'text/xml; charset=UTF-8',
       "$name: Content-Type text/xml; charset=UTF-8");
    is($res->header('Cache-Control') // '', 'no-store',
       "$name: Cache-Control no-store");
    ok($body =~ token_re(20), "$name: the body is the declaration, CRLF,"
       . " <reply>20 alphanumerics</reply>, LF")
        or diag(reply_summary($res));
    my $token = substr($body, 47, 20);
    ok(length($body) == 47 + 20 + 9 && $token =~ /\A[A-Za-z0-9]{20}\z/
       && substr($body, 67) eq "</reply>\n",
       "$name: the token starts at offset 47")
        or diag(reply_summary($res));
    remember($token);
    return $token;
}

my ($id_a) = login();
$id_a //= 'login-failed';
push @sessions, $id_a;
my $tok_a = legacy_reply(
    raw(GET => "/callrec/downloadtoken;jsessionid=$id_a"
               . '?id_call[]=1165,1166&type=1&action=download'),
    'legacy GET with ;jsessionid=');

# curl -b cookies.txt -c cookies.txt: a cookie jar that keeps what the
# login set, and the body exactly as curl's -d options join it.
my $jar = HTTP::Cookies->new;
my $curl = LWP::UserAgent->new(cookie_jar => $jar, max_redirect => 0,
                               agent => 'curl/7.88.1', timeout => 30);
my $base = 'http://' . Apache::TestRequest::hostport(Apache::Test::config());
$curl->post("$base/callrec/loginservlet",
            { loginname => 'demo', password => 'demo-pass' });
my $jar_id;
$jar->scan(sub { $jar_id = $_[2] if $_[1] eq 'JSESSIONID' });
ok(defined $jar_id && $jar_id =~ /\A[0-9A-F]{32}\z/,
   'curl-like login: the cookie jar holds JSESSIONID');
push @sessions, $jar_id if defined $jar_id;
my $curl_req = HTTP::Request->new(POST => "$base/callrec/downloadtoken");
$curl_req->header('Content-Type' => 'application/x-www-form-urlencoded');
$curl_req->header(Accept => 'text/xml');
$curl_req->content('id_call[]=1165,1166&type=1&action=download');
my $tok_b = legacy_reply($curl->request($curl_req),
                         'legacy curl POST with the cookie jar');

# ---- 2. The case table -------------------------------------------------

for my $c (@cases) {
    my ($name, $want, $r) = @$c;
    my ($method, $target, $o) = @$r;
    my %o = %{ $o || {} };
    $o{cookie} = current_session() unless exists $o{cookie};
    $o{type} = 'application/x-www-form-urlencoded'
        if defined $o{body} && !exists $o{type};
    my $before = live();
    my $res = raw($method => $target, %o);
    if ($want eq 'token') {
        my $t = expect_token($res, 20, "$name: a token");
        $issued++ if defined $t;
        is(live(), $before + 1, "$name: one more live token");
    }
    else {
        expect_error($res, $want, "$name: $want");
        is(live(), $before, "$name: no token stored");
    }
}

# HEAD is no way to get a token: the reply has no body to carry one.
{
    my $before = live();
    my $res = raw(HEAD => "$S?$Q", cookie => current_session());
    is($res->code, 200, 'HEAD: HTTP 200 (every reply is 200)');
    is($res->header('Content-Type') // '', 'text/xml; charset=UTF-8',
       'HEAD: text/xml; charset=UTF-8');
    is($res->content, '', 'HEAD: no body');
    is(live(), $before, 'HEAD: no token stored');
}

# ---- 3. Token length -------------------------------------------------

{
    my $before = live();
    my $res = raw(GET => "/toklen/downloadtoken?$Q",
                  cookie => current_session());
    my $t = expect_token($res, 64, 'DownloadTokenLength 64: a 64-character '
                         . 'token');
    $issued++ if defined $t;
    is(length($t // ''), 64, 'DownloadTokenLength 64: 64 characters');
    is(substr($res->content, 47, 64), $t // '-',
       'DownloadTokenLength 64: the token starts at offset 47');
    is(live(), $before + 1, 'DownloadTokenLength 64: one more live token');
    my $t20 = expect_token(raw(GET => "$S?$Q", cookie => current_session()),
                           20, 'the default location: 20 characters');
    $issued++ if defined $t20;
    ok(defined $t && defined $t20 && $t ne $t20 && $tok_a ne $tok_b,
       'tokens differ from one another');
}

# ---- 4. The per-session cap: DownloadTokenMaxPerSession 3 -------------

{
    my ($cap) = login();
    $cap //= 'login-failed';
    push @sessions, $cap;
    my $before = live();
    my @got = map {
        expect_token(raw(GET => "/tokcap/downloadtoken?$Q", cookie => $cap),
                     20, "DownloadTokenMaxPerSession 3: token $_ of 3")
    } 1 .. 3;
    expect_error(raw(GET => "/tokcap/downloadtoken?$Q", cookie => $cap),
                 'store-full', 'DownloadTokenMaxPerSession 3: the 4th '
                 . 'request gets store-full');
    is(live(), $before + 3, 'DownloadTokenMaxPerSession 3: three live '
       . 'tokens, not four');
    my ($again) = login();
    $again //= 'login-failed';
    push @sessions, $again;
    expect_token(raw(GET => "/tokcap/downloadtoken?$Q", cookie => $again),
                 20, 'DownloadTokenMaxPerSession 3: a new login gets a '
                 . 'token again');
}

# ---- 5. Logout ends the session's tokens -----------------------------

{
    my ($gone) = login();
    $gone //= 'login-failed';
    my $before = live();
    my $n = 0;
    for (1 .. 5) {
        $n++ if defined expect_token(
            raw(GET => "$S?$Q", cookie => $gone), 20,
            "logout: the session's token $_ of 5");
    }
    is(live(), $before + 5, 'logout: five more live tokens');
    expect_reply(logout($gone), xml('<ok>Session closed.</ok>'),
                 'logout: <ok>Session closed.</ok>');
    my $st = status();
    is($st->{'tokens-live'} // -1, $before,
       "logout: tokens-live drops by the session's five");
    is($st->{consistent} // '', 'yes', 'logout: the store is consistent');
    expect_error(raw(GET => "$S?$Q", cookie => $gone), 'no-session',
                 'logout: the cookie gets no-session');
    expect_error(raw(GET => "$S;jsessionid=$gone?$Q"), 'no-session',
                 'logout: the ;jsessionid= gets no-session');
}

# ---- 6. Many tokens over keep-alive: all distinct ---------------------

{
    my @ids = map { (login())[0] // 'login-failed' } 1 .. $N_BULK_SESSIONS;
    my $ua = LWP::UserAgent->new(keep_alive => 4, timeout => 30,
                                 max_redirect => 0);
    my $before = live();
    my (%seen, $bad, $reused);
    my $total = $N_BULK_SESSIONS * $N_BULK_EACH;
    for my $i (1 .. $N_BULK_EACH) {
        for my $id (@ids) {
            my $r = HTTP::Request->new(GET => "$base/tokmany/downloadtoken"
                                       . "?id_call%5B%5D=$i&type=1"
                                       . '&action=download');
            $r->header(Cookie => "JSESSIONID=$id");
            my $res = $ua->request($r);
            my $n = $res->header('Client-Response-Num') // 1;
            $reused = 1 if $n > 1;
            if ($res->code == 200 && $res->content =~ token_re(20)) {
                $seen{$1}++;
            }
            else {
                $bad //= reply_summary($res);
            }
        }
    }
    remember(keys %seen);
    my $got = 0;
    $got += $_ for values %seen;
    is($got, $total, "keep-alive: $total replies are tokens")
        or diag("first other reply: " . ($bad // 'none'));
    is(scalar keys %seen, $total, "keep-alive: $total distinct tokens");
    ok($reused, 'keep-alive: connections were reused');
    is(live(), $before + $total, "keep-alive: $total more live tokens");
    my $closed = grep {
        logout($_)->content eq xml('<ok>Session closed.</ok>')
    } @ids;
    is($closed, $N_BULK_SESSIONS, 'keep-alive: every session logs out');
    my $st = status();
    is($st->{'tokens-live'} // -1, $before,
       'keep-alive: after the logouts tokens-live is back');
    is($st->{consistent} // '', 'yes',
       'keep-alive: the store is consistent');
}

# ---- 7. Clean up; nothing secret in the log ---------------------------

logout($_) for @sessions, grep { defined } $session;
is(live(), $start_live, 'after every logout tokens-live is where it '
   . 'started');
my @leaks = log_leaks();
ok(!@leaks, 'no token or session id in the module\'s log lines')
    or diag("leaked: @leaks[0 .. ($#leaks < 2 ? $#leaks : 2)]");
