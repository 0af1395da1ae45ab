package DTServer;

# A private httpd for the tests that must choose the MPM, the store's
# capacities or when the server restarts (t/race.t, t/restart_load.t):
# a configuration written from scratch, with mod_downloadtoken and the
# four services only, on a free loopback port, with its own pid file,
# logs and runtime directory (where the snapshot goes).  Stopping or
# restarting Apache::Test's own server instead would free its port, or
# change what every other test file sees.
#
# Also a raw HTTP/1.0 client (one connection per request, closed by the
# server), so a test can connect first and send later (the races release
# connected clients together) and can tell a reset or an early close from
# an HTTP error, which LWP folds into a made-up 500.
#
#   my $s = DTServer->new(name => 'race-prefork', mpm => 'prefork',
#                         main => "DownloadTokenTokenCapacity 200\n");
#   $s->start or die $s->why;
#   my $r = $s->get('/status');   # {code, body, error, t0, t1, ...}
#   $s->graceful; $s->stop;

use strict;
use warnings;

use Errno ();
use POSIX ();
use File::Path qw(make_path);
use IO::Select ();
use IO::Socket::INET ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use Apache::Test ();

our $USER = 'demo';
our $PASSWORD = 'demo-pass';
our $XML_DECL = qq{<?xml version="1.0" encoding="UTF-8"?>\r\n};

# Servers still running when the test ends (it died, or an alarm struck)
# are stopped, by the process that started them only: forked clients hold
# copies of every object and leave with POSIX::_exit.
my %running;

my %MPM_CONF = (
    # Several children, so the store is shared across processes.
    prefork => <<'EOF',
StartServers 4
MinSpareServers 4
MaxSpareServers 8
ServerLimit 16
MaxRequestWorkers 16
MaxConnectionsPerChild 0
EOF
    # Two processes of eight threads each, room for a graceful restart's
    # old generation next to the new one.
    worker => <<'EOF',
StartServers 2
ServerLimit 8
ThreadLimit 8
ThreadsPerChild 8
MinSpareThreads 8
MaxSpareThreads 32
MaxRequestWorkers 32
MaxConnectionsPerChild 0
EOF
);
$MPM_CONF{event} = $MPM_CONF{worker};

# new(name => NAME, mpm => event|worker|prefork, main => LINES,
#     issue => LINES, redeem => LINES)
#   name:   t/logs/NAME/ holds the pid file, the runtime directory (the
#           snapshot, mutexes); t/logs/NAME.httpd.conf, NAME.error_log and
#           NAME.access_log are beside Apache::Test's logs, where
#           build-aux/apache-test.sh collects them into build/test-logs/
#   main:   more main-server lines (capacities)
#   issue:  more lines in <Location /callrec/downloadtoken>
#   redeem: more lines in <Location /callrec/sendcallfile.mp3>
sub new
{
    my ($class, %o) = @_;
    die 'DTServer: name is required' unless $o{name};
    my $vars = Apache::Test::vars();
    my $self = bless {
        mpm        => $o{mpm} || 'event',
        name       => $o{name},
        logs       => $vars->{t_logs},
        dir        => "$vars->{t_logs}/$o{name}",
        main       => $o{main} // '',
        issue      => $o{issue} // '',
        redeem     => $o{redeem} // '',
        httpd      => $o{httpd} || $vars->{httpd},
        serverroot => $vars->{serverroot},
        docroot    => $vars->{documentroot},
        moddir     => $o{moddir} || '/usr/lib/apache2/modules',
        port       => 0,
        pid        => 0,
        owner      => $$,
        why        => '',
    }, $class;
    make_path($self->{dir});
    return $self;
}

sub dir       { return $_[0]{dir}; }
sub port      { return $_[0]{port}; }
sub pid       { return $_[0]{pid}; }
sub mpm       { return $_[0]{mpm}; }
sub why       { return $_[0]{why}; }
sub conf_file  { return "$_[0]{logs}/$_[0]{name}.httpd.conf"; }
sub error_log  { return "$_[0]{logs}/$_[0]{name}.error_log"; }
sub access_log { return "$_[0]{logs}/$_[0]{name}.access_log"; }
sub out_file   { return "$_[0]{logs}/$_[0]{name}.httpd.out"; }

# Removes what an earlier run of this name left.
sub clean
{
    my $self = shift;
    unlink glob("$self->{dir}/*"), $self->error_log, $self->access_log,
        $self->out_file;
}
sub url       { return "http://127.0.0.1:$_[0]{port}"; }
sub media     { return "$_[0]{docroot}/media"; }

# A port nobody listens on now, from the kernel's ephemeral range (far
# from the ports Apache::Test and build-aux/apache-test.sh pick).
sub free_port
{
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "DTServer: no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub write_conf
{
    my $self = shift;
    my ($dir, $sr, $doc, $md) = @$self{qw(dir serverroot docroot moddir)};
    my $port = $self->{port};
    my ($elog, $alog) = ($self->error_log, $self->access_log);
    my @mods = (
        "mpm_$self->{mpm}", qw(authn_core authn_file authz_core authz_user
        authz_host mime slotmem_shm)
    );
    my $load = join '', map {
        -f "$md/mod_$_.so" ? "LoadModule ${_}_module $md/mod_$_.so\n" : ''
    } @mods;
    my $mpm = $MPM_CONF{$self->{mpm}} // '';
    open my $fh, '>', $self->conf_file or die $self->conf_file . ": $!";
    print $fh <<"EOF";
# written by t/lib/DTServer.pm: a private server of one test file
ServerRoot "$sr"
$load
LoadModule downloadtoken_module "$sr/../.libs/mod_downloadtoken.so"
TypesConfig /etc/mime.types

Listen 127.0.0.1:$port
ServerName 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$elog"
LogLevel notice
DefaultRuntimeDir "$dir"
DocumentRoot "$doc"
Timeout 30
KeepAlive On
# %U: the path without the query, where the token is.
LogFormat "%{%s}t.%{usec_frac}t %P %>s %m %U %D" dt_load
CustomLog "$alog" dt_load

$mpm
$self->{main}

<Location /status>
    SetHandler downloadtoken-status
    Require ip 127.0.0.1
</Location>
<Location /callrec/loginservlet>
    SetHandler downloadtoken-login
    AuthUserFile "$sr/conf/dt-users.htpasswd"
</Location>
<Location /callrec/logoutservlet>
    SetHandler downloadtoken-logout
</Location>
<Location /callrec/downloadtoken>
    SetHandler downloadtoken-issue
$self->{issue}
</Location>
<Location /callrec/sendcallfile.mp3>
    SetHandler downloadtoken-redeem
    DownloadTokenCallFile 1 "$doc/media/{id}.mp3"
$self->{redeem}
</Location>
<Directory "$doc/media">
    AuthType DownloadToken
    Require valid-user
</Directory>
EOF
    close $fh or die $self->conf_file . ": $!";
}

sub read_pid
{
    my $file = shift;
    open my $fh, '<', $file or return 0;
    my $pid = <$fh> // '';
    close $fh;
    return $pid =~ /^(\d+)/ ? $1 : 0;
}

sub wait_until
{
    my ($cond, $timeout) = @_;
    my $end = Time::HiRes::time() + $timeout;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.05);
    }
    return $cond->() ? 1 : 0;
}

sub httpd_cmd
{
    my ($self, @args) = @_;
    return "$self->{httpd} -d $self->{serverroot} -f " . $self->conf_file
        . ' ' . join(' ', @args) . ' >>' . $self->out_file . ' 2>&1';
}

# Starts httpd on a new free port (a port taken between the choice and the
# bind gets another try) and waits until /status answers.  Returns 1, or
# 0 with the reason in why().
sub start
{
    my $self = shift;
    die "DTServer: already running ($self->{pid})" if $self->{pid};
    for my $try (1 .. 3) {
        $self->{port} = free_port();
        $self->write_conf;
        unlink "$self->{dir}/httpd.pid";
        if (system($self->httpd_cmd) != 0) {
            $self->{why} = 'httpd did not start; see ' . $self->out_file;
            next;
        }
        wait_until(sub {
            $self->{pid} = read_pid("$self->{dir}/httpd.pid")
        }, 20);
        if (!$self->{pid}) {
            $self->{why} = 'no pid file; see ' . $self->error_log;
            next;
        }
        $running{$self->{pid}} = $$;
        return 1 if wait_until(sub { $self->answers }, 20);
        $self->{why} = "the server does not answer on $self->{port}";
        $self->stop;
    }
    return 0;
}

sub answers
{
    my $self = shift;
    my $r = $self->get('/status', timeout => 5);
    return ($r->{code} // 0) == 200;
}

# How many times the error log says the server (re)started serving.
sub generations
{
    my $self = shift;
    open my $fh, '<', $self->error_log or return 0;
    my $n = grep { /resuming normal operations/ } <$fh>;
    close $fh;
    return $n;
}

# A graceful restart, as an operator does it (`apache2 -k graceful`, which
# checks the configuration and sends SIGUSR1 to the parent); returns once
# the new generation runs (the error log says so) and answers.
sub graceful
{
    my ($self, %o) = @_;
    my $n = $self->generations;
    if ($o{signal}) {
        kill USR1 => $self->{pid} or return 0;
    }
    elsif (system($self->httpd_cmd('-k graceful')) != 0) {
        $self->{why} = 'apache2 -k graceful failed; see ' . $self->out_file;
        return 0;
    }
    return wait_until(sub { $self->generations > $n && $self->answers }, 30);
}

# A clean stop (SIGTERM to the parent), as `apache2 -k stop`; returns once
# the parent is gone (it writes the snapshot after its children are).
sub stop
{
    my $self = shift;
    my $pid = $self->{pid} or return 0;
    kill TERM => $pid or do { $self->{pid} = 0; return 0 };
    my $gone = wait_until(sub { !kill(0, $pid) }, 30);
    if ($gone) {
        $self->{pid} = 0;
        delete $running{$pid};
    }
    return $gone;
}

sub DESTROY
{
    my $self = shift;
    return unless $self->{pid} && $self->{owner} && $self->{owner} == $$;
    kill TERM => $self->{pid};
    delete $running{$self->{pid}};
}

END {
    for my $pid (keys %running) {
        kill TERM => $pid if $running{$pid} == $$;
    }
}

# The number of distinct server processes (%P) in the access log.
sub processes_seen
{
    my $self = shift;
    open my $fh, '<', $self->access_log or return 0;
    my %pid;
    while (<$fh>) {
        $pid{$1} = 1 if /^\S+ (\d+) /;
    }
    close $fh;
    return scalar keys %pid;
}

# Lines of the error log that say something went wrong: a child that
# died, a module error, httpd's own errors.  Our lines at notice level
# (store warnings) and httpd's restart notices are not counted.
sub log_problems
{
    my $self = shift;
    open my $fh, '<', $self->error_log or return ("no error log: $!");
    my @bad = grep {
        /exit signal|\[[\w:]*(?:error|crit|alert|emerg)\]|segfault/
    } <$fh>;
    close $fh;
    return @bad;
}

# ---- forked clients released together ---------------------------------

# clients(N, child => CODE, during => CODE, dir => DIR, timeout => S)
#   -> ([lines] x N)
# Forks N clients.  Each runs child->(k, ready, tick): it prepares (e.g.
# connects), calls ready->() which blocks until every client is ready and
# the parent releases them all at once, then works, calling tick->() for
# each step done, and returns its result lines.  The parent runs
# during->(ticks) after the release, where ticks->() is the number of
# steps done so far.  A client taking more than `timeout` seconds (60)
# is killed.  Result lines go through DIR/client.K.
sub clients
{
    my ($n, %o) = @_;
    pipe(my $ready_r, my $ready_w) or die "pipe: $!";
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $tick_r, my $tick_w) or die "pipe: $!";
    my $dir = $o{dir};
    my $timeout = $o{timeout} || 60;
    my @pids;
    for my $k (1 .. $n) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $_ for $ready_r, $go_w, $tick_r;
            alarm $timeout;
            my $ready = sub {
                syswrite $ready_w, 'r';
                my $x;
                1 while !defined sysread($go_r, $x, 1) && $!{EINTR};
            };
            my $tick = sub { syswrite $tick_w, '.'; };
            my @lines = eval { $o{child}->($k, $ready, $tick) };
            push @lines, "DIED $@" if $@;
            if (open my $fh, '>', "$dir/client.$k") {
                print $fh map { "$_\n" } @lines;
                close $fh;
            }
            # _exit: no END blocks or destructors of Test::More in a child.
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $_ for $ready_w, $go_r, $tick_w;

    my $sel = IO::Select->new($ready_r);
    my ($got, $deadline) = (0, time + 30);
    while ($got < $n && time < $deadline) {
        next unless $sel->can_read(1);
        my $m = sysread $ready_r, my $buf, 64;
        last unless $m;
        $got += $m;
    }
    close $go_w;    # EOF for every client at once: go

    my $ticks = 0;
    my $tsel = IO::Select->new($tick_r);
    my $drain = sub {
        while ($tsel->can_read(0)) {
            my $m = sysread $tick_r, my $buf, 4096;
            last unless $m;
            $ticks += $m;
        }
        return $ticks;
    };
    $o{during}->($drain) if $o{during};
    my %left = map { $_ => 1 } @pids;
    $deadline = time + $timeout + 10;
    while (%left && time < $deadline) {
        $drain->();
        for my $pid (keys %left) {
            delete $left{$pid} if waitpid($pid, POSIX::WNOHANG()) == $pid;
        }
        sleep 0.01 if %left;
    }
    kill KILL => keys %left;
    waitpid $_, 0 for keys %left;

    my @out;
    for my $k (1 .. $n) {
        my @l;
        if (open my $fh, '<', "$dir/client.$k") {
            chomp(@l = <$fh>);
            close $fh;
            unlink "$dir/client.$k";
        }
        push @out, \@l;
    }
    return @out;
}

# ---- the client --------------------------------------------------------

# connect() -> socket, or undef with $! set
sub connect
{
    my ($self, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port},
                                  Proto => 'tcp',
                                  Timeout => $o{timeout} || 10);
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1) if $s;
    return $s;
}

# exchange(SOCKET, METHOD, PATH, cookie => ID, form => STRING,
#          timeout => S) -> reply
# The reply: {code, head (hash, lower-case names), body, error, t0, t1}
#   error: undef for a whole HTTP reply, else one of
#     connect   the connection was refused or timed out
#     reset     ECONNRESET (or EPIPE) while sending or reading
#     closed    the server closed the connection before a status line
#     truncated fewer body bytes than Content-Length
#     timeout   no byte for `timeout` seconds
#     garbage   not an HTTP reply
# t0 is taken just before the request's first byte is written, t1 after
# the last byte of the reply was read.
sub exchange
{
    my ($self, $s, $method, $path, %o) = @_;
    my $timeout = $o{timeout} || 30;
    my $r = { code => 0, head => {}, body => '', error => undef };
    $r->{t0} = Time::HiRes::time();
    if (!$s) {
        $r->{error} = 'connect';
        $r->{t1} = Time::HiRes::time();
        return $r;
    }
    my $req = "$method $path HTTP/1.0\r\nHost: 127.0.0.1:$self->{port}\r\n"
        . "User-Agent: dt-load/1\r\n";
    $req .= "Cookie: JSESSIONID=$o{cookie}\r\n" if defined $o{cookie};
    if (defined $o{form}) {
        $req .= "Content-Type: application/x-www-form-urlencoded\r\n"
            . 'Content-Length: ' . length($o{form}) . "\r\n";
    }
    $req .= "\r\n" . ($o{form} // '');
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $s, $req, length($req) - $off, $off;
        if (!defined $n) {
            next if $!{EINTR};
            $r->{error} = 'reset';
            $r->{errno} = "$!";
            last;
        }
        $off += $n;
    }
    my $buf = '';
    my $sel = IO::Select->new($s);
    while (!$r->{error}) {
        if (!$sel->can_read($timeout)) {
            $r->{error} = 'timeout';
            last;
        }
        my $n = sysread $s, $buf, 65536, length $buf;
        if (!defined $n) {
            next if $!{EINTR};
            # A reply read whole before the reset still counts as read.
            $r->{error} = 'reset';
            $r->{errno} = "$!";
            last;
        }
        last if $n == 0;
    }
    close $s;
    $r->{t1} = Time::HiRes::time();
    # A reply read whole counts, even if a reset followed it; otherwise
    # the reset (or timeout) is what happened.
    my $failed = $r->{error};
    $r->{error} = undef;
    my $end = index $buf, "\r\n\r\n";
    if ($buf eq '') {
        $r->{error} = $failed // 'closed';
        return $r;
    }
    if ($buf !~ m{\AHTTP/1\.[01] (\d{3}) } || $end < 0) {
        $r->{error} = $failed // 'garbage';
        return $r;
    }
    $r->{code} = $1;
    my @lines = split /\r\n/, substr($buf, 0, $end);
    shift @lines;
    for (@lines) {
        $r->{head}{lc $1} = $2 if /^([^:]+):\s*(.*?)\s*$/;
    }
    $r->{body} = substr $buf, $end + 4;
    my $cl = $r->{head}{'content-length'};
    if (defined $cl) {
        $r->{error} = $failed // 'truncated' if length($r->{body}) < $cl;
    }
    else {
        $r->{error} = $failed;
    }
    return $r;
}

# request(METHOD, PATH, %o): connect and exchange.
sub request
{
    my ($self, $method, $path, %o) = @_;
    return $self->exchange($self->connect(%o), $method, $path, %o);
}

sub get { my $self = shift; return $self->request(GET => @_); }

# The status report as a hash (empty when it does not answer).
sub status
{
    my $self = shift;
    my $r = $self->get('/status');
    return {} unless $r->{code} == 200;
    my %s;
    for my $line (split /\r?\n/, $r->{body}) {
        $s{$1} = $2 if $line =~ /^([\w-]+):\s*(.*?)\s*$/;
    }
    return \%s;
}

# login() -> session id or undef
sub login
{
    my ($self, %o) = @_;
    my $r = $self->request(POST => '/callrec/loginservlet',
                           form => "loginname=" . ($o{user} || $USER)
                               . '&password=' . ($o{pass} || $PASSWORD));
    return $1 if $r->{code} == 200
        && $r->{body} =~ /<ok sessionid="([0-9A-F]{32})"/;
    return undef;
}

sub logout
{
    my ($self, $id) = @_;
    return $self->request(POST => '/callrec/logoutservlet', cookie => $id,
                          form => '');
}

# issue(SESSION, call => ID) -> (token or undef, reply)
sub issue
{
    my ($self, $id, %o) = @_;
    my $call = $o{call} || 1165;
    my $r = $self->request(GET => "/callrec/downloadtoken;jsessionid=$id"
                           . "?id_call%5B%5D=$call&type=1&action=download",
                           %o);
    my $token;
    $token = $1 if $r->{code} == 200
        && $r->{body} =~ /\A\Q$XML_DECL\E<reply>([A-Za-z0-9]+)<\/reply>\n\z/;
    return ($token, $r);
}

sub redeem_path { return "/callrec/sendcallfile.mp3?token=$_[1]"; }

# The error code of an <error> reply, or undef.
sub error_code
{
    my $r = pop;
    return undef unless $r->{code} == 200
        && ($r->{head}{'content-type'} // '') =~ m{^text/xml}
        && $r->{body} =~ /\A\Q$XML_DECL\E<error\ code="([a-z-]+)">
                          [^<]*<\/error>\n\z/x;
    return $1;
}

# What a redemption's reply is: 'served' (exactly the file's bytes),
# 'refused:CODE', 'http:NNN', 'error:KIND' or 'other' (a 200 that is
# neither the file nor an error reply).
sub classify
{
    my ($self, $r, $want) = @_;
    return "error:$r->{error}" if $r->{error};
    return "http:$r->{code}" if $r->{code} != 200;
    my $code = error_code($r);
    return "refused:$code" if defined $code;
    return 'served' if defined $want && $r->{body} eq $want
        && ($r->{head}{'content-type'} // '') eq 'audio/mpeg';
    return 'other';
}

# Issues $n tokens in the session, one after the other; stops at the
# first failure, which it reports with diag().
sub issue_many
{
    my ($self, $id, $n) = @_;
    my @t;
    for (1 .. $n) {
        my ($t, $r) = $self->issue($id);
        if (!defined $t) {
            Test::More::diag('issue failed: ' . summary($r));
            last;
        }
        push @t, $t;
    }
    return @t;
}

# A short, printable account of a reply for diagnostics.
sub summary
{
    my $r = pop;
    my $body = substr $r->{body} // '', 0, 120;
    $body =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return sprintf 'error %s%s, HTTP %s, %d bytes "%s"',
        $r->{error} // 'none', $r->{errno} ? " ($r->{errno})" : '',
        $r->{code}, length($r->{body} // ''), $body;
}

# The scale of a stress run: DT_STRESS_SECONDS from the environment, or
# from `t/TEST -defines DT_STRESS_SECONDS=N` (build-aux/apache-test.sh
# runs t/TEST with an empty environment, so build-aux/stress.sh passes it
# that way); 0 for the ordinary, bounded run.
sub stress_seconds
{
    my $n = $ENV{DT_STRESS_SECONDS};
    if (!defined $n) {
        my $d = Apache::Test::vars('defines') // '';
        $n = $1 if $d =~ /\bDT_STRESS_SECONDS=(\d+)/;
    }
    return defined $n && $n =~ /^\d+$/ ? $n + 0 : 0;
}

1;
