// The algorithms Linux offers for ESP, AH and IPcomp, with the key and ICV sizes each takes:
// the kernel's own list (net/xfrm/xfrm_algo.c: aead_list, aalg_list, ealg_list, calg_list) and
// the sizes the RFCs give for IPsec (docs/kernel/sa-messages.md#algorithms). A name is the
// kernel's canonical one (what it reports in dumps: xfrm_user.c attach_*() copy it in); the
// `compat` names it also accepts on input are listed so that a hand-made message is judged
// by the algorithm it means. The kernel accepts some key lengths the RFCs do not (any HMAC
// key): xaev refuses those, as a key of another length means the data is not what it seems.

/** Which XFRMA_ALG_* attribute an algorithm travels in. */
export type AlgorithmKind = 'aead' | 'crypt' | 'auth' | 'comp';

export interface AlgorithmSpec {
  kind: AlgorithmKind;
  name: string;
  /** Other names the kernel accepts for it (xfrm_algo_desc.compat). */
  aliases: readonly string[];
  /** Key lengths in bits the algorithm takes (for AEAD and rfc3686 the salt or nonce included). */
  keyBits: readonly number[];
  /** AEAD: the ICV lengths in bits the kernel offers (one xfrm_algo_desc each). */
  icvBits?: readonly number[];
  /** Auth: the full ICV in bits; a truncation may not exceed it (xfrm_user.c: attach_auth_trunc()). */
  icvFullBits?: number;
}

/** Every multiple of 8 from `min` to `max` bits: ciphers with variable key lengths. */
function bitsRange(min: number, max: number): number[] {
  const sizes: number[] = [];
  for (let bits = min; bits <= max; bits += 8) sizes.push(bits);
  return sizes;
}

/** AES keys of 128, 192 and 256 bits plus `extra` bits of salt or nonce. */
function aesKeys(extra = 0): number[] {
  return [128 + extra, 192 + extra, 256 + extra];
}

const ALGORITHMS: readonly AlgorithmSpec[] = [
  // AEAD: the key ends in a salt, 32 bits for GCM and GMAC (RFC 4106, 4543), 24 for CCM (RFC
  // 4309), 32 for ChaCha20-Poly1305 (RFC 7634).
  { kind: 'aead', name: 'rfc4106(gcm(aes))', aliases: [], keyBits: aesKeys(32), icvBits: [64, 96, 128] },
  { kind: 'aead', name: 'rfc4309(ccm(aes))', aliases: [], keyBits: aesKeys(24), icvBits: [64, 96, 128] },
  { kind: 'aead', name: 'rfc4543(gcm(aes))', aliases: [], keyBits: aesKeys(32), icvBits: [128] },
  { kind: 'aead', name: 'rfc7539esp(chacha20,poly1305)', aliases: [], keyBits: [288], icvBits: [128] },
  // Encryption.
  { kind: 'crypt', name: 'ecb(cipher_null)', aliases: ['cipher_null'], keyBits: [0] },
  { kind: 'crypt', name: 'cbc(des)', aliases: ['des'], keyBits: [64] },
  { kind: 'crypt', name: 'cbc(des3_ede)', aliases: ['des3_ede'], keyBits: [192] },
  { kind: 'crypt', name: 'cbc(cast5)', aliases: ['cast5'], keyBits: bitsRange(40, 128) },
  { kind: 'crypt', name: 'cbc(blowfish)', aliases: ['blowfish'], keyBits: bitsRange(40, 448) },
  { kind: 'crypt', name: 'cbc(aes)', aliases: ['aes'], keyBits: aesKeys() },
  { kind: 'crypt', name: 'cbc(serpent)', aliases: ['serpent'], keyBits: aesKeys() },
  { kind: 'crypt', name: 'cbc(camellia)', aliases: ['camellia'], keyBits: aesKeys() },
  { kind: 'crypt', name: 'cbc(twofish)', aliases: ['twofish'], keyBits: aesKeys() },
  // AES-CTR for ESP: the key ends in a 32-bit nonce (RFC 3686).
  { kind: 'crypt', name: 'rfc3686(ctr(aes))', aliases: [], keyBits: aesKeys(32) },
  { kind: 'crypt', name: 'cbc(sm4)', aliases: ['sm4'], keyBits: [128] },
  // Authentication: HMAC keys as long as the hash (RFC 2403, 2404, 2857, 4868), AES-XCBC-MAC
  // and AES-CMAC with an AES key (RFC 3566, 4494).
  { kind: 'auth', name: 'digest_null', aliases: [], keyBits: [0], icvFullBits: 0 },
  { kind: 'auth', name: 'hmac(md5)', aliases: ['md5'], keyBits: [128], icvFullBits: 128 },
  { kind: 'auth', name: 'hmac(sha1)', aliases: ['sha1'], keyBits: [160], icvFullBits: 160 },
  { kind: 'auth', name: 'hmac(sha256)', aliases: ['sha256'], keyBits: [256], icvFullBits: 256 },
  { kind: 'auth', name: 'hmac(sha384)', aliases: [], keyBits: [384], icvFullBits: 384 },
  { kind: 'auth', name: 'hmac(sha512)', aliases: [], keyBits: [512], icvFullBits: 512 },
  { kind: 'auth', name: 'hmac(rmd160)', aliases: ['rmd160'], keyBits: [160], icvFullBits: 160 },
  { kind: 'auth', name: 'xcbc(aes)', aliases: [], keyBits: [128], icvFullBits: 128 },
  { kind: 'auth', name: 'cmac(aes)', aliases: [], keyBits: aesKeys(), icvFullBits: 128 },
  { kind: 'auth', name: 'hmac(sm3)', aliases: ['sm3'], keyBits: [256], icvFullBits: 256 },
  // Compression (IPcomp): no key.
  { kind: 'comp', name: 'deflate', aliases: [], keyBits: [0] },
  { kind: 'comp', name: 'lzs', aliases: [], keyBits: [0] },
  { kind: 'comp', name: 'lzjh', aliases: [], keyBits: [0] },
];

const BY_KIND_AND_NAME = new Map<string, AlgorithmSpec>();
for (const spec of ALGORITHMS) {
  for (const name of [spec.name, ...spec.aliases]) BY_KIND_AND_NAME.set(`${spec.kind}:${name}`, spec);
}

/** The algorithm of this kind with this name (or alias); undefined when Linux offers none. */
export function findAlgorithm(kind: AlgorithmKind, name: string): AlgorithmSpec | undefined {
  return BY_KIND_AND_NAME.get(`${kind}:${name}`);
}

/** Every algorithm of a kind, canonical names only, for messages and help. */
export function algorithmNames(kind: AlgorithmKind): string[] {
  return ALGORITHMS.filter((spec) => spec.kind === kind).map((spec) => spec.name);
}

/** "128, 192 or 256", or "40 to 128 in steps of 8" for a long range. */
export function describeSizes(sizes: readonly number[]): string {
  if (sizes.length > 4) return `${sizes[0]} to ${sizes.at(-1)} in steps of 8`;
  if (sizes.length === 1) return String(sizes[0]);
  return `${sizes.slice(0, -1).join(', ')} or ${sizes.at(-1)}`;
}
