#!/usr/bin/perl
# cgdiff.pl: where a token issue's instructions go, per request, next to
# a tiny static request's, from the four callgrind runs of bench.sh.
#
# usage: cgdiff.pl N STATIC_N STATIC_2N ISSUE_N ISSUE_2N [ROWS]
# Each cost is (run at 2N - run at N) / N, inclusive of callees, so the
# start-up and the stop cancel out; rows are sorted by how much more the
# issue spends than the static request.
use strict;
use warnings;

my ($n, @files) = @ARGV[0 .. 4];
my $rows = $ARGV[5] || 25;

sub load
{
    my ($file) = @_;
    my %cost;
    open(my $fh, '-|', 'callgrind_annotate', '--inclusive=yes',
         '--auto=no', '--threshold=100', $file) or die "callgrind_annotate";
    while (<$fh>) {
        next unless /^\s*([\d,]+) \([^)]*\)\s+(\S.*)$/;
        my ($ir, $fn) = ($1, $2);
        $ir =~ tr/,//d;
        # [file]:function [object]; keep the function, drop recursion
        # marks; a function listed twice (with and without its file) has
        # its larger count taken
        next unless $fn =~ /:([A-Za-z_]\w*)(?:'\d+)?(?: \[|$)/;
        $cost{$1} = $ir if !exists $cost{$1} || $ir > $cost{$1};
    }
    close($fh);
    return \%cost;
}

# callgrind_annotate shortens paths under its working directory, and
# lists a function once more under the shortened name: work from /.
my @abs = map { m{^/} ? $_ : "$ENV{PWD}/$_" } @files;
chdir('/') or die "chdir /";
my ($s1, $s2, $i1, $i2) = map { load($_) } @abs;
my %all = map { $_ => 1 } keys %$s1, keys %$s2, keys %$i1, keys %$i2;
my @table;
for my $fn (keys %all) {
    next if $fn =~ /^(main|below|ap_run_mpm|ap_process_connection|
                     ap_run_process_connection|__libc_start\w*)$/x;
    my $s = (($s2->{$fn} || 0) - ($s1->{$fn} || 0)) / $n;
    my $i = (($i2->{$fn} || 0) - ($i1->{$fn} || 0)) / $n;
    push @table, [$i - $s, $s, $i, $fn];
}
@table = sort { $b->[0] <=> $a->[0] } @table;
printf "  %9s %9s %9s  %s\n", 'issue-st', 'static', 'issue',
    'function (instructions per request, inclusive)';
for my $row (@table[0 .. $rows - 1]) {
    last unless defined $row;
    printf "  %9.0f %9.0f %9.0f  %s\n", @$row;
}
