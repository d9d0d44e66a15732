/**
 * `auth login` on a real terminal: the token is typed at a hidden prompt (never echoed), checked
 * against the server and stored 0600; a wrong token is refused and nothing is stored.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, cleanup, tmp } from './helpers.js';
import { HAS_PTY, KEY, runPty } from './pty.js';
import { httpRemote, httpTenant } from './remotes.js';

test.after(async () => {
  await httpRemote.stop();
  cleanup();
});

if (HAS_PTY) {
  test('the token typed at the hidden prompt is not echoed, is checked, and is stored 0600', async () => {
    const { url, token } = await httpTenant();
    const xdg = tmp('agentsync-xdg-');
    const env = { XDG_CONFIG_HOME: xdg, AGENTSYNC_TOKEN: undefined, NO_COLOR: '1' };
    const r = await runPty([BIN, 'auth', 'login', url], { cwd: tmp(), env, steps: [{ expect: 'Token for', send: [token, KEY.enter] }] });
    assert.is(r.error, undefined, r.transcript);
    assert.is(r.code, 0, r.transcript);
    assert.not.ok(r.transcript.includes(token), 'the token was echoed');
    const file = join(xdg, 'agentsync', 'credentials.json');
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, 'utf8').includes(token));
  });

  test('a token the server refuses is not stored (exit 3)', async () => {
    const { url } = await httpTenant();
    const xdg = tmp('agentsync-xdg-');
    const bogus = 'as_0123456789abcdef_' + 'A'.repeat(43);
    const r = await runPty([BIN, 'auth', 'login', url], { cwd: tmp(), env: { XDG_CONFIG_HOME: xdg, AGENTSYNC_TOKEN: undefined }, steps: [{ expect: 'Token for', send: [bogus, KEY.enter] }] });
    assert.is(r.code, 3, r.transcript);
    assert.not.ok(existsSync(join(xdg, 'agentsync', 'credentials.json')));
  });
} else {
  test.skip('auth login on a terminal (python3 with the pty module is not available)', () => {});
}

test.run();
