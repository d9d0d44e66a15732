/**
 * `agentsync compile [--sync]`: validation with file:line:col, the snapshot hash, no network
 * without --sync, and the drift check as a warning with it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { cleanup, cli, read, tmp, workspace, write, ok } from './helpers.js';


test('compile prints the snapshot hash (the same as `hash`), offline', async () => {
  // The remote cannot be reached at all: compile does not care.
  const ws = await workspace('http://127.0.0.1:1/t');
  const r = await cli(ws, 'compile', '--json');
  assert.is(r.code, 0, r.err);
  const hash = (await ok(ws, 'hash', '--json')).json.snapshot;
  assert.is(r.json.snapshot, hash);
  assert.is(r.json.artifacts, 16);
  assert.is(r.json.kinds.agents, 4);
  const text = await cli(ws, 'compile');
  assert.is(text.code, 0);
  assert.ok(text.out.includes(hash));
  assert.is(text.err, '');
});

test('compile counts artifacts per kind, the kinds in name order (not the order their paths come in)', async () => {
  const ws = await workspace(join(tmp('agentsync-remote-'), 'r'), { sample: false });
  // Kinds named against the order of their folders (the scan meets them in another order).
  const kinds: [string, string][] = [['aardvarks', 'zoo'], ['bees', 'yard'], ['cats', 'xeno']];
  write(ws, '../agentsync.yaml', read(ws, '../agentsync.yaml') + 'kinds:\n' + kinds.map(([k, d]) => `  ${k}:\n    pattern: ${d}/*.md\n    schema: none\n`).join(''));
  for (const [, d] of kinds) write(ws, `${d}/one.md`, '# one\n');
  write(ws, 'zoo/two.md', '# two\n');
  write(ws, 'agents/a.yaml', 'name: a\n');
  const r = await cli(ws, 'compile', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(Object.entries(r.json.kinds), [['aardvarks', 2], ['agents', 1], ['bees', 1], ['cats', 1]]);
  assert.match((await cli(ws, 'compile')).out, /^Compiled 5 artifacts \(2 aardvarks, 1 agents, 1 bees, 1 cats\): all valid\.$/m);
});

test('compile fails with VALIDATION_FAILED (exit 2) listing every problem as file:line:col', async () => {
  const ws = await workspace(join(tmp('agentsync-remote-'), 'r'));
  write(ws, 'skills/broken.yaml', 'name: ok\nlist: [1, 2\n');
  write(ws, 'agents/noname.yaml', 'model: x\n');
  const r = await cli(ws, 'compile', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'VALIDATION_FAILED');
  const problems = r.json.error.data.problems as { path: string; line: number; col: number }[];
  assert.equal([...new Set(problems.map((p) => p.path))].sort(), ['agents/noname.yaml', 'skills/broken.yaml']);
  for (const p of problems) assert.ok(p.line >= 1 && p.col >= 1);
  const text = await cli(ws, 'compile');
  assert.is(text.code, 2);
  assert.match(text.err, /services\/skills\/broken\.yaml:\d+:\d+: /);
  assert.match(text.err, /services\/agents\/noname\.yaml:1:1: /);
});

test('compile --sync: drift and an unreachable remote are warnings, not failures', async () => {
  const remote = join(tmp('agentsync-remote-'), 'r');
  const ws = await workspace(remote);
  await ok(ws, 'push');
  let r = await cli(ws, 'compile', '--sync', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.drift, { checked: true, remote: 'origin', drifted: [] });
  write(ws, 'agents/welcome.yaml', read(ws, 'agents/welcome.yaml') + '# local\n');
  r = await cli(ws, 'compile', '--sync', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.drift.drifted, ['agents/welcome.yaml']);
  r = await cli(ws, 'compile', '--sync');
  assert.is(r.code, 0);
  assert.is(r.err.trim().split('\n').length, 1); // one warning line
  // Unreachable: warn and go on.
  const off = await workspace('http://127.0.0.1:1/t');
  r = await cli(off, 'compile', '--sync', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.drift.checked, false);
  assert.ok(r.json.snapshot.startsWith('sha256:'));
});

test.after(cleanup);
test.run();
