#!/bin/sh
# End-to-end scenario for test/lab-e2e.test.ts, run inside the UML kernel lab (real ESP).
# One boot, several phases; every phase leaves its raw outputs in $LAB_OUT and the host test
# asserts on them. Node start-up costs ~1 s in the guest, so xaev runs are batched where the
# order allows it, and monitors are started once per phase.
set -u
. "$LAB_DIR/topology.sh"

step "topology and SAs"
lab_net
# left -> right uses spi_out, right -> left spi_in; policies per UDP port keep the pairs apart.
lab_sa_pair family=4 proto=esp spi_out=0x1000 spi_in=0x1001 reqid=1 window=32 dport=5001
lab_sa_pair family=4 proto=esp spi_out=0x2000 spi_in=0x2001 reqid=2 window=128 esn dport=5002
lab_sa_pair family=4 proto=esp spi_out=0x3000 spi_in=0x3001 reqid=3 window=4096 esn dport=5003
lab_sa_pair family=4 proto=esp spi_out=0x4000 spi_in=0x4001 reqid=4 window=32 mark=5 mask=0xff dport=5004
lab_sa_pair family=6 proto=esp spi_out=0x5000 spi_in=0x5001 reqid=5 window=32 dport=5005
lab_sa_pair family=4 proto=ah spi_out=0x6000 spi_in=0x6001 reqid=6 window=32 dport=5006
# One SPI in both directions: `get 0x7000` in either namespace matches two SAs.
lab_sa_pair family=4 proto=esp spi_out=0x7000 spi_in=0x7000 reqid=7 window=32 dport=5007
lab_mark_ingress right 5

step "phase 1: fresh thresholds, monitors side by side on live traffic"
xaev -n left -j get 0x1000 > "$LAB_OUT/fresh.json"
status fresh
xaev_bg -n right monitor > "$LAB_OUT/p1-xaev-right.txt" 2> "$LAB_OUT/p1-xaev-right.err" &
P1_XR=$!
xaev_bg -n right -j monitor > "$LAB_OUT/p1-xaev-right.json" 2>&1 &
P1_XJ=$!
ip -n right xfrm monitor aevent > "$LAB_OUT/p1-ip-right.txt" 2>&1 &
P1_IR=$!
xaev_bg -n left monitor > "$LAB_OUT/p1-xaev-left.txt" 2> "$LAB_OUT/p1-xaev-left.err" &
P1_XL=$!
ip -n left xfrm monitor aevent > "$LAB_OUT/p1-ip-left.txt" 2>&1 &
P1_IL=$!
lab_wait_listeners $P1_XR 3
lab_wait_listeners $P1_XL 2
lab_send left --to 192.0.2.2 --port 5001 --count 10 --interval-ms 50
# The last packets are reported by the next timer event, at most one period (1 s) later.
sleep 2.3
ip -n left -s xfrm state > "$LAB_OUT/p1-ip-state-left.txt"
ip -n right -s xfrm state > "$LAB_OUT/p1-ip-state-right.txt"
kill -TERM $P1_XR $P1_XJ $P1_XL
wait $P1_XR; echo $? > "$LAB_OUT/p1-xaev-right.status"
wait $P1_XJ; wait $P1_XL
kill $P1_IR $P1_IL
wait $P1_IR $P1_IL
xaev -n left -j list > "$LAB_OUT/p1-list-left.json"
xaev -n right -j list > "$LAB_OUT/p1-list-right.json"

step "phase 2: set --rthr changes the cadence; the NEWAE shows as an update event"
ip -n left xfrm monitor aevent > "$LAB_OUT/p2-ip-left.txt" 2>&1 &
P2_IL=$!
xaev_bg -n left -j monitor --spi 0x1000 > "$LAB_OUT/p2-xaev-left.json" 2>&1 &
P2_XL=$!
lab_wait_listeners $P2_XL 2
# A long timer keeps timer events out of the count.
xaev -n left -j set 0x1000 --dst 192.0.2.2 --rthr 5 --etime 20000 > "$LAB_OUT/p2-set.json"
status p2-set
lab_send left --to 192.0.2.2 --port 5001 --count 40 --interval-ms 25
sleep 0.5
kill -TERM $P2_XL $P2_IL
wait $P2_XL $P2_IL

step "phase 3: --etime 300 reads back 300 ms and spaces timer events 300 ms apart"
xaev_bg -n left -j monitor -t --spi 0x1000 > "$LAB_OUT/p3-xaev-left.json" 2>&1 &
P3_XL=$!
lab_wait_listeners $P3_XL 1
# A new period takes effect when the timer is next armed, i.e. at the next event
# (docs/kernel/events.md; net/xfrm/xfrm_replay.c: xfrm_replay_notify(), mod_timer): one packet
# with a threshold of 1 makes that event, then the threshold goes up.
xaev -n left -j set 0x1000 --dst 192.0.2.2 --etime 300 --rthr 1 > "$LAB_OUT/p3-set.json"
status p3-set
lab_send left --to 192.0.2.2 --port 5001 --count 1
printf '%s\n' 'set 0x1000 --dst 192.0.2.2 --rthr 100000' 'get 0x1000 --dst 192.0.2.2' |
	xaev -n left -j batch - > "$LAB_OUT/p3-batch.json"
status p3-batch
# Slow traffic (below the count threshold): each timer expiry finds new counters.
lab_send left --to 192.0.2.2 --port 5001 --count 60 --interval-ms 50
sleep 0.6
kill -TERM $P3_XL
wait $P3_XL

step "phase 4: --oseq K makes the next packet arrive with sequence K+1; lowering needs --force"
xaev -n left -j set 0x1000 --dst 192.0.2.2 --oseq 100000 > "$LAB_OUT/p4-set.json"
status p4-set
lab_send left --to 192.0.2.2 --port 5001 --count 1
sleep 0.3
xaev -n right -j get 0x1000 > "$LAB_OUT/p4-right.json"
xaev -n left set 0x1000 --dst 192.0.2.2 --oseq 5 > "$LAB_OUT/p4-lower.out" 2> "$LAB_OUT/p4-lower.err"
status p4-lower

step "phase 5: ESN SAs with windows 128 and 4096"
xaev_bg -n right -j monitor --proto esp > "$LAB_OUT/p5-xaev-right.json" 2>&1 &
P5_XR=$!
lab_wait_listeners $P5_XR 1
lab_send left --to 192.0.2.2:5002 --to 192.0.2.2:5003 --port 5002 --count 20 --interval-ms 20
sleep 1.3
kill -TERM $P5_XR
wait $P5_XR
printf '%s\n' 'get 0x2000' 'set 0x2000 --seq 1000' 'get 0x3000' 'set 0x3000 --seq 5000 --seq-hi 1' 'get 0x3000' |
	xaev -n right -j batch - > "$LAB_OUT/p5-batch.json"
status p5-batch
xaev -n right get 0x3000 --bitmap > "$LAB_OUT/p5-bitmap.txt"
ip -n right -s xfrm state > "$LAB_OUT/p5-ip-state-right.txt"

step "phase 6: marked, IPv6 and AH SAs; a shared SPI"
lab_send_marked left 5 192.0.2.2 5004 3 20 4004 > /dev/null
lab_send left --to '[2001:db8::2]:5005' --to 192.0.2.2:5006 --port 5005 --count 3 --interval-ms 20
sleep 0.3
printf '%s\n' 'get 0x4000 --mark 5' 'get 0x5000' 'get 0x6000 --proto ah' |
	xaev -n right -j batch - > "$LAB_OUT/p6-batch.json"
status p6-batch
xaev -n right get 0x4000 > "$LAB_OUT/p6-marked.txt"
ip -n right -s xfrm state > "$LAB_OUT/p6-ip-state-right.txt"
xaev -n left get 0x7000 > "$LAB_OUT/p6-ambiguous.out" 2> "$LAB_OUT/p6-ambiguous.err"
status p6-ambiguous

step "phase 7: overrun with a tiny receive buffer, then later events still arrive"
xaev -n left set 0x1000 --dst 192.0.2.2 --rthr 1 --etime 20000 > /dev/null
xaev_bg -n left -j monitor --spi 0x1000 --rcvbuf 1 > "$LAB_OUT/p7-xaev-left.json" 2> "$LAB_OUT/p7-xaev-left.err" &
P7_XL=$!
lab_wait_listeners $P7_XL 1
# Stop the listener while the burst fills its buffer, so the loss does not depend on speed.
kill -STOP $P7_XL
lab_send left --to 192.0.2.2 --port 5001 --count 200
kill -CONT $P7_XL
sleep 1
lab_send left --to 192.0.2.2 --port 5001 --count 3 --interval-ms 300
sleep 0.5
kill -TERM $P7_XL
wait $P7_XL
xaev -n left -j get 0x1000 --dst 192.0.2.2 > "$LAB_OUT/p7-final.json"

step "phase 8: without CONFIG_HZ, set --etime calibrates HZ on the SA"
rmmod configs 2>/dev/null
[ -e /proc/config.gz ] && echo present > "$LAB_OUT/p8-config.txt" || echo absent > "$LAB_OUT/p8-config.txt"
xaev -n left -j set 0x1001 --dst 192.0.2.1 --etime 700 > "$LAB_OUT/p8-set.json" 2> "$LAB_OUT/p8-set.err"
status p8-set

step "phase 9: NEWAE and GETAE on a larval SA (allocspi): the kernel's refusal as xaev reports it"
ip -n left xfrm state allocspi src 192.0.2.1 dst 192.0.2.2 proto esp reqid 9 min 0x9000 max 0x9000 > "$LAB_OUT/p9-allocspi.txt" 2>&1
ip -n left xfrm state > "$LAB_OUT/p9-ip-state.txt" 2>&1
xaev -n left set 0x9000 --rthr 5 > "$LAB_OUT/p9-set.out" 2> "$LAB_OUT/p9-set.err"
status p9-set
xaev -n left -j get 0x9000 > "$LAB_OUT/p9-get.json" 2> "$LAB_OUT/p9-get.err"
status p9-get

step "done"
exit 0
