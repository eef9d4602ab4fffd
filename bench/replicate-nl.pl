#!/usr/bin/perl
# Helpers of bench/replicate.sh (kernel lab): a timestamping listener on the XFRM SA and policy
# groups, and a timer for commands. Perl, because perl-base is in every guest and it starts in
# a fraction of node's time.
#
#   perl replicate-nl.pl listen --out FILE [--groups sa,policy] [--until-sa N] [--until-policy N]
#                               [--timeout S] [--ready FILE]
#       Joins the groups, touches --ready, and records every NEWSA (by SPI) and every
#       NEWPOLICY/UPDPOLICY until it has seen --until-sa NEWSAs and --until-policy policy
#       messages (0: no condition), until --timeout seconds, or SIGTERM. Then writes FILE:
#         sa SPI_HEX MS           one per NEWSA, MS = epoch ms (3 decimals) of the wake-up that read it
#         count sa|policy N       NEWSAs and policy messages seen
#         last sa|policy MS       when the last of them was read
#         first sa|policy MS
#         enobufs N               receive-buffer overruns (messages lost to the listener)
#         type T N                every message type seen, with its count
#         end reached|timeout|signal
#   perl replicate-nl.pl tee --out FILE --match STRING=STAMP [--match ...] [--stdout] [--longest-gap GAP]
#       Copies stdin to --out (and to stdout with --stdout); when the first line containing
#       STRING has been read, writes `MS BYTES` to STAMP: the time it was read and the bytes
#       read up to the end of that line. As `tee`, with a clock: when a stream's hello and its
#       snapshot were written out (the reader takes them as they come, 64 KiB at a time).
#       --longest-gap: once every match was found, writes to GAP the longest time in ms
#       between two reads until then (the stream's longest silence, what a receiver's
#       heartbeat watchdog sees).
#   perl replicate-nl.pl time OUT CMD ARGS...
#       Runs CMD (stdout inherited) and appends `START_MS END_MS STATUS` (epoch ms) to OUT.
#   perl replicate-nl.pl stamp OUT CMD ARGS...
#       Writes `START_MS PID` to OUT, then execs CMD (a start time for a long-running command;
#       PID is then CMD's).
#
# One clock reading per wake-up, not per message: in user-mode Linux the clock is a system
# call (no vDSO), and messages read in one wake-up arrived while the listener waited for the
# CPU, so a reading each would say nothing more.
use strict;
use warnings;
use Socket;
use Time::HiRes qw(time);
use Errno qw(EAGAIN EINTR ENOBUFS);
use Getopt::Long qw(GetOptionsFromArray);

my $mode = shift @ARGV // die "usage: replicate-nl.pl listen|tee|time|stamp ...\n";
my $ms = sub { sprintf '%.3f', time() * 1000 };
sub write_all {
	my ($fh, $buf) = @_;
	for (my $at = 0; $at < length $buf;) {
		my $n = syswrite($fh, $buf, length($buf) - $at, $at);
		die "write: $!\n" unless defined $n;
		$at += $n;
	}
}

if ($mode eq 'time') {
	my $out = shift @ARGV;
	my $t0 = $ms->();
	my $status = system { $ARGV[0] } @ARGV;
	my $t1 = $ms->();
	open(my $f, '>>', $out) or die "$out: $!\n";
	printf $f "%s %s %d\n", $t0, $t1, $status == -1 ? 127 : $? >> 8;
	close $f;
	exit 0;
}
if ($mode eq 'stamp') {
	my $out = shift @ARGV;
	open(my $f, '>', $out) or die "$out: $!\n";
	print $f $ms->(), " $$\n";
	close $f;
	exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";
}
if ($mode eq 'tee') {
	my ($out, @match, $stdout, $gap_file);
	GetOptionsFromArray(\@ARGV, 'out=s' => \$out, 'match=s' => \@match, 'stdout' => \$stdout, 'longest-gap=s' => \$gap_file)
		&& $out && @match or die "tee: --out and --match STRING=FILE are required\n";
	open(my $f, '>', $out) or die "$out: $!\n";
	# Per match: its string, its stamp file, and its state: 0 looking for it (it may straddle
	# two reads: carry holds the end of the last one), 1 found and looking for the end of its
	# line, 2 done.
	my @todo = map { /^(.+)=([^=]+)$/ or die "tee: --match $_: not STRING=FILE\n"; { match => $1, file => $2, state => 0, carry => '' } } @match;
	my $total = 0;
	my ($last_read, $longest_gap) = (undef, 0);
	while (1) {
		my $n = sysread(STDIN, my $buf, 1 << 16);
		die "read: $!\n" unless defined $n;
		last if $n == 0;
		if ($gap_file) {
			my $now = time() * 1000;
			$longest_gap = $now - $last_read if defined $last_read && $now - $last_read > $longest_gap;
			$last_read = $now;
		}
		# Unbuffered: the scenario may end this process with SIGTERM at any time.
		write_all($f, $buf);
		write_all(\*STDOUT, $buf) if $stdout;
		for my $m (@todo) {
			next if $m->{state} == 2;
			my ($text, $base, $from) = ($buf, $total, 0);
			if ($m->{state} == 0) {
				($text, $base) = ($m->{carry} . $buf, $total - length $m->{carry});
				my $at = index($text, $m->{match});
				if ($at >= 0) {
					$m->{state} = 1;
					$from = $at;
				} elsif (length($m->{match}) > 1) {
					$m->{carry} = substr($text, -(length($m->{match}) - 1));
				}
			}
			if ($m->{state} == 1 && (my $nl = index($text, "\n", $from)) >= 0) {
				$m->{state} = 2;
				open(my $s, '>', $m->{file}) or die "$m->{file}: $!\n";
				printf $s "%s %d\n", $ms->(), $base + $nl + 1;
				close $s;
			}
		}
		$total += $n;
		if ($gap_file && !grep { $_->{state} != 2 } @todo) {
			open(my $g, '>', $gap_file) or die "$gap_file: $!\n";
			printf $g "%.1f\n", $longest_gap;
			close $g;
			$gap_file = undef;
		}
	}
	close $f;
	exit 0;
}
die "unknown mode $mode\n" unless $mode eq 'listen';

my ($out, $ready);
my ($groups, $until_sa, $until_policy, $timeout) = ('sa', 0, 0, 120);
GetOptionsFromArray(\@ARGV, 'out=s' => \$out, 'groups=s' => \$groups, 'until-sa=i' => \$until_sa,
	'until-policy=i' => \$until_policy, 'timeout=f' => \$timeout, 'ready=s' => \$ready) or die "bad options\n";
die "--out is required\n" unless $out;

# XFRMNLGRP_SA = 3, XFRMNLGRP_POLICY = 4 (include/uapi/linux/xfrm.h): bit (group - 1).
my %group_bit = (sa => 3, policy => 4);
my $mask = 0;
for my $g (split /,/, $groups) {
	die "unknown group $g\n" unless $group_bit{$g};
	$mask |= 1 << ($group_bit{$g} - 1);
}
socket(my $s, 16, SOCK_RAW, 6) or die "socket(AF_NETLINK, NETLINK_XFRM): $!\n";
# SO_RCVBUFFORCE (33, root): 1,000 NEWSAs with keys arrive faster than the listener runs.
setsockopt($s, SOL_SOCKET, 33, pack('i', 64 << 20)) or die "SO_RCVBUFFORCE: $!\n";
bind($s, pack('S S L L', 16, 0, 0, $mask)) or die "bind: $!\n";
if ($ready) { open(my $f, '>', $ready) or die "$ready: $!\n"; close $f; }

my $stop = '';
$SIG{TERM} = $SIG{INT} = sub { $stop = 'signal' };
my (@sa, %count, %first, %last, %types);
my $enobufs = 0;
my $end = time + $timeout;
my $done = sub {
	($until_sa || $until_policy) && ($count{sa} // 0) >= $until_sa && ($count{policy} // 0) >= $until_policy;
};
until ($stop) {
	if ($done->()) { $stop = 'reached'; last }
	if (time >= $end) { $stop = 'timeout'; last }
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	next unless select($rin, undef, undef, 0.2);
	my $now = $ms->();
	# Drain what is queued without waiting (MSG_DONTWAIT = 0x40).
	while (1) {
		my $buf;
		unless (defined(recv($s, $buf, 1 << 16, 0x40))) {
			if ($! == ENOBUFS) { $enobufs++; next }
			last if $! == EAGAIN || $! == EINTR;
			die "recv: $!\n";
		}
		my $off = 0;
		while ($off + 16 <= length $buf) {
			my ($len, $type) = unpack('L S', substr($buf, $off, 6));
			last if $len < 16 || $off + $len > length $buf;
			$types{$type}++;
			my $kind;
			# XFRM_MSG_NEWSA = 16: struct xfrm_usersa_info starts with the selector (56 bytes),
			# then xfrm_id: daddr (16), spi (4, network order).
			if ($type == 16 && $len >= 16 + 76) {
				push @sa, sprintf('sa 0x%08x %s', unpack('N', substr($buf, $off + 16 + 72, 4)), $now);
				$kind = 'sa';
			} elsif ($type == 19 || $type == 25) {    # XFRM_MSG_NEWPOLICY, XFRM_MSG_UPDPOLICY
				$kind = 'policy';
			}
			if ($kind) {
				$count{$kind}++;
				$first{$kind} //= $now;
				$last{$kind} = $now;
			}
			$off += ($len + 3) & ~3;
		}
	}
}
open(my $f, '>', $out) or die "$out: $!\n";
print $f "$_\n" for @sa;
for my $k ('sa', 'policy') {
	printf $f "count %s %d\n", $k, $count{$k} // 0;
	printf $f "first %s %s\n", $k, $first{$k} if defined $first{$k};
	printf $f "last %s %s\n", $k, $last{$k} if defined $last{$k};
}
print $f "enobufs $enobufs\n";
print $f "type $_ $types{$_}\n" for sort { $a <=> $b } keys %types;
print $f "end $stop\n";
close $f;
