#!/usr/bin/env node
// The CLI is bundled into one file (dist/xaev.js, built by `npm run build:ts`): loading one
// module instead of dozens halves xaev's start-up time.
import { main } from '../dist/xaev.js';

process.exitCode = await main(process.argv.slice(2));
