// Where the package is installed. Found by walking up from this module, because the code runs
// both as separate modules (dist/src/...) and as one bundle (dist/xaev.js) at another depth.
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
