#!/bin/sh
# Scenario for test/lab-xfrm-roundtrip.test.ts on a kernel booted with
# lockdown=confidentiality: the kernel zeroes every key it reports (net/xfrm/xfrm_user.c:
# xfrm_redact()). ip shows the zeros; xaev's decoder must see them as redacted and
# saProblems() must refuse the SA. A kernel without the lockdown LSM leaves the keys, and
# lockdown.txt says so.
set -u
. "$LAB_DIR/topology.sh"
# The kernel says at boot when it locks itself down (security/lockdown/lockdown.c:
# lock_kernel_down(): "Kernel is locked down from Kernel configuration|command line; see man
# kernel_lockdown.7"); securityfs, which would show the level, is not built into every lab kernel.
dmesg | grep -i 'locked down' > "$LAB_OUT/lockdown.txt" || echo "not locked down" > "$LAB_OUT/lockdown.txt"
ip netns add left
ip -n left xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x3001 reqid 1 mode tunnel \
	enc "cbc(aes)" 0x00112233445566778899aabbccddeeff auth-trunc "hmac(sha256)" 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 128 \
	> "$LAB_OUT/add.log" 2>&1
ip -n left xfrm state > "$LAB_OUT/state.txt" 2>&1
ip netns exec left "$LAB_NODE" --input-type=module -e "
import { XfrmClient } from '$LAB_REPO/dist/src/xfrm/client.js';
import { hasRedactedKeys, wipeSaKeys } from '$LAB_REPO/dist/src/xfrm/sa-message.js';
import { saProblems } from '$LAB_REPO/dist/src/xfrm/validate.js';
const client = XfrmClient.open();
const [sa] = client.dumpSas();
console.log(JSON.stringify({ redacted: hasRedactedKeys(sa), problems: saProblems(sa).map((p) => p.field), keyBits: [sa.crypt.keyBits, sa.auth.keyBits] }));
wipeSaKeys(sa);
" > "$LAB_OUT/xaev.json" 2>&1
exit 0
