#!/bin/sh
# Benchmark 2 (bulk read), lab part, run inside the UML kernel lab by bench/run.ts.
#
# Real ESP SAs (cipher_null + hmac(sha256), replay window 32, distinct SPIs) made
# with `ip -batch`: SMALL of them in netns bulks, LARGE in netns bulkl. Then REPS
# rounds, each timing both tools on both namespaces, interleaved so that anything
# slowing the guest for a while (the host is shared) hits both sizes alike:
#   ip -n NS -s xfrm state > /dev/null
#   node xaev.js -n NS -j list > /dev/null
# Writes $LAB_OUT/bulk.txt, one line per measurement:
#   SAS TOOL REP WALL_MS CPU_MS MINFLT STATUS
# (from GNU time when /usr/bin/time exists, 10 ms steps; else wall from /proc/uptime
# read with a shell builtin and CPU from the shell's `times`, MINFLT "-").
#
# Environment: BENCH_XAEV (xaev.js path), BENCH_SMALL (1000), BENCH_LARGE (10000),
# BENCH_REPS (5), BENCH_BUDGET_S (150: no new round after that many seconds of measuring).
set -u
. "$LAB_DIR/topology.sh"

XAEV=${BENCH_XAEV:-$LAB_REPO/bin/xaev.js}
SMALL=${BENCH_SMALL:-1000}
LARGE=${BENCH_LARGE:-10000}
REPS=${BENCH_REPS:-5}
BUDGET=${BENCH_BUDGET_S:-150}
R=$LAB_OUT
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

# now_ms: NOW = uptime in ms (10 ms resolution). Shell builtins only, no $(...):
# dash forks a subshell for every command substitution (costly in UML, and
# `times` in a subshell sees no children).
now_ms() {
	read -r _up _idle < /proc/uptime
	_s=${_up%.*}
	_c=${_up#*.}
	NOW=$((_s * 1000 + 1$_c * 10 - 1000))
}
# child_cpu_ms: CPU = user+sys ms of all waited-for children so far (second line of `times`).
child_cpu_ms() {
	times > /tmp/times.txt
	{ read -r _a _b; read -r _cu _cs; } < /tmp/times.txt
	to_ms "$_cu"
	CPU=$_ms
	to_ms "$_cs"
	CPU=$((CPU + _ms))
}
# to_ms 1m2.345678s: _ms = 62345
to_ms() {
	_m=${1%%m*}
	_r=${1#*m}
	_r=${_r%s}
	_sec=${_r%.*}
	_frac=${_r#*.}000
	_frac=${_frac%"${_frac#???}"}
	_ms=$((_m * 60000 + _sec * 1000 + 1$_frac - 1000))
}
# add_sas NS FROM TO: SAs with SPI 0x100000+i for i in FROM..TO in NS, one ip process.
add_sas() {
	awk -v a="$2" -v b="$3" -v key="$LAB_AUTH_KEY" 'BEGIN {
		for (i = a; i <= b; i++)
			printf "xfrm state add src 10.1.0.1 dst 10.1.0.2 proto esp spi 0x%x reqid 1 mode transport replay-window 32 enc cipher_null \"\" auth-trunc \"hmac(sha256)\" %s 128\n", 1048576 + i, key
	}' > /tmp/sas.batch
	ip -n "$1" -batch /tmp/sas.batch
}
# sec_ms 1.23: _ms = 1230 (GNU time prints seconds with 2 decimals).
sec_ms() {
	_i=${1%.*}
	_f=${1#*.}00
	_f=${_f%"${_f#??}"}
	_ms=$((_i * 1000 + 1$_f * 10 - 1000))
}
# run_tool TOOL NS: one measurement; sets WALL CPU FLT ST.
run_tool() {
	if [ "$1" = ip ]; then set -- ip -n "$2" -s xfrm state; else set -- "$LAB_NODE" "$XAEV" -n "$2" -j list; fi
	if [ -x /usr/bin/time ]; then
		# GNU time: wall and CPU of the command alone (its own start-up is not counted),
		# and minor page faults (each one is a round trip through the UML kernel).
		/usr/bin/time -f '%e %U %S %R %x' -o /tmp/time.txt "$@" > /dev/null
		read -r _e _u _s FLT ST < /tmp/time.txt
		sec_ms "$_e"; WALL=$_ms
		sec_ms "$_u"; CPU=$_ms
		sec_ms "$_s"; CPU=$((CPU + _ms))
	else
		child_cpu_ms; _c0=$CPU
		now_ms; _t0=$NOW
		"$@" > /dev/null
		ST=$?
		now_ms; WALL=$((NOW - _t0))
		child_cpu_ms; CPU=$((CPU - _c0))
		FLT=-
	fi
}
# measure: REPS rounds of (ip, xaev) x (SMALL, LARGE); lines "SAS TOOL REP WALL_MS CPU_MS MINFLT STATUS".
# Stops early (after at least 3 rounds) once BUDGET seconds are spent: how fast the guest
# runs depends on the host, and the whole benchmark should stay within minutes.
measure() {
	now_ms; _m0=$NOW
	_rep=1
	while [ "$_rep" -le "$REPS" ]; do
		now_ms
		if [ "$_rep" -gt 3 ] && [ $((NOW - _m0)) -gt $((BUDGET * 1000)) ]; then
			echo "time budget of ${BUDGET} s spent after $((_rep - 1)) rounds" | tee -a "$R/env.txt"
			break
		fi
		for _size in "$SMALL:bulks" "$LARGE:bulkl"; do
			for _tool in ip xaev; do
				run_tool "$_tool" "${_size#*:}"
				echo "${_size%%:*} $_tool $_rep $WALL $CPU $FLT $ST" >> "$R/bulk.txt"
				echo "${_size%%:*} SAs: $_tool run $_rep: $WALL ms wall, $CPU ms CPU, $FLT minor faults, status $ST"
			done
		done
		_rep=$((_rep + 1))
	done
}

step "environment"
echo "kernel $(uname -r)" > "$R/env.txt"
cat "$R/env.txt"
mkdir -p /run/netns
ip netns add bulks
ip netns add bulkl

step "$SMALL SAs in netns bulks, $LARGE in netns bulkl"
now_ms; T0=$NOW
add_sas bulks 1 "$SMALL" || exit 1
now_ms; echo "create_small_ms $((NOW - T0))" >> "$R/env.txt"
now_ms; T0=$NOW
add_sas bulkl 1 "$LARGE" || exit 1
now_ms; echo "create_large_ms $((NOW - T0))" >> "$R/env.txt"
ip -n bulks xfrm state count
ip -n bulkl xfrm state count

step "measure: $REPS rounds (after one untimed run of each tool: the first node start reads its files through hostfs)"
run_tool ip bulks
run_tool xaev bulks
measure
# Sanity: both tools list every SA (xaev: one object per SA, count the "spi" keys).
for ns in bulks bulkl; do
	echo "xaev_listed_$ns $("$LAB_NODE" "$XAEV" -n $ns -j list | grep -o '"spi"' | wc -l)" >> "$R/env.txt"
	echo "ip_listed_$ns $(ip -n $ns xfrm state | grep -c '^src')" >> "$R/env.txt"
done
cat "$R/env.txt"
exit 0
