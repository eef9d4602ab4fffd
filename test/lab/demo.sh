#!/bin/sh
# xaev demo scenario (runs inside the UML kernel lab; started by demo.ts, `npm run demo`).
# Two namespaces joined by a veth pair, one ESP SA pair, steady UDP traffic left -> right,
# and xaev on the receiving side: live events, counters, a threshold change, live again.
# Everything it prints goes to the console as it happens.
set -u
. "$LAB_DIR/topology.sh"

SPI=0x1000        # the SA left -> right; in netns right it is the inbound SA that sees traffic
RATE_MS=100       # 10 packets/s
PACKETS=250       # up to 25 s of traffic (stopped at the end): enough for both live views even when node starts slowly

say() { printf '\n== %s == [%ss]\n' "$*" "$(uptime_s)"; }
show() { printf '$ %s\n' "$*"; }
uptime_s() { read -r _up _idle < /proc/uptime; echo "$_up"; }

# live_start NAME: start `xaev -n right monitor --details -t`, its output going to the console
# and to /tmp/NAME.txt; returns once it has subscribed (node takes 0.5-1.7 s to start in the
# guest, and only events after the subscription show).
live_start() {
	mkfifo "/tmp/$1.fifo"
	tee "/tmp/$1.txt" < "/tmp/$1.fifo" &
	TEE=$!
	show "xaev -n right monitor --details -t"
	# node itself in the background (not through the xaev function): $! must be its PID,
	# both to see when it joined the group in netns right and to stop it.
	"$LAB_NODE" "$XAEV" -n right monitor --details -t > "/tmp/$1.fifo" &
	MON=$!
	_i=0
	while [ "$(lab_aevent_listeners "$MON")" -lt 1 ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	T0=$(uptime_s)
}

# live_stop NAME: stop the monitor (SIGTERM: it exits 0) and say how many events it showed.
live_stop() {
	kill -TERM "$MON" 2>/dev/null
	wait "$MON" "$TEE" 2>/dev/null
	_t1=$(uptime_s)
	_events=$(grep -c '^\[' "/tmp/$1.txt")
	echo "-- $_events events in $(awk -v a="$T0" -v b="$_t1" 'BEGIN { printf "%.1f", b - a }') s --"
}

say "setting up: netns left (192.0.2.1) and right (192.0.2.2), ESP SAs $SPI (left->right) and 0x2000 (right->left)"
lab_net || exit 1
# New SAs take the namespace's defaults: an event every 2 packets (rseqth) or after 1 s (etime).
lab_sa_pair family=4 proto=esp mode=transport spi_out=$SPI spi_in=0x2000 reqid=1 window=32 || exit 1
show "ip -n right xfrm state"
ip -n right xfrm state | grep -E '^src|proto'
echo "Default aevent thresholds for new SAs: replay $(cat /proc/sys/net/core/xfrm_aevent_rseqth) packets, timer $(($(cat /proc/sys/net/core/xfrm_aevent_etime) * 100)) ms"

say "live events with the default thresholds: replay every 2 packets at 10 packets/s = 5 events/s"
live_start live1
echo "(monitor subscribed; starting traffic: $PACKETS UDP datagrams left -> right, one every $RATE_MS ms)"
# The perl sender from topology.sh (mark 0 = no mark) starts in a fraction of node's
# start-up time in the guest, so the traffic begins right away.
lab_send_marked left 0 192.0.2.2 5000 "$PACKETS" "$RATE_MS" > /tmp/send.txt 2>&1 &
SENDER=$!
sleep 5
live_stop live1

say "xaev -n right get $SPI: counters and thresholds"
show "xaev -n right get $SPI"
xaev -n right get "$SPI"

say "xaev -n right set $SPI --rthr 20: an event every 20 packets instead of 2"
show "xaev -n right set $SPI --rthr 20"
xaev -n right set "$SPI" --rthr 20

say "live again: 20 packets take 2 s, so the 1 s timer reports first: about 1 event/s instead of 5"
live_start live2
sleep 5
live_stop live2

say "xaev -n right get $SPI again: the counters moved on, the replay threshold is 20"
show "xaev -n right get $SPI"
xaev -n right get "$SPI"

kill "$SENDER" 2>/dev/null
say "done: powering off"
exit 0
