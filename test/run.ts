/**
 * The test runner `npm test` uses: uvu's own runner (same discovery, same output, same totals),
 * plus two guarantees uvu lacks.
 * - The run ends when the last suite has run, whatever a failed test left open (a server, a
 *   child process, a timer): the process exits with uvu's code instead of waiting on handles.
 * - A watchdog: when no test has reported for `AGENTSYNC_TEST_STALL_S` seconds (default 300) the
 *   run is stuck (a test awaits something that never comes); it says so and exits 1. This is not
 *   a time limit on any test: a test that makes progress may take as long as it needs.
 * Usage: `node dist/test/run.js <dir> [pattern]`.
 * @module
 */
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';

const [dir = 'dist/test', pattern = '\\.test\\.js$'] = process.argv.slice(2);
const stallMs = Number(process.env.AGENTSYNC_TEST_STALL_S ?? 300) * 1000;

let last = Date.now();
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  last = Date.now();
  return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
const watchdog = setInterval(() => {
  if (Date.now() - last < stallMs) return;
  process.stderr.write(`\ntest run stuck: no test reported for ${stallMs / 1000} s; a test awaits something that never comes — stopping (exit 1)\n`);
  process.exit(1);
}, Math.min(5000, stallMs / 2));
watchdog.unref();

process.env.FORCE_COLOR ??= '1';
const ctx = await parse(dir, pattern, {});
await run(ctx.suites, { bail: false });
// uvu has set process.exitCode; leave now even if a failed test left a handle open.
process.exit(process.exitCode ?? 0);
