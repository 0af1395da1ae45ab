# The module is loaded and answers: every other file assumes it, and a run
# that skipped everything must not look like a success.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use DTTest qw(req error_body_re expect_reply status);

plan tests => 4;

my $res = req(GET => '/status');
is($res->code, 200, 'the status handler answers /status');
like($res->content, qr/^sessions-capacity: 64$/m,
     'status reports the configured session capacity (64)');

my $s = status();
is($s && $s->{consistent}, 'yes', 'the store reports itself consistent');

# No parameters at all: the login service answers with our XML prefix.
$res = req(GET => '/callrec/loginservlet');
expect_reply($res, error_body_re('missing-parameter'),
             'loginservlet replies <error code="missing-parameter">');
