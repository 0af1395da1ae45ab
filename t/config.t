# Configuration mistakes are caught by `httpd -t`, with a message naming
# the directive.  Each case is a small self-contained server config that
# loads the module from the build tree; nothing here talks to the test
# server.
use strict;
use warnings;
use File::Path qw(make_path);
use Apache::Test qw(-withtestmore);

my $vars = Apache::Test::vars();
my $httpd = $vars->{httpd};
my $top = $vars->{top_dir};
my $dir = "$vars->{t_logs}/config";
my $so = "$top/.libs/mod_downloadtoken.so";
my $mods = '/usr/lib/apache2/modules';
make_path($dir);

# [name, directive named in the message, config lines]
my @bad = (
    ['session capacity 0', 'DownloadTokenSessionCapacity',
     'DownloadTokenSessionCapacity 0'],
    ['session capacity abc', 'DownloadTokenSessionCapacity',
     'DownloadTokenSessionCapacity abc'],
    ['session capacity -5', 'DownloadTokenSessionCapacity',
     'DownloadTokenSessionCapacity -5'],
    ['session capacity 10x', 'DownloadTokenSessionCapacity',
     'DownloadTokenSessionCapacity 10x'],
    ['session capacity without a value', 'DownloadTokenSessionCapacity',
     'DownloadTokenSessionCapacity'],
    ['session capacity in a <Location>', 'DownloadTokenSessionCapacity',
     "<Location /x>\n    DownloadTokenSessionCapacity 10\n</Location>"],
    ['session capacity in a <VirtualHost>', 'DownloadTokenSessionCapacity',
     "<VirtualHost 127.0.0.1:8598>\n    DownloadTokenSessionCapacity 10\n"
     . '</VirtualHost>'],
    ['token capacity 0', 'DownloadTokenTokenCapacity',
     'DownloadTokenTokenCapacity 0'],
    ['max calls 0', 'DownloadTokenMaxCalls', 'DownloadTokenMaxCalls 0'],
    ['token length 15', 'DownloadTokenLength', 'DownloadTokenLength 15'],
    ['token length 65', 'DownloadTokenLength', 'DownloadTokenLength 65'],
    ['token length abc', 'DownloadTokenLength', 'DownloadTokenLength abc'],
    ['auth provider nosuchprovider', 'DownloadTokenAuthProvider',
     "<Location /callrec/loginservlet>\n"
     . "    DownloadTokenAuthProvider nosuchprovider\n</Location>"],
    ['idle timeout -1', 'DownloadTokenSessionIdleTimeout',
     "<Location /callrec>\n    DownloadTokenSessionIdleTimeout -1\n"
     . '</Location>'],
    ['max lifetime abc', 'DownloadTokenSessionMaxLifetime',
     'DownloadTokenSessionMaxLifetime abc'],
    ['types 7', 'DownloadTokenTypes', 'DownloadTokenTypes 7'],
    ['types 1 7', 'DownloadTokenTypes', 'DownloadTokenTypes 1 7'],
    ['max body size 0', 'DownloadTokenMaxBodySize',
     'DownloadTokenMaxBodySize 0'],
    ['max parameters 0', 'DownloadTokenMaxParameters',
     'DownloadTokenMaxParameters 0'],
);

# Every directive with a value that must be accepted.
my $good = <<'EOF';
DownloadTokenSessionCapacity 100
DownloadTokenTokenCapacity 500
DownloadTokenMaxCalls 10
DownloadTokenSnapshotFile none
Mutex default downloadtoken-store
<Location /callrec/loginservlet>
    SetHandler downloadtoken-login
    DownloadTokenAuthProvider file
    DownloadTokenSessionIdleTimeout 60
    DownloadTokenSessionMaxLifetime 3600
    DownloadTokenCookiePath /callrec
    DownloadTokenMaxBodySize 1024
    DownloadTokenMaxParameters 16
</Location>
<Location /callrec/downloadtoken>
    SetHandler downloadtoken-issue
    DownloadTokenLength 16
    DownloadTokenLifetime 60
    DownloadTokenMaxPerSession 5
    DownloadTokenTypes 1 16
    DownloadTokenActions download
</Location>
<Location /other/downloadtoken>
    SetHandler downloadtoken-issue
    DownloadTokenLength 64
    DownloadTokenTypes 16
</Location>
EOF

plan tests => 2 * @bad + 3;

my $n = 0;
for my $c (@bad) {
    my ($name, $directive, $body) = @$c;
    my ($rc, $out) = check_config(++$n, $body);
    isnt($rc, 0, "$name: httpd -t fails");
    my $named = index($out, $directive) >= 0
        && $out !~ /Invalid command/;
    ok($named, "$name: the message names $directive") or diag($out);
}

my ($rc, $out) = check_config('good', $good);
is($rc, 0, 'a correct configuration passes httpd -t') or diag($out);
like($out, qr/Syntax OK/, '... and prints Syntax OK');
my $list = `$httpd -d $vars->{t_dir} -f $dir/good.conf -M 2>&1`;
like($list, qr/^\s*downloadtoken_module \(shared\)$/m,
     '... with the module loaded (httpd -M)') or diag($list);

# Writes case $tag's config and runs httpd -t on it: (exit code, output).
sub check_config
{
    my ($tag, $body) = @_;
    my $file = "$dir/$tag.conf";
    open my $fh, '>', $file or die "$file: $!";
    print $fh <<"EOF";
ServerRoot "$vars->{t_dir}"
DefaultRuntimeDir "$dir"
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
Listen 127.0.0.1:8598
ServerName localhost
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authn_file_module $mods/mod_authn_file.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule slotmem_shm_module $mods/mod_slotmem_shm.so
LoadModule downloadtoken_module $so
$body
EOF
    close $fh;
    my $out = `$httpd -d $vars->{t_dir} -f $file -t 2>&1`;
    return ($? >> 8, $out);
}
