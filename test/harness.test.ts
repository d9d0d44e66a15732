/**
 * The test harness itself: a failed server test that leaves its server and a timer open still
 * ends the run (exit 1, uvu's totals printed), and a test that never settles is stopped by the
 * watchdog — so CI fails instead of hanging to its limit. Each case runs the real runner
 * (`dist/test/run.js`) in a child process and waits for it to exit (an event, no time limit here:
 * if the harness were broken this test would itself be stopped by the outer watchdog).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const h = suite('harness: the suite never hangs');

function runner(pattern: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'run.js'), join(ROOT, 'dist', 'test', 'harness'), pattern], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env } });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

h('a failing server test that leaves its server open: the run ends, exit 1, totals printed', async () => {
  const r = await runner('failing-server\\.fixture\\.js$');
  assert.is(r.code, 1, r.out + r.err);
  const plain = r.out.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(plain, /Total:\s+1\b/);
  assert.match(plain, /Passed:\s+0\b/);
});

h('a test that never settles: the watchdog stops the run with exit 1', async () => {
  const r = await runner('stuck\\.fixture\\.js$', { AGENTSYNC_TEST_STALL_S: '2' });
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.err, /test run stuck/);
});

h.run();
