#!/bin/sh
# Scenario for test/lab-xfrm-roundtrip.test.ts: xaev's full SA and policy codecs against a
# real kernel. In netns `left`: SAs of every kind `ip xfrm state add` can make (AEAD,
# crypt+auth, auth-trunc, legacy/bmp/ESN replay, NAT-T, mark, output mark, if_id, TFC
# padding, IPcomp, IPv6, limits, extra flags) and policies; then xaev dumps them with its
# decoders, deletes them and installs them again with its encoders (xfrm-roundtrip.ts), and
# `ip -s xfrm state` / `ip -s xfrm policy` before and after are saved for the host to
# compare. Every SA and policy message of the run is captured raw (the same listener) and
# printed by both `ip xfrm monitor file` and `xaev monitor --file`.
set -u
. "$LAB_DIR/topology.sh"

RT="$LAB_REPO/dist/test/lab/xfrm-roundtrip.js"
L=192.0.2.1
R=192.0.2.2
K16=0x00112233445566778899aabbccddeeff
K20=0x00112233445566778899aabbccddeeff01020304
K24=0x00112233445566778899aabbccddeeff0102030405060708
K32=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
K36=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff01020304
K64=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff

step "topology and capture"
lab_net || exit 1
ip netns exec left "$LAB_NODE" "$RT" capture --out "$LAB_OUT/events.bin" --ready /tmp/lab/capture-ready > "$LAB_OUT/capture.log" 2>&1 &
CAPTURE=$!
for _ in $(seq 100); do [ -f /tmp/lab/capture-ready ] && break; sleep 0.1; done
[ -f /tmp/lab/capture-ready ] || { echo "capture did not start"; cat "$LAB_OUT/capture.log"; exit 1; }

step "SAs and policies made by ip"
# One `ip` per SA: ip exits at the first refusal even with -force, and a kernel may lack an
# algorithm (the lab's 6.12 and 7.3 have no DES, XCBC, CMAC or IPcomp): sa-adds.txt records
# `SPI ok` or `SPI error: ...` for each, and the test knows which ones every kernel must take.
: > "$LAB_OUT/sa-adds.txt"
: > "$LAB_OUT/add.log"
sa() {
	_spi=$1; shift
	if _err=$(ip -n left xfrm state add "$@" 2>&1); then echo "$_spi ok"; else echo "$_spi error: $_err"; fi >> "$LAB_OUT/sa-adds.txt"
}
sa 0x1001 src $L dst $R proto esp spi 0x1001 reqid 1 mode tunnel replay-window 32 aead "rfc4106(gcm(aes))" $K20 128
sa 0x1002 src $R dst $L proto esp spi 0x1002 reqid 2 mode transport flag esn replay-window 128 enc "cbc(aes)" $K32 auth-trunc "hmac(sha256)" $K32 128
sa 0x1003 src $L dst $R proto esp spi 0x1003 reqid 3 mode tunnel replay-window 64 enc "cbc(des3_ede)" $K24 auth "hmac(sha1)" $K20
sa 0x1004 src $L dst $R proto esp spi 0x1004 reqid 4 mode tunnel replay-window 32 encap espinudp 4500 4500 0.0.0.0 aead "rfc4106(gcm(aes))" $K36 96
sa 0x1005 src $L dst $R proto esp spi 0x1005 reqid 5 mode tunnel mark 0x5 mask 0xff output-mark 0x7 mask 0xff aead "rfc4309(ccm(aes))" 0x00112233445566778899aabbccddeeff010203 64
sa 0x1006 src $L dst $R proto esp spi 0x1006 reqid 6 mode tunnel if_id 0x42 tfcpad 64 flag noecn decap-dscp extra-flag dont-encap-dscp aead "rfc4543(gcm(aes))" $K20 128
sa 0x1007 src $L dst $R proto ah spi 0x1007 reqid 7 mode transport replay-window 16 auth-trunc "hmac(sha512)" $K64 256
sa 0x1008 src $L dst $R proto comp spi 0x1008 reqid 8 mode tunnel comp deflate
sa 0x1009 src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x1009 reqid 9 mode transport replay-window 32 sel src 2001:db8::1/128 dst 2001:db8::2/128 proto tcp dport 443 aead "rfc7539esp(chacha20,poly1305)" $K36 128
sa 0x100a src $L dst $R proto esp spi 0x100a reqid 10 mode tunnel limit time-soft 3000 limit time-hard 3600 limit byte-soft 1000000 limit packet-hard 5000000 enc "rfc3686(ctr(aes))" $K20 auth "hmac(md5)" $K16
sa 0x100b src $L dst $R proto esp spi 0x100b reqid 11 mode beet enc "cbc(aes)" $K24 auth-trunc "cmac(aes)" $K16 96
sa 0x100c src $L dst $R proto esp spi 0x100c reqid 12 mode transport enc cipher_null "" auth digest_null ""
sa 0x100f src $L dst $R proto esp spi 0x100f reqid 15 mode tunnel enc "cbc(aes)" $K16 auth "xcbc(aes)" $K16
ip -n left xfrm state update src $L dst $R proto esp spi 0x1001 reqid 1 mode tunnel replay-window 32 aead "rfc4106(gcm(aes))" $K20 128 >> "$LAB_OUT/add.log" 2>&1
ip -n left -batch - >> "$LAB_OUT/add.log" 2>&1 <<EOF
xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out priority 100 tmpl src $L dst $R proto esp reqid 1 mode tunnel
xfrm policy add src 10.2.0.0/16 dst 10.1.0.0/16 dir in priority 100 tmpl src $R dst $L proto esp reqid 1 mode tunnel level use
xfrm policy add src 10.2.0.0/16 dst 10.1.0.0/16 dir fwd priority 100 mark 0x5 mask 0xff tmpl src $R dst $L proto esp reqid 1 mode tunnel
xfrm policy add src 10.3.0.0/16 dst 10.4.0.0/16 proto tcp dport 22 dir out index 0x209 if_id 0x42 tmpl src $L dst $R proto esp reqid 6 mode tunnel
xfrm policy add src 2001:db8:5::/64 dst 2001:db8:6::/64 dir out action block priority 7 flag localok
xfrm policy add src 10.6.0.0/16 dst 10.5.0.0/16 dir in tmpl src $R dst $L proto comp reqid 8 mode tunnel level use tmpl src $R dst $L proto esp reqid 1 mode tunnel
xfrm policy update src 10.1.0.0/16 dst 10.2.0.0/16 dir out priority 50 tmpl src $L dst $R proto esp reqid 1 mode tunnel
EOF
echo $? > "$LAB_OUT/add.status"
# SAs with a direction (6.10+; 6.1 ignores the attribute), from a hand-made NEWSA.
lab_newsa left src=$L dst=$R spi=0x100d reqid=13 dir=in window=32 > "$LAB_OUT/newsa-in.txt" 2>&1
lab_newsa left src=$R dst=$L spi=0x100e reqid=14 dir=out window=0 > "$LAB_OUT/newsa-out.txt" 2>&1

step "xaev: dump, delete, install again"
ip -n left -s xfrm state > "$LAB_OUT/before-state.txt" 2>&1
ip -n left -s xfrm policy > "$LAB_OUT/before-policy.txt" 2>&1
ip netns exec left "$LAB_NODE" "$RT" reinstall --report "$LAB_OUT/reinstall.json" > "$LAB_OUT/reinstall.log" 2>&1
echo $? > "$LAB_OUT/reinstall.status"
ip -n left -s xfrm state > "$LAB_OUT/after-state.txt" 2>&1
ip -n left -s xfrm policy > "$LAB_OUT/after-policy.txt" 2>&1
ip netns exec left "$LAB_NODE" "$RT" pcpu > "$LAB_OUT/pcpu.json" 2>&1

step "expiry, acquire, deletes and flushes for the monitor"
ip -n left xfrm state add src $L dst $R proto esp spi 0x2001 reqid 20 mode transport limit time-soft 1 limit time-hard 2 aead "rfc4106(gcm(aes))" $K20 128
ip -n left xfrm policy add src $L/32 dst $R/32 proto udp dport 7 dir out tmpl src $L dst $R proto esp reqid 21 mode transport
lab_send left --to $R --port 7 --count 1 > /dev/null 2>&1
sleep 3
ip -n left -batch - > "$LAB_OUT/teardown.log" 2>&1 <<EOF
xfrm state delete src $R dst $L proto esp spi 0x1002
xfrm policy delete src 10.3.0.0/16 dst 10.4.0.0/16 proto tcp dport 22 dir out if_id 0x42
xfrm state flush proto ah
xfrm state flush
xfrm policy flush
EOF
sleep 0.5
kill -TERM $CAPTURE
wait $CAPTURE
echo $? > "$LAB_OUT/capture.status"

step "the capture printed by ip and by xaev"
ip netns exec left ip xfrm monitor file "$LAB_OUT/events.bin" > "$LAB_OUT/ip-monitor.txt" 2> "$LAB_OUT/ip-monitor.err"
ip netns exec left "$LAB_NODE" "$XAEV" monitor --file "$LAB_OUT/events.bin" > "$LAB_OUT/xaev-monitor.txt" 2> "$LAB_OUT/xaev-monitor.err"
echo $? > "$LAB_OUT/xaev-monitor.status"
exit 0
