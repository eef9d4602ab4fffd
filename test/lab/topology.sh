# shellcheck shell=sh
# xaev kernel lab: network topology helpers, sourced by scenarios running
# inside the UML guest (see uml-init.sh):   . "$LAB_DIR/topology.sh"
# POSIX sh (dash) compatible. Every function returns non-zero on failure;
# scenarios usually run with `set -e`.
#
# Topology (lab_net):
#   netns left : veth0 192.0.2.1/24 2001:db8::1/64
#   netns right: veth0 192.0.2.2/24 2001:db8::2/64
#
# Environment (set by uml-init.sh / lab-env.sh written by runInLab):
#   LAB_OUT   writable host directory for results
#   LAB_REPO  repository root (read-only inside the guest)
#   LAB_NODE  node binary (the host's, through hostfs)

# runInLab (test/lab/lab.ts) sets LAB_REPO and LAB_DIR; without it the checkout is unknown.
: "${LAB_REPO:?is not set: run scenarios through runInLab (test/lab/lab.ts)}"
: "${LAB_DIR:=$LAB_REPO/test/lab}"
: "${LAB_NODE:=$(command -v node)}"
: "${LAB_TRAFFIC:=$LAB_REPO/dist/test/lab/traffic.js}"
# 32-byte HMAC-SHA256 key used for every SA (test traffic only).
LAB_AUTH_KEY=${LAB_AUTH_KEY:-0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f}

LAB_V4_LEFT=192.0.2.1
LAB_V4_RIGHT=192.0.2.2
LAB_V6_LEFT=2001:db8::1
LAB_V6_RIGHT=2001:db8::2

# lab_net: create netns left/right joined by veth0<->veth0 with 192.0.2.1|2/24 and 2001:db8::1|2/64 (nodad), all links up.
lab_net() {
	mkdir -p /run/netns
	# `ip -batch`: every process start costs 40-150 ms inside UML, so one ip
	# process does many commands (here 3 processes instead of 13).
	ip -batch - <<-EOF || return 1
	netns add left
	netns add right
	link add veth0 netns left type veth peer name veth0 netns right
	EOF
	ip -n left -batch - <<-EOF || return 1
	link set lo up
	addr add $LAB_V4_LEFT/24 dev veth0
	addr add $LAB_V6_LEFT/64 dev veth0 nodad
	link set veth0 up
	EOF
	ip -n right -batch - <<-EOF || return 1
	link set lo up
	addr add $LAB_V4_RIGHT/24 dev veth0
	addr add $LAB_V6_RIGHT/64 dev veth0 nodad
	link set veth0 up
	EOF
}

# lab_sa_pair key=value...: install SAs + UDP-only policies for left->right (spi_out) and right->left (spi_in) in BOTH namespaces.
#   family=4|6 (4)  proto=esp|ah (esp)  mode=transport|tunnel (transport)
#   spi_out=0x1000  spi_in=0x2000  reqid=1  window=0..4096 (32)
#   esn=1 (or bare word `esn`): extended sequence numbers (`flag esn`)
#   mark=V [mask=M (0xffffffff)]: mark on SAs and policies
#   if_id=N: XFRMA_IF_ID on SAs and policies
#   dport=P: policies only match UDP to port P (both directions), so several
#            pairs with the same addresses can coexist; default: all UDP
#   key=0x<64 hex>: HMAC-SHA256 key (default $LAB_AUTH_KEY)
# Window: iproute2 puts window <= 32 (no esn) into xfrm_usersa_info.replay_window
# (legacy 32-bit bitmap); window > 32 or esn makes it send XFRMA_REPLAY_ESN_VAL
# (bmp mode without esn, esn mode with it). The kernel refuses esn with window 0.
# Marks: traffic only matches mark policies/SAs if the skb carries the mark:
# send with lab_send_marked (SO_MARK) and mark inbound packets with
# lab_mark_ingress on the receiving side (aevents then carry XFRMA_MARK).
# if_id: outbound traffic only matches if_id policies via an xfrm interface;
# uml-6.1 has no CONFIG_XFRM_INTERFACE, so there if_id pairs carry no traffic
# (they can still be read, written (NEWAE) and monitored). On uml-6.12 see
# lab_xfrmi and test/lab/xfrmi.sh.
lab_sa_pair() {
	_f=4 _p=esp _m=transport _so=0x1000 _si=0x2000 _r=1 _w=32 _esn= _mark= _mask=0xffffffff _ifid= _dport= _key=$LAB_AUTH_KEY
	for _a in "$@"; do
		case $_a in
		family=*) _f=${_a#*=} ;;
		proto=*) _p=${_a#*=} ;;
		mode=*) _m=${_a#*=} ;;
		spi_out=*) _so=${_a#*=} ;;
		spi_in=*) _si=${_a#*=} ;;
		reqid=*) _r=${_a#*=} ;;
		window=*) _w=${_a#*=} ;;
		esn) _esn=1 ;;
		esn=*) case ${_a#*=} in 1|yes|true|on) _esn=1 ;; *) _esn= ;; esac ;;
		mark=*) _mark=${_a#*=} ;;
		mask=*) _mask=${_a#*=} ;;
		if_id=*) _ifid=${_a#*=} ;;
		dport=*) _dport=${_a#*=} ;;
		key=*) _key=${_a#*=} ;;
		*) echo "lab_sa_pair: unknown argument '$_a'" >&2; return 2 ;;
		esac
	done
	case $_f in
	4) _l=$LAB_V4_LEFT _rt=$LAB_V4_RIGHT _plen=32 ;;
	6) _l=$LAB_V6_LEFT _rt=$LAB_V6_RIGHT _plen=128 ;;
	*) echo "lab_sa_pair: family must be 4 or 6" >&2; return 2 ;;
	esac
	case $_p in esp|ah) ;; *) echo "lab_sa_pair: proto must be esp or ah" >&2; return 2 ;; esac
	case $_m in transport|tunnel) ;; *) echo "lab_sa_pair: mode must be transport or tunnel" >&2; return 2 ;; esac
	case $_w in ''|*[!0-9]*) echo "lab_sa_pair: window must be 0..4096" >&2; return 2 ;; esac
	if [ "$_w" -gt 4096 ]; then echo "lab_sa_pair: window must be 0..4096" >&2; return 2; fi
	_extra=
	[ -n "$_mark" ] && _extra="$_extra mark $_mark mask $_mask"
	[ -n "$_ifid" ] && _extra="$_extra if_id $_ifid"
	_flags=
	[ -n "$_esn" ] && _flags="flag esn"
	_sel_port=
	[ -n "$_dport" ] && _sel_port="dport $_dport"
	if [ "$_m" = tunnel ]; then _indirs="in fwd"; else _indirs="in"; fi
	# Same two SAs in both namespaces; policies mirrored. One `ip -batch`
	# per namespace (see lab_net).
	for _ns in left right; do
		if [ "$_ns" = left ]; then _me=$_l _peer=$_rt; else _me=$_rt _peer=$_l; fi
		_cmds=
		lab__sa "$_l" "$_rt" "$_so"
		lab__sa "$_rt" "$_l" "$_si"
		lab__pol out "$_me" "$_peer"
		for _d in $_indirs; do lab__pol "$_d" "$_peer" "$_me"; done
		# A here-document (not `printf | ip`) avoids forking a subshell.
		if ! ip -n "$_ns" -batch - <<-EOF
		$_cmds
		EOF
		then
			echo "lab_sa_pair: failed in netns $_ns; commands were:" >&2
			printf '%s\n' "$_cmds" | sed "/^\$/d; s/^/  ip -n $_ns /" >&2
			return 1
		fi
	done
}

# lab__sa SRC DST SPI: (internal) append one `xfrm state add` batch line with lab_sa_pair's settings to $_cmds.
lab__sa() {
	if [ "$_p" = esp ]; then
		_alg="enc cipher_null \"\" auth-trunc \"hmac(sha256)\" $_key 128"
	else
		_alg="auth-trunc \"hmac(sha256)\" $_key 128"
	fi
	_cmds="${_cmds}xfrm state add src $1 dst $2 proto $_p spi $3 reqid $_r mode $_m $_flags replay-window $_w $_extra $_alg
"
}

# lab__pol DIR SRC DST: (internal) append one UDP-only `xfrm policy add` batch line with lab_sa_pair's settings to $_cmds.
lab__pol() {
	_cmds="${_cmds}xfrm policy add src $2/$_plen dst $3/$_plen proto udp $_sel_port dir $1 $_extra tmpl src $2 dst $3 proto $_p reqid $_r mode $_m
"
}

# lab_flush: remove all SAs and policies in both namespaces.
lab_flush() {
	for ns in left right; do
		ip -n "$ns" -batch - <<-EOF || return 1
		xfrm state flush
		xfrm policy flush
		EOF
	done
}

# lab_aevent_sysctl NS ETIME RSEQTH: set net.core.xfrm_aevent_etime (x100 ms) / xfrm_aevent_rseqth for SAs added later in NS.
lab_aevent_sysctl() {
	ip netns exec "$1" sysctl -qw "net.core.xfrm_aevent_etime=$2" "net.core.xfrm_aevent_rseqth=$3"
}

# lab_send NS ARGS...: run the UDP sender (dist/test/lab/traffic.js) in NS, e.g. lab_send left --to 192.0.2.2 --port 5000 --count 5.
lab_send() {
	_ns=$1; shift
	ip netns exec "$_ns" "$LAB_NODE" "$LAB_TRAFFIC" "$@"
}

# lab_listen NS ARGS...: run the UDP receiver in NS (foreground), e.g. lab_listen right --listen 5000 --count 5 --timeout-ms 3000.
lab_listen() {
	_ns=$1; shift
	ip netns exec "$_ns" "$LAB_NODE" "$LAB_TRAFFIC" "$@"
}

# lab_monitor NS FILE: start `ip xfrm monitor aevent` for NS in the background, output to FILE; sets LAB_MONITOR_PID.
lab_monitor() {
	ip -n "$1" xfrm monitor aevent > "$2" 2>&1 &
	LAB_MONITOR_PID=$!
}

# lab_netem NS NETEM-ARGS...: put a netem qdisc on NS's veth0 egress, e.g. lab_netem left duplicate 100% (or `lab_netem left` to remove it).
lab_netem() {
	_ns=$1; shift
	if [ $# -eq 0 ]; then
		tc -n "$_ns" qdisc del dev veth0 root 2>/dev/null
		return 0
	fi
	# shellcheck disable=SC2068
	tc -n "$_ns" qdisc replace dev veth0 root netem "$@"
}

# lab_send_marked NS MARK DST PORT COUNT [INTERVAL_MS] [FROM_PORT]: send UDP with SO_MARK=MARK (perl; node cannot set SO_MARK) so outbound policies/SAs with a mark match.
lab_send_marked() {
	ip netns exec "$1" perl -MSocket=:all -MTime::HiRes=sleep,time -e '
		my ($mark, $dst, $port, $count, $ivl, $from) = @ARGV;
		my $v6 = $dst =~ /:/;
		my $fam = $v6 ? AF_INET6 : AF_INET;
		socket(my $s, $fam, SOCK_DGRAM, 0) or die "socket: $!\n";
		setsockopt($s, SOL_SOCKET, 36, pack("i", $mark)) or die "SO_MARK: $!\n";   # 36 = SO_MARK
		setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
		bind($s, $v6 ? pack_sockaddr_in6($from, inet_pton(AF_INET6, "::")) : pack_sockaddr_in($from, INADDR_ANY)) or die "bind: $!\n";
		my $to = $v6 ? pack_sockaddr_in6($port, inet_pton(AF_INET6, $dst)) : pack_sockaddr_in($port, inet_aton($dst));
		my ($sent, $t0) = (0, time);
		for my $i (1 .. $count) {
			if ($i > 1 && $ivl > 0) { my $w = $t0 + ($i - 1) * $ivl / 1000 - time; sleep($w) if $w > 0; }
			$sent++ if defined send($s, pack("N", $i) . ("\0" x 60), 0, $to);
		}
		printf "sent=%d mark=%s to=%s port=%d from_port=%d\n", $sent, $mark, $dst, $port, $from;
	' "$(printf '%d' "$2")" "$3" "$4" "$5" "${6:-0}" "${7:-4000}"
}

# lab_mark_ingress NS MARK: set skb->mark=MARK on every packet arriving on NS's veth0 (tc ingress), so inbound SAs/policies with a mark match.
lab_mark_ingress() {
	tc -n "$1" qdisc add dev veth0 ingress 2>/dev/null
	tc -n "$1" filter replace dev veth0 ingress pref 1 matchall action skbedit mark "$2"
}

# lab_save NAME: save `ip -s xfrm state` and `ip xfrm policy` of both namespaces into $LAB_OUT/NAME-{left,right}-{state,policy}.txt.
lab_save() {
	for ns in left right; do
		ip -n "$ns" -s xfrm state > "$LAB_OUT/$1-$ns-state.txt" 2>&1
		ip -n "$ns" xfrm policy > "$LAB_OUT/$1-$ns-policy.txt" 2>&1
	done
}

# lab_now_ms: monotonic-ish milliseconds since boot (from /proc/uptime), for timing inside scenarios.
lab_now_ms() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

# lab_aevent_listeners PID: sockets that joined XFRMNLGRP_AEVENTS (Groups bit 0x10) in the
# network namespace of process PID (shell builtins only: no process start).
lab_aevent_listeners() {
	_n=0
	while read -r _sk _eth _pid _groups _rest; do
		[ "$_eth" = 6 ] || continue
		case $_groups in *[!0-9a-fA-F]* | '') continue ;; esac
		[ $((0x$_groups & 16)) -ne 0 ] && _n=$((_n + 1))
	done < "/proc/$1/net/netlink" 2>/dev/null
	echo "$_n"
}

# lab_wait_listeners PID N: wait (up to ~30 s) until PID's namespace has N aevent listeners,
# so that no event sent afterwards is missed (node takes 0.5-1.7 s to start in the guest).
lab_wait_listeners() {
	_i=0
	while [ "$(lab_aevent_listeners "$1")" -lt "$2" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 600 ]; then echo "lab_wait_listeners: no $2 aevent listeners beside PID $1" >&2; return 1; fi
		sleep 0.05
	done
}

# lab_newsa NS key=value...: add one SA with a hand-written XFRM_MSG_NEWSA (test/lab/xfrm-newsa.pl),
# for what iproute2 6.1 cannot say (dir=in|out, exact replay layouts). Prints "ok" or
# "error ENAME (-N): extack text"; returns non-zero on a kernel error.
# lab_wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds (1 if SECONDS pass first).
lab_wait_for() {
	_end=$(($(cut -d. -f1 /proc/uptime) + $1)); shift
	until "$@"; do
		[ "$(cut -d. -f1 /proc/uptime)" -lt "$_end" ] || return 1
		sleep 0.1
	done
}
lab_newsa() {
	_ns=$1; shift
	ip netns exec "$_ns" perl "$LAB_DIR/xfrm-newsa.pl" "$@"
}

# lab_xfrmi NS NAME IF_ID ADDR/PLEN: an xfrm interface (CONFIG_XFRM_INTERFACE) on NS's veth0
# carrying if_id IF_ID, with ADDR/PLEN on it and up: traffic routed into it picks the
# policies and SAs with that if_id.
lab_xfrmi() {
	ip -n "$1" -batch - <<-EOF
	link add $2 type xfrm dev veth0 if_id $3
	addr add $4 dev $2
	link set $2 up
	EOF
}

# ---------------------------------------------------------------------------------------
# What every scenario uses to run xaev and to leave its outputs.
XAEV="$LAB_REPO/bin/xaev.js"
xaev() { "$LAB_NODE" "$XAEV" "$@"; }
# For background runs: `exec` makes $! the node process itself, so kill/STOP reach xaev
# (a plain function would leave $! pointing at a forked shell).
xaev_bg() { exec "$LAB_NODE" "$XAEV" "$@"; }
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
# status NAME: record the previous command's exit status in $LAB_OUT/NAME.status.
status() { echo "$?" > "$LAB_OUT/$1.status"; }
