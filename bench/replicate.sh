#!/bin/sh
# Benchmark: SA and policy replication at scale (issue 19 item 6), run inside the UML kernel
# lab by bench/replicate.ts.
#
#   netns A: the active, a VPN concentrator with PEERS = SAS/2 road-warrior peers: per peer an
#            inbound and an outbound tunnel SA (AEAD rfc4106(gcm(aes)), 256-bit key, ESN,
#            replay window 128, random SPIs from a fixed seed) and, for the first POLICIES/2
#            peers, an out and an in policy (10.0.0.0/8 <-> the peer's virtual /32).
#   netns S: the standby, empty. No links: the stream goes through a pipe (`ip netns exec A`
#            stands in for ssh).
#
# Phases (their figures in $LAB_OUT, read by bench/replicate.ts):
#   create    A's tables made with two `ip -batch` (create.txt)
#   dumps     REPS rounds of `ip -n A xfrm state` and `ip -n A xfrm policy` (dump-state.txt,
#             dump-policy.txt: START_MS END_MS STATUS per round; sizes in sizes.txt);
#             `xaev --version` the same way (version.txt), node's start-up in the guest
#   sender    `xaev sync send --replicate sas,policies` alone, into a file: its start time
#             (send-start.txt), when its hello, snapshot-begin and snapshot-end were read from
#             its pipe (send-hello.txt, send-begin.txt, send-end.txt), and the stream (send.jsonl)
#   install   a listener on S's SA and policy groups (replicate-nl.pl), then
#             `xaev -n S sync receive --install --from 'ip netns exec A xaev sync send ...'`:
#             its start time (receive-start.txt), S's NEWSA/NEWPOLICY times (listen-install.txt),
#             its status (status-install.json)
#   burst     listeners on A's and on S's SA group, then BURST new SAs (a rekey of BURST/2 peers)
#             in one `ip -n A -batch` (burst-ip.txt): each SA's NEWSA time on A and on S
#             (listen-burst-A.txt, listen-burst-S.txt), the sender's records of them and
#             the stream's hello, snapshot and lost records (stream-burst.jsonl), S's status
#             after (status-burst.json)
# Times are epoch ms of the guest's one clock (replicate-nl.pl: Time::HiRes).
#
# Environment: BENCH_XAEV (xaev.js), BENCH_SAS (10000, even), BENCH_POLICIES (10000, even,
# at most BENCH_SAS), BENCH_BURST (1000, even), BENCH_REPS (3), BENCH_WAIT_S (150: the longest
# wait for the install and for the burst), BENCH_PROFILE (1: the receiver and its sender run
# from the unbundled modules under `node --cpu-prof`, profiles in $LAB_OUT/prof-receive and
# prof-send; for finding where the time goes, not for the figures).
set -u
. "$LAB_DIR/topology.sh"

XAEV=${BENCH_XAEV:-$LAB_REPO/bin/xaev.js}
SAS=${BENCH_SAS:-10000}
POLICIES=${BENCH_POLICIES:-10000}
BURST=${BENCH_BURST:-1000}
REPS=${BENCH_REPS:-3}
WAIT_S=${BENCH_WAIT_S:-150}
NL="perl $(dirname "$LAB_SCENARIO_SRC")/replicate-nl.pl"
R=$LAB_OUT
GW=192.0.2.1
SEND="ip netns exec A $LAB_NODE $XAEV sync send --node A --replicate sas,policies"
RECEIVE="$LAB_NODE $XAEV"
if [ -n "${BENCH_PROFILE:-}" ]; then
	printf "const { main } = await import('%s');\nprocess.exitCode = await main(process.argv.slice(2));\n" \
		"$LAB_REPO/dist/src/cli/main.js" > /tmp/xaev-modules.mjs
	SEND="ip netns exec A $LAB_NODE --cpu-prof --cpu-prof-dir=$R/prof-send /tmp/xaev-modules.mjs sync send --node A --replicate sas,policies"
	RECEIVE="$LAB_NODE --cpu-prof --cpu-prof-dir=$R/prof-receive /tmp/xaev-modules.mjs"
fi
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
# wait_file FILE SECONDS: until FILE exists.
wait_file() {
	_i=0
	until [ -e "$1" ]; do
		_i=$((_i + 1))
		[ $_i -le $(($2 * 10)) ] || { echo "no $1 after $2 s"; return 1; }
		sleep 0.1
	done
}
# listen NAME NS ARGS...: a listener in NS writing $R/listen-NAME.txt; LISTENER = its pid.
listen() {
	_name=$1 _ns=$2; shift 2
	rm -f "/tmp/ready-$_name"
	# Ahead of the processes it watches, so that it reads each message soon after the kernel
	# sent it (its time is the measurement) and does not add to their wait for the CPU much.
	ip netns exec "$_ns" nice -n -10 $NL listen --out "$R/listen-$_name.txt" --ready "/tmp/ready-$_name" "$@" &
	LISTENER=$!
	wait_file "/tmp/ready-$_name" 30
}

# A's tables: sas FIRST_PEER LAST_PEER SEED (each peer's out and in SA), policies LAST_PEER.
# SPIs: random, distinct across all calls (spis.txt remembers them), never below 0x100.
sas() {
	awk -v a="$1" -v b="$2" -v seed="$3" -v gw=$GW -v used=/tmp/spis.txt 'BEGIN {
		srand(seed)
		while ((getline s < used) > 0) seen[s] = 1
		for (i = a; i <= b; i++) {
			peer = sprintf("198.18.%d.%d", int(i / 256), i % 256)
			printf "xfrm state add src %s dst %s proto esp spi 0x%08x reqid %d mode tunnel flag esn replay-window 128 aead \"rfc4106(gcm(aes))\" 0x%s 128\n", gw, peer, spi(), i, key()
			printf "xfrm state add src %s dst %s proto esp spi 0x%08x reqid %d mode tunnel flag esn replay-window 128 aead \"rfc4106(gcm(aes))\" 0x%s 128\n", peer, gw, spi(), i, key()
		}
	}
	function spi(   s) {
		do s = 256 + int(rand() * 4294967040); while (s in seen)
		seen[s] = 1
		printf "%d\n", s >> used
		return s
	}
	function key(   k, j) {
		k = ""
		for (j = 0; j < 9; j++) k = k sprintf("%08x", int(rand() * 4294967296))
		return k
	}'
}
policies() {
	awk -v n="$1" -v gw=$GW 'BEGIN {
		for (i = 1; i <= n; i++) {
			peer = sprintf("198.18.%d.%d", int(i / 256), i % 256)
			vip = sprintf("100.64.%d.%d/32", int(i / 256), i % 256)
			printf "xfrm policy add src 10.0.0.0/8 dst %s dir out tmpl src %s dst %s proto esp reqid %d mode tunnel\n", vip, gw, peer, i
			printf "xfrm policy add src %s dst 10.0.0.0/8 dir in tmpl src %s dst %s proto esp reqid %d mode tunnel\n", vip, peer, gw, i
		}
	}'
}

step "environment"
{
	echo "kernel $(uname -r)"
	echo "sas $SAS"
	echo "policies $POLICIES"
	echo "burst $BURST"
	echo "awk $(readlink -f "$(command -v awk)")"
} > "$R/env.txt"
mkdir -p /run/netns
ip netns add A || exit 1
ip netns add S || exit 1
ip -n A link set lo up
ip -n S link set lo up

step "A's tables: $SAS SAs and $POLICIES policies"
: > /tmp/spis.txt
sas 1 $((SAS / 2)) 19 > /tmp/sas.batch
policies $((POLICIES / 2)) > /tmp/policies.batch
# The rekey: BURST/2 peers get a new pair each (new SPIs and keys, same reqid).
sas 1 $((BURST / 2)) 23 > /tmp/burst.batch
$NL time "$R/create.txt" ip -n A -batch /tmp/sas.batch || exit 1
$NL time "$R/create.txt" ip -n A -batch /tmp/policies.batch || exit 1
{
	echo "sas_A $(ip -n A xfrm state count | grep -o '[0-9]*' | head -1)"
	echo "policies_A $(ip -n A xfrm policy count | tr -s ' \t' ' ')"
} >> "$R/env.txt"
cat "$R/env.txt"

step "dumps: $REPS rounds of ip xfrm state / ip xfrm policy on A, and xaev --version"
# One untimed run each first: the first start of a program reads its files through hostfs.
ip -n A xfrm state > /dev/null
"$LAB_NODE" "$XAEV" --version > /dev/null
k=1
while [ $k -le "$REPS" ]; do
	$NL time "$R/dump-state.txt" ip -n A xfrm state > /tmp/ip-state.txt
	$NL time "$R/dump-policy.txt" ip -n A xfrm policy > /tmp/ip-policy.txt
	$NL time "$R/version.txt" "$LAB_NODE" "$XAEV" --version > /dev/null
	k=$((k + 1))
done
{
	echo "state_bytes $(wc -c < /tmp/ip-state.txt)"
	echo "state_sas $(grep -c '^src' /tmp/ip-state.txt)"
	echo "policy_bytes $(wc -c < /tmp/ip-policy.txt)"
	echo "policy_policies $(grep -c '^src' /tmp/ip-policy.txt)"
} > "$R/sizes.txt"
cat "$R/sizes.txt"

step "sender alone: xaev sync send --replicate sas,policies into a file"
ip netns exec A $NL stamp "$R/send-start.txt" "$LAB_NODE" "$XAEV" sync send --node A --replicate sas,policies 2> "$R/send.err" |
	$NL tee --out /tmp/send.jsonl --longest-gap "$R/send-gap.txt" --match '"type":"hello"='"$R/send-hello.txt" \
		--match '"type":"snapshot-begin"='"$R/send-begin.txt" --match '"type":"snapshot-end"='"$R/send-end.txt" &
wait_file "$R/send-end.txt" "$WAIT_S" || { cat "$R/send.err"; exit 1; }
# The start file names the sender's pid (its writer execs the sender).
read -r _t SENDER < "$R/send-start.txt"
kill -TERM "$SENDER"
wait
cp /tmp/send.jsonl "$R/send.jsonl"

step "install: S's receiver follows A, from its start until every SA and policy is on S"
listen install S --groups sa,policy --until-sa "$SAS" --until-policy "$POLICIES" --timeout "$WAIT_S" || exit 1
L_INSTALL=$LISTENER
# The receiver's default --heartbeat-timeout (5 s): the sender-alone phase above measured the
# stream's longest silence, and a restart here is counted (receive_restarts).
$NL stamp "$R/receive-start.txt" ip netns exec S $RECEIVE sync receive --install \
	--from "$SEND 2> $R/receive-send.err | $NL tee --stdout --out /tmp/stream.jsonl --match '\"type\":\"snapshot-end\"=$R/receive-snapshot-end.txt'" > "$R/receive.out" 2> "$R/receive.err" &
RECEIVER=$!
wait $L_INSTALL
{
	echo "sas_S $(ip -n S xfrm state count | grep -o '[0-9]*' | head -1)"
	echo "policies_S $(ip -n S xfrm policy count | tr -s ' \t' ' ')"
} >> "$R/env.txt"
"$LAB_NODE" "$XAEV" -n S -j sync status > "$R/status-install.json" 2> "$R/status-install.err"
tail -3 "$R/listen-install.txt"

step "burst: $BURST new SAs on A in one ip -batch, each timed on A and on S"
listen burst-A A --groups sa --until-sa "$BURST" --timeout "$WAIT_S" || exit 1
L_A=$LISTENER
listen burst-S S --groups sa --until-sa "$BURST" --timeout "$WAIT_S" || exit 1
L_S=$LISTENER
$NL time "$R/burst-ip.txt" ip -n A -batch /tmp/burst.batch
wait $L_S
wait $L_A
sleep 1
"$LAB_NODE" "$XAEV" -n S -j sync status > "$R/status-burst.json" 2> "$R/status-burst.err"
echo "sas_S_after_burst $(ip -n S xfrm state count | grep -o '[0-9]*' | head -1)" >> "$R/env.txt"
kill -TERM $RECEIVER
wait $RECEIVER
echo "receive_status $?" >> "$R/env.txt"
echo "receive_restarts $(grep -c 'sync stream ended' "$R/receive.err")" >> "$R/env.txt"
# The sender's records of the burst (their `time`: when it read A's NEWSA), and its hello and
# snapshot-end in the receiver's connection.
grep -E '"cause":"added"|"type":"(hello|snapshot-begin|snapshot-end|lost)"' /tmp/stream.jsonl > "$R/stream-burst.jsonl"
cat "$R/env.txt"
step "done"
exit 0
