#!/usr/bin/perl
# xaev kernel lab: add one SA with XFRM_MSG_NEWSA written byte by byte, for
# what the host's iproute2 (6.1) cannot say: the SA direction (XFRMA_SA_DIR,
# Linux 6.10+) and exact replay-state layouts. Prints the kernel's answer:
#   ok
#   error EINVAL (-22): <extack message, or "-" when the kernel sent none>
# and exits 0 on success, 1 on a kernel error, 2 on bad arguments.
# Perl, because starting node in the guest costs a second and perl-base is
# always there (the same reason as xfrm-nldump.pl). Struct layouts:
# docs/kernel/structs.md; include/uapi/linux/xfrm.h.
#
# usage (inside the guest): ip netns exec left perl xfrm-newsa.pl src=192.0.2.1 dst=192.0.2.2 spi=0x1000 \
#     [proto=esp|ah] [reqid=1] [mode=transport|tunnel] [dir=in|out|N] [window=32] [esn] \
#     [esn_attr] [bmp_len=N] [seq=N] [oseq=N] [seq_hi=N] [oseq_hi=N] [if_id=N] [mark=V] [mask=M] [key=0x<64 hex>]
# window <= 32 without esn/esn_attr goes into xfrm_usersa_info.replay_window
# (legacy replay); otherwise an XFRMA_REPLAY_ESN_VAL attribute carries it, with
# bmp_len = ceil(window / 32) unless bmp_len= says otherwise, and
# xfrm_usersa_info.replay_window stays 0 (as iproute2 does).
use strict;
use warnings;
use Socket qw(AF_INET AF_INET6 SOCK_RAW inet_pton);

my %opt = (proto => 'esp', reqid => 1, mode => 'transport', window => 32, seq => 0, oseq => 0, seq_hi => 0, oseq_hi => 0,
	mask => 0xffffffff, key => '0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
for my $a (@ARGV) {
	if ($a =~ /^(esn|esn_attr)$/) { $opt{$1} = 1; next; }
	my ($k, $v) = $a =~ /^(\w+)=(.*)$/ or usage("bad argument '$a'");
	$opt{$k} = $v;
}
sub usage { print STDERR "xfrm-newsa.pl: $_[0]\n"; exit 2; }
sub num { my $v = shift; return $v =~ /^0x/i ? hex($v) : $v + 0; }
defined $opt{$_} or usage("$_= is required") for qw(src dst spi);

my $v6 = $opt{dst} =~ /:/;
my ($fam, $alen) = $v6 ? (AF_INET6, 16) : (AF_INET, 4);
my $addr = sub { my $p = inet_pton($fam, $_[0]) // usage("bad address $_[0]"); return pack('a16', $p); };
my %protos = (esp => 50, ah => 51);
my $proto = $protos{$opt{proto}} // usage('proto must be esp or ah');
my %modes = (transport => 0, tunnel => 1);
my $mode = $modes{$opt{mode}} // usage('mode must be transport or tunnel');
my $window = num($opt{window});
my $use_esn_attr = $opt{esn} || $opt{esn_attr} || $window > 32;
my $XFRM_STATE_ESN = 128;
my $XFRM_INF = ~0;   # 64-bit perl: all ones

# struct xfrm_usersa_info (224 bytes): selector, id, saddr, lft, curlft, stats, seq, reqid, family, mode, replay_window, flags.
my $sel = pack('a16 a16 n n n n S C C C x3 l L', "\0" x 16, "\0" x 16, 0, 0, 0, 0, $fam, 0, 0, 0, 0, 0);
my $id = pack('a16 N C x3', $addr->($opt{dst}), num($opt{spi}), $proto);
my $lft = pack('Q8', $XFRM_INF, $XFRM_INF, $XFRM_INF, $XFRM_INF, 0, 0, 0, 0);
my $info = $sel . $id . $addr->($opt{src}) . $lft . pack('Q4', 0, 0, 0, 0) . pack('L3', 0, 0, 0)
	. pack('L L S C C C x7', 0, num($opt{reqid}), $fam, $mode, $use_esn_attr ? 0 : $window, $opt{esn} ? $XFRM_STATE_ESN : 0);
length($info) == 224 or die "xfrm_usersa_info is " . length($info) . " bytes\n";

my $attrs = '';
sub attr { my ($type, $data) = @_; my $len = 4 + length $data; return pack('S S', $len, $type) . $data . ("\0" x ((4 - $len % 4) % 4)); }
my $key = $opt{key} =~ s/^0x//r;
my $keybytes = pack('H*', $key);
# XFRMA_ALG_AUTH_TRUNC (20): struct xfrm_algo_auth { name[64], key_len bits, trunc_len bits, key }.
$attrs .= attr(20, pack('a64 L L', 'hmac(sha256)', 8 * length $keybytes, 128) . $keybytes);
# XFRMA_ALG_CRYPT (2): struct xfrm_algo { name[64], key_len bits, key }: the null cipher for ESP.
$attrs .= attr(2, pack('a64 L', 'ecb(cipher_null)', 0)) if $proto == 50;
if ($use_esn_attr) {
	my $bmp_len = defined $opt{bmp_len} ? num($opt{bmp_len}) : int(($window + 31) / 32);
	# XFRMA_REPLAY_ESN_VAL (23): struct xfrm_replay_state_esn { bmp_len, oseq, seq, oseq_hi, seq_hi, replay_window, bmp[] }.
	$attrs .= attr(23, pack('L6', $bmp_len, num($opt{oseq}), num($opt{seq}), num($opt{oseq_hi}), num($opt{seq_hi}), $window)
		. ("\0" x (4 * $bmp_len)));
} elsif (num($opt{seq}) || num($opt{oseq})) {
	# XFRMA_REPLAY_VAL (10): struct xfrm_replay_state { oseq, seq, bitmap }.
	$attrs .= attr(10, pack('L3', num($opt{oseq}), num($opt{seq}), 0));
}
$attrs .= attr(21, pack('L2', num($opt{mark}), num($opt{mask}))) if defined $opt{mark};   # XFRMA_MARK
$attrs .= attr(31, pack('L', num($opt{if_id}))) if defined $opt{if_id};                    # XFRMA_IF_ID
if (defined $opt{dir}) {
	# XFRM_SA_DIR_IN/OUT; a number is sent as it is (to see the kernel refuse it).
	my %dirs = (in => 1, out => 2);
	my $dir = $dirs{$opt{dir}} // ($opt{dir} =~ /^\d+$/ ? $opt{dir} : usage('dir must be in, out or a number'));
	$attrs .= attr(33, pack('C', $dir));                                                    # XFRMA_SA_DIR
}

my $NLM_F_REQUEST_ACK_EXCL_CREATE = 0x1 | 0x4 | 0x200 | 0x400;
my $body = $info . $attrs;
my $msg = pack('L S S L L', 16 + length $body, 16, $NLM_F_REQUEST_ACK_EXCL_CREATE, 1, 0) . $body;   # XFRM_MSG_NEWSA = 16

socket(my $s, 16, SOCK_RAW, 6) or die "socket(AF_NETLINK, NETLINK_XFRM): $!\n";
setsockopt($s, 270, 11, pack('i', 1));   # SOL_NETLINK, NETLINK_EXT_ACK: the kernel's reason in the ack
setsockopt($s, 270, 10, pack('i', 1));   # NETLINK_CAP_ACK: the ack does not echo our request
bind($s, pack('S S L L', 16, 0, 0, 0)) or die "bind: $!\n";
send($s, $msg, 0, pack('S S L L', 16, 0, 0, 0)) or die "send: $!\n";
my $buf;
defined(recv($s, $buf, 65536, 0)) or die "recv: $!\n";
my ($len, $type, $flags) = unpack('L S S', $buf);
$type == 2 or die "unexpected reply type $type\n";                                                 # NLMSG_ERROR
my $err = unpack('l', substr($buf, 16, 4));
if ($err == 0) { print "ok\n"; exit 0; }
my $text = '-';
# struct nlmsgerr = error + the request's nlmsghdr (payload capped), then TLVs when NLM_F_ACK_TLVS (0x200).
my $p = 16 + 4 + 16;
while ($flags & 0x200 && $p + 4 <= $len) {
	my ($alen, $atype) = unpack('S S', substr($buf, $p, 4));
	last if $alen < 4;
	if ($atype == 1) { $text = unpack('Z*', substr($buf, $p + 4, $alen - 4)); }   # NLMSGERR_ATTR_MSG
	$p += ($alen + 3) & ~3;
}
my %names = (-1 => 'EPERM', -2 => 'ENOENT', -3 => 'ESRCH', -17 => 'EEXIST', -22 => 'EINVAL', -34 => 'ERANGE', -93 => 'EPROTONOSUPPORT', -95 => 'EOPNOTSUPP', -97 => 'EAFNOSUPPORT');
printf "error %s (%d): %s\n", $names{$err} // 'E?', $err, $text;
exit 1;
