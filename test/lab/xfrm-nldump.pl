#!/usr/bin/perl
# xaev kernel lab: raw dump of XFRM netlink multicast messages with their
# attribute layout (type, length, offset), to see exactly what the kernel
# sends, e.g. whether XFRMA_PAD (type 27) shows up in aevents.
# Perl, because node has no netlink sockets and perl-base is always there.
#
# usage (inside the guest): ip netns exec right perl xfrm-nldump.pl [--groups aevents,sa,...] [--seconds 3] [--ready FILE]
#                            [--getae DST,SPI[,esp|ah]]   (also send a GETAE and print its reply; --groups '' for the reply only)
# output: one line per message:
#   type=30(NEWAE) len=... spi=0x1000 family=2 proto=50 aflags=0x10 reqid=1 attrs=10:REPLAY_VAL(16@64) 27:PAD(4@80) ...
# (XFRMA_SA_DIR also shows its value: 33:SA_DIR(5@120)=2)
use strict;
use warnings;
use Socket;
use Getopt::Long;

my %group_bits = (acquire => 1, expire => 2, sa => 3, policy => 4, aevents => 5, report => 6, migrate => 7, mapping => 8);
my $groups  = 'aevents';
my $seconds = 3;
my ($ready, $getae);
GetOptions('groups=s' => \$groups, 'seconds=f' => \$seconds, 'ready=s' => \$ready, 'getae=s' => \$getae) or die "bad options\n";

my %msg = (16 => 'NEWSA', 17 => 'DELSA', 18 => 'GETSA', 19 => 'NEWPOLICY', 20 => 'DELPOLICY', 23 => 'ACQUIRE',
	24 => 'EXPIRE', 27 => 'POLEXPIRE', 28 => 'FLUSHSA', 29 => 'FLUSHPOLICY', 30 => 'NEWAE', 31 => 'GETAE', 32 => 'REPORT',
	33 => 'MIGRATE', 38 => 'MAPPING');
my @attr = qw(UNSPEC ALG_AUTH ALG_CRYPT ALG_COMP ENCAP TMPL SA POLICY SEC_CTX LTIME_VAL REPLAY_VAL REPLAY_THRESH
	ETIMER_THRESH SRCADDR COADDR LASTUSED POLICY_TYPE MIGRATE ALG_AEAD KMADDRESS ALG_AUTH_TRUNC MARK TFCPAD
	REPLAY_ESN_VAL SA_EXTRA_FLAGS PROTO ADDRESS_FILTER PAD OFFLOAD_DEV SET_MARK SET_MARK_MASK IF_ID MTIMER_THRESH
	SA_DIR NAT_KEEPALIVE_INTERVAL SA_PCPU);

my $mask = 0;
for my $g (split /,/, $groups) {
	die "unknown group $g\n" unless $group_bits{$g};
	$mask |= 1 << ($group_bits{$g} - 1);
}
socket(my $s, 16, SOCK_RAW, 6) or die "socket(AF_NETLINK, NETLINK_XFRM): $!\n";
bind($s, pack('S S L L', 16, 0, 0, $mask)) or die "bind: $!\n";
if ($ready) { open(my $f, '>', $ready) or die "$ready: $!\n"; close $f; }
if ($getae) {
	my ($dst, $spi, $p) = split /,/, $getae;
	my $v6 = $dst =~ /:/;
	my $fam = $v6 ? Socket::AF_INET6() : Socket::AF_INET();
	my $daddr = pack('a16', Socket::inet_pton($fam, $dst) // die "bad address $dst\n");
	# struct xfrm_aevent_id: sa_id (daddr, spi, family, proto), saddr, flags (XFRM_AE_RTHR|XFRM_AE_ETHR), reqid.
	my $body = pack('a16 N S C x a16 L L', $daddr, $spi =~ /^0x/i ? hex($spi) : $spi, $fam, ($p // 'esp') eq 'ah' ? 51 : 50, "\0" x 16, 1 | 8, 0);
	send($s, pack('L S S L L', 16 + length $body, 31, 1, 1, 0) . $body, 0, pack('S S L L', 16, 0, 0, 0)) or die "send: $!\n";   # XFRM_MSG_GETAE, NLM_F_REQUEST
}
$| = 1;

my $end = time + $seconds;
while (time < $end) {
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	next unless select($rin, undef, undef, 0.1);
	my $buf;
	defined(recv($s, $buf, 65536, 0)) or die "recv: $!\n";
	my $off = 0;
	while ($off + 16 <= length $buf) {
		my ($len, $type) = unpack('L S', substr($buf, $off, 6));
		last if $len < 16 || $off + $len > length $buf;
		# Fixed header sizes: NEWAE = struct xfrm_aevent_id (48), NEWSA/DELSA = xfrm_usersa_info (224).
		my $fixed = $type == 30 ? 48 : ($type == 16 || $type == 17) ? 224 : 0;
		my $info  = '';
		if ($type == 30) {
			my ($spi) = unpack('N', substr($buf, $off + 32, 4));
			my ($fam, $proto) = unpack('S C', substr($buf, $off + 36, 3));
			my ($aflags, $reqid) = unpack('L L', substr($buf, $off + 56, 8));
			$info = sprintf(' spi=0x%x family=%d proto=%d aflags=0x%x reqid=%d', $spi, $fam, $proto, $aflags, $reqid);
		}
		my @a;
		my $p = $off + 16 + $fixed;
		while ($fixed && $p + 4 <= $off + $len) {
			my ($alen, $atype) = unpack('S S', substr($buf, $p, 4));
			last if $alen < 4;
			$atype &= 0x3fff;
			push @a, sprintf('%d:%s(%d@%d)', $atype, $attr[$atype] // '?', $alen, $p - $off);
			$a[-1] .= '=' . unpack('C', substr($buf, $p + 4, 1)) if $atype == 33 && $alen >= 5;   # the direction itself
			$p += ($alen + 3) & ~3;
		}
		printf "type=%d(%s) len=%d%s attrs=%s\n", $type, $msg{$type} // '?', $len, $info, join(' ', @a);
		$off += ($len + 3) & ~3;
	}
}
