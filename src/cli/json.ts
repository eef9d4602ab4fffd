// Exact-u64 JSON lives in the xfrm layer (src/xfrm/json.ts) so that src/sync can write the
// same records as `get -j` without importing the CLI.
export { jsonU64, toJson, type JsonU64 } from '../xfrm/json.js';
