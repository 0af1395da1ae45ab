# Races on the store, under each MPM: a private server per MPM (prefork
# with four to sixteen children, worker and event with two or more
# processes of eight threads), built by t/lib/DTServer.pm, and forked
# clients that connect first and are then released together (each waits
# for EOF on one pipe that the parent closes).
#
#   (a) one token, eight clients at once (half GET, half POST with the
#       token in a form body): exactly one gets the file
#       (byte for byte), seven get unknown-token, nobody a 5xx; 50 tokens
#   (b) eight clients issue at once, into one shared session and into
#       eight sessions: every token distinct, counted and stored (the
#       shared session's logout frees exactly its tokens)
#   (c) a logout racing the redemption of its session's tokens: no
#       redemption that started after the logout's reply returned is
#       served, and every token left afterwards is refused
#   (d) eight clients fill a store of 200 token slots: exactly 200
#       succeed, the rest are store-full, and all 200 are then served
#
# DT_STRESS_SECONDS=N (build-aux/stress.sh) repeats the rounds for about
# N seconds in all and prints what it counted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use Apache::Test qw(-withtestmore);
use DTServer ();
use DTTest ();

my @MPMS = qw(prefork worker event);
my $CLIENTS = 8;
my $TOKENS = 50;          # (a): tokens, each raced by $CLIENTS clients
my $EACH = 12;            # (b): tokens per client
my $LOGOUT_ROUNDS = 3;    # (c): sessions logged out under redemption
my $LOGOUT_TOKENS = 60;   # (c): tokens of each such session
my $REDEEMERS = 6;        # (c): clients redeeming them
my $CAPACITY = 200;       # (d): DownloadTokenTokenCapacity

my $STRESS = DTServer::stress_seconds();

# A client that hangs must fail this file, not hold up the suite.
# An alarm dies (rather than kills), so the private servers are stopped.
$SIG{ALRM} = sub { die "timed out\n" };
alarm($STRESS ? $STRESS + 300 : 170);

my $media = Apache::Test::vars('documentroot') . '/media';
my $FILE = DTTest::slurp("$media/1165.mp3");
my %count = map { $_ => 0 } qw(issued served refused double errors http5xx
                               rounds);

for my $mpm (@MPMS) {
    my $srv = DTServer->new(
        name   => "race-$mpm",
        mpm    => $mpm,
        main   => "DownloadTokenTokenCapacity $CAPACITY\n"
                  . "DownloadTokenSnapshotFile none\n",
        # Only the table may say store-full in (d), not a session's cap.
        issue  => "    DownloadTokenMaxPerSession 1000\n",
    );
    $srv->clean;
    if (!ok($srv->start, "$mpm: the private server starts")) {
        diag($srv->why);
        next;
    }
    my $until = time + ($STRESS ? $STRESS / @MPMS : 0);
    my $round = 0;
    do {
        $round++;
        $count{rounds}++;
        race_redeem($srv, $mpm, $round);
        race_issue($srv, $mpm, $round);
        race_logout($srv, $mpm, $round);
        race_full($srv, $mpm, $round);
    } while (time < $until);
    # The store is shared by processes, not only by threads of one.
    my $procs = $srv->processes_seen;
    my $want = $mpm eq 'prefork' ? 4 : 2;
    ok($procs >= $want, "$mpm: $procs server processes answered (at least "
       . "$want)");
    ok($srv->stop, "$mpm: the private server stops");
    my @bad = $srv->log_problems;
    ok(!@bad, "$mpm: no crash or error in the error log")
        or diag(first_lines(@bad));
}

diag(sprintf 'race: %d rounds; tokens issued %d, served %d, refused %d, '
     . 'double redemptions %d, 5xx %d, connection errors %d',
     @count{qw(rounds issued served refused double http5xx errors)});
done_testing();

sub count_reply
{
    my $class = shift;
    $count{served}++ if $class eq 'served';
    $count{refused}++ if $class =~ /^refused:/;
    $count{errors}++ if $class =~ /^error:/;
    $count{http5xx}++ if $class =~ /^http:5/;
}

# A fresh session, or a failed test.
sub session
{
    my ($srv, $name) = @_;
    my $id = $srv->login;
    ok(defined $id, "$name: logs in") unless defined $id;
    return $id // 'none';
}

# Issues $n tokens in the session, one after the other.
sub tokens
{
    my ($srv, $id, $n) = @_;
    my @t = $srv->issue_many($id, $n);
    $count{issued} += @t;
    return @t;
}

sub first_lines
{
    my @l = @_;
    chomp @l;
    my $more = @l > 10 ? "\n... and " . (@l - 10) . " more" : "";
    return join("\n", @l[0 .. ($#l < 9 ? $#l : 9)]) . $more;
}

# ---- (a) one token, eight clients --------------------------------------

sub race_redeem
{
    my ($srv, $mpm, $round) = @_;
    my $name = "$mpm (a)";
    $name .= " round $round" if $round > 1;
    my $before = $srv->status;
    my $id = session($srv, $name);
    my @tokens = tokens($srv, $id, $TOKENS);
    my (@once, @bad, @classes);
    for my $t (@tokens) {
        my @res = DTServer::clients($CLIENTS, dir => $srv->dir, child => sub {
            my ($k, $ready) = @_;
            my $s = $srv->connect;
            $ready->();
            # Half by GET with the token in the query, half by POST with
            # it in a form body: both take it in the same critical section.
            my $r = $k % 2
                ? $srv->exchange($s, GET => $srv->redeem_path($t))
                : $srv->exchange($s, POST => '/callrec/sendcallfile.mp3',
                                 form => "token=$t");
            my $class = $srv->classify($r, $FILE);
            return $class eq 'other' || $class =~ /^(http|error)/
                ? "$class " . DTServer::summary($r) : $class;
        });
        my @c = map { $_->[0] // 'no-result' } @res;
        count_reply($_) for @c;
        my $served = grep { $_ eq 'served' } @c;
        push @once, $t if $served == 1;
        $count{double}++ if $served > 1;
        push @bad, grep { $_ ne 'served' && $_ ne 'refused:unknown-token' }
            @c;
        push @classes, "$t: served $served" if $served != 1;
    }
    is(scalar @tokens, $TOKENS, "$name: $TOKENS tokens issued");
    is(scalar @once, scalar @tokens,
       "$name: each token served to exactly one of $CLIENTS racing "
       . 'clients') or diag(first_lines(@classes));
    ok(!@bad, "$name: every other client got unknown-token (no 5xx, "
       . 'no connection error)') or diag(first_lines(@bad));
    my $after = $srv->status;
    is(($after->{'tokens-taken'} // 0) - ($before->{'tokens-taken'} // 0),
       scalar @tokens, "$name: tokens-taken rose by one per token");
    is($after->{'tokens-live'}, $before->{'tokens-live'},
       "$name: tokens-live back to its start value");
    is($after->{consistent}, 'yes', "$name: consistent: yes");
    $srv->logout($id);
}

# ---- (b) eight clients issue at once -----------------------------------

sub race_issue
{
    my ($srv, $mpm, $round) = @_;
    my $name = "$mpm (b)";
    $name .= " round $round" if $round > 1;
    my $total = $CLIENTS * $EACH;

    # One session shared by every client: its list of tokens is what a
    # lost update would break.
    my $before = $srv->status;
    my $shared = session($srv, "$name shared");
    my @tok = @{ (issue_race($srv, sub { $shared }))[0] };
    my %u = map { $_ => 1 } @tok;
    is(scalar @tok, $total, "$name: one shared session, $CLIENTS clients x "
       . "$EACH tokens, every reply a token");
    is(scalar keys %u, scalar @tok, "$name: shared session: all distinct");
    my $mid = $srv->status;
    is($mid->{'tokens-issued'} - $before->{'tokens-issued'}, $total,
       "$name: shared session: tokens-issued rose by $total");
    is($mid->{'tokens-live'} - $before->{'tokens-live'}, $total,
       "$name: shared session: tokens-live rose by $total");
    is($mid->{consistent}, 'yes', "$name: shared session: consistent: yes");
    $srv->logout($shared);
    is($srv->status->{'tokens-live'}, $before->{'tokens-live'},
       "$name: shared session: its logout freed exactly its tokens");
    my @left = grep {
        $srv->classify($srv->get($srv->redeem_path($_)), $FILE)
            ne 'refused:unknown-token'
    } @tok;
    ok(!@left, "$name: shared session: after logout every token is "
       . 'unknown-token') or diag(first_lines(@left));
    $count{refused} += @tok - @left;

    # Eight sessions: the table itself, from every server process.
    $before = $srv->status;
    my ($t8, $ids8) = issue_race($srv, sub { $srv->login });
    my @tok8 = @$t8;
    %u = map { $_ => 1 } @tok8;
    is(scalar @tok8, $total, "$name: eight sessions, every reply a token");
    is(scalar keys %u, scalar @tok8, "$name: eight sessions: all distinct");
    $mid = $srv->status;
    is($mid->{'tokens-issued'} - $before->{'tokens-issued'}, $total,
       "$name: eight sessions: tokens-issued rose by $total");
    is($mid->{'tokens-live'} - $before->{'tokens-live'}, $total,
       "$name: eight sessions: tokens-live rose by $total");
    is($mid->{consistent}, 'yes', "$name: eight sessions: consistent: yes");
    my @not = grep {
        my $c = $srv->classify($srv->get($srv->redeem_path($_)), $FILE);
        count_reply($c);
        $c ne 'served';
    } @tok8;
    ok(!@not, "$name: eight sessions: every token is stored (served once)")
        or diag(first_lines(@not));
    is($srv->status->{'tokens-live'}, $before->{'tokens-live'},
       "$name: eight sessions: tokens-live back after the redemptions");
    $srv->logout($_) for @$ids8;
}

# $CLIENTS clients, released together, each issue $EACH tokens in the
# session session->() gives it (called in the client, before the
# release).  Returns ([tokens], [session ids]); a reply that is not a
# token is diagnosed.
sub issue_race
{
    my ($srv, $session) = @_;
    my @res = DTServer::clients($CLIENTS, dir => $srv->dir, child => sub {
        my ($k, $ready) = @_;
        my $id = $session->() // 'none';
        $ready->();
        my @l;
        for (1 .. $EACH) {
            my ($t, $r) = $srv->issue($id);
            push @l, defined $t ? "T $t" : 'B ' . DTServer::summary($r);
        }
        push @l, "S $id";
        return @l;
    });
    my (@tok, @bad, %ids);
    for my $l (map { @$_ } @res) {
        push @tok, $1 if $l =~ /^T (\S+)/;
        push @bad, $l if $l =~ /^B /;
        $ids{$1} = 1 if $l =~ /^S ([0-9A-F]+)$/;
    }
    diag(first_lines(@bad)) if @bad;
    $count{issued} += @tok;
    return (\@tok, [sort keys %ids]);
}

# ---- (c) a logout racing redemption -------------------------------------

sub race_logout
{
    my ($srv, $mpm, $round) = @_;
    my $name = "$mpm (c)";
    $name .= " round $round" if $round > 1;
    my $before = $srv->status;
    my ($late_served, $bad, $served, $after_refused, $left_served) =
        (0, 0, 0, 0, 0);
    my (@diag, $closed_ok);
    for my $r (1 .. $LOGOUT_ROUNDS) {
        my $id = session($srv, $name);
        my @tok = tokens($srv, $id, $LOGOUT_TOKENS);
        my ($l0, $l1, $lr);
        my @res = DTServer::clients($REDEEMERS, dir => $srv->dir,
                                    child => sub {
            my ($k, $ready, $tick) = @_;
            my @mine = @tok[grep { $_ % $REDEEMERS == $k - 1 } 0 .. $#tok];
            $ready->();
            my @l;
            for my $t (@mine) {
                my $x = $srv->get($srv->redeem_path($t));
                my $c = $srv->classify($x, $FILE);
                push @l, sprintf '%s %.6f %.6f %s', $t, $x->{t0}, $x->{t1},
                    $c;
                $tick->();
            }
            return @l;
        }, during => sub {
            my $ticks = shift;
            # Log out once a third of the tokens are done: the rest race.
            my $end = time + 20;
            sleep 0.002 while $ticks->() < @tok / 3 && time < $end;
            $l0 = time;
            $lr = $srv->logout($id);
            $l1 = time;
        });
        my $closed = $lr->{code} == 200
            && $lr->{body} =~ m{<ok>Session closed\.</ok>};
        $closed_ok++ if $closed;
        push @diag, 'logout: ' . DTServer::summary($lr) unless $closed;
        my %seen;
        for my $line (map { @$_ } @res) {
            my ($t, $t0, $t1, $c) = split / /, $line, 4;
            $seen{$t} = $c;
            count_reply($c);
            if ($c eq 'served') {
                $served++;
                if ($t0 >= $l1) {
                    $late_served++;
                    push @diag, sprintf 'served %.3f s after the logout'
                        . ' returned', $t0 - $l1;
                }
            }
            elsif ($c =~ /^refused:(unknown-token|session-ended)$/) {
                $after_refused++ if $t0 >= $l1;
            }
            else {
                $bad++;
                push @diag, "redeem: $c";
            }
        }
        if (keys %seen != @tok) {
            $bad++;
            push @diag, 'tokens without a result: '
                . ($LOGOUT_TOKENS - keys %seen);
        }
        # Whatever was not served is refused now.
        for my $t (grep { ($seen{$_} // '') ne 'served' } @tok) {
            my $c = $srv->classify($srv->get($srv->redeem_path($t)), $FILE);
            count_reply($c);
            $left_served++ if $c ne 'refused:unknown-token';
        }
    }
    is($closed_ok, $LOGOUT_ROUNDS, "$name: each logout replied Session closed")
        or diag(first_lines(@diag));
    is($late_served, 0, "$name: no redemption that started after the "
       . "logout returned was served ($served served in all)")
        or diag(first_lines(@diag));
    ok($served > 0 && $after_refused > 0,
       "$name: the logout landed mid-run ($served served, $after_refused "
       . 'refused after it)');
    is($bad, 0, "$name: every reply was the file or unknown-token / "
       . 'session-ended (no 5xx, no connection error)')
        or diag(first_lines(@diag));
    is($left_served, 0, "$name: afterwards every unserved token is "
       . 'unknown-token');
    my $after = $srv->status;
    is($after->{'tokens-live'}, $before->{'tokens-live'},
       "$name: tokens-live back to its start value");
    is($after->{consistent}, 'yes', "$name: consistent: yes");
}

# ---- (d) filling the store -----------------------------------------------

sub race_full
{
    my ($srv, $mpm, $round) = @_;
    my $name = "$mpm (d)";
    $name .= " round $round" if $round > 1;
    my $before = $srv->status;
    is($before->{'tokens-live'}, 0, "$name: the store holds no token");
    my @res = DTServer::clients($CLIENTS, dir => $srv->dir, child => sub {
        my ($k, $ready) = @_;
        my $id = $srv->login // 'none';
        $ready->();
        my @l = ("S $id");
        my $full = 0;
        # Bounded: no client can have more than the whole table.
        for (1 .. $CAPACITY + 10) {
            my ($t, $r) = $srv->issue($id);
            if (defined $t) {
                # A success after a store-full would mean a freed slot.
                push @l, $full ? "A $t" : "T $t";
                next;
            }
            my $code = DTServer::error_code($r) // '';
            push @l, $code eq 'store-full'
                ? 'F' : 'B ' . DTServer::summary($r);
            last if ++$full >= 4;
        }
        return @l;
    });
    my (@tok, @bad, @ids);
    my $full = 0;
    for my $l (map { @$_ } @res) {
        push @ids, $1 if $l =~ /^S (\S+)/;
        push @tok, $1 if $l =~ /^[TA] (\S+)/;
        push @bad, $l if $l =~ /^(A|B) /;
        $full++ if $l eq 'F';
    }
    $count{issued} += @tok;
    my %u = map { $_ => 1 } @tok;
    is(scalar @tok, $CAPACITY,
       "$name: $CLIENTS clients filling the store got exactly $CAPACITY "
       . 'tokens');
    is(scalar keys %u, scalar @tok, "$name: all distinct");
    ok(!@bad && $full == 4 * $CLIENTS,
       "$name: every other reply was store-full ($full), none after the "
       . 'first') or diag(first_lines(@bad));
    my $s = $srv->status;
    is($s->{'tokens-live'}, $CAPACITY, "$name: tokens-live: $CAPACITY");
    is($s->{consistent}, 'yes', "$name: consistent: yes when full");
    # No live token was evicted to make room: each is served, once.
    my @not;
    my @got = DTServer::clients($CLIENTS, dir => $srv->dir, child => sub {
        my ($k, $ready) = @_;
        $ready->();
        return map {
            $srv->classify($srv->get($srv->redeem_path($_)), $FILE) . " $_"
        } @tok[grep { $_ % $CLIENTS == $k - 1 } 0 .. $#tok];
    });
    for my $l (map { @$_ } @got) {
        my ($c) = split / /, $l;
        count_reply($c);
        push @not, $l if $c ne 'served';
    }
    ok(!@not && @{[ map { @$_ } @got ]} == @tok,
       "$name: every one of the $CAPACITY tokens is served")
        or diag(first_lines(@not));
    $s = $srv->status;
    is($s->{'tokens-live'}, 0, "$name: the store is empty again");
    is($s->{consistent}, 'yes', "$name: consistent: yes");
    $srv->logout($_) for grep { $_ ne 'none' } @ids;
}
