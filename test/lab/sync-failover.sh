#!/bin/sh
# Failover scenario for test/lab-sync.test.ts (issue 9, "Proof"), run inside the UML kernel lab.
#
#   netns P (peer) ---+
#   netns A (active) -+- netns L: a hub (tc mirred floods every frame to the other ports;
#   netns S (standby)-+  the 6.12 lab kernel has no bridge)
#
# P 192.0.2.1, A 192.0.2.2, S 192.0.2.3; keepalived on A (priority 150) and S (100) holds the
# virtual address 192.0.2.10 (VRRP, unicast adverts over the hub). P, A and S carry the same two
# ESP SA pairs between P and the virtual address: a legacy one (window 32, UDP port 5001) and an
# ESN one (window 128, port 5002). Traffic both ways, 100 packets/s per SA: P -> virtual address,
# and from whichever node holds the address -> P.
#
# SYNC=on: S runs `xaev sync receive --from 'ip netns exec A xaev sync send'` (the command stands
# in for ssh) and keepalived's notify_master on S runs `xaev sync takeover`. SYNC=off: baseline.
# SA_DIR=1 (6.10+ kernels): A's and S's SAs are created with their direction (XFRMA_SA_DIR).
# STREAM_BREAK=N (SYNC=on): the stream breaks N seconds before A fails while A keeps carrying
# traffic (A's sender is killed and the receiver's reconnects fail); `sync status` is saved at
# the end of the silence. INBOUND_ADVANCE=off|auto|SECONDS: S's `sync receive --inbound-advance`.
# P_AFTER=N: P goes on sending N seconds after S has sent its packets (default 1).
#
# Phases: steady traffic until P has PRE_PACKETS from A on each SA; fail A (P pauses; as if the
# node died, A's sync sender is killed and the name A disappears so that reconnects fail; A's
# link goes down and its keepalived stops); S becomes master and sends S_COUNT packets per SA;
# while P is paused, the ESP packets P sent to A (captured on P's link) are
# replayed at S, first those at or below S's inbound seq when it took over ("old"), then the
# rest ("new": the sync-delay window); P resumes. Every counter snapshot goes to $LAB_OUT as
# `state-NODE-PHASE.txt` (`ip -s xfrm state`) and `xfrm_stat-NODE-PHASE.txt`, phase times to
# phases.txt; the host test computes the figures.
set -u
. "$LAB_DIR/topology.sh"

SYNC=${SYNC:-off}
STREAM_BREAK=${STREAM_BREAK:-0}
INBOUND_ADVANCE=${INBOUND_ADVANCE:-off}
P_AFTER=${P_AFTER:-1}
PRE_PACKETS=${PRE_PACKETS:-600}
S_COUNT=${S_COUNT:-300}
XAEV="$LAB_REPO/bin/xaev.js"
PL="$LAB_DIR/sync-failover.pl"
P_IP=192.0.2.1 A_IP=192.0.2.2 S_IP=192.0.2.3 VIP=192.0.2.10
RUN=/run/lab/sync
mkdir -p "$RUN"

now() { cut -d' ' -f1 /proc/uptime; }
step() { echo "== [$(now)s] $*"; }
mark() { echo "$1 $(now)" >> "$LAB_OUT/phases.txt"; }
pl() { _ns=$1; shift; ip netns exec "$_ns" perl "$PL" "$@"; }
# For background runs: `exec` makes $! the process itself (ip netns exec execs it in turn), so
# kill reaches it rather than a forked shell.
pl_bg() { _ns=$1; shift; exec ip netns exec "$_ns" perl "$PL" "$@"; }
# snap PHASE NODE...: `ip -s xfrm state` and /proc/net/xfrm_stat of each NODE, raw (one process
# each: the host test parses them, and a snapshot must be quick).
snap() {
	_ph=$1; shift
	for _n in "$@"; do
		ip -n "$_n" -s xfrm state > "$LAB_OUT/state-$_n-$_ph.txt"
		ip netns exec "$_n" cat /proc/net/xfrm_stat > "$LAB_OUT/xfrm_stat-$_n-$_ph.txt"
	done
}
has_vip() { ip -n "$1" -4 addr show dev eth0 | grep -q " $VIP/"; }
# sync_sender_pid: A's `xaev sync send` (the receiver's command line contains "sync send" too,
# but not at its start).
sync_sender_pid() { pgrep -f '^[^ ]+ [^ ]+ sync send'; }

step "topology: P, A, S on a hub in L; SYNC=$SYNC"
ip -batch - <<-EOF
netns add L
netns add P
netns add A
netns add S
link add lp netns L type veth peer name eth0 netns P
link add la netns L type veth peer name eth0 netns A
link add ls netns L type veth peer name eth0 netns S
EOF
for port in lp la ls; do
	set -- lp la ls
	others=
	for o; do [ "$o" = "$port" ] || others="$others $o"; done
	set -- $others
	ip -n L link set "$port" up
	tc -n L qdisc add dev "$port" ingress
	tc -n L filter add dev "$port" ingress matchall \
		action mirred egress mirror dev "$1" pipe action mirred egress redirect dev "$2"
done
for n in P:$P_IP A:$A_IP S:$S_IP; do
	ip -n "${n%%:*}" -batch - <<-EOF
	link set lo up
	addr add ${n#*:}/24 dev eth0
	link set eth0 up
	EOF
done
# P must follow S's gratuitous ARP for the virtual address at once (default locktime 1 s).
ip netns exec P sysctl -qw net.ipv4.neigh.eth0.locktime=0

step "SAs: the same pairs on P, A and S${SA_DIR:+ (A and S: with SA direction)}"
# sa SRC DST SPI REQID FLAGS WINDOW
sa() { echo "xfrm state add src $1 dst $2 proto esp spi $3 reqid $4 mode transport $5 replay-window $6 enc cipher_null \"\" auth-trunc \"hmac(sha256)\" $LAB_AUTH_KEY 128"; }
pol() { echo "xfrm policy add src $2/32 dst $3/32 proto udp dport $4 dir $1 tmpl src $2 dst $3 proto esp reqid $5 mode transport"; }
# SA_DIR=1 (Linux 6.10+): A's and S's SAs carry XFRMA_SA_DIR, written by test/lab/xfrm-newsa.pl
# since iproute2 6.1 cannot say `dir`; the kernel wants no replay window on an outbound SA
# (net/xfrm/xfrm_user.c: verify_newsa_info(), verify_replay()).
newsa() { _n=$1; shift; ip netns exec "$_n" perl "$LAB_DIR/xfrm-newsa.pl" key=$LAB_AUTH_KEY "$@"; }
for node in P A S; do
	if [ $node = P ]; then me=$P_IP peer=$VIP; else me=$VIP peer=$P_IP; fi
	if [ -n "${SA_DIR:-}" ] && [ $node != P ]; then
		{
			newsa $node src=$P_IP dst=$VIP spi=0x1001 reqid=1 dir=in window=32 &&
				newsa $node src=$VIP dst=$P_IP spi=0x1002 reqid=1 dir=out window=0 &&
				newsa $node src=$P_IP dst=$VIP spi=0x2001 reqid=2 dir=in window=128 esn &&
				newsa $node src=$VIP dst=$P_IP spi=0x2002 reqid=2 dir=out window=0 esn
		} >> "$LAB_OUT/newsa.txt" || { echo "SAs with direction refused in $node: $(tail -1 "$LAB_OUT/newsa.txt")"; exit 1; }
		sas=
	else
		sas="$(sa $P_IP $VIP 0x1001 1 "" 32)
$(sa $VIP $P_IP 0x1002 1 "" 32)
$(sa $P_IP $VIP 0x2001 2 "flag esn" 128)
$(sa $VIP $P_IP 0x2002 2 "flag esn" 128)"
	fi
	ip -n $node -batch - <<-EOF
	$sas
	$(pol out $me $peer 5001 1)
	$(pol in $peer $me 5001 1)
	$(pol out $me $peer 5002 2)
	$(pol in $peer $me 5002 2)
	EOF
done
ip -n S xfrm state > "$LAB_OUT/sas-S.txt"

step "keepalived on A (master) and S (backup)"
# keepalived_conf NODE STATE PRIORITY SELF PEER
keepalived_conf() {
	cat > "$RUN/notify-$1.sh" <<-EOF
	#!/bin/sh
	echo "master \$(cut -d' ' -f1 /proc/uptime)" >> "$LAB_OUT/notify-$1.txt"
	if [ "$SYNC" = on ]; then
	  "$LAB_NODE" "$XAEV" sync takeover > "$LAB_OUT/takeover-$1.txt" 2> "$LAB_OUT/takeover-$1.err"
	  echo "takeover-status \$? \$(cut -d' ' -f1 /proc/uptime)" >> "$LAB_OUT/notify-$1.txt"
	fi
	touch "$RUN/master-$1"
	EOF
	chmod 755 "$RUN/notify-$1.sh"
	cat > "$RUN/keepalived-$1.conf" <<-EOF
	global_defs {
	  router_id $1
	  script_user root
	  enable_script_security
	}
	vrrp_instance VI_1 {
	  state $2
	  interface eth0
	  virtual_router_id 51
	  priority $3
	  advert_int 1
	  unicast_src_ip $4
	  unicast_peer {
	    $5
	  }
	  virtual_ipaddress {
	    $VIP/24 dev eth0
	  }
	  notify_master $RUN/notify-$1.sh
	}
	EOF
}
start_keepalived() {
	exec ip netns exec "$1" keepalived --dont-fork --log-console --log-detail --no-syslog --vrrp \
		-f "$RUN/keepalived-$1.conf" -p "$RUN/keepalived-$1.pid" -r "$RUN/keepalived-vrrp-$1.pid" \
		> "$LAB_OUT/keepalived-$1.log" 2>&1 &
}
keepalived_conf A MASTER 150 $A_IP $S_IP
keepalived_conf S BACKUP 100 $S_IP $A_IP
start_keepalived A
KA_A=$!
lab_wait_for 15 has_vip A || { echo "A never got $VIP"; exit 1; }
start_keepalived S
# A second name for A, so that A can "die" (lose its name) and still be looked at.
touch /run/netns/Adead
mount --bind /run/netns/A /run/netns/Adead
mark a-master

step "sinks, capture of ESP both ways on P's link"
STOP=$RUN/stop
for n in P A S; do pl_bg $n sink --ports 5001,5002 --stop "$STOP" & done
pl_bg P capture --dev eth0 --src $P_IP,$VIP --out "$LAB_OUT/capture.txt" --ready "$RUN/capture-ready" &
CAPTURE=$!
lab_wait_for 20 test -e "$RUN/capture-ready" || { echo "capture never started"; exit 1; }

if [ "$SYNC" = on ]; then
	step "sync: S receives from A (--inbound-advance $INBOUND_ADVANCE)"
	exec_bg() { exec "$@"; }
	# While $RUN/stream-down exists the command fails at once, as an ssh to an unreachable
	# sender would: the receiver's reconnects fail.
	exec_bg ip netns exec S "$LAB_NODE" "$XAEV" sync receive --inbound-advance "$INBOUND_ADVANCE" \
		--from "test ! -e $RUN/stream-down && exec ip netns exec A $LAB_NODE $XAEV sync send" \
		> "$LAB_OUT/receive.out" 2> "$LAB_OUT/receive.err" &
	RECEIVER=$!
	lab_wait_for 30 sync_sender_pid > /dev/null || { echo "no sync sender in A"; exit 1; }
fi

step "steady traffic until P has ${PRE_PACKETS} packets from A on each SA"
pl_bg P send --bind $P_IP --to $VIP --ports 5001,5002 --pause "$RUN/p-pause" --stop "$STOP" > "$LAB_OUT/send-P.txt" &
SEND_P=$!
pl_bg A send --bind $VIP --to $P_IP --ports 5001,5002 --stop "$STOP" > "$LAB_OUT/send-A.txt" &
SEND_A=$!
pl_bg S send --bind $VIP --to $P_IP --ports 5001,5002 --count "$S_COUNT" --stop "$STOP" > "$LAB_OUT/send-S.txt" &
SEND_S=$!
mark traffic
# A count, not a time: on a busy host the guest runs slower, and the baseline needs A to be
# more than S_COUNT + the window ahead of where S starts.
enough_from_a() {
	perl "$PL" counters P > "$RUN/counters-P.txt"
	for _spi in 0x1002 0x2002; do
		_seq=$(sed -n "s/.* spi=$_spi seq=\([0-9]*\) .*/\1/p" "$RUN/counters-P.txt")
		[ "${_seq:-0}" -ge "$PRE_PACKETS" ] || return 1
	done
}
sleep 4
lab_wait_for 60 enough_from_a || { echo "A never sent $PRE_PACKETS packets"; exit 1; }
[ "$SYNC" = on ] && ip netns exec S "$LAB_NODE" "$XAEV" sync status > "$LAB_OUT/status-before.txt" 2>&1

SENDER=
[ "$SYNC" = on ] && { SENDER=$(sync_sender_pid) || { echo "no sync sender in A"; exit 1; }; }
if [ "$SYNC" = on ] && [ "$STREAM_BREAK" -gt 0 ]; then
	step "the stream breaks; A carries traffic for $STREAM_BREAK s more"
	: > "$RUN/stream-down"
	kill -KILL "$SENDER"
	SENDER=
	mark stream-break
	snap stream-break Adead S
	mv "$LAB_OUT/state-Adead-stream-break.txt" "$LAB_OUT/state-A-stream-break.txt"
	sleep "$STREAM_BREAK"
	ip netns exec S "$LAB_NODE" "$XAEV" sync status > "$LAB_OUT/status-silent.txt" 2>&1
	ip netns exec S "$LAB_NODE" "$XAEV" -j sync status > "$LAB_OUT/status-silent.json" 2>&1
fi

step "fail A"
# A dies while traffic flows: its traffic stops and its sync sender goes with whatever it had
# not sent yet, at one instant (shell builtins only), and P pauses (for the replays below).
: > "$RUN/p-pause"
kill -STOP "$SEND_A"
[ -n "$SENDER" ] && kill -KILL "$SENDER"
mark fail
# ... and the receiver's reconnects must fail as an ssh to a dead host would: the name A goes
# (`ip netns exec A` then fails), the namespace lives on as Adead for the counters below.
ip netns del A
ip -n Adead link set eth0 down
# P first: S may start sending (it holds the address about 3 s after A's last advert).
snap fail P
mark p-snapshot
kill -TERM "$(cat "$RUN/keepalived-A.pid")"
snap fail Adead S
mv "$LAB_OUT/state-Adead-fail.txt" "$LAB_OUT/state-A-fail.txt"
kill -KILL "$SEND_A"

step "S takes over"
lab_wait_for 20 has_vip S || { echo "S never got $VIP"; exit 1; }
mark s-vip
lab_wait_for 30 test -e "$RUN/master-S" || { echo "notify_master never finished on S"; exit 1; }
mark s-master
snap takeover P S
[ "$SYNC" = on ] && ip netns exec S "$LAB_NODE" "$XAEV" sync status > "$LAB_OUT/status-after.txt" 2>&1

step "replay P's captured packets at S"
kill -TERM "$CAPTURE"
wait "$CAPTURE"
for spi in 0x1001 0x2001; do
	top=$(perl "$PL" counters S | sed -n "s/.* spi=$spi seq=\([0-9]*\) .*/\1/p")
	echo "$spi ${top:-0}" >> "$LAB_OUT/replay-split.txt"
	pl P replay --in "$LAB_OUT/capture.txt" --spi $spi --from 1 --to-seq "${top:-0}" > "$LAB_OUT/replay-old-$spi.txt"
done
snap replay-old S
while read -r spi top; do
	pl P replay --in "$LAB_OUT/capture.txt" --spi "$spi" --from $((top + 1)) --to-seq 4294967295 > "$LAB_OUT/replay-new-$spi.txt"
done < "$LAB_OUT/replay-split.txt"
snap replay-new S

step "P resumes; S finishes its $S_COUNT packets per SA"
rm -f "$RUN/p-pause"
mark resume
lab_wait_for 60 sh -c "! kill -0 $SEND_S 2>/dev/null"
sleep "$P_AFTER"
touch "$STOP"
wait "$SEND_P" "$SEND_S"
sleep 0.3
mark end
snap end P S
[ "$SYNC" = on ] && { kill -TERM "$RECEIVER"; wait "$RECEIVER"; echo "$?" > "$LAB_OUT/receive.status"; }
kill -TERM "$(cat "$RUN/keepalived-S.pid")" 2>/dev/null
wait "$KA_A" 2>/dev/null
step "done"
exit 0
