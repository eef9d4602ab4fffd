#!/bin/sh
# xaev kernel lab smoke scenario (runs inside UML; see smoke-run.ts):
# - environment facts (uname -r, /proc/config.gz, node startup time)
# - IPv4 ESP transport pair (window 32): 5 datagrams left->right at 100 ms,
#   `ip xfrm monitor aevent` in both namespaces, states saved
# - IPv6 ESP, IPv4 AH and IPv4 ESP+ESN window-128 pairs, 5 datagrams each
# Writes everything into $LAB_OUT and exits non-zero if an expectation fails.
set -u
. "$LAB_DIR/topology.sh"

FAILS=0
# Process starts cost 40-150 ms inside UML (ptrace-based), so the checks use
# shell builtins only (read/case) instead of one grep per check.
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
ok() { echo "ok   $*"; echo "ok   $*" >> "$LAB_OUT/checks.txt"; }
bad() { echo "FAIL $*"; echo "FAIL $*" >> "$LAB_OUT/checks.txt"; FAILS=$((FAILS + 1)); }
# slurp FILE: file contents into $_s (builtins only).
slurp() {
	_s=
	[ -f "$1" ] || return 0
	while IFS= read -r _line || [ -n "$_line" ]; do _s="$_s$_line
"; done < "$1"
}
# expect DESC FILE GLOB: the shell pattern *GLOB* matches FILE's contents.
expect() {
	slurp "$2"
	# shellcheck disable=SC2254 # $3 is a pattern on purpose
	case $_s in *$3*) ok "$1" ;; *) bad "$1 ('$3' not in ${2##*/})" ;; esac
}
now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
# split_sas NS FILE: write each SA block of `ip -s xfrm state` output FILE to $LAB_OUT/sa-NS-0xSPI.txt (one awk process).
split_sas() {
	awk -v out="$LAB_OUT/sa-$1-" '
		function flush() { if (blk != "" && spi != "") { f = out spi ".txt"; printf "%s", blk > f; close(f) } blk = ""; spi = "" }
		/^src / { flush() }
		{ blk = blk $0 "\n" }
		match($0, /spi 0x[0-9a-f]+/) && spi == "" { spi = substr($0, RSTART + 4, RLENGTH - 4); sub(/^0x0*/, "0x", spi) }
		END { flush() }' "$2"
}

: > "$LAB_OUT/checks.txt"

step "environment"
{
	echo "uname -r: $(uname -r)"
	echo "uptime at scenario start: $(cut -d' ' -f1 /proc/uptime)s"
	if [ -e /proc/config.gz ]; then echo "/proc/config.gz: present"; else echo "/proc/config.gz: absent"; fi
	echo "node: $LAB_NODE $("$LAB_NODE" --version)"
	t=$(now_ns); "$LAB_NODE" -e '' ; echo "node -e '' : $(ms_since "$t") ms"
	t=$(now_ns); "$LAB_NODE" -e '' ; echo "node -e '' (2nd): $(ms_since "$t") ms"
	t=$(now_ns); ip -V >/dev/null; echo "ip -V: $(ms_since "$t") ms"
	echo "xfrm_aevent_etime=$(cat /proc/sys/net/core/xfrm_aevent_etime) xfrm_aevent_rseqth=$(cat /proc/sys/net/core/xfrm_aevent_rseqth)"
	echo "modules:"; cut -d' ' -f1 /proc/modules | sort | tr '\n' ' '; echo
} > "$LAB_OUT/environment.txt" 2>&1
cat "$LAB_OUT/environment.txt"

step "topology"
t=$(now_ns)
lab_net || bad "lab_net"
echo "lab_net: $(ms_since "$t") ms"
ip netns exec left ip -br addr > "$LAB_OUT/netns-exec.txt" 2>&1 && ok "ip netns exec works" || bad "ip netns exec"
ip -n left -br addr; ip -n right -br addr

step "SA pairs"
lab_sa_pair family=4 proto=esp mode=transport spi_out=0x1000 spi_in=0x2000 reqid=1 window=32 dport=5000 \
	&& ok "lab_sa_pair v4 esp" || bad "lab_sa_pair v4 esp"
lab_sa_pair family=6 proto=esp mode=transport spi_out=0x1006 spi_in=0x2006 reqid=6 window=32 dport=5000 \
	&& ok "lab_sa_pair v6 esp" || bad "lab_sa_pair v6 esp"
lab_sa_pair family=4 proto=ah mode=transport spi_out=0x1001 spi_in=0x2001 reqid=2 window=32 dport=5001 \
	&& ok "lab_sa_pair v4 ah" || bad "lab_sa_pair v4 ah"
lab_sa_pair family=4 proto=esp mode=tunnel spi_out=0x1002 spi_in=0x2002 reqid=3 window=128 esn dport=5002 \
	&& ok "lab_sa_pair v4 esp tunnel esn window 128" || bad "lab_sa_pair v4 esn"
lab_monitor right "$LAB_OUT/right-monitor.txt"
MON_RIGHT=$LAB_MONITOR_PID
lab_monitor left "$LAB_OUT/left-monitor.txt"
MON_LEFT=$LAB_MONITOR_PID

step "traffic"
# Receiver on right, dual-stack port 5000: 5 IPv4 + 5 IPv6 datagrams.
rm -f /tmp/listen.ready
lab_listen right --listen 5000 --count 10 --timeout-ms 8000 --ready-file /tmp/listen.ready \
	> "$LAB_OUT/listen.txt" 2>&1 &
LISTEN_PID=$!
i=0
while [ ! -e /tmp/listen.ready ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

t=$(now_ns)
# One sender process for all four flows (node startup is the expensive part).
lab_send left --to 192.0.2.2:5000 --to [2001:db8::2]:5000 --to 192.0.2.2:5001 --to 192.0.2.2:5002 \
	--count 5 --interval-ms 100 > "$LAB_OUT/send.txt" 2>&1 && ok "sender" || bad "sender: $(cat "$LAB_OUT/send.txt")"
echo "sender done: $(ms_since "$t") ms"
wait "$LISTEN_PID" && ok "receiver got 5 IPv4 + 5 IPv6 datagrams through ESP" || bad "receiver: $(cat "$LAB_OUT/listen.txt")"
cat "$LAB_OUT/send.txt" "$LAB_OUT/listen.txt"

step "wait for aevent timer"
# Let the aevent timer (xfrm_aevent_etime 10 = 1 s) fire.
sleep 1.5
kill "$MON_RIGHT" "$MON_LEFT" 2>/dev/null

step "save states"
ip -n left -s xfrm state > "$LAB_OUT/left-state.txt" 2>&1
ip -n right -s xfrm state > "$LAB_OUT/right-state.txt" 2>&1
ip -n left xfrm policy > "$LAB_OUT/left-policy.txt" 2>&1
ip -n right xfrm policy > "$LAB_OUT/right-policy.txt" 2>&1
split_sas left "$LAB_OUT/left-state.txt"
split_sas right "$LAB_OUT/right-state.txt"

step "checks"
expect "left out SA 0x1000 oseq 0x5" "$LAB_OUT/sa-left-0x1000.txt" 'oseq 0x5'
expect "right in SA 0x1000 seq 0x5" "$LAB_OUT/sa-right-0x1000.txt" 'context: seq 0x5,'
expect "right in SA 0x1000 bitmap 0x1f" "$LAB_OUT/sa-right-0x1000.txt" 'bitmap 0x0000001f'
expect "right in SA 0x1000 lifetime 5 packets" "$LAB_OUT/sa-right-0x1000.txt" '(bytes), 5(packets)'
expect "left out SA 0x1006 (v6) oseq 0x5" "$LAB_OUT/sa-left-0x1006.txt" 'oseq 0x5'
expect "right in SA 0x1006 (v6) bitmap 0x1f" "$LAB_OUT/sa-right-0x1006.txt" 'bitmap 0x0000001f'
expect "left out SA 0x1001 (ah) oseq 0x5" "$LAB_OUT/sa-left-0x1001.txt" 'oseq 0x5'
expect "right in SA 0x1001 (ah) bitmap 0x1f" "$LAB_OUT/sa-right-0x1001.txt" 'bitmap 0x0000001f'
expect "left out SA 0x1002 (esn) oseq 0x5" "$LAB_OUT/sa-left-0x1002.txt" 'oseq 0x5'
expect "right in SA 0x1002 (esn) seq 0x5" "$LAB_OUT/sa-right-0x1002.txt" ' seq 0x5'
expect "SA 0x1002 is esn" "$LAB_OUT/sa-right-0x1002.txt" 'flag esn'
expect "SA 0x1002 replay_window 128" "$LAB_OUT/sa-right-0x1002.txt" 'replay_window 128'
expect "right monitor: timer expired aevent" "$LAB_OUT/right-monitor.txt" 'timer expired'
expect "right monitor: replay update aevent" "$LAB_OUT/right-monitor.txt" 'replay update'
expect "left monitor: timer expired aevent" "$LAB_OUT/left-monitor.txt" 'timer expired'
expect "left monitor: replay update aevent" "$LAB_OUT/left-monitor.txt" 'replay update'

step "flush"
lab_flush && ok "lab_flush" || bad "lab_flush"
[ -z "$(ip -n left xfrm state; ip -n right xfrm policy)" ] && ok "flushed" || bad "not flushed"

echo "fails: $FAILS"
[ "$FAILS" -eq 0 ]
