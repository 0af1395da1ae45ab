# Every service against hostile clients, byte for byte: broken escapes,
# NUL and control bytes, invalid UTF-8, huge and numerous parameters,
# crowds of cookies and odd ;jsessionid= spellings, paths in ids and SIDs,
# wrong content types, chunked and truncated bodies, bodies announced but
# never sent, strange methods, HEAD, malformed tokens, and requests that
# httpd itself refuses before the module sees them.
#
# One row per request: (name, request bytes or a builder, expected reply).
# Each row gives two assertions: the reply, exactly; and the aftermath
# (the row's own checks, then sessions-live and tokens-live back where
# they were and the store consistent, once what the row made is cleaned
# up).  After the table the server must still serve the whole sequence,
# and no child may have crashed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use DTTest qw(slurp XML_DECL xml error_body_re ok_login_re req login logout
              status reply_summary remember log_leaks);
use DTRaw ();

my $LOGIN = '/callrec/loginservlet';
my $LOGOUT = '/callrec/logoutservlet';
my $ISSUE = '/callrec/downloadtoken';
my $SEND = '/callrec/sendcallfile.mp3';
my $BIG = '/tokbig/downloadtoken';      # DownloadTokenMaxBodySize 2000000
my %SERVICE = (login => $LOGIN, logout => $LOGOUT, issue => $ISSUE,
               redeem => $SEND);
my $FORM = 'application/x-www-form-urlencoded';
my $Q = 'id_call[]=1165&type=1&action=download';
my $Q66 = 'id_call[]=1166&type=1&action=download';
my $CREDS = 'loginname=demo&password=demo-pass';
my $KB100 = 'v' x 102_400;
my $XML = 'text/xml; charset=UTF-8';

my $serverroot = Apache::Test::vars('serverroot');
my $error_log = "$serverroot/logs/error_log";
my $media = Apache::Test::vars('documentroot') . '/media';

my %MEDIA = map { $_ => slurp("$media/$_.mp3") } qw(1165 1166);

# ---- Requests --------------------------------------------------------

sub R { return DTRaw::build(@_); }

sub form_post
{
    my ($path, $body, %o) = @_;
    return R(POST => $path, body => $body, type => $FORM, %o);
}

sub jar { return join '; ', map { "JSESSIONID=$_" } @_; }

# Sessions and tokens made through DTTest's plain LWP client.
sub new_session
{
    my ($ctx, $user) = @_;
    my ($id, $res) = login(user => $user);
    die "cannot log in as $user: " . reply_summary($res) unless $id;
    push @{ $ctx->{sessions} }, $id if $ctx;
    return $id;
}

sub new_token
{
    my ($ctx, $id, $query) = @_;
    my $res = req(GET => "$ISSUE;jsessionid=$id?" . ($query // $Q));
    my ($t) = $res->content =~ /<reply>([A-Za-z0-9]+)<\/reply>/;
    die 'cannot get a token: ' . reply_summary($res) unless $t;
    push @{ $ctx->{tokens} }, $t if $ctx;
    return $t;
}

# Who a session is, through httpd's own Require on /demo-only/ (which
# leaves no token behind): demo, guest (any other user) or none.
sub user_of
{
    my $id = shift;
    my $code = req(GET => '/demo-only/index.html', cookie => $id)->code;
    return $code == 200 ? 'demo' : $code == 403 ? 'guest'
         : $code == 401 ? 'none' : "HTTP $code";
}

# 'live' when HEAD (which does not spend it) finds the token's file.
sub token_state
{
    my $t = shift;
    my $r = DTRaw::exchange(R(HEAD => "$SEND?token=$t"));
    return 'no reply' unless $r->{res};
    return ($r->{res}->header('Content-Type') // '') eq 'audio/mpeg'
        ? 'live' : 'not live';
}

sub counts
{
    my $s = status();
    return { sessions => $s->{'sessions-live'} // -1,
             tokens => $s->{'tokens-live'} // -1,
             consistent => $s->{consistent} // '' };
}

# ---- Expected replies ------------------------------------------------
# 'err CODE'         HTTP 200, our content type, <error code="CODE">, no
#                    cookie set
# 'http NNN'         httpd's own answer NNN (not one of our XML bodies)
# 'token'            a 20-character token (kept in $ctx->{token})
# 'login'            a login reply whose cookie repeats the id
# 'logout'           <ok>Session closed.</ok>
# 'media ID'         audio/mpeg, the bytes of ID.mp3
# 'head-error SVC'   HEAD: 200, our content type, no body, and the
#                    Content-Length of the bad-method reply SVC gives PUT
# 'head-media ID'    HEAD: audio/mpeg, no body, ID.mp3's Content-Length
# 'alive'            (for a request the client abandons) the server
#                    answers the next connection, /status, within 5 s

my %bad_method_length;

sub bad_method_length
{
    my $svc = shift;
    $bad_method_length{$svc} //= do {
        my $r = DTRaw::exchange(R(PUT => $SERVICE{$svc}));
        my $body = $r->{res} ? $r->{res}->content : '';
        $body =~ error_body_re('bad-method') ? length $body : -1;
    };
    return $bad_method_length{$svc};
}

sub describe
{
    my $r = shift;
    return "no reply ($r->{error})" unless $r->{res};
    my $s = reply_summary($r->{res});
    my $cookie = $r->{res}->header('Set-Cookie');
    $s .= ", Set-Cookie \"$cookie\"" if defined $cookie;
    return sprintf '%s (%.2f s)', $s, $r->{elapsed};
}

# -> (ok, why not)
sub check_reply
{
    my ($r, $expect, $ctx) = @_;
    my ($kind, $arg) = split ' ', $expect, 2;
    if ($kind eq 'alive') {
        my $st = DTRaw::exchange(R(GET => '/status'), timeout => 5);
        return ($st->{res} && $st->{res}->code == 200
                && $st->{res}->content =~ /^consistent: yes$/m,
                '/status gave ' . describe($st));
    }
    my $res = $r->{res} or return (0, "no reply ($r->{error})");
    my $type = $res->header('Content-Type') // '';
    my $body = $res->content;
    my $decl = XML_DECL;
    my $ours = $res->code == 200 && $type eq $XML;
    my $no_cookie = !defined $res->header('Set-Cookie');
    remember($1) if $body =~ /<reply>([^<]+)<\/reply>/;
    remember($1) if $body =~ /sessionid="([^"]+)"/;

    if ($kind eq 'err') {
        return ($ours && $body =~ error_body_re($arg) && $no_cookie
                && ($res->header('Cache-Control') // '') =~ /no-store/);
    }
    if ($kind eq 'http') {
        return ($res->code == $arg && $body !~ /\A\Q$decl\E/);
    }
    if ($kind eq 'token') {
        return (0) unless $ours
            && $body =~ /\A\Q$decl\E<reply>([A-Za-z0-9]{20})<\/reply>\n\z/;
        $ctx->{token} = $1;
        push @{ $ctx->{tokens} }, $1;
        return (1);
    }
    if ($kind eq 'login') {
        return (0) unless $ours && $body =~ ok_login_re();
        my $id = $1;
        push @{ $ctx->{sessions} }, $id;
        $ctx->{login} = $id;
        my $c = $res->header('Set-Cookie') // '';
        return ($c =~ /\AJSESSIONID=\Q$id\E; Path=\/callrec; HttpOnly/,
                "cookie \"$c\"");
    }
    if ($kind eq 'logout') {
        return ($ours && $body eq xml('<ok>Session closed.</ok>'));
    }
    if ($kind eq 'media') {
        return ($res->code == 200 && $type eq 'audio/mpeg'
                && $body eq $MEDIA{$arg}, "body of " . length($body)
                . " bytes, want " . length($MEDIA{$arg}));
    }
    if ($kind eq 'head-error') {
        my $want = bad_method_length($arg);
        my $len = $res->header('Content-Length') // 'none';
        return ($ours && $body eq '' && $no_cookie && $len eq $want,
                "Content-Length $len, want $want");
    }
    if ($kind eq 'head-media') {
        my $len = $res->header('Content-Length') // 'none';
        return ($res->code == 200 && $type eq 'audio/mpeg' && $body eq ''
                && $len eq length $MEDIA{$arg},
                "Content-Length $len, want " . length $MEDIA{$arg});
    }
    die "unknown expectation '$expect'";
}

# ---- Checks for afterwards (each returns (ok, why not)) -------------

sub is_user
{
    my ($id, $want, $what) = @_;
    my $got = user_of($id);
    return ($got eq $want, "$what is '$got', want '$want'");
}

# The row's token, redeemed once, gives this reply.
sub redeems_as
{
    my $expect = shift;
    return sub {
        my ($r, $ctx) = @_;
        my $t = $ctx->{token} or return (0, 'no token to redeem');
        my $rr = DTRaw::exchange(R(GET => "$SEND?token=$t"));
        my ($ok, $why) = check_reply($rr, $expect, {});
        return ($ok, "redeeming gave " . describe($rr)
                     . ($why ? "; $why" : '') . ", want $expect");
    };
}

# The token the builder made is still there (HEAD only looks).
sub token_kept
{
    my ($r, $ctx) = @_;
    my $t = $ctx->{made_token} or return (0, 'no token was made');
    my $st = token_state($t);
    return ($st eq 'live', "the token is $st");
}

sub session_kept
{
    my ($r, $ctx) = @_;
    return is_user($ctx->{victim}, $ctx->{victim_user} // 'demo',
                   'the session');
}

# ---- The sessions the table uses -------------------------------------

my $start = counts();
my $DEMO = new_session(undef, 'demo');
my $GUEST = new_session(undef, 'guest');
my $STALE = new_session(undef, 'demo');
logout($STALE);
# Well formed, never issued.
my $FAKE = 'F' x 32;
my @FAKES = map { sprintf '%032X', 0xA11CE + $_ } 1 .. 8;

# The next request after a broken one is served: a token, redeemed.
sub server_serves
{
    my ($r, $ctx) = @_;
    my $rr = DTRaw::exchange(R(GET => "$ISSUE?$Q", cookie => jar($DEMO)));
    my ($ok) = check_reply($rr, 'token', $ctx);
    return (0, 'the next request got ' . describe($rr)) unless $ok;
    return redeems_as('media 1165')->($r, $ctx);
}

# A builder that makes a throwaway session of `user` (the victim) and
# builds the request with it.
sub with_victim
{
    my ($user, $build) = @_;
    return sub {
        my $ctx = shift;
        $ctx->{victim} = new_session($ctx, $user);
        $ctx->{victim_user} = $user;
        return $build->($ctx->{victim}, $ctx);
    };
}

# A builder that makes a token of demo's (for `query`) and builds the
# request with it.
sub with_token
{
    my ($build, $query) = @_;
    return sub {
        my $ctx = shift;
        $ctx->{made_token} = new_token($ctx, $DEMO, $query);
        return $build->($ctx->{made_token}, $ctx);
    };
}

# ---- The table ---------------------------------------------------------
# { name, req => BYTES | sub(ctx) -> BYTES, expect => ..., after => sub,
#   mode => full|half|close, within => seconds the reply may take }

my @rows;
sub row { push @rows, {@_}; }

# --- malformed percent-encoding, in names and values ---
row(name => 'login: a lone % as the password value',
    req => form_post($LOGIN, 'loginname=demo&password=%'),
    expect => 'err bad-parameter');
row(name => 'login: %4 cut short in a name',
    req => form_post($LOGIN, 'loginname%4=demo&password=demo-pass'),
    expect => 'err bad-parameter');
row(name => 'login: %zz in the query, good credentials beside it',
    req => R(GET => "$LOGIN?$CREDS&x=%zz"),
    expect => 'err bad-parameter');
row(name => 'login: %% as a name, good credentials beside it',
    req => form_post($LOGIN, "%%=1&$CREDS"),
    expect => 'err bad-parameter');
row(name => 'login: names percent-encoded are fine',
    req => form_post($LOGIN, 'login%6Eame=demo&pass%77ord=demo-pass'),
    expect => 'login');
row(name => 'logout: %zz in the query keeps the session',
    req => with_victim(demo => sub { R(GET => "$LOGOUT?x=%zz",
                                       cookie => jar($_[0])) }),
    expect => 'err bad-parameter', after => \&session_kept);
row(name => 'logout: a lone % as a body name keeps the session',
    req => with_victim(demo => sub { form_post($LOGOUT, '%=1',
                                               cookie => jar($_[0])) }),
    expect => 'err bad-parameter', after => \&session_kept);
row(name => 'issue: %4 at the end of a name',
    req => R(GET => "$ISSUE?$Q&x%4", cookie => jar($DEMO)),
    expect => 'err bad-parameter');
row(name => 'issue: %% in a value',
    req => R(GET => "$ISSUE?$Q&x=%%", cookie => jar($DEMO)),
    expect => 'err bad-parameter');
row(name => 'issue: %zz in a body value',
    req => form_post($ISSUE, "$Q&x=%zz", cookie => jar($DEMO)),
    expect => 'err bad-parameter');
row(name => 'issue: id_call%5B%5D, an encoded name, is id_call[]',
    req => R(GET => "$ISSUE?id_call%5B%5D=1165&type=1",
             cookie => jar($DEMO)),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'redeem: token=% ',
    req => R(GET => "$SEND?token=%"),
    expect => 'err bad-parameter');
row(name => 'redeem: %zz beside a live token does not spend it',
    req => with_token(sub { R(GET => "$SEND?token=$_[0]&x=%zz") }),
    expect => 'err bad-parameter', after => \&token_kept);
row(name => 'redeem: %4 cut short as a body name beside a live token',
    req => with_token(sub { form_post($SEND, "token=$_[0]&%4") }),
    expect => 'err bad-parameter', after => \&token_kept);
row(name => 'redeem: tok%65n, an encoded name, is token',
    req => with_token(sub { R(GET => "$SEND?tok%65n=$_[0]") }),
    expect => 'media 1165');

# --- NUL and control bytes, raw (in a body) and encoded ---
row(name => 'login: a raw NUL inside loginname',
    req => form_post($LOGIN, "loginname=de\0mo&password=demo-pass"),
    expect => 'err bad-parameter');
row(name => 'login: %00 after loginname',
    req => form_post($LOGIN, 'loginname=demo%00&password=demo-pass'),
    expect => 'err bad-parameter');
row(name => 'login: a raw NUL after the password',
    req => form_post($LOGIN, "$CREDS\0"),
    expect => 'err bad-parameter');
row(name => 'login: %0D%0A and a forged log line in loginname',
    req => form_post($LOGIN, 'loginname=x%0D%0A[forged]%20mod_downloadtoken:'
                     . '%20login%20of%20admin&password=x'),
    expect => 'err login-failed');
row(name => 'login: raw control bytes (\x01, \x7f, ESC) in the password',
    req => form_post($LOGIN, "loginname=demo&password=demo-pass\x01\x7f\e"),
    expect => 'err login-failed');
row(name => 'logout: a raw NUL in the body keeps the session',
    req => with_victim(demo => sub { form_post($LOGOUT, "x=\0",
                                               cookie => jar($_[0])) }),
    expect => 'err bad-parameter', after => \&session_kept);
row(name => 'issue: a raw NUL in a body name',
    req => form_post($ISSUE, "id_call[]=1165&ty\0pe=1", cookie => jar($DEMO)),
    expect => 'err bad-parameter');
row(name => 'issue: a raw \x01 after the id',
    req => form_post($ISSUE, "id_call[]=1165\x01&type=1",
                     cookie => jar($DEMO)),
    expect => 'err bad-call-id');
row(name => 'issue: %00 in sid',
    req => R(GET => "$ISSUE?sid=abc%00-1&type=1", cookie => jar($DEMO)),
    expect => 'err bad-parameter');
row(name => 'redeem: a raw NUL in the body token',
    req => with_token(sub { form_post($SEND, "token=$_[0]\0") }),
    expect => 'err bad-parameter', after => \&token_kept);
row(name => 'redeem: a token with %00 inside',
    req => with_token(sub { my $t = $_[0]; substr($t, 10, 0, '%00');
                            R(GET => "$SEND?token=$t") }),
    expect => 'err bad-parameter', after => \&token_kept);
row(name => 'a raw NUL in the request line: httpd answers 400',
    req => with_token(sub { R(GET => "$SEND?token=$_[0]\0") }),
    expect => 'http 400', after => \&token_kept);
row(name => 'a raw \x01 in the request line: httpd answers 400',
    req => R(GET => "$LOGIN?loginname=demo\x01&password=demo-pass"),
    expect => 'http 400');
row(name => 'a raw NUL in the Cookie header: httpd answers 400',
    req => R(GET => "$ISSUE?$Q", cookie => "JSESSIONID=$DEMO\0"),
    expect => 'http 400');

# --- invalid UTF-8 in loginname and sid ---
row(name => 'login: %C3%28 (a broken two-byte sequence) as loginname',
    req => form_post($LOGIN, 'loginname=%C3%28&password=demo-pass'),
    expect => 'err login-failed');
row(name => 'login: %FF%FE before demo',
    req => form_post($LOGIN, 'loginname=%FF%FEdemo&password=demo-pass'),
    expect => 'err login-failed');
row(name => 'login: raw \xC0\xAF (overlong slash) in the body loginname',
    req => form_post($LOGIN, "loginname=demo\xC0\xAF&password=demo-pass"),
    expect => 'err login-failed');
row(name => 'issue: %C3%28 in sid',
    req => R(GET => "$ISSUE?sid=abc%C3%28&type=1", cookie => jar($DEMO)),
    expect => 'err bad-sid');
row(name => 'issue: raw \xFF\xFE in a body sid',
    req => form_post($ISSUE, "sid=\xFF\xFEabc&type=1", cookie => jar($DEMO)),
    expect => 'err bad-sid');
row(name => 'issue: overlong %C0%AE%C0%AE (dots) in sid',
    req => R(GET => "$ISSUE?sid=%C0%AE%C0%AEabc&type=1",
             cookie => jar($DEMO)),
    expect => 'err bad-sid');

# --- huge and numerous parameters, 100,000 ids ---
row(name => 'login: a 100 KB password over its 1024-byte limit',
    req => form_post($LOGIN, "loginname=demo&password=$KB100"),
    expect => 'err too-large');
row(name => 'login: a 100 KB value in the query: httpd answers 414',
    req => R(GET => "$LOGIN?$CREDS&x=$KB100"),
    expect => 'http 414');
row(name => 'login: 300 pairs within 1024 bytes (more than 256)',
    req => form_post($LOGIN, "$CREDS&" . join('&', ('x') x 300)),
    expect => 'err too-large');
row(name => 'logout: a 100 KB body keeps the session',
    req => with_victim(demo => sub { form_post($LOGOUT, "x=$KB100",
                                               cookie => jar($_[0])) }),
    expect => 'err too-large', after => \&session_kept);
row(name => 'issue: a 100 KB value',
    req => form_post($ISSUE, "$Q&x=$KB100", cookie => jar($DEMO)),
    expect => 'err too-large');
row(name => 'issue: 5,000 pairs under a 2 MB body limit',
    req => form_post($BIG, "$Q&" . join('&', map { "p$_=1" } 1 .. 5000),
                     cookie => jar($DEMO)),
    expect => 'err too-large');
row(name => 'issue: 100,000 ids in one value',
    req => form_post($ISSUE, 'id_call[]=' . join(',', 1 .. 100_000)
                     . '&type=1', cookie => jar($DEMO)),
    expect => 'err too-large');
row(name => 'issue: 100,000 distinct ids under a 2 MB limit',
    req => form_post($BIG, 'id_call[]=' . join(',', 1 .. 100_000)
                     . '&type=1', cookie => jar($DEMO)),
    expect => 'err too-many-calls');
row(name => 'issue: 100,000 ids in the query: httpd answers 414',
    req => R(GET => "$ISSUE?id_call[]=" . join(',', 1 .. 100_000)
             . '&type=1', cookie => jar($DEMO)),
    expect => 'http 414');
row(name => 'redeem: a 100 KB token in a body',
    req => form_post($SEND, "token=$KB100"),
    expect => 'err too-large');
row(name => 'redeem: 5,000 token pairs',
    req => with_token(sub { form_post($SEND,
                                      join('&', ("token=$_[0]") x 5000)) }),
    expect => 'err too-large', after => \&token_kept);

# --- several JSESSIONID cookies ---
row(name => 'issue: a stale cookie before the live one is served (demo)',
    req => R(GET => "$ISSUE?$Q66", cookie => jar($STALE, $DEMO)),
    expect => 'token', after => redeems_as('media 1166'));
row(name => 'issue: guest\'s then demo\'s live cookies: guest\'s token',
    req => R(GET => "$ISSUE?$Q66", cookie => jar($GUEST, $DEMO)),
    expect => 'token', after => redeems_as('err not-authorized'));
row(name => 'issue: demo\'s then guest\'s live cookies: demo\'s token',
    req => R(GET => "$ISSUE?$Q66", cookie => jar($DEMO, $GUEST)),
    expect => 'token', after => redeems_as('media 1166'));
# httpd joins repeated request headers with ", " before any module reads
# them, so two Cookie headers arrive as one: "JSESSIONID=A, JSESSIONID=B".
row(name => 'issue: two Cookie headers, stale then guest: guest\'s token',
    req => R(GET => "$ISSUE?$Q66", cookie => [jar($STALE), jar($GUEST)]),
    expect => 'token', after => redeems_as('err not-authorized'));
row(name => 'issue: ;jsessionid= (guest) wins over the cookie (demo)',
    req => R(GET => "$ISSUE;jsessionid=$GUEST?$Q66", cookie => jar($DEMO)),
    expect => 'token', after => redeems_as('err not-authorized'));
row(name => 'issue: a stale ;jsessionid= and a live cookie',
    req => R(GET => "$ISSUE;jsessionid=$STALE?$Q66", cookie => jar($DEMO)),
    expect => 'token', after => redeems_as('media 1166'));
row(name => 'logout: two live cookies end the first one only',
    req => sub {
        my $ctx = shift;
        $ctx->{first} = new_session($ctx, 'guest');
        $ctx->{second} = new_session($ctx, 'demo');
        return R(GET => $LOGOUT, cookie => jar($ctx->{first},
                                               $ctx->{second}));
    },
    expect => 'logout',
    after => sub {
        my ($r, $ctx) = @_;
        my ($a, $why_a) = is_user($ctx->{first}, 'none', 'the first');
        my ($b, $why_b) = is_user($ctx->{second}, 'demo', 'the second');
        return ($a && $b, "$why_a; $why_b");
    });
row(name => 'issue: 7 unknown cookies, then the live one',
    req => R(GET => "$ISSUE?$Q", cookie => jar(@FAKES[0 .. 6], $DEMO)),
    expect => 'token', after => redeems_as('media 1165'));
# Each candidate costs a look-up under the store's lock, so the module
# tries at most 8 (DT_MAX_SESSION_CANDIDATES): the ninth is not read.
row(name => 'issue: 8 unknown cookies, then the live one: not read',
    req => R(GET => "$ISSUE?$Q", cookie => jar(@FAKES[0 .. 7], $DEMO)),
    expect => 'err no-session');
row(name => 'issue: a quoted cookie value',
    req => R(GET => "$ISSUE?$Q", cookie => "JSESSIONID=\"$DEMO\""),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'issue: the cookie name in lower case is another cookie',
    req => R(GET => "$ISSUE?$Q", cookie => "jsessionid=$DEMO"),
    expect => 'err no-session');
row(name => 'issue: a cookie value of raw invalid UTF-8',
    req => R(GET => "$ISSUE?$Q", cookie => "JSESSIONID=\xFF\xFE$DEMO"),
    expect => 'err no-session');
row(name => 'issue: ;jsessionid= of encoded invalid UTF-8',
    req => R(GET => "$ISSUE;jsessionid=%C3%28" . substr($DEMO, 2) . "?$Q"),
    expect => 'err no-session');
row(name => 'issue: the live id in lower-case hex as a cookie',
    req => R(GET => "$ISSUE?$Q", cookie => jar(lc $DEMO)),
    expect => 'err no-session');

# --- oversized and long cookie headers ---
row(name => 'a 9000-byte Cookie header: httpd answers 400',
    req => R(GET => "$ISSUE?$Q",
             cookie => jar($DEMO) . '; pad=' . ('x' x 9000)),
    expect => 'http 400');
row(name => 'issue: a 7,900-byte Cookie header of 300 cookies, ours last',
    req => R(GET => "$ISSUE?$Q",
             cookie => join('; ', map { sprintf 'c%03d=%017d', $_, $_ }
                                      1 .. 300) . '; ' . jar($DEMO)),
    expect => 'token', after => redeems_as('media 1165'));
row(name => '101 Cookie headers (over LimitRequestFields): httpd 400',
    req => R(GET => "$ISSUE?$Q",
             cookie => [(map { "c$_=1" } 1 .. 100), jar($DEMO)]),
    expect => 'http 400');

# --- ;jsessionid= spellings and places ---
row(name => 'issue: ;JSESSIONID=',
    req => R(GET => "$ISSUE;JSESSIONID=$DEMO?$Q"),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'issue: ;jSessionId=',
    req => R(GET => "$ISSUE;jSessionId=$DEMO?$Q"),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'issue: ;jsessionid= with an empty value',
    req => R(GET => "$ISSUE;jsessionid=?$Q"),
    expect => 'err no-session');
row(name => 'issue: ;jsessionid= twice, guest\'s first: guest\'s token',
    req => R(GET => "$ISSUE;jsessionid=$GUEST;jsessionid=$DEMO?$Q66"),
    expect => 'token', after => redeems_as('err not-authorized'));
row(name => 'issue: ;jsessionid= on the parent segment',
    req => R(GET => "/callrec;jsessionid=$DEMO/downloadtoken?$Q"),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'issue: ;jsessionid= after the ? is a query parameter',
    req => R(GET => "$ISSUE?;jsessionid=$DEMO&$Q"),
    expect => 'err no-session');
row(name => 'issue: ;jsessionid= at the end of the query',
    req => R(GET => "$ISSUE?$Q;jsessionid=$DEMO"),
    expect => 'err no-session');
# An encoded ';' is data, not a delimiter (RFC 3986 section 2.2): the
# path names another resource, which does not exist.  (Its decoded path,
# with the id, is what %U logs for this request.)
row(name => '%3Bjsessionid= is no path parameter: httpd answers 404',
    req => R(GET => "$ISSUE%3Bjsessionid=$DEMO?$Q"),
    expect => 'http 404');
row(name => 'issue: ;jsessionid= with the id in lower-case hex',
    req => R(GET => "$ISSUE;jsessionid=" . lc($DEMO) . "?$Q"),
    expect => 'err no-session');
row(name => 'issue: ;jsessionid= with 31 hex characters',
    req => R(GET => "$ISSUE;jsessionid=" . substr($DEMO, 0, 31) . "?$Q"),
    expect => 'err no-session');
row(name => 'issue: ;jsessionid= with 33 hex characters',
    req => R(GET => "$ISSUE;jsessionid=${DEMO}A?$Q"),
    expect => 'err no-session');
row(name => 'issue: ;jsessionid= with %00 after the id',
    req => R(GET => "$ISSUE;jsessionid=$DEMO%00?$Q"),
    expect => 'err no-session');
row(name => 'logout: ;JSESSIONID= ends the session',
    req => with_victim(demo => sub { R(POST => "$LOGOUT;JSESSIONID=$_[0]") }),
    expect => 'logout',
    after => sub { is_user($_[1]{victim}, 'none', 'the session') });
row(name => 'redeem: ;jsessionid= of the issuing session',
    req => with_token(sub { R(GET => "$SEND;jsessionid=$DEMO?token=$_[0]") }),
    expect => 'media 1165');
row(name => 'redeem: ;jsessionid= of another session: the token is spent',
    req => with_token(sub { R(GET => "$SEND;jsessionid=$GUEST?token=$_[0]")
                          }),
    expect => 'err session-mismatch',
    after => sub { my $st = token_state($_[1]{made_token});
                   return ($st eq 'not live', "the token is $st") });
row(name => 'login: a ;jsessionid= the client proposes is not adopted',
    req => form_post("$LOGIN;jsessionid=$FAKE", $CREDS),
    expect => 'login',
    after => sub { return ($_[1]{login} ne $FAKE, 'the id was adopted') });

# --- traversal in ids and SIDs ---
row(name => 'issue: id ..%2F1166',
    req => R(GET => "$ISSUE?id_call[]=..%2F1166&type=1",
             cookie => jar($GUEST)),
    expect => 'err bad-call-id');
row(name => 'issue: id /etc/passwd',
    req => form_post($ISSUE, 'id_call[]=/etc/passwd&type=1',
                     cookie => jar($DEMO)),
    expect => 'err bad-call-id');
row(name => 'issue: id 1165/../1166',
    req => R(GET => "$ISSUE?id_call[]=1165/../1166&type=1",
             cookie => jar($GUEST)),
    expect => 'err bad-call-id');
row(name => 'issue: id ..\\1166',
    req => form_post($ISSUE, 'id_call[]=..\\1166&type=1',
                     cookie => jar($GUEST)),
    expect => 'err bad-call-id');
row(name => 'issue: sid ..%2F..%2Fetc%2Fpasswd',
    req => R(GET => "$ISSUE?sid=..%2F..%2Fetc%2Fpasswd&type=1",
             cookie => jar($DEMO)),
    expect => 'err bad-sid');
row(name => 'issue: sid /etc/passwd',
    req => form_post($ISSUE, 'sid=/etc/passwd&type=1', cookie => jar($DEMO)),
    expect => 'err bad-sid');
row(name => 'issue: sid abc-1/../../x',
    req => form_post($ISSUE, 'sid=abc-1/../../x&type=1',
                     cookie => jar($DEMO)),
    expect => 'err bad-sid');
row(name => 'issue: sid ..\\..\\x',
    req => form_post($ISSUE, 'sid=..\\..\\x&type=1', cookie => jar($DEMO)),
    expect => 'err bad-sid');
row(name => 'redeem: token ../../etc/passwd',
    req => R(GET => "$SEND?token=..%2F..%2Fetc%2Fpasswd"),
    expect => 'err unknown-token');
row(name => 'redeem: an encoded slash after the service: httpd 404',
    req => with_token(sub { R(GET => "$SEND/..%2F..%2Fetc%2Fpasswd"
                              . "?token=$_[0]") }),
    expect => 'http 404', after => \&token_kept);

# --- content types of POST bodies ---
row(name => 'login: text/plain',
    req => R(POST => $LOGIN, body => $CREDS, type => 'text/plain'),
    expect => 'err bad-content-type');
row(name => 'login: multipart/form-data with good credentials',
    req => R(POST => $LOGIN, type => 'multipart/form-data; boundary=XyZ',
             body => "--XyZ\r\nContent-Disposition: form-data; "
                     . "name=\"loginname\"\r\n\r\ndemo\r\n--XyZ\r\n"
                     . "Content-Disposition: form-data; name=\"password\""
                     . "\r\n\r\ndemo-pass\r\n--XyZ--\r\n"),
    expect => 'err bad-content-type');
row(name => 'login: a body without Content-Type',
    req => R(POST => $LOGIN, body => $CREDS),
    expect => 'err bad-content-type');
row(name => 'login: the form type with ; charset=UTF-8',
    req => R(POST => $LOGIN, body => $CREDS,
             type => "$FORM; charset=UTF-8"),
    expect => 'login');
row(name => 'login: the form type followed by more letters',
    req => R(POST => $LOGIN, body => $CREDS, type => "${FORM}x"),
    expect => 'err bad-content-type');
row(name => 'logout: text/plain keeps the session',
    req => with_victim(demo => sub { R(POST => $LOGOUT, body => 'a=b',
                                       type => 'text/plain',
                                       cookie => jar($_[0])) }),
    expect => 'err bad-content-type', after => \&session_kept);
row(name => 'issue: multipart/form-data',
    req => R(POST => $ISSUE, body => $Q, type => 'multipart/form-data',
             cookie => jar($DEMO)),
    expect => 'err bad-content-type');
row(name => 'issue: the form type in capitals',
    req => R(POST => $ISSUE, body => $Q, type => uc $FORM,
             cookie => jar($DEMO)),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'redeem: a body without Content-Type keeps the token',
    req => with_token(sub { R(POST => $SEND, body => "token=$_[0]") }),
    expect => 'err bad-content-type', after => \&token_kept);
row(name => 'redeem: text/plain, the token in the query too',
    req => with_token(sub { R(POST => "$SEND?token=$_[0]", body => 'x',
                              type => 'text/plain') }),
    expect => 'err bad-content-type', after => \&token_kept);

# --- chunked bodies ---
row(name => 'login: a valid chunked body',
    req => R(POST => $LOGIN, body => $CREDS, type => $FORM,
             chunked => [3, 7, 1, 100]),
    expect => 'login');
row(name => 'issue: a valid chunked body in 1-byte chunks',
    req => R(POST => $ISSUE, body => $Q, type => $FORM,
             chunked => [(1) x length $Q], cookie => jar($DEMO)),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'login: a chunked body over the 1024-byte limit',
    req => R(POST => $LOGIN, body => "$CREDS&x=" . ('v' x 2000),
             type => $FORM, chunked => 1),
    expect => 'err too-large');
row(name => 'redeem: a chunked body over the limit keeps the token',
    req => with_token(sub { R(POST => $SEND, type => $FORM, chunked => 1,
                              body => "token=$_[0]&x=$KB100") }),
    expect => 'err too-large', after => \&token_kept);
row(name => 'login: a malformed chunk size',
    req => R(POST => $LOGIN, type => $FORM,
             headers => ['Transfer-Encoding' => 'chunked'])
           . "zz\r\n$CREDS\r\n0\r\n\r\n",
    expect => 'http 400');
row(name => 'issue: a chunk size of 2^80: httpd answers 413',
    req => R(POST => $ISSUE, type => $FORM, cookie => jar($DEMO),
             headers => ['Transfer-Encoding' => 'chunked'])
           . "100000000000000000000\r\n$Q\r\n0\r\n\r\n",
    expect => 'http 413');
# RFC 7230 section 3.3.3: chunked overrides a Content-Length beside it;
# httpd drops the length (and keeps no connection alive after it).
row(name => 'issue: chunked and a Content-Length together: chunked',
    req => R(POST => $ISSUE, type => $FORM, cookie => jar($DEMO),
             headers => ['Content-Length' => 3,
                         'Transfer-Encoding' => 'chunked'])
           . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $Q, $Q),
    expect => 'token', after => redeems_as('media 1165'));
row(name => 'issue: Transfer-Encoding gzip: httpd answers 400',
    req => R(POST => $ISSUE, type => $FORM, cookie => jar($DEMO),
             headers => ['Transfer-Encoding' => 'gzip']) . $Q,
    expect => 'http 400');

# --- bodies that never come ---
row(name => 'login: Content-Length 100, 10 bytes, half close',
    req => R(POST => $LOGIN, type => $FORM, length => 100,
             body => 'loginname='),
    mode => 'half', within => 10, expect => 'err bad-parameter',
    after => \&server_serves);
row(name => 'issue: Content-Length 100, 10 bytes, then the client goes',
    req => R(POST => $ISSUE, type => $FORM, length => 100,
             body => 'id_call[]=', cookie => jar($DEMO)),
    mode => 'close', expect => 'alive', after => \&server_serves);
row(name => 'login: Content-Length 100000 and no body: too-large at once',
    req => R(POST => $LOGIN, type => $FORM, length => 100_000),
    within => 5, expect => 'err too-large');
row(name => 'logout: Content-Length 9000 and no body: too-large at once',
    req => with_victim(demo => sub { R(POST => $LOGOUT, type => $FORM,
                                       length => 9000,
                                       cookie => jar($_[0])) }),
    within => 5, expect => 'err too-large', after => \&session_kept);
row(name => 'issue: Content-Length 10^9 and no body: too-large at once',
    req => R(POST => $ISSUE, type => $FORM, length => 1_000_000_000,
             cookie => jar($DEMO)),
    within => 5, expect => 'err too-large');
# Over httpd's own LimitRequestBody too (1 GiB by default since 2.4.54):
# refused before a byte is read, still with the service's own answer.
row(name => 'issue: Content-Length 10^12: too-large at once',
    req => R(POST => $ISSUE, type => $FORM, length => 1_000_000_000_000,
             cookie => jar($DEMO)),
    within => 5, expect => 'err too-large');
row(name => 'redeem: Content-Length 9000 and no body: too-large at once',
    req => R(POST => $SEND, type => $FORM, length => 9000),
    within => 5, expect => 'err too-large');
# A body that holds a request: the server must not take it for the next
# request of the connection (kept alive here), which would log out the
# victim.  Too large: refused unread, and the connection closed.
row(name => 'login: a too-large body that smuggles a logout: not run',
    req => with_victim(demo => sub {
        my $inner = "GET $LOGOUT HTTP/1.1\r\nHost: x\r\n"
                    . 'Cookie: ' . jar($_[0]) . "\r\nX-Pad: ";
        $inner .= 'p' x (2000 - 4 - length $inner) . "\r\n\r\n";
        R(POST => $LOGIN, type => $FORM, body => $inner, keep_alive => 1);
    }),
    within => 10, expect => 'err too-large', after => \&session_kept);
# Refused by method: httpd reads the body to its announced end and
# throws it away; the request in it is not run either.
row(name => 'logout: PUT whose body smuggles a logout: not run',
    req => with_victim(demo => sub {
        my $inner = "GET $LOGOUT HTTP/1.1\r\nHost: x\r\n"
                    . 'Cookie: ' . jar($_[0]) . "\r\n\r\n";
        R(PUT => $LOGOUT, type => $FORM, body => $inner, keep_alive => 1);
    }),
    within => 15, expect => 'err bad-method', after => \&session_kept);
row(name => 'a negative Content-Length: httpd answers 400',
    req => R(POST => $LOGIN, type => $FORM, length => -1),
    expect => 'http 400');

# --- methods other than GET, POST and HEAD, on each service ---
for my $svc (qw(login logout issue redeem)) {
    for my $m (qw(PUT DELETE PATCH OPTIONS FROBNICATE)) {
        my %o = (cookie => jar($DEMO));
        %o = (body => $CREDS, type => $FORM) if $svc eq 'login';
        if ($svc eq 'redeem') {
            row(name => "redeem: $m with a live token keeps it",
                req => with_token(sub { R($m => "$SEND?token=$_[0]") }),
                expect => 'err bad-method', after => \&token_kept);
            next;
        }
        if ($svc eq 'logout') {
            row(name => "logout: $m keeps the session",
                req => with_victim(demo => sub {
                    R($m => $LOGOUT, cookie => jar($_[0])) }),
                expect => 'err bad-method', after => \&session_kept);
            next;
        }
        row(name => "$svc: $m",
            req => R($m => $svc eq 'issue' ? "$ISSUE?$Q" : $LOGIN, %o),
            expect => 'err bad-method');
    }
}

# --- HEAD ---
row(name => 'login: HEAD with good credentials opens no session',
    req => R(HEAD => "$LOGIN?$CREDS"),
    expect => 'head-error login');
row(name => 'logout: HEAD keeps the session',
    req => with_victim(demo => sub { R(HEAD => $LOGOUT,
                                       cookie => jar($_[0])) }),
    expect => 'head-error logout', after => \&session_kept);
row(name => 'issue: HEAD issues no token',
    req => R(HEAD => "$ISSUE?$Q", cookie => jar($DEMO)),
    expect => 'head-error issue');
row(name => 'redeem: HEAD gives the headers and keeps the token',
    req => with_token(sub { R(HEAD => "$SEND?token=$_[0]") }),
    expect => 'head-media 1165',
    after => sub {
        my ($r, $ctx) = @_;
        my $t = $ctx->{made_token};
        my $first = DTRaw::exchange(R(GET => "$SEND?token=$t"));
        my ($ok) = check_reply($first, 'media 1165', {});
        return (0, 'after HEAD, GET gave ' . describe($first)) unless $ok;
        my $again = DTRaw::exchange(R(GET => "$SEND?token=$t"));
        ($ok) = check_reply($again, 'err unknown-token', {});
        return ($ok, 'a second GET gave ' . describe($again));
    });

# --- malformed tokens ---
row(name => 'redeem: a token of 65 characters',
    req => R(GET => "$SEND?token=" . ('A' x 65)),
    expect => 'err unknown-token');
row(name => 'redeem: a live token with a 65th character',
    req => with_token(sub { R(GET => "$SEND?token=$_[0]x") }),
    expect => 'err unknown-token', after => \&token_kept);
row(name => 'redeem: a live token less its last character',
    req => with_token(sub { R(GET => "$SEND?token=" . substr($_[0], 0, -1))
                          }),
    expect => 'err unknown-token', after => \&token_kept);
row(name => 'redeem: a live token in lower case',
    req => with_token(sub { R(GET => "$SEND?token=" . lc $_[0]) }),
    expect => 'err unknown-token', after => \&token_kept);
row(name => 'redeem: an empty token',
    req => R(GET => "$SEND?token="),
    expect => 'err unknown-token');
row(name => 'redeem: the same token twice in one query',
    req => with_token(sub { R(GET => "$SEND?token=$_[0]&token=$_[0]") }),
    expect => 'media 1165');
row(name => 'redeem: a live token and another value: not spent',
    req => with_token(sub { R(GET => "$SEND?token=$_[0]&token="
                                     . ('B' x 20)) }),
    expect => 'err bad-parameter', after => \&token_kept);
row(name => 'redeem: one token in the query, another in the body',
    req => with_token(sub { form_post("$SEND?token=$_[0]",
                                      'token=' . ('C' x 20)) }),
    expect => 'err bad-parameter', after => \&token_kept);

# --- requests httpd refuses before the module ---
row(name => 'a request line with a fourth word: httpd answers 400',
    req => "GET $LOGIN?$CREDS HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    expect => 'http 400');
row(name => 'a raw space inside the target: httpd answers 400',
    req => "GET $ISSUE?sid=a b&type=1 HTTP/1.1\r\nHost: x\r\n"
           . 'Cookie: ' . jar($DEMO) . "\r\nConnection: close\r\n\r\n",
    expect => 'http 400');
row(name => 'HTTP/1.1 without Host: httpd answers 400',
    req => R(GET => "$ISSUE?$Q", host => undef, cookie => jar($DEMO)),
    expect => 'http 400');
row(name => 'a header line without a colon: httpd answers 400',
    req => R(GET => "$LOGIN?$CREDS", headers => ['NoColonHere' => undef]),
    expect => 'http 400');
# RFC 7230 section 3.2.4 lets a server unfold instead of refusing:
# httpd does, and the id is read with the space trimmed.
row(name => 'issue: a folded (obs-fold) Cookie header is unfolded',
    req => R(GET => "$ISSUE?$Q", headers => ['Cookie' => "JSESSIONID=\r\n"
                                              . " $DEMO"]),
    expect => 'token', after => redeems_as('media 1165'));

# ---- Running the table ---------------------------------------------

sub cleanup
{
    my $ctx = shift;
    for my $t (@{ $ctx->{tokens} || [] }) {
        DTRaw::exchange(R(GET => "$SEND?token=$t"));
    }
    for my $id (@{ $ctx->{sessions} || [] }) {
        logout($id);
    }
}

my $N_FINAL = 9;
plan tests => 2 * @rows + $N_FINAL;

for my $row (@rows) {
    my %ctx;
    my $name = $row->{name};
    my $before = counts();
    my $bytes = ref $row->{req} eq 'CODE' ? $row->{req}->(\%ctx)
                                          : $row->{req};
    my $r = DTRaw::exchange($bytes, mode => $row->{mode} // 'full',
                            timeout => $row->{within} // 30);
    my ($ok, $why) = check_reply($r, $row->{expect}, \%ctx);
    if ($ok && defined $row->{within} && $r->{elapsed} > $row->{within}) {
        ($ok, $why) = (0, "took more than $row->{within} s");
    }
    ok($ok, "$name: $row->{expect}")
        or diag('got: ' . describe($r) . ($why ? "; $why" : ''));

    my ($after_ok, $after_why) = $row->{after}
        ? $row->{after}->($r, \%ctx) : (1);
    # Whatever the reply made (a token, a session), cleaned up before the
    # counts are compared, so a row that made one it should not have
    # fails only its own reply check.
    my $body = $r->{res} ? $r->{res}->content : '';
    push @{ $ctx{tokens} }, $1 if $body =~ /<reply>([A-Za-z0-9]+)</;
    push @{ $ctx{sessions} }, $1 if $body =~ /sessionid="([0-9A-F]+)"/;
    cleanup(\%ctx);
    my $now = counts();
    my $same = $now->{sessions} == $before->{sessions}
        && $now->{tokens} == $before->{tokens}
        && $now->{consistent} eq 'yes';
    ok($after_ok && $same, "$name: afterwards")
        or diag(($after_ok ? '' : "$after_why; ")
                . "sessions $before->{sessions} -> $now->{sessions}, "
                . "tokens $before->{tokens} -> $now->{tokens}, "
                . "consistent '$now->{consistent}'");
}

# ---- After the table -------------------------------------------------

is(user_of($DEMO), 'demo', 'demo\'s session outlived the table');
is(user_of($GUEST), 'guest', 'guest\'s session outlived the table');
logout($DEMO);
logout($GUEST);

my $end = counts();
is($end->{consistent}, 'yes', 'the status handler says consistent: yes');
ok($end->{sessions} == $start->{sessions}
   && $end->{tokens} == $start->{tokens},
   'sessions-live and tokens-live are back to their values before')
    or diag("sessions $start->{sessions} -> $end->{sessions}, tokens "
            . "$start->{tokens} -> $end->{tokens}");

# The whole sequence still works.
{
    my %ctx;
    my ($id) = login(user => 'demo');
    my $t = $id ? new_token(\%ctx, $id) : undef;
    my $r = $t ? DTRaw::exchange(R(GET => "$SEND?token=$t")) : undef;
    my ($ok) = $r ? check_reply($r, 'media 1165', {}) : (0);
    my $out = $id ? logout($id)->content : '';
    ok($ok && $out eq xml('<ok>Session closed.</ok>'),
       'afterwards log in, a token, its file and log out still work')
        or diag($r ? describe($r) : 'no session or token');
}

# No child crashed: httpd's parent logs each death by a signal.
my @crash;
if (open my $fh, '<', $error_log) {
    @crash = grep { /Segmentation fault|exit signal|AH00052|
                     AddressSanitizer|\[core:(?:emerg|alert|crit)\]/x }
             <$fh>;
    close $fh;
}
else {
    @crash = ("cannot read $error_log: $!");
}
ok(!@crash, 'the error log shows no crashed child') or diag($crash[0]);
my @cores = glob "$serverroot/core*";
ok(!@cores, 'no core file') or diag("@cores");

# A CR LF in a login name must not forge a line of ours in the log.
my @forged;
if (open my $fh, '<', $error_log) {
    @forged = grep { /^\[forged\]/ } <$fh>;
    close $fh;
}
ok(!@forged, 'no forged line in the error log') or diag($forged[0]);

my @leaks = log_leaks();
ok(!@leaks, 'no token or session id in the module\'s log lines')
    or diag("leaked: $leaks[0]");
