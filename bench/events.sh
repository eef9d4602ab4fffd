#!/bin/sh
# Benchmark 1 (event throughput), run inside the UML kernel lab by bench/run.ts.
#
# FLOWS ESP SA pairs left->right with replay threshold 1 (every packet sends an
# aevent), then one burst of FLOWS x COUNT UDP datagrams as fast as traffic.js
# sends them. In netns right, four listeners subscribe at the same time:
#   ip -n right xfrm monitor aevent                   > fifo | wc -l   (1 MiB buffer)
#   ip -rcvbuf 8388608 -n right xfrm monitor aevent   > fifo | wc -l   (xaev's 8 MiB)
#   xaev -n right monitor                             > fifo | wc -l
#   xaev -n right -j monitor                          > fifo | wc -l
# For each: line count, stderr (overrun messages), /proc/PID/stat right after it
# subscribed and right before it is stopped. bench/run.ts turns that into events,
# losses and CPU time per event.
#
# Environment (from runInLab opts.env): BENCH_XAEV (xaev.js path), BENCH_FLOWS (4),
# BENCH_COUNT (2000), BENCH_ETIME (x100 ms timer threshold for new SAs, 100 = 10 s),
# BENCH_IP_RCVBUF (8388608).
set -u
. "$LAB_DIR/topology.sh"

FLOWS=${BENCH_FLOWS:-4}
COUNT=${BENCH_COUNT:-2000}
ETIME=${BENCH_ETIME:-100}
XAEV=${BENCH_XAEV:-$LAB_REPO/bin/xaev.js}
BIGBUF=${BENCH_IP_RCVBUF:-8388608}
R=$LAB_OUT
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

# queued PID: total Rmem (bytes waiting) of the aevent sockets in PID's netns.
queued() {
	_q=0
	while read -r _sk _eth _pid _groups _rmem _rest; do
		[ "$_eth" = 6 ] || continue
		case $_groups in *[!0-9a-fA-F]*|'') continue ;; esac
		[ $((0x$_groups & 16)) -ne 0 ] && _q=$((_q + _rmem))
	done < "/proc/$1/net/netlink"
	echo "$_q"
}
# cputicks PID: utime+stime (clock ticks) from /proc/PID/stat (comm has no spaces here).
stat_line() { read -r _l < "/proc/$1/stat" && echo "$_l"; }
cputicks() {
	# shellcheck disable=SC2046
	set -- $(stat_line "$1")
	shift 13
	echo $(($1 + $2))
}

step "environment"
{
	echo "kernel $(uname -r)"
	echo "clk_tck $(getconf CLK_TCK)"
	echo "flows $FLOWS"
	echo "count $COUNT"
} > "$R/env.txt"
cat "$R/env.txt"

step "topology: $FLOWS ESP SA pairs with replay threshold 1"
lab_net
# New SAs take their thresholds from the namespace's sysctls: rseqth 1 = an event per packet.
lab_aevent_sysctl left "$ETIME" 1
lab_aevent_sysctl right "$ETIME" 1
TARGETS=
i=0
while [ $i -lt "$FLOWS" ]; do
	lab_sa_pair family=4 proto=esp spi_out=$((0x1000 + i)) spi_in=$((0x2000 + i)) reqid=$((i + 1)) window=32 dport=$((5000 + i)) || exit 1
	TARGETS="$TARGETS --to 192.0.2.2:$((5000 + i))"
	i=$((i + 1))
done
ip -n right xfrm state | grep -c '^src' | sed 's/^/SAs in right: /'

step "listeners (one at a time, each sampled once it has subscribed)"
# start_listener NAME COMMAND...: COMMAND > fifo, counted by wc -l; waits until it
# joined the aevent group (seen from the first listener's netns), samples its stat.
N_LISTENERS=0
LISTENERS=
start_listener() {
	_name=$1; shift
	mkfifo "/tmp/$_name.fifo"
	wc -l < "/tmp/$_name.fifo" > "$R/lines-$_name.txt" &
	WC_PIDS="${WC_PIDS:-} $!"
	"$@" > "/tmp/$_name.fifo" 2> "$R/err-$_name.txt" &
	_pid=$!
	eval "PID_$_name=$_pid"
	[ -n "${FIRST_PID:-}" ] || FIRST_PID=$_pid
	N_LISTENERS=$((N_LISTENERS + 1))
	LISTENERS="$LISTENERS $_name"
	lab_wait_listeners "$FIRST_PID" "$N_LISTENERS" || exit 1
	stat_line "$_pid" > "$R/stat0-$_name.txt"
	echo "$_name: pid $_pid: $*"
	echo "$*" > "$R/cmd-$_name.txt"
}
pid_of() { eval "echo \$PID_$1"; }

echo "rmem_max $(cat /proc/sys/net/core/rmem_max)" >> "$R/env.txt"
start_listener ip ip -n right xfrm monitor aevent
# ip asks with SO_RCVBUF, which the kernel caps at net.core.rmem_max (xaev uses
# SO_RCVBUFFORCE): raise the cap so ip -rcvbuf really gets the size it asks for.
sysctl -qw net.core.rmem_max="$BIGBUF"
start_listener ipbig ip -rcvbuf "$BIGBUF" -n right xfrm monitor aevent
start_listener xaev "$LAB_NODE" "$XAEV" -n right monitor
start_listener xaevj "$LAB_NODE" "$XAEV" -n right -j monitor
echo "listeners$LISTENERS" >> "$R/env.txt"
# Receive buffers as the kernel set them (rb = sk_rcvbuf; netlink port = PID here).
ip netns exec right ss -f netlink -m -n > "$R/ss.txt" 2>&1

step "burst: $FLOWS flows x $COUNT datagrams"
T0=$(date +%s%N)
lab_send left $TARGETS --count "$COUNT" > "$R/send.txt" 2>&1
T1=$(date +%s%N)
echo "send_ms $(((T1 - T0) / 1000000))" >> "$R/env.txt"
cat "$R/send.txt"

step "drain: until no aevent socket has queued bytes and no listener uses CPU"
prev=
stable=0
i=0
while [ $i -lt 300 ]; do
	q=$(queued "$FIRST_PID")
	now=
	for n in $LISTENERS; do now="$now $(cputicks "$(pid_of "$n")")"; done
	if [ "$q" = 0 ] && [ "$now" = "$prev" ]; then
		stable=$((stable + 1))
		[ $stable -ge 3 ] && break
	else
		stable=0
	fi
	prev=$now
	i=$((i + 1))
	sleep 0.2
done
T2=$(date +%s%N)
echo "drain_ms $(((T2 - T1) / 1000000))" >> "$R/env.txt"
PIDS=
for n in $LISTENERS; do
	p=$(pid_of "$n")
	stat_line "$p" > "$R/stat1-$n.txt"
	PIDS="$PIDS $p"
done
echo "drained after $(((T2 - T1) / 1000000)) ms, queued $q bytes"

# shellcheck disable=SC2086
kill -TERM $PIDS
# shellcheck disable=SC2086
wait $PIDS $WC_PIDS 2>/dev/null
ip -n right -s xfrm state > "$R/state-right.txt"
for n in $LISTENERS; do
	printf '%s: %s lines; stderr: ' "$n" "$(cat "$R/lines-$n.txt")"; tr '\n' ' ' < "$R/err-$n.txt"; echo
done
exit 0
