# Download Token Service against hostile input: broken escapes, NUL bytes
# raw and encoded, id lists of 100,000 entries, values of 2 MB, a
# parameter repeated thousands of times, chunked bodies.  Each request
# must get its <error> (or, where the input is merely large but valid
# under the location's limits, a token) without hurting the server:
# afterwards it still issues tokens and the store is consistent.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DTTest qw(XML_DECL xml error_body_re token_re expect_token
              login logout status
              expect_reply expect_error reply_summary remember log_leaks
              t_logs);
use HTTP::Response ();
use DTRaw ();

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
my $BIG = '/tokbig/downloadtoken';      # DownloadTokenMaxBodySize 2000000
my $Q = 'id_call[]=1165&type=1&action=download';
my $MB2 = 2 * 1024 * 1024;

my $ones = join ',', ('1') x 100_000;
my $distinct = join ',', 1 .. 100_000;
my $form = 'application/x-www-form-urlencoded';

# [name, expected ('token' or an error code), METHOD, target, options];
# every request carries the session unless its options say cookie undef.
my @cases = (
    # --- percent-encoding ---
    ['a lone % at the end', 'bad-parameter', GET => "$S?$Q&x=%"],
    ['%G1', 'bad-parameter', GET => "$S?$Q&x=%G1"],
    ['%1 at the end', 'bad-parameter', GET => "$S?$Q&x=%1"],
    ['%%', 'bad-parameter', GET => "$S?$Q&x=%%41"],
    ['%u0041 (not form encoding)', 'bad-parameter',
     GET => "$S?$Q&x=%u0041"],
    ['a broken escape in a body name', 'bad-parameter',
     POST => $S, { body => "$Q&%zz=1" }],
    ['a broken escape after 1 MB of good body', 'bad-parameter',
     POST => $BIG, { body => "$Q&pad=" . ('x' x 1_000_000) . '&y=%q' }],
    ['overlong UTF-8 dots and a slash in sid', 'bad-sid',
     GET => "$S?sid=%C0%AE%C0%AE%2Fx&type=1&action=download"],
    ['%FF as the type', 'bad-type',
     GET => "$S?id_call[]=1165&type=%FF&action=download"],
    ['%2B1: an encoded plus sign is a sign', 'bad-call-id',
     GET => "$S?id_call[]=%2B1&type=1&action=download"],
    ['a full-width digit one (UTF-8)', 'bad-call-id',
     GET => "$S?id_call[]=%EF%BC%91&type=1&action=download"],
    ['an id followed by %0A', 'bad-call-id',
     GET => "$S?id_call[]=1165%0A&type=1&action=download"],
    ['type 1 followed by %20', 'bad-type',
     GET => "$S?id_call[]=1165&type=1%20&action=download"],
    ['%31%31%36%35: digits may be encoded', 'token',
     GET => "$S?id_call[]=%31%31%36%35&type=1&action=download"],

    # --- NUL bytes ---
    ['%00 in a query value', 'bad-parameter',
     GET => "$S?id_call[]=1165%00&type=1&action=download"],
    ['%00 in a body name', 'bad-parameter',
     POST => $S, { body => "$Q&x%00y=1" }],
    ['%00 in a sid', 'bad-parameter',
     GET => "$S?sid=abc%00def&type=1&action=download"],
    ['a raw NUL in a body value', 'bad-parameter',
     POST => $S, { body => "id_call[]=1165\0&type=1&action=download" }],
    ['a raw NUL in a body name', 'bad-parameter',
     POST => $S, { body => "id_call[]=1165&ty\0pe=1&action=download" }],
    ['a raw NUL at the end of the body', 'bad-parameter',
     POST => $S, { body => "$Q\0" }],
    ['a raw NUL as the whole body', 'bad-parameter',
     POST => $S, { body => "\0" }],

    # --- 100,000 ids ---
    ['100,000 ids at the default body limit', 'too-large',
     POST => $S, { body => "id_call[]=$distinct&type=1&action=download" }],
    ['100,000 times id 1 under a 2 MB limit folds to one call', 'token',
     POST => $BIG, { body => "id_call[]=$ones&type=1&action=download" }],
    ['100,000 distinct ids under a 2 MB limit', 'too-many-calls',
     POST => $BIG, { body => "id_call[]=$distinct&type=1&action=download" }],
    ['100,000 id_call[] pairs under a 2 MB limit', 'too-large',
     POST => $BIG, { body => join('&', ('id_call[]=1') x 100_000)
                             . '&type=1&action=download' }],
    ['100,000 commas', 'bad-call-id',
     POST => $BIG, { body => 'id_call[]=1' . (',' x 100_000)
                             . '&type=1&action=download' }],
    ['an id of a million digits', 'bad-call-id',
     POST => $BIG, { body => 'id_call[]=' . ('9' x 1_000_000)
                             . '&type=1&action=download' }],

    # --- 2 MB values ---
    ['a 2 MB value at the default location', 'too-large',
     POST => $S, { body => "$Q&x=" . ('v' x $MB2) }],
    ['a 2 MB value over a 2000000-byte limit', 'too-large',
     POST => $BIG, { body => "$Q&x=" . ('v' x $MB2) }],
    ['a 2 MB value without a session', 'too-large',
     POST => $S, { body => "$Q&x=" . ('v' x $MB2), cookie => undef }],
    ['a 2 MB chunked body at the default location', 'too-large',
     POST => $S, { body => "$Q&x=" . ('v' x $MB2), chunked => 1 }],
    ['a 2 MB chunked body over a 2000000-byte limit', 'too-large',
     POST => $BIG, { body => "$Q&x=" . ('v' x $MB2), chunked => 1 }],
    ['a small chunked body', 'token',
     POST => $S, { body => $Q, chunked => 1 }],
    ['a 1.9 MB unknown value under a 2 MB limit is ignored', 'token',
     POST => $BIG, { body => "$Q&x=" . ('v' x 1_900_000) }],
    ['a 1.9 MB parameter name under a 2 MB limit is ignored', 'token',
     POST => $BIG, { body => "$Q&" . ('n' x 1_900_000) . '=1' }],
    ['a 1.9 MB sid', 'bad-sid',
     POST => $BIG, { body => 'sid=' . ('s' x 1_900_000)
                             . '&type=1&action=download' }],
    ['a 1.9 MB type', 'bad-type',
     POST => $BIG, { body => 'id_call[]=1&type=1' . ('1' x 1_900_000)
                             . '&action=download' }],
    ['a 2 MB body, the parameters in the query', 'too-large',
     POST => "$S?$Q", { body => 'x=' . ('v' x $MB2) }],

    # --- one parameter many times ---
    ['type=1 5,000 times at the default location', 'too-large',
     POST => $S, { body => "id_call[]=1&" . join('&', ('type=1') x 5000) }],
    ['type=1 5,000 times under a 2 MB limit (DownloadTokenMaxParameters)',
     'too-large',
     POST => $BIG, { body => "id_call[]=1&" . join('&', ('type=1') x 5000) }],
    ['a bare name 5,000 times under a 2 MB limit', 'too-large',
     POST => $BIG, { body => "$Q&" . join('&', ('x') x 5000) }],
    ['100,000 empty segments are no pairs', 'token',
     POST => $BIG, { body => ('&' x 100_000) . $Q . ('&' x 100_000) }],
    ['type 1 and 16 alternating 5,000 times under a 2 MB limit',
     'too-large',
     POST => $BIG, { body => "id_call[]=1&"
                             . join('&', ('type=1', 'type=16') x 2500) }],
);

my $N_TOKENS = grep { $_->[1] eq 'token' } @cases;

sub live
{
    return status()->{'tokens-live'} // -1;
}

plan tests => 1 + 2 * @cases + 4 + 6;

my $start_live = live();
my ($id) = login();
$id //= 'login-failed';
ok($id =~ /\A[0-9A-F]{32}\z/, 'logged in');

for my $c (@cases) {
    my ($name, $want, $method, $target, $o) = @$c;
    my %o = %{ $o || {} };
    $o{cookie} = $id unless exists $o{cookie};
    $o{type} = $form if defined $o{body} && !exists $o{type};
    my $before = live();
    my $res = raw($method => $target, %o);
    if ($want eq 'token') {
        expect_token($res, 20, "$name: a token");
        is(live(), $before + 1, "$name: one more live token");
    }
    else {
        expect_error($res, $want, "$name: $want");
        is(live(), $before, "$name: no token stored");
    }
}

# What httpd itself does with these comes before the module: a 400 from
# httpd is as good as our bad-parameter or no-session, so long as no
# token comes out and the server lives on.
{
    my $res = raw(GET => "$S?id_call[]=1165\0&type=1&action=download",
                  cookie => $id);
    ok($res->code == 400 || $res->content =~ error_body_re('bad-parameter'),
       'a raw NUL in the query: refused (400 or bad-parameter)')
        or diag(reply_summary($res));
    $res = raw(GET => "$S?$Q", cookie => "$id\0");
    ok($res->code == 400 || $res->content =~ error_body_re('no-session'),
       'a raw NUL after the cookie\'s id: refused (400 or no-session)')
        or diag(reply_summary($res));
    $res = raw(GET => "$S?$Q", headers => [Cookie => "JSESSIONID=\0$id"]);
    ok($res->code == 400 || $res->content =~ error_body_re('no-session'),
       'a raw NUL before the cookie\'s id: refused (400 or no-session)')
        or diag(reply_summary($res));
    $res = raw(GET => "$S;jsessionid=$id%00?$Q");
    ok($res->code == 400 || $res->code == 404
       || $res->content =~ error_body_re('no-session'),
       'a %00 after the ;jsessionid= id: refused')
        or diag(reply_summary($res));
}

# The server is still well.
expect_token(raw(GET => "$S?$Q", cookie => $id), 20,
             'afterwards an ordinary request still gets a token');
my $st = status();
is($st->{consistent} // '', 'yes', 'afterwards the store is consistent');
expect_reply(logout($id), xml('<ok>Session closed.</ok>'),
             'afterwards the session logs out');
is(live(), $start_live, 'after the logout tokens-live is where it started');

# No child died on the way: httpd logs a crashed child's signal.
my @crash;
if (open my $fh, '<', t_logs() . '/error_log') {
    @crash = grep { /exit signal|Segmentation fault|AddressSanitizer/ }
             <$fh>;
}
ok(!@crash, 'no server process crashed') or diag($crash[0]);

my @leaks = log_leaks();
ok(!@leaks, 'no token or session id in the module\'s log lines')
    or diag("leaked: $leaks[0]");
