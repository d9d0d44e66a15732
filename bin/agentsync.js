#!/usr/bin/env node
// The agentsync CLI entry: everything lives in dist/src/cli/main.js (built by `npm install`).
import { main } from '../dist/src/cli/main.js';

await main();
