package DTRaw;

# A raw HTTP/1.1 client for the hostile tests: the request is exactly the
# bytes built here (LWP and URI would escape brackets and stray bytes,
# merge headers and refuse malformed request lines), sent over a fresh
# connection, and the reply is read until the server closes it.
#
#   my $bytes = DTRaw::build(GET => '/callrec/loginservlet?x=%', ...);
#   my $r = DTRaw::exchange($bytes, mode => 'full');
#   $r->{res}      HTTP::Response (undef when nothing came back)
#   $r->{elapsed}  seconds from the first byte sent to the end of reading
#   $r->{error}    why nothing came back, when so

use strict;
use warnings;

use Exporter 'import';
use IO::Select ();
use IO::Socket::IP ();
use Socket qw(SHUT_WR);
use Time::HiRes ();
use HTTP::Response ();
use Apache::Test ();
use Apache::TestRequest ();

our @EXPORT_OK = qw(hostport build exchange request);

sub hostport
{
    return Apache::TestRequest::hostport(Apache::Test::config());
}

# build(METHOD, TARGET, options) -> request bytes
#   version => 'HTTP/1.1'    the request line's protocol
#   host => VALUE            Host header (undef: none at all)
#   cookie => VALUE | [VALUE, ...]   one Cookie header per value
#   headers => [k, v, ...]   more header lines, in order (v undef: the
#                            line k is sent as is, e.g. without a colon)
#   body => BYTES            sent after the header, with Content-Length
#   type => TYPE             Content-Type (only when given)
#   length => N              Content-Length to announce instead of the
#                            body's own length (the body is sent as given)
#   chunked => 1 | [SIZE..]  Transfer-Encoding: chunked; 1 cuts the body
#                            in 4096-byte chunks, a list in those sizes
#   keep_alive => 1          omit "Connection: close"
sub build
{
    my ($method, $target, %o) = @_;
    my $version = $o{version} // 'HTTP/1.1';
    my $head = "$method $target $version\r\n";
    my $host = exists $o{host} ? $o{host} : hostport();
    $head .= "Host: $host\r\n" if defined $host;
    $head .= "Connection: close\r\n" unless $o{keep_alive};
    my $cookies = $o{cookie};
    $cookies = [$cookies] if defined $cookies && !ref $cookies;
    $head .= "Cookie: $_\r\n" for @{ $cookies || [] };
    my @h = @{ $o{headers} || [] };
    while (@h) {
        my ($k, $v) = splice @h, 0, 2;
        $head .= defined $v ? "$k: $v\r\n" : "$k\r\n";
    }
    $head .= "Content-Type: $o{type}\r\n" if defined $o{type};
    my $body = $o{body};
    if (defined $body && $o{chunked}) {
        my @sizes = ref $o{chunked} ? @{ $o{chunked} } : ();
        my ($c, $off) = ('', 0);
        while ($off < length $body) {
            my $n = @sizes ? shift @sizes : 4096;
            my $part = substr($body, $off, $n);
            $c .= sprintf("%x\r\n", length $part) . "$part\r\n";
            $off += length $part;
        }
        $head .= "Transfer-Encoding: chunked\r\n";
        $body = "${c}0\r\n\r\n";
    }
    elsif (defined $body || defined $o{length}) {
        $head .= 'Content-Length: ' . ($o{length} // length $body) . "\r\n";
    }
    return "$head\r\n" . ($body // '');
}

# exchange(BYTES, options) -> { res, raw, elapsed, error }
#   mode => 'full'   send everything, read the reply until the server
#                    closes (default)
#           'half'   send, then shut down our sending side (the server
#                    reads end-of-file), then read the reply
#           'close'  send, then close at once without reading
#   timeout => S     most seconds to wait for the reply (default 30)
sub exchange
{
    my ($bytes, %o) = @_;
    my $mode = $o{mode} // 'full';
    my $timeout = $o{timeout} // 30;
    my ($host, $port) = hostport() =~ /\A(.*):(\d+)\z/;
    my $sock = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
                                   Timeout => 10)
        or return { error => "cannot connect: $@", raw => '' };
    binmode $sock;

    # A server that refuses a request early may stop reading it: keep
    # what it answered rather than dying of SIGPIPE.
    local $SIG{PIPE} = 'IGNORE';
    my $t0 = Time::HiRes::time();
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($sock, $bytes, 65536, $off);
        last unless $n;
        $off += $n;
    }
    if ($mode eq 'close') {
        close $sock;
        return { raw => '', elapsed => Time::HiRes::time() - $t0,
                 error => 'closed by the client' };
    }
    shutdown($sock, SHUT_WR) if $mode eq 'half';

    my ($in, $sel) = ('', IO::Select->new($sock));
    my $end = $t0 + $timeout;
    my $error;
    for (;;) {
        my $left = $end - Time::HiRes::time();
        if ($left <= 0) {
            $error = "no end of reply within $timeout s";
            last;
        }
        last unless $sel->can_read($left);
        my $n = sysread($sock, $in, 65536, length $in);
        if (!defined $n) {
            $error = "read: $!";
            last;
        }
        last if $n == 0;
    }
    my $elapsed = Time::HiRes::time() - $t0;
    close $sock;
    return { raw => $in, elapsed => $elapsed,
             error => $error // 'no reply' }
        unless length $in;
    return { res => parse($in), raw => $in, elapsed => $elapsed,
             error => $error };
}

# request(METHOD, TARGET, build options) -> HTTP::Response, its code 599
# when no reply came; build's and exchange's work in one call.
#   session => ID     "Cookie: JSESSIONID=ID"
#   timeout => S      as for exchange (default 60)
sub request
{
    my ($method, $target, %o) = @_;
    my $id = delete $o{session};
    my $timeout = delete $o{timeout} // 60;
    $o{cookie} = "JSESSIONID=$id" if defined $id;
    my $r = exchange(build($method, $target, %o), timeout => $timeout);
    return $r->{res} // HTTP::Response->new(599, $r->{error});
}

# The reply as an HTTP::Response, its chunked body decoded.
sub parse
{
    my $in = shift;
    my $res = HTTP::Response->parse($in);
    if (($res->header('Transfer-Encoding') // '') =~ /chunked/i) {
        my ($c, $plain) = ($res->content, '');
        while ($c =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $plain .= substr($c, 0, $len, '');
            $c =~ s/\A\r\n//;
        }
        $res->content($plain);
    }
    return $res;
}

1;
