// Where the package is installed: the nearest directory at or above this module that holds a
// package.json. The same code runs as separate ES modules (dist/src/package-root.js, tests
// included) and inside the CommonJS bundle dist/xaev.cjs, where esbuild replaces
// import.meta.url with the bundle's own URL; the two sit at different depths below the root,
// so the root is found by walking up rather than by a fixed "../..". (bin/package.json only
// marks bin/ as CommonJS; nothing that imports this module runs from bin/.)
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(directory, 'package.json'))) return directory;
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    directory = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
