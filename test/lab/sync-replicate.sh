#!/bin/sh
# Scenario for test/lab-sync-replicate.test.ts (issue 19, "hand-made SAs"): SA and policy
# replication between an active A, whose SAs and policies are made by `ip xfrm`, and a
# standby S that has none of them, with a peer P.
#
#   P p_a ---- a0 A      P holds 192.0.2.1 (and 10.1.0.1) on both links; A and S hold the
#   P p_s ---- s0 S      same 192.0.2.10 (and 10.2.0.1). P's routes choose A or S: switching
#                        them is the failover.
#
# Pairs (A's side; P holds the mirror image): 1 tunnel, AEAD, legacy window, time limits, a
# selector (traffic, UDP 5001); 2 transport, cbc(aes)+hmac(sha256), ESN window 128 (traffic,
# UDP 5002); 3 NAT-T (espinudp 4500); 4 marked 0x5/0xff; 5 if_id 42. S makes one SA (SPI
# 0x2004) and one policy (pair 4's inbound) of its own that conflict with A's.
#
# Phases, each saved to $LAB_OUT: S receives A's snapshot (tables compared by the host test);
# S's own sender, while S is the standby, sends nothing S's receiver installed; traffic
# through A; a rekey of pair 2 and the delete of pair 5 on A, followed on S; S's receiver
# killed with SIGKILL, pair 3 deleted on A meanwhile, receiver restarted: S's table is A's
# again; A fails, S takes over, P switches to S: traffic both ways, replay drops counted.
set -u
. "$LAB_DIR/topology.sh"

P_IP=192.0.2.1 VIP=192.0.2.10 P_IN=10.1.0.1 VIP_IN=10.2.0.1
RUN=/run/lab/replicate
mkdir -p "$RUN"

step "topology"
ip -batch - <<-EOF
netns add P
netns add A
netns add S
link add p_a netns P type veth peer name a0 netns A
link add p_s netns P type veth peer name s0 netns S
EOF
ip -n P -batch - <<-EOF
link set lo up
addr add $P_IN/32 dev lo
addr add $P_IP/32 dev p_a
addr add $P_IP/32 dev p_s
link set p_a up
link set p_s up
route add $VIP/32 dev p_a
route add 10.2.0.0/24 dev p_a src $P_IN
EOF
for n in A:a0 S:s0; do
	ip -n "${n%%:*}" -batch - <<-EOF
	link set lo up
	addr add $VIP_IN/32 dev lo
	addr add $VIP/32 dev ${n#*:}
	link set ${n#*:} up
	route add $P_IP/32 dev ${n#*:}
	route add 10.1.0.0/24 dev ${n#*:} src $VIP_IN
	EOF
done

# The SAs and policies of one side: sas SELF PEER, where SELF is A (or P, mirrored).
GCM="aead \"rfc4106(gcm(aes))\" 0x0101010101010101010101010101010101010101010101010101010101010101c0ffee00 128"
GCM2="aead \"rfc4106(gcm(aes))\" 0x0202020202020202020202020202020202020202020202020202020202020202c0ffee01 128"
CBC="enc \"cbc(aes)\" 0x000102030405060708090a0b0c0d0e0f auth-trunc \"hmac(sha256)\" $LAB_AUTH_KEY 128"
CBC_REKEY="enc \"cbc(aes)\" 0x0f0e0d0c0b0a09080706050403020100 auth-trunc \"hmac(sha256)\" $LAB_AUTH_KEY 128"
config() {
	me=$1 peer=$2 me_in=$3 peer_in=$4
	# out = me -> peer (SPI 0x1N on A's side), in = peer -> me (0x2N); P swaps them below.
	cat <<-EOF
	xfrm state add src $me dst $peer proto esp spi $O1 reqid 1 mode tunnel replay-window 32 sel src $me_in/32 dst $peer_in/32 limit time-soft 600 limit time-hard 900 $GCM
	xfrm state add src $peer dst $me proto esp spi $I1 reqid 1 mode tunnel replay-window 32 sel src $peer_in/32 dst $me_in/32 limit time-soft 600 limit time-hard 900 $GCM
	xfrm policy add src $me_in/32 dst $peer_in/32 proto udp dport 5001 dir out tmpl src $me dst $peer proto esp reqid 1 mode tunnel
	xfrm policy add src $peer_in/32 dst $me_in/32 proto udp dport 5001 dir in tmpl src $peer dst $me proto esp reqid 1 mode tunnel
	xfrm policy add src $peer_in/32 dst $me_in/32 proto udp dport 5001 dir fwd tmpl src $peer dst $me proto esp reqid 1 mode tunnel
	xfrm state add src $me dst $peer proto esp spi $O2 reqid 2 mode transport flag esn replay-window 128 $CBC
	xfrm state add src $peer dst $me proto esp spi $I2 reqid 2 mode transport flag esn replay-window 128 $CBC
	xfrm policy add src $me/32 dst $peer/32 proto udp dport 5002 dir out tmpl src $me dst $peer proto esp reqid 2 mode transport
	xfrm policy add src $peer/32 dst $me/32 proto udp dport 5002 dir in tmpl src $peer dst $me proto esp reqid 2 mode transport
	xfrm state add src $me dst $peer proto esp spi $O3 reqid 3 mode transport replay-window 32 encap espinudp 4500 4500 0.0.0.0 $GCM2
	xfrm state add src $peer dst $me proto esp spi $I3 reqid 3 mode transport replay-window 32 encap espinudp 4500 4500 0.0.0.0 $GCM2
	xfrm policy add src $me/32 dst $peer/32 proto udp dport 5003 dir out tmpl src $me dst $peer proto esp reqid 3 mode transport
	xfrm state add src $me dst $peer proto esp spi $O4 reqid 4 mode transport replay-window 32 mark 0x5 mask 0xff $GCM2
	xfrm state add src $peer dst $me proto esp spi $I4 reqid 4 mode transport replay-window 32 mark 0x5 mask 0xff $GCM2
	xfrm policy add src $me/32 dst $peer/32 proto udp dport 5004 dir out mark 0x5 mask 0xff tmpl src $me dst $peer proto esp reqid 4 mode transport
	xfrm policy add src $peer/32 dst $me/32 proto udp dport 5004 dir in mark 0x5 mask 0xff tmpl src $peer dst $me proto esp reqid 4 mode transport
	xfrm state add src $me dst $peer proto esp spi $O5 reqid 5 mode transport replay-window 32 if_id 42 $GCM2
	xfrm state add src $peer dst $me proto esp spi $I5 reqid 5 mode transport replay-window 32 if_id 42 $GCM2
	xfrm policy add src $me/32 dst $peer/32 proto udp dport 5005 dir out if_id 42 tmpl src $me dst $peer proto esp reqid 5 mode transport
	EOF
}
step "SAs and policies on A (and their mirror on P)"
O1=0x1001 I1=0x2001 O2=0x1002 I2=0x2002 O3=0x1003 I3=0x2003 O4=0x1004 I4=0x2004 O5=0x1005 I5=0x2005
config $VIP $P_IP $VIP_IN $P_IN | ip -n A -batch - || exit 1
O1=0x2001 I1=0x1001 O2=0x2002 I2=0x1002 O3=0x2003 I3=0x1003 O4=0x2004 I4=0x1004 O5=0x2005 I5=0x1005
config $P_IP $VIP $P_IN $VIP_IN | ip -n P -batch - || exit 1

step "S's own SA and policy, which conflict with A's (same SPI; same selector and mark)"
ip -n S -batch - <<-EOF || exit 1
xfrm state add src $P_IP dst $VIP proto esp spi 0x2004 reqid 44 mode transport replay-window 32 mark 0x5 mask 0xff $GCM
xfrm policy add src $P_IP/32 dst $VIP/32 proto udp dport 5004 dir in mark 0x5 mask 0xff priority 7 tmpl src $P_IP dst $VIP proto esp reqid 44 mode transport
EOF
ip -n S xfrm state > "$LAB_OUT/S-own-state.txt"
ip -n S xfrm policy > "$LAB_OUT/S-own-policy.txt"

# The receiver on S follows A; `ip netns exec A` stands in for ssh.
SEND="ip netns exec A $LAB_NODE $XAEV sync send --node A --replicate sas,policies"
start_receiver() {
	xaev_bg -n S sync receive --install --from "$SEND" > "$LAB_OUT/receive-$1.out" 2> "$LAB_OUT/receive-$1.err" &
	RECV=$!
}
# wait_following FILE: until the receiver says it received a snapshot (up to 60 s).
wait_following() {
	i=0
	until grep -q 'snapshot of' "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$RECV" 2>/dev/null; then echo "no snapshot: $(cat "$1")"; return 1; fi
		sleep 0.1
	done
	sleep 1 # the installs run right after the snapshot
}
save() {
	for n in A S P; do
		ip -n $n -s xfrm state > "$LAB_OUT/$1-$n-state.txt"
		ip -n $n xfrm policy > "$LAB_OUT/$1-$n-policy.txt"
		ip -n $n -s xfrm policy > "$LAB_OUT/$1-$n-policy-s.txt"
	done
	xaev -n S -j sync status > "$LAB_OUT/$1-status.json" 2> "$LAB_OUT/$1-status.err"
}

step "S's receiver follows A"
start_receiver 1
wait_following "$LAB_OUT/receive-1.err" || exit 1
save snapshot
cp /run/xaev/*.installed.json "$LAB_OUT/ledger-1.json" 2>/dev/null

step "S's own sender while S is the standby: only S's own SA and policy"
xaev_bg -n S sync send --replicate sas,policies > "$LAB_OUT/S-send.ndjson" 2> "$LAB_OUT/S-send.err" &
SSEND=$!
sleep 3
kill "$SSEND"
wait "$SSEND"
echo "$?" > "$LAB_OUT/S-send.status"

# both_ways GW ROUND SENDS: 100 packets each way on both paths between P and the gateway GW;
# P's received files are numbered ROUND, the senders' files SENDS.
both_ways() {
	lab_listen "$1" --listen 5001 --bind $VIP_IN --count 100 --timeout-ms 30000 > "$LAB_OUT/$1-recv-5001.txt" &
	L1=$!
	lab_listen "$1" --listen 5002 --bind $VIP --count 100 --timeout-ms 30000 > "$LAB_OUT/$1-recv-5002.txt" &
	L2=$!
	lab_listen P --listen 5001 --bind $P_IN --count 100 --timeout-ms 30000 > "$LAB_OUT/P-recv-5001-$2.txt" &
	L3=$!
	lab_listen P --listen 5002 --bind $P_IP --count 100 --timeout-ms 30000 > "$LAB_OUT/P-recv-5002-$2.txt" &
	L4=$!
	sleep 2
	lab_send P --to $VIP_IN:5001 --to $VIP:5002 --count 100 --interval-ms 10 --from-port 4001 > "$LAB_OUT/P-send-$3.txt"
	lab_send "$1" --to $P_IN:5001 --to $P_IP:5002 --count 100 --interval-ms 10 --from-port 4001 > "$LAB_OUT/$1-send-$3.txt"
	wait $L1 $L2 $L3 $L4
}

step "traffic through A, both ways"
both_ways A 1 1
sleep 1

step "rekey of pair 2 on A (new SAs, then the old ones deleted) and delete of pair 5"
for n in A P; do
	if [ $n = A ]; then me=$VIP peer=$P_IP o=0x1012 i=0x2012 oo=0x1002 oi=0x2002; else me=$P_IP peer=$VIP o=0x2012 i=0x1012 oo=0x2002 oi=0x1002; fi
	ip -n $n -batch - <<-EOF || exit 1
	xfrm state add src $me dst $peer proto esp spi $o reqid 2 mode transport flag esn replay-window 128 $CBC_REKEY
	xfrm state add src $peer dst $me proto esp spi $i reqid 2 mode transport flag esn replay-window 128 $CBC_REKEY
	EOF
	ip -n $n -batch - <<-EOF || exit 1
	xfrm state delete src $me dst $peer proto esp spi $oo
	xfrm state delete src $peer dst $me proto esp spi $oi
	EOF
done
ip -n A -batch - <<-EOF || exit 1
xfrm state delete src $VIP dst $P_IP proto esp spi 0x1005
xfrm state delete src $P_IP dst $VIP proto esp spi 0x2005
xfrm policy delete src $VIP/32 dst $P_IP/32 proto udp dport 5005 dir out if_id 42
EOF
sleep 2
save rekey

step "S's receiver killed with SIGKILL; pair 3 deleted on A meanwhile; receiver restarted"
kill -9 "$RECV"
sleep 0.5
pkill -9 -f '^[^ ]+ [^ ]+ sync send --node A' 2>/dev/null
ip -n A -batch - <<-EOF || exit 1
xfrm state delete src $VIP dst $P_IP proto esp spi 0x1003
xfrm state delete src $P_IP dst $VIP proto esp spi 0x2003
xfrm policy delete src $VIP/32 dst $P_IP/32 proto udp dport 5003 dir out
EOF
cp /run/xaev/*.installed.json "$LAB_OUT/ledger-2.json" 2>/dev/null
start_receiver 2
wait_following "$LAB_OUT/receive-2.err" || exit 1
save restart

step "more traffic through A, then A fails: S takes over, P switches to S"
lab_send P --to $VIP_IN:5001 --to $VIP:5002 --count 50 --interval-ms 10 --from-port 4001 > "$LAB_OUT/P-send-2.txt"
lab_send A --to $P_IN:5001 --to $P_IP:5002 --count 50 --interval-ms 10 --from-port 4001 > "$LAB_OUT/A-send-2.txt"
sleep 1
ip netns exec P cat /proc/net/xfrm_stat > "$LAB_OUT/P-xfrm_stat-before.txt"
ip -n A link set a0 down
pkill -f '^[^ ]+ [^ ]+ sync send --node A' 2>/dev/null
xaev -n S sync takeover > "$LAB_OUT/takeover.txt" 2> "$LAB_OUT/takeover.err"
echo "$?" > "$LAB_OUT/takeover.status"
ip -n P -batch - <<-EOF
route replace $VIP/32 dev p_s
route replace 10.2.0.0/24 dev p_s src $P_IN
EOF

step "traffic through S, both ways"
both_ways S 2 3
ip netns exec P cat /proc/net/xfrm_stat > "$LAB_OUT/P-xfrm_stat-after.txt"
ip netns exec S cat /proc/net/xfrm_stat > "$LAB_OUT/S-xfrm_stat-after.txt"
save failover

kill "$RECV" 2>/dev/null
wait "$RECV" 2>/dev/null
echo "$?" > "$LAB_OUT/receive.status"
exit 0
