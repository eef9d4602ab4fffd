#!/bin/sh
# Scenario for the 1,000-SA takeover check in test/lab-sync-apply.test.ts: 1,000 SA pairs
# (2,000 VALID SAs, legacy and ESN alternating) in the active namespace (right) and the
# standby, `sync receive --mode cache` on the standby, then `sync takeover` timed against
# `xaev --version` (node's own start-up) in the same guest.
set -u
. "$LAB_DIR/topology.sh"

PAIRS=${PAIRS:-1000}

step "$PAIRS SA pairs in right and standby"
lab_net
ip netns add standby
ALG="enc cipher_null \"\" auth-trunc \"hmac(sha256)\" $LAB_AUTH_KEY 128"
awk -v n="$PAIRS" -v alg="$ALG" 'BEGIN {
  for (i = 0; i < n; i++) {
    flags = (i % 2) ? "flag esn replay-window 64" : "replay-window 32";
    printf "xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x%x reqid %d mode transport %s %s\n", 65536 + 2 * i, i + 1, flags, alg;
    printf "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x%x reqid %d mode transport %s %s\n", 65537 + 2 * i, i + 1, flags, alg;
  }
}' > "$LAB_OUT/sas.batch"
ip -n right -batch "$LAB_OUT/sas.batch"
ip -n standby -batch "$LAB_OUT/sas.batch"

# Ready when the first snapshot arrived and cache mode rehearsed the takeover once. The
# control socket is the default one, found by `-n standby` from /run/netns/standby's inode.
step "receiver in cache mode"
xaev_bg -n standby sync receive --mode cache --from "ip netns exec right $LAB_NODE $XAEV sync send --node right" \
  > "$LAB_OUT/receive.out" 2> "$LAB_OUT/receive.err" &
RECV=$!
i=0
while [ $i -lt 120 ]; do
  if xaev -n standby -j sync status > "$LAB_OUT/status.json" 2>/dev/null \
     && grep -q '"snapshots":1' "$LAB_OUT/status.json" && grep -q '"state":"ready"' "$LAB_OUT/status.json"; then break; fi
  sleep 0.5; i=$((i + 1))
done

step "takeover, timed against xaev --version (twice before and twice after it)"
T0=$(lab_now_ms); xaev --version > /dev/null; T1=$(lab_now_ms); xaev --version > /dev/null; T2=$(lab_now_ms)
xaev -n standby -j sync takeover > "$LAB_OUT/takeover.json" 2> "$LAB_OUT/takeover.err"
echo "$?" > "$LAB_OUT/takeover.status"
T3=$(lab_now_ms); xaev --version > /dev/null; T4=$(lab_now_ms); xaev --version > /dev/null; T5=$(lab_now_ms)
echo "version_ms=$((T1 - T0)) $((T2 - T1)) takeover_ms=$((T3 - T2)) version_ms=$((T4 - T3)) $((T5 - T4))" > "$LAB_OUT/timing.txt"
xaev -n standby -j list > "$LAB_OUT/standby-list.json"

kill "$RECV" 2>/dev/null
wait "$RECV"
echo "$?" > "$LAB_OUT/receive.status"
exit 0
