#!/bin/sh
# Benchmark: `xaev sync` with PAIRS SA pairs, run inside the UML kernel lab by bench/sync.ts.
#
#   netns P 10.9.0.1 --veth-- netns A 10.9.0.2        netns S (same SAs as A, no link)
#
# A and S hold PAIRS SA pairs (inbound P->A SPI 0x10000+i, outbound A->P SPI 0x20000+i; odd i
# ESN with window 128, even i legacy with window 32); P holds the first FLOWS pairs and UDP
# policies for them (port 6000+i), so those carry traffic. S runs
# `xaev sync receive --from 'ip netns exec A xaev sync send | tee stream.jsonl'`: every update
# record carries the time the sender read A's event; `xaev -n S -j monitor -t` timestamps the
# receiver's writes (every NEWAE comes back as an update event). bench/sync.ts matches them.
# (A monitor on A would not do: it reads the same event later than the sender, often after S
# has written it.)
#
# Phases (each start written to $LAB_OUT/phases.txt as `NAME EPOCH_MS`):
#   snapshot  the receiver starts and applies the first snapshot
#   burst     one `xaev -n A batch` sets the counters of every SA on A (2 x PAIRS changes at once)
#   traffic   FLOWS pairs carry 100 packets/s each way for TRAFFIC_S seconds
#   takeover  TAKEOVERS rounds of `xaev --version` then `xaev sync takeover` in S (live mode:
#             S is current, takeover confirms), then rounds with S's SAs created anew and a
#             receiver in --mode cache (takeover writes every SA)
# Round times go to $LAB_OUT/takeover.txt: `MODE ROUND VERSION_MS TAKEOVER_MS STATUS`
# (wall, 10 ms resolution, from /proc/uptime read with shell builtins).
#
# Environment: BENCH_XAEV (xaev.js), BENCH_PAIRS (1000), BENCH_FLOWS (4), BENCH_TRAFFIC_S (10),
# BENCH_TAKEOVERS (5). The guest's CPU use during the traffic phase goes to cpu-traffic.txt (two
# `cpu` lines of /proc/stat): a saturated guest delays everything, the receiver included.
set -u
. "$LAB_DIR/topology.sh"

XAEV=${BENCH_XAEV:-$LAB_REPO/bin/xaev.js}
PAIRS=${BENCH_PAIRS:-1000}
FLOWS=${BENCH_FLOWS:-4}
TRAFFIC_S=${BENCH_TRAFFIC_S:-10}
TAKEOVERS=${BENCH_TAKEOVERS:-5}
PL="$LAB_DIR/sync-failover.pl"
R=$LAB_OUT
P_IP=10.9.0.1 A_IP=10.9.0.2
xaev() { "$LAB_NODE" "$XAEV" "$@"; }
# `exec`: $! is then the process itself, so kill reaches it.
xaev_bg() { exec "$LAB_NODE" "$XAEV" "$@"; }
exec_bg() { exec "$@"; }
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
# mark NAME: `NAME EPOCH_MS` (the clock of the monitors' -t timestamps) in phases.txt.
mark() { echo "$1 $(date +%s%3N)" >> "$R/phases.txt"; }
# now_ms: NOW = uptime in ms (10 ms resolution), shell builtins only.
now_ms() {
	read -r _up _idle < /proc/uptime
	NOW=$((${_up%.*} * 1000 + 1${_up#*.} * 10 - 1000))
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	_end=$(($(cut -d. -f1 /proc/uptime) + $1)); shift
	until "$@"; do
		[ "$(cut -d. -f1 /proc/uptime)" -lt "$_end" ] || return 1
		sleep 0.2
	done
}
start_receiver() {
	exec_bg ip netns exec S "$LAB_NODE" "$XAEV" sync receive "$@" \
		--from "ip netns exec A $LAB_NODE $XAEV sync send | tee -a $R/stream-$2.jsonl" \
		>> "$R/receive-$2.out" 2>> "$R/receive-$2.err" &
	RECEIVER=$!
}
# receiver_ready: the first snapshot arrived (and, in cache mode, the takeover was rehearsed:
# at least one SA "ready"), as `sync status -j` says.
receiver_ready() {
	ip netns exec S "$LAB_NODE" "$XAEV" -j sync status > /tmp/status.json 2>/dev/null &&
		grep -q '"snapshots":[1-9]' /tmp/status.json &&
		{ [ "$1" != cache ] || grep -q '"state":"ready"' /tmp/status.json; }
}

step "environment"
{
	echo "kernel $(uname -r)"
	echo "pairs $PAIRS"
	echo "flows $FLOWS"
} > "$R/env.txt"
mkdir -p /run/netns
ip -batch - <<-EOF
netns add P
netns add A
netns add S
link add eth0 netns P type veth peer name eth0 netns A
EOF
ip -n P -batch - <<-EOF
link set lo up
addr add $P_IP/24 dev eth0
link set eth0 up
EOF
ip -n A -batch - <<-EOF
link set lo up
addr add $A_IP/24 dev eth0
link set eth0 up
EOF

step "$PAIRS SA pairs on A and S, $FLOWS of them on P with policies"
# sas FROM TO: state lines for pairs FROM..TO; pols FROM TO ME PEER: policy lines.
sas() {
	awk -v a="$1" -v b="$2" -v p="$P_IP" -v g="$A_IP" -v key="$LAB_AUTH_KEY" 'BEGIN {
		for (i = a; i <= b; i++) {
			flags = i % 2 ? "flag esn replay-window 128" : "replay-window 32"
			alg = "enc cipher_null \"\" auth-trunc \"hmac(sha256)\" " key " 128"
			printf "xfrm state add src %s dst %s proto esp spi 0x%x reqid %d mode transport %s %s\n", p, g, 65536 + i, i, flags, alg
			printf "xfrm state add src %s dst %s proto esp spi 0x%x reqid %d mode transport %s %s\n", g, p, 131072 + i, i, flags, alg
		}
	}'
}
pols() {
	awk -v a="$1" -v b="$2" -v me="$3" -v peer="$4" 'BEGIN {
		for (i = a; i <= b; i++) {
			printf "xfrm policy add src %s/32 dst %s/32 proto udp dport %d dir out tmpl src %s dst %s proto esp reqid %d mode transport\n", me, peer, 6000 + i, me, peer, i
			printf "xfrm policy add src %s/32 dst %s/32 proto udp dport %d dir in tmpl src %s dst %s proto esp reqid %d mode transport\n", peer, me, 6000 + i, peer, me, i
		}
	}'
}
sas 1 "$PAIRS" > /tmp/sas.batch
{ cat /tmp/sas.batch; pols 1 "$FLOWS" $A_IP $P_IP; } | ip -n A -batch - || exit 1
ip -n S -batch /tmp/sas.batch || exit 1
{ sas 1 "$FLOWS"; pols 1 "$FLOWS" $P_IP $A_IP; } | ip -n P -batch - || exit 1
echo "sas_A $(ip -n A xfrm state count | grep -o '[0-9]*' | head -1)" >> "$R/env.txt"
echo "sas_S $(ip -n S xfrm state count | grep -o '[0-9]*' | head -1)" >> "$R/env.txt"

step "monitor on S"
xaev_bg -n S -j monitor -t > "$R/events-S.json" 2> "$R/monitor-S.err" &
MON_S=$!
lab_wait_listeners $MON_S 1

step "snapshot: the receiver starts"
mark snapshot
start_receiver --mode live
wait_for 120 receiver_ready live || { echo "sync receive never answered sync status"; cat "$R/receive-live.err"; exit 1; }
# Let the snapshot's writes settle.
sleep 3
ip netns exec S "$LAB_NODE" "$XAEV" -j sync status > "$R/status-snapshot.json" 2>&1

step "burst: every SA's counters set on A at once"
sas 1 "$PAIRS" | awk '{ for (i = 1; i <= NF; i++) if ($i == "spi") s = $(i + 1); d = substr(s, 3, 1) == "1" ? "--seq" : "--oseq"; print "set " s " " d " 1000" }' > /tmp/burst.batch
# P's outbound counters for the flows go up alike, or A would drop the traffic below as replays.
awk -v n="$FLOWS" '$3 != "--seq" || NR > 2 * n { next } { print }' /tmp/burst.batch | sed 's/--seq/--oseq/' > /tmp/burst-P.batch
xaev -n P batch /tmp/burst-P.batch > /dev/null
mark burst
xaev -n A batch /tmp/burst.batch > "$R/burst.out" 2> "$R/burst.err"
echo "burst_status $?" >> "$R/env.txt"
sleep 5

step "traffic: $FLOWS pairs, 100 packets/s each way, ${TRAFFIC_S}s"
PORTS=$(awk -v n="$FLOWS" 'BEGIN { for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), 6000 + i }')
ip netns exec P perl "$PL" sink --ports "$PORTS" --stop /tmp/stop &
ip netns exec A perl "$PL" sink --ports "$PORTS" --stop /tmp/stop &
mark traffic
head -1 /proc/stat > "$R/cpu-traffic.txt"
COUNT=$((TRAFFIC_S * 100))
ip netns exec P perl "$PL" send --bind $P_IP --to $A_IP --ports "$PORTS" --count $COUNT > "$R/send-P.txt" &
SEND_P=$!
ip netns exec A perl "$PL" send --bind $A_IP --to $P_IP --ports "$PORTS" --count $COUNT > "$R/send-A.txt"
wait $SEND_P
head -1 /proc/stat >> "$R/cpu-traffic.txt"
touch /tmp/stop
sleep 3
ip netns exec S "$LAB_NODE" "$XAEV" -j sync status > "$R/status-traffic.json" 2>&1

step "takeover: $TAKEOVERS rounds in live mode"
mark takeover
# The monitor has done its part; on the guest's one CPU it would compete with every takeover
# (each write comes back to it as an event).
kill -TERM $MON_S
wait $MON_S
# round MODE K: one round of `xaev --version` then `xaev sync takeover` in S, wall times in ms.
round() {
	now_ms; _t0=$NOW
	ip netns exec S "$LAB_NODE" "$XAEV" --version > /dev/null
	now_ms; _t1=$NOW
	ip netns exec S "$LAB_NODE" "$XAEV" sync takeover > "$R/takeover-$1-$2.txt" 2>&1
	_st=$?
	now_ms
	echo "$1 $2 $((_t1 - _t0)) $((NOW - _t1)) $_st" >> "$R/takeover.txt"
}
k=1
while [ $k -le "$TAKEOVERS" ]; do round live $k; k=$((k + 1)); done
kill -TERM $RECEIVER
wait $RECEIVER
echo "receiver_live_status $?" >> "$R/env.txt"

step "takeover: $TAKEOVERS rounds in cache mode (fresh SAs on S and a fresh receiver each round)"
k=1
while [ $k -le "$TAKEOVERS" ]; do
	# S's SAs anew (counters 0), so that takeover has every SA to write, not just to confirm.
	ip -n S xfrm state flush
	ip -n S -batch /tmp/sas.batch || exit 1
	start_receiver --mode cache
	wait_for 120 receiver_ready cache || { echo "cache-mode receiver never got ready"; exit 1; }
	round cache $k
	kill -TERM $RECEIVER
	wait $RECEIVER
	k=$((k + 1))
done
mark end
step "done"
exit 0
