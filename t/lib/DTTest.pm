package DTTest;

# Helpers shared by the mod_downloadtoken Apache::Test suite: requests as a
# client sends them, the reply shapes of the wire contract
# (/work/shared/spec/callrec-web-api.md), the status report and the error
# log.  Requests go through plain LWP so that every byte of the request and
# of the reply is under the test's control (no cookie jar, no redirects, no
# keep-alive that a server restart would break).

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes ();
use LWP::UserAgent ();
use HTTP::Request ();
use Test::More ();
use Apache::Test ();
use Apache::TestRequest ();

our @EXPORT_OK = qw(
    XML_DECL xml error_body_re ok_login_re
    req form_encode login logout issue status session_state
    expect_reply expect_error reply_summary set_cookies
    log_leaks remember secrets wait_until t_logs token_re expect_token
    slurp
    %PASSWORD
);

# The 40 bytes every reply starts with; connectors cut the session id at 55
# and the token at 47, so this prefix is contract, not taste.
use constant XML_DECL => qq{<?xml version="1.0" encoding="UTF-8"?>\r\n};

# Users of t/conf/dt-users.htpasswd (and dt-extra.htpasswd for "alias").
# "plus" has a password with a literal '+' and a literal "%2B" so that the
# form decoding of both is exercised.
our %PASSWORD = (
    demo  => 'demo-pass',
    guest => 'guest-pass',
    plus  => 'a+b%2Bc',
    alias => 'alias-pass',
);

my @secrets;

sub xml
{
    my $element = shift;
    return XML_DECL . $element . "\n";
}

sub error_body_re
{
    my $code = shift;
    my $decl = XML_DECL;
    return qr/\A\Q$decl\E<error code="\Q$code\E">[^<>\r\n]+<\/error>\n\z/;
}

sub ok_login_re
{
    my $decl = XML_DECL;
    return qr/\A\Q$decl\E<ok\ sessionid="([0-9A-F]{32})"\ number="1">
              Access\ is\ authorized\.<\/ok>\n\z/x;
}

sub t_logs
{
    return Apache::Test::vars('t_logs');
}

# Set (with local) to send requests to another server than Apache::Test's,
# e.g. "http://127.0.0.1:40123" (t/restart.t's private server).
our $BASE_URL;

sub base_url
{
    return $BASE_URL if defined $BASE_URL;
    return 'http://' . Apache::TestRequest::hostport(Apache::Test::config());
}

my $ua;

sub ua
{
    $ua ||= LWP::UserAgent->new(keep_alive => 0, max_redirect => 0,
                                timeout => 30, agent => 'dt-tests/1');
    return $ua;
}

# Form encoding as a browser does it, but with %20 for space: every byte
# outside the unreserved set is percent-encoded.
sub form_encode
{
    my @pairs = @_;
    my @out;
    while (@pairs) {
        my ($k, $v) = splice @pairs, 0, 2;
        for ($k, $v) {
            s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
        }
        push @out, "$k=$v";
    }
    return join '&', @out;
}

# req(METHOD, PATH, options) -> HTTP::Response
#   cookie => ID          sends "Cookie: JSESSIONID=ID"
#   headers => [k, v...]  extra request headers
#   form => [k, v...]     body, form-encoded, with the form content type
#   content => BYTES      body as given (or a code ref: sent chunked)
#   content_type => TYPE  overrides the body's content type
sub req
{
    my ($method, $path, %o) = @_;
    my $r = HTTP::Request->new($method => base_url() . $path);
    if (defined $o{cookie}) {
        $r->header(Cookie => "JSESSIONID=$o{cookie}");
    }
    my @h = @{ $o{headers} || [] };
    while (@h) {
        my ($k, $v) = splice @h, 0, 2;
        $r->push_header($k => $v);
    }
    my $body = $o{content};
    my $type = $o{content_type};
    if ($o{form}) {
        $body = form_encode(@{ $o{form} });
        $type = 'application/x-www-form-urlencoded' unless defined $type;
    }
    if (defined $body) {
        $r->content($body);
        $r->header('Content-Length' => length $body) unless ref $body;
    }
    $r->header('Content-Type' => $type) if defined $type;
    my $res = ua()->request($r);
    remember_from_body($res->content);
    return $res;
}

# Every session id and token a test sees is kept, so that log_leaks() can
# check that none of them reached the error log.
sub remember
{
    push @secrets, grep { defined && length } @_;
}

sub secrets
{
    my %seen;
    return grep { !$seen{$_}++ } @secrets;
}

sub remember_from_body
{
    my $body = shift;
    return unless defined $body;
    remember($1) if $body =~ /sessionid="([^"]+)"/;
    remember($1) if $body =~ /<reply>([^<]+)<\/reply>/;
}

# login(user => U, pass => P, path => ..., method => GET|POST)
# -> (session id or undef, response)
sub login
{
    my %o = @_;
    my $user = exists $o{user} ? $o{user} : 'demo';
    my $pass = exists $o{pass} ? $o{pass} : $PASSWORD{$user};
    my $path = $o{path} || '/callrec/loginservlet';
    my $method = $o{method} || 'POST';
    my @pairs = (loginname => $user, password => $pass);
    my $res;
    if ($method eq 'GET') {
        $res = req(GET => "$path?" . form_encode(@pairs), %{ $o{req} || {} });
    }
    else {
        $res = req(POST => $path, form => \@pairs, %{ $o{req} || {} });
    }
    my $id;
    $id = $1 if $res->code == 200 && $res->content =~ ok_login_re();
    return ($id, $res);
}

# logout(ID, via => cookie|path, method => POST|GET) -> response
sub logout
{
    my ($id, %o) = @_;
    my $via = $o{via} || 'cookie';
    my $method = $o{method} || 'POST';
    my $path = $o{path} || '/callrec/logoutservlet';
    if ($via eq 'path') {
        return req($method => "$path;jsessionid=$id");
    }
    return req($method => $path, cookie => $id);
}

# issue(ID, via => path|cookie) -> (token or undef, response)
sub issue
{
    my ($id, %o) = @_;
    my $via = $o{via} || 'path';
    my $query = 'id_call[]=1165&type=1&action=download';
    my $res;
    if ($via eq 'path') {
        $res = req(GET => "/callrec/downloadtoken;jsessionid=$id?$query");
    }
    else {
        $res = req(GET => "/callrec/downloadtoken?$query", cookie => $id);
    }
    my $token;
    my $decl = XML_DECL;
    $token = $1
        if $res->content =~ /\A\Q$decl\E<reply>([A-Za-z0-9]{20})<\/reply>\n\z/;
    return ($token, $res);
}

# 'alive' when the session gets a token, 'dead' on no-session, else a
# summary of the unexpected reply.
sub session_state
{
    my ($id, %o) = @_;
    my ($token, $res) = issue($id, %o);
    return 'alive' if defined $token;
    return 'dead' if $res->content =~ error_body_re('no-session');
    return 'other: ' . reply_summary($res);
}

# The status report as a hash (empty when it does not answer).
sub status
{
    my $res = req(GET => '/status');
    return {} unless $res->code == 200;
    my %s;
    for my $line (split /\r?\n/, $res->content) {
        $s{$1} = $2 if $line =~ /^([\w-]+):\s*(.*?)\s*$/;
    }
    return \%s;
}

sub set_cookies
{
    my $res = shift;
    return $res->headers->header('Set-Cookie');
}

sub reply_summary
{
    my $res = shift;
    my $body = $res->content;
    $body = substr($body, 0, 300) . '...' if length $body > 300;
    $body =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return sprintf 'HTTP %s, Content-Type "%s", Cache-Control "%s", body "%s"',
        $res->code, $res->header('Content-Type') // '',
        $res->header('Cache-Control') // '', $body;
}

# One assertion: HTTP 200, the XML content type, no-store, and a body that
# is exactly $want (a string) or matches it (a regexp).
sub expect_reply
{
    my ($res, $want, $name) = @_;
    my $body = $res->content;
    my $body_ok = ref $want ? $body =~ $want : $body eq $want;
    my $ok = $res->code == 200
        && ($res->header('Content-Type') // '') eq 'text/xml; charset=UTF-8'
        && ($res->header('Cache-Control') // '') =~ /\bno-store\b/
        && $body_ok;
    my $tb = Test::More->builder;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $tb->ok($ok, $name);
    unless ($ok) {
        $tb->diag('got:  ' . reply_summary($res));
        my $w = "$want";
        $w =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
        $tb->diag("want: HTTP 200, Content-Type \"text/xml; charset=UTF-8\","
                  . " Cache-Control \"no-store\", body \"$w\"");
    }
    return $ok;
}

# A whole file's bytes, such as a call's recording.
sub slurp
{
    my $file = shift;
    open my $fh, '<:raw', $file or die "cannot read $file: $!";
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}

sub token_re
{
    my $len = shift;
    my $decl = XML_DECL;
    return qr/\A\Q$decl\E<reply>([A-Za-z0-9]{$len})<\/reply>\n\z/;
}

# One assertion: a token reply with a token of `len` characters; returns
# the token (undef when the reply is something else).
sub expect_token
{
    my ($res, $len, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return undef unless expect_reply($res, token_re($len), $name);
    my ($t) = $res->content =~ token_re($len);
    remember($t);
    return $t;
}

# One assertion: an <error> reply with this code and no cookie set.
sub expect_error
{
    my ($res, $code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @c = set_cookies($res);
    if (@c) {
        my $tb = Test::More->builder;
        $tb->ok(0, $name);
        $tb->diag("an error reply set a cookie: @c");
        return 0;
    }
    return expect_reply($res, error_body_re($code), $name);
}

# Lines of the module's own messages in the error log (and in the other
# logs named) that contain a session id or token seen by this test.  Only
# our lines count: at LogLevel trace8 httpd's core logs request lines.
sub log_leaks
{
    my @files = (t_logs() . '/error_log', @_);
    my @s = secrets();
    my @bad;
    for my $file (@files) {
        open my $fh, '<', $file or return ("cannot read $file: $!");
        while (my $line = <$fh>) {
            next unless $line =~ /\[downloadtoken:|mod_downloadtoken: /;
            for my $s (@s) {
                if (index($line, $s) >= 0) {
                    push @bad, $line;
                    last;
                }
            }
        }
        close $fh;
    }
    return @bad;
}

# Polls $cond every 0.1 s until it is true or $timeout seconds pass.
sub wait_until
{
    my ($cond, $timeout) = @_;
    my $end = Time::HiRes::time() + $timeout;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.1);
    }
    return $cond->() ? 1 : 0;
}

1;
