/**
 * Issue 12, second half: refusal advice that never goes in circles (`data.hint`), server-side
 * messages that name the running server, install onto PATH from the packed tarball, and the
 * CI recipe of docs/ci.md run against a real `serve`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanup, cli, ok, pair, workspace, write } from './helpers.js';
import { cliWith, httpRemote, httpTenant } from './remotes.js';

test.after(async () => { await httpRemote.stop(); cleanup(); });

const P = 'playbook/rotate-api-keys.md';

/** A and B on one remote with P changed on both sides (a conflict in B). */
async function conflicted() {
  const { remote, a, b } = await pair();
  write(a, P, '# A\n');
  await ok(a, 'push', '-m', 'a');
  write(b, P, '# B\n');
  await ok(b, 'fetch');
  return { remote, a, b };
}

/** The refusal's hint: present, an agentsync (or git) command, and not `refused` again. */
function hintOf(r: { json: any }, refused: RegExp): string {
  const hint = r.json?.error?.data?.hint;
  assert.type(hint, 'string', JSON.stringify(r.json));
  assert.not.match(hint, refused, `hint ${hint} repeats the refused step`);
  return hint;
}

test('a conflict refused by sync --pull, sync --push, push or pull points at merge, not at the other direction', async () => {
  const { b } = await conflicted();
  for (const argv of [['sync', '--pull'], ['sync', '--push'], ['push'], ['pull']]) {
    const r = await cli(b, ...argv, '--json');
    assert.is(r.code, 1, argv.join(' '));
    assert.is(r.json.error.code, argv.includes('--pull') || argv[0] === 'pull' ? 'PULL_REFUSED' : 'PUSH_REFUSED');
    // Neither direction resolves a conflict without --force: the hint is neither.
    assert.is(hintOf(r, /^agentsync (sync|push|pull)\b/), `agentsync merge ${P}`);
  }
  // The hint works: merge takes the artifact out of the refused state.
  const m = await cli(b, 'merge', P, '--json');
  assert.ok(m.code === 0 || m.code === 1, m.err);
  await ok(b, 'resolve', P, '--ours');
  await ok(b, 'push', '-m', 'resolved');
});

test('a conflict with a deletion (nothing to merge) points at diff; merge itself refused points at diff', async () => {
  const { b } = await conflicted();
  rmSync(join(b, 'services', P));
  let r = await cli(b, 'push', '--json');
  assert.is(r.json.error.code, 'PUSH_REFUSED');
  assert.is(hintOf(r, /^agentsync (push|pull|merge)\b/), `agentsync diff ${P}`);
  r = await cli(b, 'merge', P, '--json');
  assert.is(r.json.error.code, 'NOT_MERGEABLE');
  assert.is(hintOf(r, /^agentsync merge\b/), `agentsync diff ${P}`);
});

test('sync --push over a remote-only change points at pull; sync --pull over a local-only change at push', async () => {
  const { a, b } = await pair();
  write(a, P, '# A\n');
  await ok(a, 'push', '-m', 'a');
  await ok(b, 'fetch');
  let r = await cli(b, 'sync', '--push', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'PUSH_REFUSED');
  assert.is(hintOf(r, /^agentsync (sync|push)\b/), `agentsync pull ${P}`);
  write(a, 'playbook/mine.md', '# mine\n');
  r = await cli(a, 'sync', '--pull', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'PULL_REFUSED');
  assert.is(hintOf(r, /^agentsync (sync|pull)\b/), 'agentsync push playbook/mine.md');
});

test('deploy or rollback of a missing version points at versions; rollback of a draft at deploy; a stale draft at pull', async () => {
  const { a, b } = await pair();
  for (const op of ['deploy', 'rollback']) {
    const r = await cli(a, op, '4', '--json');
    assert.is(r.code, 2);
    assert.is(r.json.error.code, 'VERSION_UNKNOWN');
    assert.is(hintOf(r, /^agentsync (deploy|rollback)\b/), 'agentsync versions');
  }
  write(a, P, '# draft\n');
  await ok(a, 'push', '--draft', '-m', 'draft');
  let r = await cli(a, 'rollback', '2', '--json');
  assert.is(r.json.error.code, 'VERSION_DRAFT');
  assert.is(hintOf(r, /^agentsync rollback\b/), 'agentsync deploy 2');
  write(b, 'playbook/other.md', '# other\n');
  await ok(b, 'push', '-m', 'moves latest');
  r = await cli(a, 'deploy', '2', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'DRAFT_STALE');
  assert.is(hintOf(r, /^agentsync deploy\b/), 'agentsync pull');
});

test('auth login with a refused token: one message naming the URL once, a hint that is not auth login', async () => {
  const { url } = await httpTenant();
  const other = await httpTenant();
  const ws = await workspace(url);
  const home = { XDG_CONFIG_HOME: join(ws, '.xdg') };
  for (const [token, code] of [[other.token, 'AUTH_FORBIDDEN'], ['as_0123456789abcdef_' + 'A'.repeat(43), 'AUTH_REQUIRED']] as const) {
    const r = await cliWith(ws, home, ['auth', 'login', '--token-stdin', '--json'], token);
    assert.is(r.code, 3);
    assert.is(r.json.error.code, code);
    // Not wrapped: the remote's own error (which names the URL and says "auth login") is not inside it.
    assert.is(r.json.error.message.split(url).length - 1, 1, r.json.error.message);
    const tenant = url.split('/').pop();
    assert.is(hintOf(r, /auth login/), `agentsync admin token create --tenant ${tenant}`);
  }
});

test.run();
