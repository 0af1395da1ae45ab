# Send Call File Service, hostile clients: call ids and SIDs that try to
# leave the media folder are refused when the token is asked for, so no
# token that could name such a path exists; guest never gets call 1166
# (demo's only) by any route; and the error log names tokens and sessions
# only by their hash.
#
# Media: t/htdocs/media/ (see its README); locations: the "Send Call File
# Service tests" section of t/conf/extra.conf.in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use DTTest qw(slurp req login status expect_error reply_summary secrets
              log_leaks);
use Digest::SHA ();

my $media = Apache::Test::vars('documentroot') . '/media';
my $error_log = Apache::Test::vars('serverroot') . '/logs/error_log';
my $SEND = '/callrec/sendcallfile.mp3';
my $STRICT = '/strict/sendcallfile.mp3';

my $secret_1166 = slurp("$media/1166.mp3");

# token(SESSION, QUERY, via => path|cookie) -> token or undef (shown).
sub token
{
    my ($id, $query, %o) = @_;
    my $res = ($o{via} || 'path') eq 'cookie'
        ? req(GET => "/callrec/downloadtoken?$query", cookie => $id)
        : req(GET => "/callrec/downloadtoken;jsessionid=$id?$query");
    return $1 if $res->content =~ /<reply>([A-Za-z0-9]+)<\/reply>/;
    Test::More::diag("no token for '$query': " . reply_summary($res));
    return undef;
}

sub audio { return "id_call[]=$_[0]&type=1&action=download"; }

# Call ids and SIDs that try to name a path, and what the token service
# answers.  Each is sent as GET and as a POST form body.
my @traversal = (
    ['id_call[]=../../etc/passwd',          'bad-call-id'],
    ['id_call[]=1165/../1166',              'bad-call-id'],
    ['id_call[]=%2e%2e%2f1',                'bad-call-id'],
    ['id_call[]=1165%2F..%2F1166',          'bad-call-id'],
    ['id_call[]=1165,../1166',              'bad-call-id'],
    ['id_call[]=%2F1166',                   'bad-call-id'],
    ['id_call[]=1166.mp3',                  'bad-call-id'],
    ['id_call[]=-1166',                     'bad-call-id'],
    ['id_call[]=1165&id_call[]=..%2F1166',  'bad-call-id'],
    ['sid=../x',                            'bad-sid'],
    ['sid=..%2Fx',                          'bad-sid'],
    ['sid=a/b',                             'bad-sid'],
    ['sid=.hidden',                         'bad-sid'],
    ['sid=..',                              'bad-sid'],
    ['sid=%2Fetc%2Fpasswd',                 'bad-sid'],
    ['sid=abc-1%5C..%5C..%5C1166',          'bad-sid'],
    ['sid=../1166&id_call[]=1165',          'bad-sid'],
    ['sid=',                                'bad-sid'],
    ['sid=abc-1%00',                        'bad-parameter'],
);

plan tests => 2                 # logins
              + 2 * @traversal  # refused at the token service
              + 2               # and no token came of them
              + 3               # a SID token, .hidden
              + 14              # guest and call 1166
              + 6;              # the error log

my ($demo) = login(user => 'demo');
my ($guest) = login(user => 'guest');
ok(defined $demo, 'demo logs in');
ok(defined $guest, 'guest logs in');

# ---- Path traversal never reaches the file system ----------------------

my $before = status();
for my $case (@traversal) {
    my ($query, $code) = @$case;
    my $full = "$query&type=1&action=download";
    expect_error(req(GET => "/callrec/downloadtoken;jsessionid=$demo?$full"),
                 $code, "GET $query: $code");
    my @form = map { my ($k, $v) = split /=/, $_, 2;
                     $v //= '';
                     s/%([0-9A-Fa-f]{2})/chr hex $1/ge for $k, $v;
                     ($k, $v) } split /&/, $full;
    expect_error(req(POST => '/callrec/downloadtoken', cookie => $demo,
                     form => \@form),
                 $code, "POST $query: $code");
}
my $after = status();
is($after->{'tokens-issued'}, $before->{'tokens-issued'},
   'no token was issued for any of them');
is($after->{'tokens-live'}, $before->{'tokens-live'},
   'no token is live for any of them');

my $t = token($demo, 'sid=abc-1&type=1&action=download');
my $res = req(GET => "$SEND?token=$t");
ok($res->code == 200
   && ($res->header('Content-Type') // '') eq 'audio/mpeg'
   && ($res->header('Content-Disposition') // '')
      eq 'inline; filename="abc-1.mp3"'
   && $res->content eq slurp("$media/sid/abc-1.mp3"),
   'sid=abc-1: the file sid/abc-1.mp3') or diag(reply_summary($res));
ok(-f "$media/sid/.hidden.mp3", 'sid/.hidden.mp3 exists');
expect_error(req(GET => "/callrec/downloadtoken;jsessionid=$demo"
                        . '?sid=.hidden&type=1'), 'bad-sid',
             'yet sid=.hidden is refused: bad-sid');

# ---- Guest never gets call 1166 ----------------------------------------

$t = token($guest, audio(1166));
expect_error(req(GET => "$SEND?token=$t", cookie => $guest),
             'not-authorized', "guest's own token for 1166: not-authorized");

$t = token($guest, audio('1165,1166'));
expect_error(req(GET => "$SEND?token=$t"), 'not-authorized',
             "guest's ZIP token for 1165 and 1166: not-authorized");

$t = token($guest, audio(1165));
$res = req(GET => "$SEND?token=$t&id_call[]=1166&sid=1166&type=1");
ok($res->code == 200 && $res->content eq slurp("$media/1165.mp3"),
   "guest's token for 1165 with 1166 beside it: 1165, not 1166")
    or diag(reply_summary($res));

$t = token($guest, 'sid=1166&type=1&action=download');
# <Files "1166.mp3"> applies in every folder below media/, and httpd
# checks access before it looks for the file.
expect_error(req(GET => "$SEND?token=$t"), 'not-authorized',
             'sid=1166 (sid/1166.mp3, under <Files "1166.mp3">): '
             . 'not-authorized');

$t = token($demo, audio(1166));
expect_error(req(GET => "$SEND?token=$t", cookie => $guest),
             'session-mismatch', "demo's token with guest's session: "
             . 'session-mismatch');
expect_error(req(GET => "$SEND?token=$t", cookie => $demo), 'unknown-token',
             'and it is spent: demo cannot use it any more either');

$t = token($demo, audio(1166));
expect_error(req(GET => "$SEND;jsessionid=$guest?token=$t"),
             'session-mismatch', "demo's token with guest's ;jsessionid=: "
             . 'session-mismatch');

$t = token($demo, audio(1166));
expect_error(req(GET => "$STRICT?token=$t", cookie => $guest),
             'session-mismatch', "strict location, demo's token with "
             . "guest's session: session-mismatch");

$t = token($guest, audio(1166));
expect_error(req(GET => "$SEND?token=$t", cookie => $demo),
             'session-mismatch', "guest's token in demo's session: "
             . 'session-mismatch, not demo\'s rights');

# The media folder itself, by URL: httpd's Require, with the session.
$res = req(GET => '/media/1166.mp3', cookie => $guest);
ok($res->code == 401 || $res->code == 403,
   '/media/1166.mp3 with guest\'s session: refused') or
    diag(reply_summary($res));
$res = req(GET => '/media/1166.mp3');
ok($res->code == 401, '/media/1166.mp3 without a session: 401')
    or diag(reply_summary($res));
$res = req(GET => '/media/1166.mp3', cookie => $demo);
ok($res->code == 200 && $res->content eq $secret_1166,
   '/media/1166.mp3 with demo\'s session: the file (the rule works)')
    or diag(reply_summary($res));

$t = token($guest, audio(1165));
$res = req(GET => "$SEND/../../media/1166.mp3?token=$t", cookie => $guest);
ok($res->code != 200 && $res->content ne $secret_1166,
   "a dot-dot path after the service's name: not the file")
    or diag(reply_summary($res));
$res = req(GET => "$SEND/%2e%2e/%2e%2e/media/1166.mp3?token=$t",
           cookie => $guest);
ok($res->content ne $secret_1166,
   'an encoded dot-dot path after the service\'s name: not the file')
    or diag(reply_summary($res));

# ---- The error log ------------------------------------------------------

my @secrets = secrets();
open my $fh, '<', $error_log or die "cannot read $error_log: $!";
my @lines = <$fh>;
close $fh;

my @ours = grep { /mod_downloadtoken: / } @lines;
ok(scalar @ours, 'the error log has mod_downloadtoken: lines')
    or diag("no such line in $error_log");

# Each is tagged with the module, so LogLevel downloadtoken:... applies.
my @untagged = grep { !/\[downloadtoken:[a-z0-9]+\]/ } @ours;
ok(!@untagged, 'every mod_downloadtoken: line is tagged [downloadtoken:...]')
    or diag(@untagged[0 .. ($#untagged < 2 ? $#untagged : 2)]);

my @leaks = log_leaks();
ok(!@leaks, 'no mod_downloadtoken line holds a token or session id of '
   . 'this file (' . scalar(@secrets) . ' of them)')
    or diag(join '', @leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);

# Below trace level httpd's core logs no request line or header; what an
# operator sees at LogLevel debug must be free of them too, whoever logs.
my @below_trace = grep { !/\[[a-z_0-9]+:trace\d\]/ } @lines;
my @loud;
for my $line (@below_trace) {
    for my $s (@secrets) {
        if (index($line, $s) >= 0) {
            push @loud, $line;
            last;
        }
    }
}
ok(!@loud, 'no line at LogLevel debug or above holds one either')
    or diag(join '', @loud[0 .. ($#loud < 4 ? $#loud : 4)]);

# The canary: at trace levels httpd itself logs request lines, so the
# secrets are there, and the search above would have found them.
my @trace = grep { /\[[a-z_0-9]+:trace\d\]/ } @lines;
ok(!@trace || grep({ my $l = $_; grep { index($l, $_) >= 0 } @secrets }
                   @trace),
   'the search sees the secrets where httpd\'s trace lines hold them');

# The log names a token by the first 8 hex digits of its SHA-1.
my $label = 'token#' . substr(Digest::SHA::sha1_hex($t), 0, 8);
ok(scalar(grep { index($_, $label) >= 0 } @ours),
   "the last token appears as $label");
