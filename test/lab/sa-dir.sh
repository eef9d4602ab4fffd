#!/bin/sh
# Scenario for test/lab-e2e.test.ts: SAs with a direction (XFRMA_SA_DIR, Linux 6.10+),
# created with test/lab/xfrm-newsa.pl (iproute2 6.1 cannot say `dir`), on either lab
# kernel. uml-6.1 ignores the attribute (unknown to it); uml-6.12 enforces its rules at
# NEWSA (net/xfrm/xfrm_user.c: verify_newsa_info(), verify_replay();
# net/xfrm/xfrm_replay.c: xfrm_init_replay()) and reports the direction in aevents.
# Raw outputs go to $LAB_OUT; the host test asserts each kernel's measured behaviour.
set -u
. "$LAB_DIR/topology.sh"

L=192.0.2.1
R=192.0.2.2

step "NEWSA rules for SAs with a direction (scratch namespace)"
ip netns add probe
# probe NAME ARGS...: one NEWSA in the scratch namespace; "NAME: ok" or "NAME: error ...".
probe() {
	_name=$1; shift
	echo "$_name: $(lab_newsa probe src=$L dst=$R "$@" 2>&1)" >> "$LAB_OUT/newsa.txt"
}
: > "$LAB_OUT/newsa.txt"
probe out-legacy-window32 spi=0x101 dir=out window=32
probe out-legacy-window0 spi=0x102 dir=out window=0
probe out-esn-window128 spi=0x103 dir=out esn window=128
probe out-esn-window0-bmp4 spi=0x104 dir=out esn window=0 bmp_len=4
probe out-esn-window0 spi=0x105 dir=out esn window=0
probe out-esn-seq5 spi=0x106 dir=out esn window=0 seq=5
probe in-esn-oseq5 spi=0x107 dir=in esn window=128 oseq=5
probe in-legacy-oseq5 spi=0x108 dir=in window=32 oseq=5
probe in-esn-window0 spi=0x109 dir=in esn window=0
probe nodir-esn-window0 spi=0x10a esn window=0
probe bad-dir3 spi=0x10b dir=3
ip -n probe xfrm state > "$LAB_OUT/newsa-state.txt" 2>&1
ip netns del probe

step "topology: legacy and ESN pairs, outbound SAs dir out, inbound dir in"
lab_net
# sa_pair NS_OUT NS_IN SPI ESN_ARGS...: SPI carries NS_OUT -> NS_IN; dir out where it leaves, dir in where it arrives.
sa_pair() {
	if [ "$1" = left ]; then _s=$L _d=$R; else _s=$R _d=$L; fi
	_spi=$3 _kind=$4
	if [ "$_kind" = esn ]; then _out="esn window=0" _in="esn window=128"; else _out="window=0" _in="window=32"; fi
	# A kernel that does not know directions (6.1) refuses an ESN window of 0
	# (net/xfrm/xfrm_replay.c: xfrm_init_replay()): then the outbound ESN SA gets
	# the inbound's window, and out-window-SPI.txt says which one it got.
	# shellcheck disable=SC2086
	if lab_newsa "$1" src=$_s dst=$_d spi=$_spi reqid=$5 dir=out $_out > /dev/null; then
		echo "${_out#esn }" > "$LAB_OUT/out-window-$_spi.txt"
	else
		lab_newsa "$1" src=$_s dst=$_d spi=$_spi reqid=$5 dir=out $_in > /dev/null || return 1
		echo "${_in#esn }" > "$LAB_OUT/out-window-$_spi.txt"
	fi
	lab_newsa "$2" src=$_s dst=$_d spi=$_spi reqid=$5 dir=in $_in > /dev/null
}
sa_pair left right 0x1000 legacy 1 && sa_pair right left 0x1001 legacy 1 &&
	sa_pair left right 0x2000 esn 2 && sa_pair right left 0x2001 esn 2 || { echo "creating SAs failed"; exit 1; }
for ns in left right; do
	if [ "$ns" = left ]; then me=$L peer=$R; else me=$R peer=$L; fi
	ip -n "$ns" -batch - <<-EOF
	xfrm policy add src $me/32 dst $peer/32 proto udp dport 5001 dir out tmpl src $me dst $peer proto esp reqid 1 mode transport
	xfrm policy add src $peer/32 dst $me/32 proto udp dport 5001 dir in tmpl src $peer dst $me proto esp reqid 1 mode transport
	xfrm policy add src $me/32 dst $peer/32 proto udp dport 5002 dir out tmpl src $me dst $peer proto esp reqid 2 mode transport
	xfrm policy add src $peer/32 dst $me/32 proto udp dport 5002 dir in tmpl src $peer dst $me proto esp reqid 2 mode transport
	EOF
done

step "phase 1: traffic; aevents as xaev and as raw attributes"
# The raw dumps run until killed; they are ready once their sockets joined the group.
ip netns exec left perl "$LAB_DIR/xfrm-nldump.pl" --groups aevents --seconds 600 --ready /tmp/nldump-left.ready > "$LAB_OUT/p1-nldump-left.txt" 2>&1 &
P1_DL=$!
ip netns exec right perl "$LAB_DIR/xfrm-nldump.pl" --groups aevents --seconds 600 --ready /tmp/nldump-right.ready > "$LAB_OUT/p1-nldump-right.txt" 2>&1 &
P1_DR=$!
while [ ! -e /tmp/nldump-left.ready ] || [ ! -e /tmp/nldump-right.ready ]; do sleep 0.05; done
xaev_bg -n right -j monitor > "$LAB_OUT/p1-xaev-right.json" 2> "$LAB_OUT/p1-xaev-right.err" &
P1_XR=$!
lab_wait_listeners $P1_XR 2
lab_send left --to $R:5001 --to $R:5002 --port 5001 --count 10 --interval-ms 20
# The last packets are reported by the next timer event, at most one period (1 s) later.
sleep 1.5
kill -TERM $P1_XR $P1_DL $P1_DR
wait $P1_XR
echo $? > "$LAB_OUT/p1-xaev-right.status"
wait $P1_DL $P1_DR
# GETAE replies as raw attributes (the reply is built like an event: net/xfrm/xfrm_user.c: build_aevent()).
for ns in left right; do
	for spi in 0x1000 0x2000; do
		ip netns exec $ns perl "$LAB_DIR/xfrm-nldump.pl" --groups '' --seconds 0.5 --getae $R,$spi
	done > "$LAB_OUT/p1-getae-$ns.txt" 2>&1
done
printf '%s\n' 'get 0x1000' 'get 0x2000' | xaev -n left -j batch - > "$LAB_OUT/p1-left.json" 2> "$LAB_OUT/p1-left.err"
status p1-left
printf '%s\n' 'get 0x1000' 'get 0x2000' | xaev -n right -j batch - > "$LAB_OUT/p1-right.json" 2> "$LAB_OUT/p1-right.err"
status p1-right

step "phase 2: set --oseq on the outbound SAs; the peer sees the next packet"
printf '%s\n' 'set 0x1000 --oseq 1000' 'set 0x2000 --oseq 5000' | xaev -n left -j batch - > "$LAB_OUT/p2-set.json" 2> "$LAB_OUT/p2-set.err"
status p2-set
lab_send left --to $R:5001 --to $R:5002 --port 5001 --count 1
sleep 0.3
printf '%s\n' 'get 0x1000' 'get 0x2000' | xaev -n right -j batch - > "$LAB_OUT/p2-right.json" 2> "$LAB_OUT/p2-right.err"
status p2-right

step "phase 3: writes that do not fit the direction"
# Each on its own: a batch stops at the first failing line.
xaev -n right -j set 0x1000 --oseq 77 > "$LAB_OUT/p3-in-oseq.json" 2> "$LAB_OUT/p3-in-oseq.err"
status p3-in-oseq
xaev -n right -j set 0x2000 --oseq 77 > "$LAB_OUT/p3-in-esn-oseq.json" 2> "$LAB_OUT/p3-in-esn-oseq.err"
status p3-in-esn-oseq
xaev -n left -j set 0x1000 --seq 50 > "$LAB_OUT/p3-out-seq.json" 2> "$LAB_OUT/p3-out-seq.err"
status p3-out-seq
xaev -n left -j set 0x2000 --seq 50 > "$LAB_OUT/p3-out-esn-seq.json" 2> "$LAB_OUT/p3-out-esn-seq.err"
status p3-out-esn-seq

step "phase 4: thresholds on a directed SA (HZ from /proc/config.gz or probed)"
[ -e /proc/config.gz ] && echo present > "$LAB_OUT/p4-config.txt" || echo absent > "$LAB_OUT/p4-config.txt"
xaev -n left -j set 0x1000 --etime 300 --rthr 4 > "$LAB_OUT/p4-set.json" 2> "$LAB_OUT/p4-set.err"
status p4-set
ip -n left -s xfrm state > "$LAB_OUT/p4-ip-state-left.txt"
ip -n right -s xfrm state > "$LAB_OUT/p4-ip-state-right.txt"

step "done"
exit 0
