# Our directives belong to the server's own configuration: one written in
# a .htaccess (here DownloadTokenCallFile, which could point the media
# paths anywhere) is refused, and httpd answers 500 for that folder.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use DTTest qw(t_logs wait_until);

plan tests => 2;

my $res = GET('/htaccess/index.html');
is($res->code, 500, 'a .htaccess with DownloadTokenCallFile: 500');

my $log = t_logs() . '/error_log';
my $said = wait_until(sub {
    open my $fh, '<', $log or return 0;
    my $hit = grep { /DownloadTokenCallFile not allowed here/ } <$fh>;
    close $fh;
    return $hit;
}, 3);
ok($said, 'the error log names the directive: "not allowed here"');
