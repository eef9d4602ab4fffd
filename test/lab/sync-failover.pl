#!/usr/bin/perl
# xaev kernel lab: traffic, capture, replay and counters for the sync failover
# scenario (test/lab/sync-failover.sh). Perl, not node: a process start inside
# UML costs 40-150 ms for perl and 0.5-1.7 s for node, and node cannot open
# packet or raw IP sockets.
#
#   send    --bind IP --to IP --ports P,P [--interval-ms 10] [--count N]
#           [--pause FILE] [--stop FILE]
#       UDP from IP:4000 to every port once per tick. Waits until IP is a
#       local address (a standby sends nothing before it holds the virtual
#       address), skips ticks while FILE --pause exists, ends after N ticks
#       (0: no limit) or when --stop exists. Prints per port `sent_P=K`, and
#       `first_send=UPTIME` (guest uptime, s) when it started sending.
#   sink    --ports P,P --stop FILE           receive and discard UDP
#   capture --dev DEV --src IP[,IP...] --out FILE [--ready FILE]
#       Record every ESP packet from one of the IPs seen on DEV (packet socket,
#       both directions), in order, one line per packet:
#       `SPI SEQ HEX-OF-THE-WHOLE-IP-PACKET`. Creates --ready once it listens.
#   replay  --in FILE --spi SPI --from SEQ --to-seq SEQ [--burst 16]
#       Send the captured packets of SPI with SEQ in [from, to-seq] again, byte
#       for byte, through a raw IP socket, --burst packets per clock tick (a
#       sleep lasts at least one tick: 10 ms at HZ=100). Prints `replayed=K`.
#   counters NS
#       `ip -n NS -s xfrm state` as one line per SA:
#       `src= dst= spi= seq= seq_hi= oseq= oseq_hi= packets= replay_window= replay= failed=`
use strict;
use warnings;
use Socket qw(:all);
use Time::HiRes qw(sleep time);
use Getopt::Long qw(GetOptionsFromArray);

$| = 1;
my $cmd = shift @ARGV // '';
my %o = ('interval-ms' => 10, count => 0, burst => 16);
GetOptionsFromArray(\@ARGV, \%o, 'bind=s', 'to=s', 'ports=s', 'interval-ms=f', 'count=i', 'pause=s', 'stop=s',
	'dev=s', 'src=s', 'out=s', 'in=s', 'spi=s', 'from=i', 'to-seq=i', 'burst=i', 'ready=s') or die "bad options\n";

sub uptime { open(my $f, '<', '/proc/uptime') or return 0; my $l = <$f>; return (split ' ', $l)[0]; }

if ($cmd eq 'send') { send_loop() }
elsif ($cmd eq 'sink') { sink() }
elsif ($cmd eq 'capture') { capture() }
elsif ($cmd eq 'replay') { replay() }
elsif ($cmd eq 'counters') { counters(@ARGV) }
else { die "usage: sync-failover.pl send|sink|capture|replay|counters ...\n" }

sub send_loop {
	my @ports = split /,/, $o{ports};
	my %sent = map { $_ => 0 } @ports;
	my $stop = 0;
	$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
	socket(my $s, AF_INET, SOCK_DGRAM, 0) or die "socket: $!\n";
	setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
	# bind() to an address that is not (yet) local fails with EADDRNOTAVAIL:
	# that is the "do I hold the virtual address" test.
	until ($stop || bind($s, pack_sockaddr_in(4000, inet_aton($o{bind})))) {
		sleep(0.01);
		$stop = 1 if $o{stop} && -e $o{stop};
	}
	my $first = uptime();
	my ($ticks, $t0) = (0, time);
	while (!$stop) {
		last if $o{stop} && -e $o{stop};
		last if $o{count} && $ticks >= $o{count};
		unless ($o{pause} && -e $o{pause}) {
			for my $p (@ports) {
				$sent{$p}++ if defined send($s, pack('N', $ticks + 1) . ("\0" x 60), 0,
					pack_sockaddr_in($p, inet_aton($o{to})));
			}
		}
		$ticks++;
		my $w = $t0 + $ticks * $o{'interval-ms'} / 1000 - time;
		sleep($w) if $w > 0;
	}
	print join(' ', "first_send=$first", map { "sent_$_=$sent{$_}" } @ports), "\n";
}

sub sink {
	my @socks;
	for my $p (split /,/, $o{ports}) {
		socket(my $s, AF_INET, SOCK_DGRAM, 0) or die "socket: $!\n";
		bind($s, pack_sockaddr_in($p, INADDR_ANY)) or die "bind $p: $!\n";
		push @socks, $s;
	}
	my $stop = 0;
	$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
	my $rin = '';
	vec($rin, fileno($_), 1) = 1 for @socks;
	while (!$stop) {
		last if $o{stop} && -e $o{stop};
		select(my $rout = $rin, undef, undef, 0.2) > 0 or next;
		for (@socks) { recv($_, my $buf, 2048, MSG_DONTWAIT) if vec($rout, fileno($_), 1) }
	}
}

sub capture {
	my $ETH_P_ALL = 0x0003;
	open(my $fi, '<', "/sys/class/net/$o{dev}/ifindex") or die "ifindex of $o{dev}: $!\n";
	chomp(my $ifindex = <$fi>);
	# AF_PACKET/SOCK_DGRAM: frames without the link-layer header, outgoing ones included.
	socket(my $s, 17, SOCK_DGRAM, unpack('n', pack('S', $ETH_P_ALL))) or die "packet socket: $!\n";
	bind($s, pack('S n i S C C a8', 17, $ETH_P_ALL, $ifindex, 0, 0, 0, '')) or die "bind $o{dev}: $!\n";
	# A slow guest must not drop packets here: every one may be replayed later (33 = SO_RCVBUFFORCE).
	setsockopt($s, SOL_SOCKET, 33, pack('i', 8 << 20)) or die "SO_RCVBUFFORCE: $!\n";
	# Perl restarts an interrupted recv: a receive timeout lets SIGTERM end the loop on a quiet link.
	setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack('q q', 0, 200_000)) or die "SO_RCVTIMEO: $!\n";
	open(my $out, '>', $o{out}) or die "$o{out}: $!\n";
	$out->autoflush(1);
	if ($o{ready}) { open(my $r, '>', $o{ready}) or die "$o{ready}: $!\n"; close($r); }
	my %src = map { inet_aton($_) => 1 } split /,/, $o{src};
	my $stop = 0;
	$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
	while (!$stop) {
		defined(recv($s, my $pkt, 65535, 0)) or next;
		next if length($pkt) < 28 || (ord($pkt) >> 4) != 4;
		my $ihl = (ord($pkt) & 15) * 4;
		next if ord(substr($pkt, 9, 1)) != 50 || !$src{substr($pkt, 12, 4)};
		my ($spi, $seq) = unpack('N N', substr($pkt, $ihl, 8));
		printf $out "0x%x %d %s\n", $spi, $seq, unpack('H*', $pkt);
	}
}

sub replay {
	socket(my $s, AF_INET, SOCK_RAW, IPPROTO_RAW) or die "raw socket: $!\n";
	open(my $in, '<', $o{in}) or die "$o{in}: $!\n";
	my ($n, $spi) = (0, hex($o{spi}));
	while (<$in>) {
		my ($pspi, $seq, $hex) = split;
		next unless defined $hex && hex($pspi) == $spi && $seq >= $o{from} && $seq <= $o{'to-seq'};
		my $pkt = pack("H*", $hex);
		my $dst = substr($pkt, 16, 4); # a copy: Socket refuses substr()'s magic value
		$n++ if defined send($s, $pkt, 0, pack_sockaddr_in(0, $dst));
		sleep(0.001) if $n % $o{burst} == 0;
	}
	print "replayed=$n\n";
}

sub counters {
	my ($ns) = @_;
	my $text = `ip -n $ns -s xfrm state`;
	for my $sa (split /^(?=src )/m, $text) {
		my %f;
		@f{qw(src dst)} = $sa =~ /^src (\S+) dst (\S+)/ or next;
		($f{spi}) = $sa =~ /spi (0x[0-9a-f]+)/;
		$f{spi} = sprintf('0x%x', hex $f{spi});
		if ($sa =~ /seq-hi 0x([0-9a-f]+), seq 0x([0-9a-f]+), oseq-hi 0x([0-9a-f]+), oseq 0x([0-9a-f]+)/) {
			@f{qw(seq_hi seq oseq_hi oseq)} = map { hex } ($1, $2, $3, $4);
		} elsif ($sa =~ /seq 0x([0-9a-f]+), oseq 0x([0-9a-f]+)/) {
			@f{qw(seq oseq seq_hi oseq_hi)} = (hex $1, hex $2, 0, 0);
		}
		($f{packets}) = $sa =~ /(\d+)\(packets\)/;
		@f{qw(replay_window replay failed)} = $sa =~ /replay-window (\d+) replay (\d+) failed (\d+)/;
		print join(' ', map { "$_=" . ($f{$_} // '?') }
			qw(src dst spi seq seq_hi oseq oseq_hi packets replay_window replay failed)), "\n";
	}
}
