# The session table is bounded (DownloadTokenSessionCapacity 64 in
# t/conf/extra.conf.in): logins beyond it get store-full, exactly at the
# capacity; logging out frees the slots; expired sessions are reclaimed
# when the table is full.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use POSIX ();
use Time::HiRes qw(sleep);
use Apache::Test qw(-withtestmore);
use DTTest qw(xml req login logout status expect_reply expect_error
              set_cookies log_leaks remember t_logs);

my $CAPACITY = 64;
my $CLOSED = xml('<ok>Session closed.</ok>');

plan tests => 4 + 5 + 6 + 4 + 4 + 1;

my $s = status();
is($s->{'sessions-capacity'}, $CAPACITY, "sessions-capacity: $CAPACITY");
is($s->{'tokens-capacity'}, 50000, 'tokens-capacity: 50000 (the default)');
is($s->{consistent}, 'yes', 'consistent: yes before filling');
my $start = $s->{'sessions-live'} // -1;
ok($start >= 0 && $start < $CAPACITY,
   "sessions-live ($start) leaves room to fill");

# Logins racing from several processes against the server's several
# processes: each gets its own session, and the count stays exact.
{
    my ($kids, $each) = (8, 5);
    my $dir = t_logs();
    my @pids;
    for my $k (1 .. $kids) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            # _exit: the child must not run Test::More's END blocks.
            open my $fh, '>', "$dir/race.$k" or POSIX::_exit(1);
            for (1 .. $each) {
                my ($id) = login(user => 'guest');
                print $fh ($id // 'FAILED'), "\n";
            }
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid $_, 0 for @pids;
    my @got;
    for my $k (1 .. $kids) {
        open my $fh, '<', "$dir/race.$k" or next;
        chomp(my @l = <$fh>);
        close $fh;
        unlink "$dir/race.$k";
        push @got, @l;
    }
    my @ids = grep { /^[0-9A-F]{32}$/ } @got;
    remember(@ids);
    is(scalar @ids, $kids * $each,
       "racing: $kids processes x $each logins all succeed");
    my %u = map { $_ => 1 } @ids;
    is(scalar keys %u, scalar @ids, 'racing: every id is different');
    my $s = status();
    is($s->{'sessions-live'}, $start + @ids, 'racing: sessions-live exact');
    is($s->{consistent}, 'yes', 'racing: consistent: yes');
    my $closed = grep { logout($_)->content eq $CLOSED } @ids;
    is($closed, scalar @ids, 'racing: every session logs out');
}

# Fill the table.  Sessions left expired by earlier files are not live;
# if the module reclaims them only when full, that still lands exactly on
# the capacity.
my @ids;
my $full;
for (1 .. $CAPACITY + 5) {
    my ($id, $res) = login(user => 'guest');
    if (defined $id) {
        push @ids, $id;
        next;
    }
    $full = $res;
    last;
}
is(scalar @ids, $CAPACITY - $start,
   'logins succeed until the live sessions reach the capacity');
ok(defined $full, 'then a login fails');
expect_error($full // HTTP::Response->new(500), 'store-full',
             'that failure is store-full, without a cookie');
$s = status();
is($s->{'sessions-live'}, $CAPACITY, "status: sessions-live: $CAPACITY");
is($s->{consistent}, 'yes', 'status: consistent: yes when full');
expect_error((login(user => 'demo'))[1], 'store-full',
             'another user gets store-full as well');

# A full table still serves the sessions it has.
{
    my $last = $ids[-1] // 'none';
    my $res = req(GET => "/callrec/downloadtoken;jsessionid=$last"
                  . '?id_call[]=7&type=1&action=download');
    expect_reply($res, qr/<reply>[A-Za-z0-9]{20}<\/reply>\n\z/,
                 'a session of the full table still gets tokens');
    # One freed slot is taken by an idle-timeout session (2 s) ...
    my $freed = pop @ids;
    expect_reply(logout($freed // 'none'), $CLOSED, 'one session logs out');
    my ($short) = login(path => '/short/loginservlet');
    ok(defined $short, 'a /short session takes the freed slot');
    # ... which, once expired, is reclaimed by the next login.
    sleep 3.5;
    my ($id) = login(user => 'demo');
    ok(defined $id, 'the full table reclaims the expired session for a login');
    push @ids, $id if defined $id;
}

# Empty it again.
my $closed = grep { logout($_)->content eq $CLOSED } @ids;
is($closed, scalar @ids, 'every session of the full table logs out');
$s = status();
is($s->{'sessions-live'}, $start, 'sessions-live is back to its start value');
is($s->{consistent}, 'yes', 'consistent: yes after emptying');
my ($again) = login();
ok(defined $again && logout($again)->content eq $CLOSED,
   'login and logout work again');

my @leaks = log_leaks();
ok(!@leaks, 'no session id or token reached our error log lines')
    or diag(@leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);
