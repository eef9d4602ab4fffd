#!/bin/sh
# Scenario for test/lab-e2e.test.ts: if_id SAs carrying real traffic through an xfrm
# interface (CONFIG_XFRM_INTERFACE; net/xfrm/xfrm_interface_core.c), read and written by
# xaev. Tunnel mode: inner addresses 10.42.0.1/.2 on ipsec0, outer 192.0.2.1/.2 on veth0.
# On a kernel without xfrm interfaces (uml-6.1) the scenario records that and stops.
set -u
. "$LAB_DIR/topology.sh"

L=192.0.2.1
R=192.0.2.2
IFID=42

step "topology: xfrm interfaces with if_id $IFID"
lab_net
if ! lab_xfrmi left ipsec0 $IFID 10.42.0.1/24 2> "$LAB_OUT/xfrmi.err"; then
	echo unsupported > "$LAB_OUT/xfrmi.txt"
	exit 0
fi
lab_xfrmi right ipsec0 $IFID 10.42.0.2/24 || exit 1
echo supported > "$LAB_OUT/xfrmi.txt"
for ns in left right; do
	if [ "$ns" = left ]; then me=$L peer=$R mi=10.42.0.1 pi=10.42.0.2; else me=$R peer=$L mi=10.42.0.2 pi=10.42.0.1; fi
	ip -n "$ns" -batch - <<-EOF || exit 1
	xfrm state add src $L dst $R proto esp spi 0x4200 reqid 42 mode tunnel replay-window 32 if_id $IFID enc cipher_null "" auth-trunc "hmac(sha256)" $LAB_AUTH_KEY 128
	xfrm state add src $R dst $L proto esp spi 0x4201 reqid 42 mode tunnel replay-window 32 if_id $IFID enc cipher_null "" auth-trunc "hmac(sha256)" $LAB_AUTH_KEY 128
	xfrm policy add src $mi/32 dst $pi/32 dir out if_id $IFID tmpl src $me dst $peer proto esp reqid 42 mode tunnel
	xfrm policy add src $pi/32 dst $mi/32 dir in if_id $IFID tmpl src $peer dst $me proto esp reqid 42 mode tunnel
	EOF
done

step "phase 1: 10 packets through ipsec0, monitored by xaev"
xaev_bg -n right -j monitor > "$LAB_OUT/p1-xaev-right.json" 2> "$LAB_OUT/p1-xaev-right.err" &
P1_XR=$!
lab_wait_listeners $P1_XR 1
lab_send left --to 10.42.0.2:5042 --port 5042 --count 10 --interval-ms 20
sleep 1.3
kill -TERM $P1_XR
wait $P1_XR
xaev -n left -j get 0x4200 > "$LAB_OUT/p1-left.json" 2> "$LAB_OUT/p1-left.err"
status p1-left
xaev -n right -j get 0x4200 > "$LAB_OUT/p1-right.json" 2> "$LAB_OUT/p1-right.err"
status p1-right
xaev -n right get 0x4200 > "$LAB_OUT/p1-right.txt" 2>&1
ip -n left -s link show ipsec0 > "$LAB_OUT/p1-link-left.txt"
ip -n right -s link show ipsec0 > "$LAB_OUT/p1-link-right.txt"

step "phase 2: set --oseq on the if_id SA; the next packet arrives as 501"
xaev -n left -j set 0x4200 --oseq 500 > "$LAB_OUT/p2-set.json" 2> "$LAB_OUT/p2-set.err"
status p2-set
lab_send left --to 10.42.0.2:5042 --port 5042 --count 1
sleep 0.3
xaev -n right -j get 0x4200 > "$LAB_OUT/p2-right.json" 2> "$LAB_OUT/p2-right.err"
status p2-right
ip -n right -s xfrm state > "$LAB_OUT/p2-ip-state-right.txt"
ip -n right -s link show ipsec0 > "$LAB_OUT/p2-link-right.txt"

step "done"
exit 0
