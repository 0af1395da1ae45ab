# Send Call File Service (spec sections 5 and 6): the whole sequence as a
# client runs it (log in, ask for a token, fetch the call without a
# cookie, the same token again), then every way of presenting a token,
# the ZIP of several calls, the session rules, Range and HEAD, and every
# error code with a request that causes it.
#
# Media: t/htdocs/media/ (see its README); locations: the "Send Call File
# Service tests" section of t/conf/extra.conf.in.  Call 1166 is for demo
# only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use DTTest qw(slurp req login logout status expect_reply expect_error
              reply_summary remember);
use File::Temp ();
use HTTP::Date ();

my $media = Apache::Test::vars('documentroot') . '/media';
my $SEND = '/callrec/sendcallfile.mp3';
my $STRICT = '/strict/sendcallfile.mp3';

my %file = map { $_ => slurp("$media/$_.mp3") } qw(1165 1166 1167);

# token(SESSION, QUERY, via => path|cookie, path => ISSUER) -> token or
# undef.  Not an assertion: a missing token fails the test that uses it,
# and the issuer's reply is shown here.
sub token
{
    my ($id, $query, %o) = @_;
    my $path = $o{path} || '/callrec/downloadtoken';
    my $res = ($o{via} || 'path') eq 'cookie'
        ? req(GET => "$path?$query", cookie => $id)
        : req(GET => "$path;jsessionid=" . ($id // '') . "?$query");
    if ($res->content =~ /<reply>([A-Za-z0-9]+)<\/reply>/) {
        return $1;
    }
    Test::More::diag("no token for '$query': " . reply_summary($res));
    return undef;
}

sub audio { return "id_call[]=$_[0]&type=1&action=download"; }

# One assertion: the reply is call $id, whole, as httpd delivers a file.
sub expect_media
{
    my ($res, $id, $name) = @_;
    my @bad;
    my $want = $file{$id};
    push @bad, 'HTTP ' . $res->code unless $res->code == 200;
    my %h = (
        'Content-Type'        => 'audio/mpeg',
        'Content-Disposition' => qq{inline; filename="$id.mp3"},
        'Content-Length'      => length $want,
        'Cache-Control'       => 'no-store',
    );
    for my $k (sort keys %h) {
        my $got = $res->header($k) // '(none)';
        push @bad, "$k \"$got\", want \"$h{$k}\"" unless $got eq $h{$k};
    }
    for my $k ('ETag', 'Last-Modified') {
        push @bad, "no $k" unless defined $res->header($k);
    }
    push @bad, 'a Set-Cookie' if defined $res->header('Set-Cookie');
    if ($res->content ne $want) {
        push @bad, sprintf 'body of %d bytes differs from %s.mp3 (%d)',
            length $res->content, $id, length $want;
    }
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok(!@bad, $name) or diag(join "\n", @bad,
                             'got: ' . reply_summary($res));
}

# The ZIP body's entries: { name => [method, bytes] }, or an error text.
sub zip_entries
{
    my $body = shift;
    my $tmp = File::Temp->new(SUFFIX => '.zip');
    binmode $tmp;
    print {$tmp} $body;
    close $tmp;
    my $f = $tmp->filename;
    my $test = `unzip -tq '$f' 2>&1`;
    return "unzip -t: $test" unless $? == 0 && $test =~ /No errors/;
    my %e;
    for my $line (split /\n/, `unzip -Z -s '$f' 2>&1`) {
        # -rw-r--r--  3.0 unx     7523 b- stor 23-Dec-03 08:56 1165.mp3
        next unless $line =~ /^\S{10}\s+\S+\s+\S+\s+\d+\s+\S+\s+(\S+)
                              \s+\S+\s+\S+\s+(.+)$/x;
        my ($method, $name) = ($1, $2);
        $e{$name} = [$method, scalar `unzip -p '$f' '$name'`];
    }
    return \%e;
}

# One assertion: a ZIP of exactly these calls, stored, bytes identical.
sub expect_zip
{
    my ($res, $ids, $name) = @_;
    my @bad;
    push @bad, 'HTTP ' . $res->code unless $res->code == 200;
    my $type = $res->header('Content-Type') // '(none)';
    push @bad, "Content-Type \"$type\"" unless $type eq 'application/zip';
    my $e = zip_entries($res->content);
    if (!ref $e) {
        push @bad, $e;
    }
    else {
        my @names = sort keys %$e;
        my @want = map { "$_.mp3" } @$ids;
        push @bad, "entries @names, want @want" unless "@names" eq "@want";
        for my $id (@$ids) {
            my $entry = $e->{"$id.mp3"} or next;
            push @bad, "$id.mp3 method $entry->[0], want stored"
                unless $entry->[0] eq 'stor';
            push @bad, "$id.mp3 differs from the file"
                unless $entry->[1] eq $file{$id};
        }
    }
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok(!@bad, $name) or diag(join "\n", @bad,
                             'got: ' . reply_summary($res));
}

plan tests => 13     # the sequence, the first file's headers
              + 7      # ways of presenting a token
              + 4      # a ZIP of two calls
              + 4      # guest and call 1166
              + 12     # the token's session: ended, idle, mismatch
              + 8      # DownloadTokenServeWithoutSession Off
              + 9      # Range, HEAD of a file and of a ZIP
              + 15     # refusals of the request itself
              + 8      # nothing to serve, action prepare
              + 1;     # the store is consistent

# ---- The sequence of section 6 -----------------------------------------

my ($demo) = login(user => 'demo');
ok(defined $demo, 'demo logs in');
my $t = token($demo, audio(1165), via => 'cookie');
ok(defined $t, 'a token for call 1165, the session as a cookie');

my $res = req(GET => "$SEND?token=$t");
is($res->code, 200, 'the token alone (no cookie) gets HTTP 200');
is($res->header('Content-Type'), 'audio/mpeg', 'Content-Type audio/mpeg');
is($res->header('Content-Disposition'), 'inline; filename="1165.mp3"',
   'Content-Disposition inline, named after the call');
is($res->header('Content-Length'), length $file{1165},
   "Content-Length is the file's size");
ok(defined $res->header('ETag'), 'an ETag');
my $lm = $res->header('Last-Modified');
ok(defined $lm && HTTP::Date::str2time($lm) == (stat "$media/1165.mp3")[9],
   "Last-Modified is the file's time");
is($res->header('Cache-Control'), 'no-store', 'Cache-Control: no-store');
is($res->header('Accept-Ranges'), 'bytes', 'Accept-Ranges: bytes');
ok(!defined $res->header('Set-Cookie'), 'no cookie set');
ok($res->content eq $file{1165}, 'the body is 1165.mp3, byte for byte');

expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'the same token again: unknown-token');

# ---- Ways of presenting a token ----------------------------------------

$t = token($demo, audio(1165));
expect_media(req(POST => $SEND, form => [token => $t]), 1165,
             'the token in a POST form body');

$t = token($demo, audio(1165));
expect_media(req(POST => "$SEND?token=$t", form => [x => 1]), 1165,
             "a POST's query string carries the token");

$t = token($demo, audio(1165));
expect_media(req(GET => "$SEND;jsessionid=$demo?token=$t"), 1165,
             'with ;jsessionid= of the issuing session');

$t = token($demo, audio(1165));
expect_media(req(GET => "$SEND?token=$t", cookie => $demo), 1165,
             'with the cookie of the issuing session');

$t = token($demo, audio(1165));
expect_media(req(GET => "$SEND?token=$t&id_call[]=1167&type=1"
                        . '&action=download'), 1165,
             "connectors' repeated criteria are ignored: the token's call");

$t = token($demo, audio(1165));
expect_media(req(GET => "$SEND?token=$t&token=$t"), 1165,
             'the token given twice with the same value');

$t = token($demo, 'sid=abc-1&type=1&action=download');
$res = req(GET => "$SEND?token=$t");
ok($res->code == 200 && ($res->header('Content-Type') // '') eq 'audio/mpeg'
   && ($res->header('Content-Disposition') // '')
      eq 'inline; filename="abc-1.mp3"'
   && $res->content eq slurp("$media/sid/abc-1.mp3"),
   'a SID token: the SID\'s file, named after the SID')
    or diag(reply_summary($res));

# ---- Several calls: one ZIP -------------------------------------------

$t = token($demo, audio('1165,1167'));
$res = req(GET => "$SEND?token=$t");
expect_zip($res, [1165, 1167], 'id_call[]=1165,1167: a ZIP of both files');
is($res->header('Content-Disposition'), 'attachment; filename="calls.zip"',
   'Content-Disposition attachment; filename="calls.zip"');
is($res->header('Cache-Control'), 'no-store', 'the ZIP is not stored');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'the ZIP token again: unknown-token');

# ---- Authorization of each file: guest may not have 1166 ---------------

my ($guest) = login(user => 'guest');
ok(defined $guest, 'guest logs in');
$t = token($guest, audio(1166));
expect_error(req(GET => "$SEND?token=$t"), 'not-authorized',
             'guest, call 1166: not-authorized');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'and that token is spent');
expect_media(req(GET => "$SEND?token=" . token($guest, audio(1165))), 1165,
             'guest, call 1165: served');

# ---- The token's session must be alive, and be the one presented -------

my ($gone) = login(user => 'demo');
$t = token($gone, audio(1165));
ok(defined $t, 'a second demo session gets a token');
expect_reply(logout($gone), qr{<ok>Session closed\.</ok>},
             'that session logs out');
# Logging out frees the session's tokens at once, so they are unknown.
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'a token of a logged out session: unknown-token');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'and it stays so');

my ($short) = login(user => 'demo', path => '/short/loginservlet');
$t = token($short, audio(1165));
ok(defined $t, 'a token from a session with a 2 s idle timeout');
sleep 3;
expect_error(req(GET => "$SEND?token=$t"), 'session-ended',
             'after the idle timeout: session-ended');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'and it is spent');

$t = token($demo, audio(1165));
expect_error(req(GET => "$SEND?token=$t", cookie => $guest),
             'session-mismatch', "demo's token with guest's cookie: "
             . 'session-mismatch');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'and it is spent');
$t = token($demo, audio(1165));
expect_error(req(GET => "$SEND;jsessionid=$guest?token=$t"),
             'session-mismatch', "demo's token with guest's ;jsessionid=: "
             . 'session-mismatch');

# A dead session beside the token is no session at all: served.
$t = token($demo, audio(1165));
expect_media(req(GET => "$SEND?token=$t", cookie => $gone), 1165,
             'a logged out session presented: served as without one');

# Two JSESSIONID cookies (a stale one from another path first): the
# issuing one among them counts.
$t = token($demo, audio(1165));
expect_media(req(GET => "$SEND?token=$t",
                 headers => [Cookie => "JSESSIONID=$gone; JSESSIONID=$demo"]),
             1165, 'the issuing session among two cookies: served');

# ---- DownloadTokenServeWithoutSession Off ------------------------------

$t = token($demo, audio(1165));
expect_error(req(GET => "$STRICT?token=$t"), 'no-session',
             'strict location, no session: no-session');
expect_error(req(GET => "$STRICT?token=$t", cookie => $demo),
             'unknown-token', 'that token is spent');
expect_media(req(GET => "$STRICT?token=" . token($demo, audio(1165)),
                 cookie => $demo), 1165,
             'strict location, the issuing cookie: served');
expect_media(req(GET => "$STRICT;jsessionid=$demo?token="
                        . token($demo, audio(1165))), 1165,
             'strict location, the issuing ;jsessionid=: served');
expect_error(req(GET => "$STRICT?token=" . token($demo, audio(1165)),
                 cookie => $guest), 'session-mismatch',
             'strict location, another session: session-mismatch');
expect_error(req(GET => "$STRICT?token=" . token($demo, audio(1165)),
                 cookie => $gone), 'no-session',
             'strict location, a logged out session: no-session');
$t = token($demo, 'sid=abc-1&type=1&action=download');
expect_error(req(GET => "$STRICT?token=$t", cookie => $demo), 'not-found',
             'strict location has no DownloadTokenSidFile: not-found');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'and that token is spent');

# ---- Range and HEAD -----------------------------------------------------

$t = token($demo, audio(1165));
$res = req(GET => "$SEND?token=$t", headers => [Range => 'bytes=0-99']);
my $size = length $file{1165};
ok($res->code == 206
   && ($res->header('Content-Range') // '') eq "bytes 0-99/$size",
   'Range: bytes=0-99 gets 206 and its Content-Range')
    or diag(reply_summary($res));
ok($res->content eq substr($file{1165}, 0, 100),
   "the first 100 bytes of the file, exactly");
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'the ranged request spent the token');

$t = token($demo, audio(1165));
my $head = req(HEAD => "$SEND?token=$t");
ok($head->code == 200
   && ($head->header('Content-Type') // '') eq 'audio/mpeg'
   && ($head->header('Content-Length') // '') eq $size
   && ($head->header('Content-Disposition') // '')
      eq 'inline; filename="1165.mp3"'
   && ($head->header('Cache-Control') // '') eq 'no-store'
   && $head->content eq '',
   'HEAD: 200, the headers of the file, no body')
    or diag(reply_summary($head));
$res = req(GET => "$SEND?token=$t");
expect_media($res, 1165, 'HEAD did not spend the token: a GET is served');
ok(($res->header('ETag') // 'g') eq ($head->header('ETag') // 'h')
   && ($res->header('Last-Modified') // 'g')
      eq ($head->header('Last-Modified') // 'h'),
   "HEAD's ETag and Last-Modified are the GET's");

$t = token($demo, audio('1165,1167'));
$head = req(HEAD => "$SEND?token=$t");
ok($head->code == 200
   && ($head->header('Content-Type') // '') eq 'application/zip'
   && ($head->header('Content-Disposition') // '')
      eq 'attachment; filename="calls.zip"'
   && $head->content eq '',
   'HEAD of a ZIP token: application/zip, attachment')
    or diag(reply_summary($head));
expect_zip(req(GET => "$SEND?token=$t"), [1165, 1167],
           'HEAD did not spend the ZIP token: a GET gets the ZIP');
$head = req(HEAD => "$SEND?token=$t");
ok($head->code == 200
   && ($head->header('Content-Type') // '') eq 'text/xml; charset=UTF-8'
   && $head->content eq '',
   'HEAD of a spent token: the headers of an XML error')
    or diag(reply_summary($head));

# ---- Refusals of the request itself -------------------------------------

expect_error(req(GET => $SEND), 'missing-parameter',
             'no token: missing-parameter');
expect_error(req(GET => "$SEND?id_call[]=1165&type=1"), 'missing-parameter',
             'criteria but no token: missing-parameter');
expect_error(req(POST => $SEND, form => [x => 1]), 'missing-parameter',
             'POST without a token: missing-parameter');
expect_error(req(GET => "$SEND?token=abc"), 'unknown-token',
             'token=abc (too short): unknown-token');
expect_error(req(GET => "$SEND?token=" . ('A' x 65)), 'unknown-token',
             'a 65-character token: unknown-token');
expect_error(req(GET => "$SEND?token=" . ('A' x 64)), 'unknown-token',
             'a well-formed 64-character token never issued: unknown-token');
expect_error(req(GET => "$SEND?token=abcd-efgh-ijkl-mnop"), 'unknown-token',
             'a token with characters outside [A-Za-z0-9]: unknown-token');
expect_error(req(GET => "$SEND?token="), 'unknown-token',
             'an empty token: unknown-token');
expect_error(req(GET => "$SEND?token=%00"), 'bad-parameter',
             'token=%00: bad-parameter');
expect_error(req(GET => "$SEND?token=%zz"), 'bad-parameter',
             'token=%zz: bad-parameter');
expect_error(req(GET => "$SEND?token=" . ('A' x 20) . '&token=' . ('B' x 20)),
             'bad-parameter', 'two different tokens: bad-parameter');

$t = token($demo, audio(1165));
expect_error(req(POST => $SEND, content => "token=$t",
                 content_type => 'text/plain'),
             'bad-content-type', 'a text/plain body: bad-content-type');
expect_error(req(PUT => "$SEND?token=$t"), 'bad-method', 'PUT: bad-method');
expect_error(req(DELETE => "$SEND?token=$t"), 'bad-method',
             'DELETE: bad-method');
expect_media(req(GET => "$SEND?token=$t"), 1165,
             'a refused method never reached the token: a GET is served');

# ---- Nothing to serve ---------------------------------------------------

expect_error(req(GET => "$SEND?token=" . token($demo, audio(4242))),
             'not-found', 'call 4242 has no file: not-found');
expect_error(req(GET => "$SEND?token=" . token($demo, audio(1168))),
             'not-found', 'a directory in the place of a file: not-found');
expect_error(req(GET => "$SEND?token="
                        . token($demo, 'id_call[]=1165&type=16')),
             'not-found', 'type 16 without a DownloadTokenCallFile 16: '
             . 'not-found');
expect_error(req(GET => "$SEND?token=" . token($demo, audio('1165,4242'))),
             'not-found', 'one of two calls has no file: not-found');
expect_error(req(GET => "$SEND?token="
                        . token($guest, audio('1165,1166'))),
             'not-authorized', 'guest, calls 1165 and 1166: not-authorized');

$t = token($demo, 'id_call[]=1165&type=1&action=prepare',
           path => '/tokaction/downloadtoken');
ok(defined $t, 'a token for action prepare where it may be issued');
expect_error(req(GET => "$SEND?token=$t"), 'action-not-served',
             'action prepare: action-not-served');
expect_error(req(GET => "$SEND?token=$t"), 'unknown-token',
             'and it is spent');

# ---- The store after it all ---------------------------------------------

is(status()->{consistent}, 'yes', 'the store is consistent');
