import { fileURLToPath } from 'node:url';

/** Repository root, from dist/test/support/ where this file runs compiled. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const XAEV_BIN = `${REPO_ROOT}bin/xaev.js`;
export const FIXTURES = `${REPO_ROOT}test/fixtures/`;
