#!/bin/sh
# Scenario for test/lab-sync-replicate.test.ts, booted with lockdown=confidentiality: the
# active node's kernel redacts every key it reports (net/xfrm/xfrm_user.c: xfrm_redact()),
# so `sync send --replicate` must not replicate its SAs (all-zero keys), say so, and still
# sync their counters onto a standby that has the same SAs already (made here by hand, as
# an IKE daemon with HA support would). Kernels without the lockdown LSM ignore the
# parameter; lockdown.txt says which it was.
set -u
. "$LAB_DIR/topology.sh"
dmesg | grep -i 'locked down' > "$LAB_OUT/lockdown.txt" || echo "not locked down" > "$LAB_OUT/lockdown.txt"

step "left (peer), right (active), standby with right's SAs and policies"
lab_net
lab_sa_pair family=4 proto=esp spi_out=0x1000 spi_in=0x1001 reqid=1 window=32 dport=5001
ip netns add standby
{ ip -n right xfrm state; ip -n right xfrm policy; } > "$LAB_OUT/right-before.txt"
ALG="enc cipher_null \"\" auth-trunc \"hmac(sha256)\" $LAB_AUTH_KEY 128"
ip -n standby -batch - <<-EOF
xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 reqid 1 mode transport replay-window 32 $ALG
xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x1001 reqid 1 mode transport replay-window 32 $ALG
xfrm policy add src 192.0.2.2/32 dst 192.0.2.1/32 proto udp dport 5001 dir out tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 1 mode transport
xfrm policy add src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport 5001 dir in tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 1 mode transport
EOF
ip -n standby xfrm state > "$LAB_OUT/standby-before.txt"

step "the standby follows right with --install"
xaev_bg -n standby sync receive --install --from "ip netns exec right $LAB_NODE $XAEV sync send --node right --replicate sas,policies" \
	> "$LAB_OUT/receive.out" 2> "$LAB_OUT/receive.err" &
RECV=$!
i=0
until grep -q 'snapshot of' "$LAB_OUT/receive.err" 2>/dev/null || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1

step "traffic both ways through right"
lab_send left --to 192.0.2.2:5001 --count 50 --interval-ms 10 > "$LAB_OUT/send-left.txt"
lab_send right --to 192.0.2.1:5001 --count 40 --interval-ms 10 > "$LAB_OUT/send-right.txt"
sleep 2
xaev -n standby -j sync status > "$LAB_OUT/status.json" 2> "$LAB_OUT/status.err"
xaev -n right -j list > "$LAB_OUT/right-list.json"
xaev -n standby -j list > "$LAB_OUT/standby-list.json"
ip -n standby xfrm state > "$LAB_OUT/standby-after.txt"
ip -n standby xfrm policy > "$LAB_OUT/standby-policy-after.txt"
kill "$RECV"
wait "$RECV"
echo "$?" > "$LAB_OUT/receive.status"
exit 0
