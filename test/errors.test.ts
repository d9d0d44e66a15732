/**
 * Error codes that no other suite reaches: an unknown token in server administration, a verify
 * mismatch (printed, not thrown), and the catch-all INTERNAL for anything unexpected.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../src/cli/main.js';
import { cleanup, cli, tmp, workspace } from './helpers.js';

test.after(cleanup);

test('admin token revoke of an unknown token: TOKEN_UNKNOWN, exit 2', async () => {
  const data = tmp('agentsync-data-');
  assert.is((await cli(data, 'admin', 'tenant', 'create', 'acme', '--data', data)).code, 0);
  const r = await cli(data, 'admin', 'token', 'revoke', '0123456789abcdef', '--data', data, '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'TOKEN_UNKNOWN');
});

test('verify with another hash: exit 1 and the VERIFY_MISMATCH code on stderr', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  const r = await cli(ws, 'verify', 'sha256:' + '0'.repeat(64));
  assert.is(r.code, 1);
  assert.ok(r.err.trimEnd().endsWith('(VERIFY_MISMATCH)'), r.err);
});

test('an unexpected failure is INTERNAL, exit 4, one line, no stack without AGENTSYNC_DEBUG', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  let err = '';
  const code = await run(['hash'], {
    cwd: ws, env: { ...process.env, AGENTSYNC_DEBUG: undefined },
    stdout: () => { throw new Error('stdout is gone'); }, stderr: (s) => { err += s; },
    stdinTTY: false, stdoutTTY: false,
  });
  assert.is(code, 4);
  assert.ok(err.trimEnd().endsWith('(INTERNAL)'), err);
  assert.is(err.trimEnd().split('\n').length, 1);
});

test.run();
