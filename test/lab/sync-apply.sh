#!/bin/sh
# Scenario for test/lab-sync-apply.test.ts: `sync send` in the active namespace (right), the
# same SAs in a third namespace (standby) running `sync receive` and its own `sync send`.
# Checks on a real kernel (VALID SAs, real ESP traffic) that the receiver's NEWAE writes land
# exactly (legacy and ESN), that their CU events are not sent back by the standby's sender,
# and what takeover and status report.
set -u
. "$LAB_DIR/topology.sh"

step "topology: left (peer), right (active), standby with right's SAs"
lab_net
lab_sa_pair family=4 proto=esp spi_out=0x1000 spi_in=0x1001 reqid=1 window=32 dport=5001
lab_sa_pair family=4 proto=esp spi_out=0x2000 spi_in=0x2001 reqid=2 window=128 esn dport=5002
# The standby gets this pair only later, as an IKE daemon would install it after the fact.
lab_sa_pair family=4 proto=esp spi_out=0x3000 spi_in=0x3001 reqid=3 window=32 dport=5003
ip netns add standby
ALG="enc cipher_null \"\" auth-trunc \"hmac(sha256)\" $LAB_AUTH_KEY 128"
printf '%s\n' \
  "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 reqid 1 mode transport replay-window 32 $ALG" \
  "xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x1001 reqid 1 mode transport replay-window 32 $ALG" \
  "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x2000 reqid 2 mode transport flag esn replay-window 128 $ALG" \
  "xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x2001 reqid 2 mode transport flag esn replay-window 128 $ALG" \
  | ip -n standby -batch -

step "standby: monitor, own sender, receiver following right"
xaev_bg -n standby -j monitor > "$LAB_OUT/standby-monitor.json" 2>&1 &
MON=$!
xaev_bg -n standby sync send > "$LAB_OUT/standby-send.ndjson" 2> "$LAB_OUT/standby-send.err" &
SSEND=$!
xaev_bg -n standby sync receive --control "$LAB_OUT/ctl.sock" --from "ip netns exec right $LAB_NODE $XAEV sync send --node right" \
  > "$LAB_OUT/receive.out" 2> "$LAB_OUT/receive.err" &
RECV=$!
lab_wait_listeners "$SSEND" 2
# The receiver is up when its control socket exists; then wait for the first snapshot.
i=0
while [ ! -S "$LAB_OUT/ctl.sock" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
sleep 3

step "traffic both ways through right"
lab_send left --to 192.0.2.2:5001 --to 192.0.2.2:5002 --count 150 --interval-ms 10 > "$LAB_OUT/send-left.txt"
lab_send right --to 192.0.2.1:5001 --to 192.0.2.1:5002 --to 192.0.2.1:5003 --count 120 --interval-ms 10 > "$LAB_OUT/send-right.txt"
# etime 200 ms: the last timer events reach the standby well within two seconds.
sleep 2

step "the third pair appears on the standby: held until now, applied from the SA group's NEWSA"
printf '%s\n' \
  "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x3000 reqid 3 mode transport replay-window 32 $ALG" \
  "xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x3001 reqid 3 mode transport replay-window 32 $ALG" \
  | ip -n standby -batch -
sleep 1

step "state after live sync"
xaev -n right -j list > "$LAB_OUT/right-list.json"
xaev -n standby -j list > "$LAB_OUT/standby-live-list.json"
xaev -n standby -j sync status --control "$LAB_OUT/ctl.sock" > "$LAB_OUT/status.json"
echo "$?" > "$LAB_OUT/status.status"

step "takeover"
T0=$(lab_now_ms)
xaev -n standby -j sync takeover --control "$LAB_OUT/ctl.sock" > "$LAB_OUT/takeover.json" 2> "$LAB_OUT/takeover.err"
echo "$?" > "$LAB_OUT/takeover.status"
echo $(( $(lab_now_ms) - T0 )) > "$LAB_OUT/takeover.ms"
xaev -n standby -j list > "$LAB_OUT/standby-after-list.json"
sleep 0.5

step "stop"
kill "$RECV" "$SSEND" "$MON" 2>/dev/null
wait "$RECV"
echo "$?" > "$LAB_OUT/receive.status"
wait "$SSEND" "$MON" 2>/dev/null
ip -s -n standby xfrm state > "$LAB_OUT/standby-state.txt"
exit 0
