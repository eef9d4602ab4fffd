#!/usr/bin/perl
# xaev kernel lab: sequence-numbered UDP flows and an ESP capture for the IKE failover scenario
# (test/lab/ike-failover.sh). Perl, not node: a process start inside UML costs 40-150 ms for perl
# and 0.5-1.7 s for node, and node cannot open packet sockets. Every time is wall-clock seconds
# (Time::HiRes), the clock charon logs with, so that the host test can put the flows, the capture
# and the daemons' logs on one time line.
#
#   flow --bind IP --to IP --port P --log FILE --stop FILE [--ready FILE --go FILE] [--interval-ms 10]
#       One UDP socket bound to IP:P; creates --ready once bound and waits for --go to exist, so
#       that both ends listen before either sends. Sends a datagram to the other end (IP --to,
#       port P) once per tick, payload: a 32-bit sequence number from 1, the tag "xaev", 56 zero bytes; receives the
#       other end's. Logs one line per event: `s SEQ TIME` (handed to the kernel), `e SEQ TIME
#       ERRNO` (refused by the kernel: not sent), `r SEQ TIME` (received). A guest that falls
#       behind by more than 5 ticks skips them instead of sending a burst. Stops sending when FILE
#       --stop exists or on SIGTERM, receives for 0.5 s more, and prints `sent=N refused=N
#       received=N`.
#   capture --dev DEV --outer IP --port P --log FILE --ready FILE --stop FILE
#       Every IPv4 packet on DEV (packet socket, both directions): ESP as `TIME o|i SPI SEQ`
#       (o: sent by IP --outer, i: any other source); the flows' UDP datagrams (port P either way)
#       seen in clear as `TIME clear SRC DST SEQ`. Creates --ready once it listens. Run it on the
#       hub's side of a link (the wire): on the node itself a tunnel-mode SA's decrypted packets
#       pass the taps of the device a second time and would look like clear text.
use strict;
use warnings;
use Socket qw(:all);
use Time::HiRes qw(time);
use Getopt::Long qw(GetOptionsFromArray);
use Errno; # %! (EAGAIN after the receive timeout)

$| = 1;
my $cmd = shift @ARGV // '';
my %o = ('interval-ms' => 10);
GetOptionsFromArray(\@ARGV, \%o, 'bind=s', 'to=s', 'port=i', 'log=s', 'stop=s', 'interval-ms=f',
	'dev=s', 'outer=s', 'ready=s', 'go=s') or die "ike-failover.pl: bad options\n";
for my $required (qw(log stop)) {
	die "ike-failover.pl $cmd: --$required is required\n" unless defined $o{$required};
}

my $stop = 0;
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };

if ($cmd eq 'flow') { flow() }
elsif ($cmd eq 'capture') { capture() }
else { die "usage: ike-failover.pl flow|capture ...\n" }

sub open_log {
	open(my $log, '>', $o{log}) or die "$o{log}: $!\n";
	return $log;
}

sub flow {
	for my $required (qw(bind to port)) {
		die "ike-failover.pl flow: --$required is required\n" unless defined $o{$required};
	}
	my $log = open_log();
	socket(my $s, AF_INET, SOCK_DGRAM, 0) or die "socket: $!\n";
	bind($s, pack_sockaddr_in($o{port}, inet_aton($o{bind}))) or die "bind $o{bind}:$o{port}: $!\n";
	if ($o{ready}) { open(my $r, '>', $o{ready}) or die "$o{ready}: $!\n"; close($r); }
	if ($o{go}) { select(undef, undef, undef, 0.01) until $stop || -e $o{go}; }
	my $to = pack_sockaddr_in($o{port}, inet_aton($o{to}));
	my $interval = $o{'interval-ms'} / 1000;
	my ($seq, $refused, $received) = (0, 0, 0);
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	my $next = time;
	my $checks = 0;
	my $end;
	until ($end && time >= $end) {
		# The stop file is looked at every 10th wake-up: a stat per packet is not free in UML. After
		# it (or SIGTERM), nothing more is sent and the other end's last packets have 0.5 s to arrive.
		$end //= time + 0.5 if $stop || (++$checks % 10 == 0 && -e $o{stop});
		my $now = time;
		if (!$end && $now >= $next) {
			$seq++;
			my $sent = send($s, pack('N a4', $seq, 'xaev') . ("\0" x 56), 0, $to);
			if (defined $sent) {
				printf $log "s %d %.6f\n", $seq, $now;
			} else {
				printf $log "e %d %.6f %d\n", $seq, $now, $! + 0;
				$refused++;
			}
			$next += $interval;
			$next = $now + $interval if $next < $now - 5 * $interval;
		}
		my $wait = ($end // $next) - time;
		my $ready = select(my $rout = $rin, undef, undef, $wait > 0 ? $wait : 0);
		next unless $ready && $ready > 0;
		while (defined(recv($s, my $buf, 2048, MSG_DONTWAIT))) {
			next unless length($buf) >= 8 && substr($buf, 4, 4) eq 'xaev';
			printf $log "r %d %.6f\n", unpack('N', $buf), time;
			$received++;
		}
	}
	close($log) or die "$o{log}: $!\n";
	print "sent=", $seq - $refused, " refused=$refused received=$received\n";
}

sub capture {
	for my $required (qw(dev outer port)) {
		die "ike-failover.pl capture: --$required is required\n" unless defined $o{$required};
	}
	my ($ETH_P_ALL, $ETH_P_IP) = (0x0003, 0x0800);
	open(my $fi, '<', "/sys/class/net/$o{dev}/ifindex") or die "ifindex of $o{dev}: $!\n";
	chomp(my $ifindex = <$fi>);
	# AF_PACKET/SOCK_DGRAM: packets without the link-layer header. ETH_P_ALL: only the taps for
	# every protocol see outgoing packets (net/core/dev.c: dev_queue_xmit_nit()).
	socket(my $s, 17, SOCK_DGRAM, unpack('n', pack('S', $ETH_P_ALL))) or die "packet socket: $!\n";
	bind($s, pack('S n i S C C a8', 17, $ETH_P_ALL, $ifindex, 0, 0, 0, '')) or die "bind $o{dev}: $!\n";
	# A slow guest must not lose packets here: the test counts them (33 = SO_RCVBUFFORCE).
	setsockopt($s, SOL_SOCKET, 33, pack('i', 8 << 20)) or die "SO_RCVBUFFORCE: $!\n";
	# Perl restarts an interrupted recv: a receive timeout lets the loop see --stop on a quiet link.
	setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack('q q', 0, 200_000)) or die "SO_RCVTIMEO: $!\n";
	my $log = open_log();
	if ($o{ready}) { open(my $r, '>', $o{ready}) or die "$o{ready}: $!\n"; close($r); }
	my $outer = inet_aton($o{outer});
	my $checks = 0;
	until ($stop) {
		last if ++$checks % 50 == 0 && -e $o{stop};
		my $pkt;
		my $from = recv($s, $pkt, 65535, 0);
		unless (defined $from) {
			last if $!{EAGAIN} && -e $o{stop};
			next;
		}
		my $now = time;
		# sockaddr_ll: family, protocol (network order), ...
		next if length($from) < 4 || unpack('x2 n', $from) != $ETH_P_IP;
		next if length($pkt) < 28 || (ord($pkt) >> 4) != 4;
		my $ihl = (ord($pkt) & 15) * 4;
		my $proto = ord(substr($pkt, 9, 1));
		next if length($pkt) < $ihl + 8;
		if ($proto == 50) {
			my ($spi, $seq) = unpack('N N', substr($pkt, $ihl, 8));
			printf $log "%.6f %s 0x%08x %d\n", $now, substr($pkt, 12, 4) eq $outer ? 'o' : 'i', $spi, $seq;
		} elsif ($proto == 17) {
			my ($sport, $dport) = unpack('n n', substr($pkt, $ihl, 4));
			next unless $sport == $o{port} || $dport == $o{port};
			my $seq = length($pkt) >= $ihl + 12 ? unpack('N', substr($pkt, $ihl + 8, 4)) : 0;
			printf $log "%.6f clear %s %s %d\n", $now, inet_ntoa(substr($pkt, 12, 4)), inet_ntoa(substr($pkt, 16, 4)), $seq;
		}
	}
	close($log) or die "$o{log}: $!\n";
}
