/**
 * The process entry (what `bin/agentsync.js` loads, from the bundle): run the CLI with the real
 * process.
 * @module
 */
import { main } from './main.js';

await main();
