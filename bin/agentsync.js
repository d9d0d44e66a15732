#!/usr/bin/env node
// The agentsync CLI entry: everything lives in dist/src/cli/main.js (built by `npm install`).
// The prescan worker starts first, so that it lists services/ while the modules load.
import { startPrescan } from '../dist/src/workspace/prescan.js';

startPrescan(process.argv.slice(2), process.cwd(), process.env);
const { main } = await import('../dist/src/cli/main.js');
await main();
