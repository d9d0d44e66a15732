/**
 * What new users and an independent client tripped over: the three-way promise in `status`
 * (clean merges told apart from true conflicts, converged is not drift), a closed pipe.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanup, cli, needs, ok, pair, read, SAMPLE, tmp, write } from './helpers.js';

const t = suite('contract: status tells clean merges from true conflicts; converged is not drift');
t.after(() => cleanup());

const DOC = 'content/docs/getting-started.md';

t('status marks a both-sides edit that merges cleanly (merge: clean) and a true conflict (merge: conflict); nothing is written', async () => {
  const { a, b } = await pair();
  const text = read(a, DOC)!;
  const lines = text.split('\n');
  const first = [`${lines[0]} (remote edit)`, ...lines.slice(1)].join('\n');
  write(a, DOC, first);
  write(a, 'agents/welcome.yaml', read(a, 'agents/welcome.yaml')!.replace(/^name: .*$/m, 'name: welcome-remote'));
  await ok(a, 'push');
  const last = lines.slice(0, -2).concat(`${lines[lines.length - 2]} (local edit)`, '').join('\n');
  write(b, DOC, last);
  write(b, 'agents/welcome.yaml', read(b, 'agents/welcome.yaml')!.replace(/^name: .*$/m, 'name: welcome-local'));
  await ok(b, 'fetch');
  const before = [read(b, DOC), read(b, 'agents/welcome.yaml')];
  const r = await cli(b, 'status', '--json');
  assert.is(r.code, 0);
  const byPath = Object.fromEntries(r.json.entries.map((e: { path: string }) => [e.path, e]));
  assert.is(byPath[DOC].state, 'conflict');
  assert.is(byPath[DOC].merge, 'clean');
  assert.is(byPath['agents/welcome.yaml'].state, 'conflict');
  assert.is(byPath['agents/welcome.yaml'].merge, 'conflict');
  assert.equal([read(b, DOC), read(b, 'agents/welcome.yaml')], before);
  const text2 = await ok(b, 'status');
  assert.match(text2.out, /merges cleanly/);
  assert.match(text2.out, /true conflict/);
});

t('status --check on a fresh checkout byte-identical to the remote exits 0 (converged is not drift)', async () => {
  const { remote } = await pair();
  const c = tmp('agentsync-ws-');
  cpSync(join(SAMPLE, 'services'), join(c, 'services'), { recursive: true });
  await ok(c, 'init', '--remote', remote);
  await ok(c, 'fetch');
  const st = await cli(c, 'status', '--json');
  assert.ok(st.json.entries.length > 0 && st.json.entries.every((e: { state: string }) => e.state === 'converged'));
  assert.is((await cli(c, 'status', '--check')).code, 0);
  assert.is((await cli(c, 'sync', '--check')).code, 0);
  write(c, 'agents/welcome.yaml', 'name: welcome\n# drift\n');
  assert.is((await cli(c, 'status', '--check')).code, 1);
});

t('diff of a both-sides edit is three-way: only your lines as your changes, only theirs as theirs', async () => {
  const { a, b } = await pair();
  const lines = read(a, DOC)!.split('\n');
  write(a, DOC, [`${lines[0]} THEIRS`, ...lines.slice(1)].join('\n'));
  await ok(a, 'push');
  write(b, DOC, [...lines.slice(0, -2), `${lines[lines.length - 2]} MINE`, ''].join('\n'));
  await ok(b, 'fetch');
  const r = await ok(b, 'diff', DOC);
  const [mine, theirs] = r.out.split('Their changes');
  assert.ok(mine && theirs, r.out);
  const plus = (s: string) => s.split('\n').filter((l) => l.startsWith('+ ')).map((l) => l.slice(2));
  const minus = (s: string) => s.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2));
  assert.equal(plus(mine.split('Your changes')[1]!), [`${lines[lines.length - 2]} MINE`]);
  assert.equal(minus(mine.split('Your changes')[1]!), [lines[lines.length - 2]]);
  assert.equal(plus(theirs), [`${lines[0]} THEIRS`]);
  assert.equal(minus(theirs), [lines[0]]);
  const j = await ok(b, 'diff', DOC, '--json');
  assert.is(j.json.entries[0].base, lines.join('\n'));
  // A one-sided edit stays two-way (remote as old, local as new), with no base.
  write(b, 'agents/welcome.yaml', 'name: welcome\nlocal: only\n');
  const one = await ok(b, 'diff', 'agents/welcome.yaml', '--json');
  assert.is(one.json.entries[0].base, undefined);
});

t.run();

const p = suite('contract: a closed pipe ends the command quietly');
p.after(() => cleanup());

/** Run the real binary with its stdout closed by the reader at once; resolve with exit code and stderr. */
function closedPipe(cwd: string, ...args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => resolve({ code, err }));
  });
}

p('versions, log, diff and status with the reader gone: exit 141, no stack, nothing on stderr', async () => {
  const { a } = await pair();
  for (let i = 0; i < 30; i++) { write(a, 'agents/welcome.yaml', `name: welcome\nv: ${i}\n`); await ok(a, 'push', '-m', `v${i}`); }
  write(a, DOC, `${'many lines\n'.repeat(5000)}`);
  for (const cmd of [['versions'], ['log', 'agents/welcome.yaml'], ['diff'], ['status']]) {
    const r = await closedPipe(a, ...cmd);
    assert.is(r.err, '', `${cmd[0]}: ${r.err}`);
    assert.is(r.code, 141, cmd[0]);
  }
  assert.ok(readFileSync(join(a, 'agentsync.yaml'), 'utf8').length > 0);
});

p.run();

const r = suite('contract: the remote refuses no-op and duplicate changes; change lists in path order');
r.after(() => cleanup());

r('delete of an absent path, set to the same id, a path twice: REQUEST_INVALID, nothing written; changes stored sorted', async () => {
  const { openDb } = await import('../src/store/db.js');
  const { RemoteStore } = await import('../src/store/remote-store.js');
  const { blobId } = await import('../src/model/hash.js');
  const { applyChanges, snapshotHash } = await import('../src/model/manifest.js');
  const db = await openDb(join(tmp('agentsync-rs-'), 'store'));
  try {
    const rs = new RemoteStore(db);
    const bytes = new TextEncoder().encode('name: a\n');
    const id = blobId(bytes);
    await rs.putObjects([{ id, bytes }]);
    const changes = [{ path: 'skills/b.yaml', id }, { path: 'agents/a.yaml', id }];
    const v1 = await rs.createVersion({ expected: null, changes, snapshot: snapshotHash(applyChanges(new Map(), changes)), author: 't', message: 'm', draft: false });
    assert.equal((await rs.versionChanges(v1.id)).map((c) => c.path), ['agents/a.yaml', 'skills/b.yaml']);
    const base = applyChanges(new Map(), changes);
    const bad: { changes: { path: string; id: string | null }[]; reason: string }[] = [
      { changes: [{ path: 'agents/none.yaml', id: null }], reason: 'no-op-change' },
      { changes: [{ path: 'agents/a.yaml', id }], reason: 'no-op-change' },
      { changes: [{ path: 'agents/c.yaml', id }, { path: 'agents/c.yaml', id }], reason: 'duplicate-path' },
    ];
    for (const b of bad) {
      const e = await rs.createVersion({ expected: 1, changes: b.changes, snapshot: snapshotHash(applyChanges(base, b.changes)), author: 't', message: 'm', draft: false }).then(() => null, (x) => x);
      assert.is(e?.code, 'REQUEST_INVALID');
      assert.is(e.data.reason, b.reason);
    }
    assert.is((await rs.head()).lastId, 1);
  } finally {
    await db.close();
  }
});

r.run();

const u = suite('contract: undo never outlives a later base move');
u.after(() => cleanup());

u('merge X; resolve X --ours; push; undo → UNDO_STALE, nothing changed', async () => {
  const { a, b } = await pair();
  write(a, 'agents/welcome.yaml', 'name: welcome\nfrom: a\n');
  await ok(a, 'push');
  write(b, 'agents/welcome.yaml', 'name: welcome\nfrom: b\n');
  await ok(b, 'fetch');
  const m = await cli(b, 'merge', 'agents/welcome.yaml', '--json');
  assert.is(m.json.clean, false, m.err);
  await ok(b, 'resolve', 'agents/welcome.yaml', '--ours');
  await ok(b, 'push');
  const versions = (await ok(b, 'versions', '--json')).out;
  const before = read(b, 'agents/welcome.yaml');
  const r = await cli(b, 'undo', '--json');
  assert.is(r.code, 1, r.err);
  assert.is(r.json.error.code, 'UNDO_STALE');
  assert.equal(r.json.error.data.paths, ['agents/welcome.yaml']);
  assert.is(read(b, 'agents/welcome.yaml'), before);
  assert.is((await ok(b, 'status', '--json')).json.entries.length, 0);
  assert.is((await ok(b, 'versions', '--json')).out, versions);
});

u('pull; undo; undo (redo) still work; pull then push of a pulled file: undo refused', async () => {
  const { a, b } = await pair();
  write(a, 'agents/welcome.yaml', 'name: welcome\nv: 2\n');
  await ok(a, 'push');
  await ok(b, 'pull');
  await ok(b, 'undo');
  assert.not.ok(read(b, 'agents/welcome.yaml')!.includes('v: 2'));
  await ok(b, 'undo');
  assert.is(read(b, 'agents/welcome.yaml'), 'name: welcome\nv: 2\n');
  write(b, 'agents/welcome.yaml', 'name: welcome\nv: 3\n');
  await ok(b, 'push');
  const r = await cli(b, 'undo', '--json');
  assert.is(r.json?.error?.code, 'UNDO_STALE');
  assert.is(read(b, 'agents/welcome.yaml'), 'name: welcome\nv: 3\n');
});

u.run();

const g = suite('contract: pull --commit never commits uncommitted edits');
g.after(() => cleanup());
const hasGit = spawnSync('git', ['--version']).status === 0;
const gitOut = (cwd: string, ...args: string[]): string => {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

needs(g, hasGit, 'contract: pull --commit', 'git is not on PATH; .ci/run installs it')('a clean merge into a file with an uncommitted edit is written but left uncommitted; remote-only files are committed', async () => {
  const { a, b } = await pair();
  gitOut(b, 'init', '-q');
  gitOut(b, 'add', '-A');
  gitOut(b, 'commit', '-q', '-m', 'initial');
  const lines = read(b, DOC)!.split('\n');
  write(a, DOC, [`${lines[0]} REMOTE`, ...lines.slice(1)].join('\n'));
  write(a, 'agents/welcome.yaml', 'name: welcome\nremote: only\n');
  await ok(a, 'push');
  const mine = [...lines.slice(0, -2), `${lines[lines.length - 2]} MINE-UNCOMMITTED`, ''].join('\n');
  write(b, DOC, mine);
  const r = await cli(b, 'pull', '--commit', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.merged, [DOC]);
  assert.equal(r.json.uncommitted, [DOC]);
  assert.type(r.json.commit, 'string');
  const merged = read(b, DOC)!;
  assert.ok(merged.includes('MINE-UNCOMMITTED') && merged.includes('REMOTE'));
  // HEAD has the remote-only file, and the doc as it was committed: no uncommitted byte in any commit.
  assert.is(gitOut(b, 'show', 'HEAD:services/agents/welcome.yaml'), 'name: welcome\nremote: only\n');
  assert.not.ok(gitOut(b, 'log', '-p').includes('MINE-UNCOMMITTED'));
  assert.match(gitOut(b, 'status', '--porcelain'), /services\/content\/docs\/getting-started\.md/);
});

g.run();

const o = suite('contract: remote paths outside the workspace kinds are left alone (like a sparse checkout)');
o.after(() => cleanup());

o('pull does not write them, status counts them once, push never deletes them', async () => {
  const { remote, a } = await pair();
  const { appendFileSync, existsSync } = await import('node:fs');
  appendFileSync(join(a, 'agentsync.yaml'), '\nkinds:\n  prompts:\n    pattern: prompts/*.md\n    schema: none\n');
  write(a, 'prompts/hello.md', '# a prompt\n');
  await ok(a, 'push');
  const b = tmp('agentsync-ws-');
  await ok(b, 'init', '--remote', remote);
  await ok(b, 'pull');
  assert.not.ok(existsSync(join(b, 'services', 'prompts', 'hello.md')));
  const st = await cli(b, 'status', '--json');
  assert.is(st.code, 0);
  assert.equal(st.json.outside, ['prompts/hello.md']);
  assert.equal(st.json.entries, []);
  assert.match((await ok(b, 'status')).out, /1 remote path matches none of this workspace's kinds/);
  write(b, 'agents/welcome.yaml', 'name: welcome\nfrom: b\n');
  await ok(b, 'push');
  await ok(a, 'pull');
  assert.is(read(a, 'prompts/hello.md'), '# a prompt\n');
  assert.equal((await ok(a, 'status', '--json')).json.entries, []);
  // And the remote still has it: a third clone with the kind gets it.
  const c = tmp('agentsync-ws-');
  await ok(c, 'init', '--remote', remote);
  appendFileSync(join(c, 'agentsync.yaml'), '\nkinds:\n  prompts:\n    pattern: prompts/*.md\n    schema: none\n');
  await ok(c, 'pull');
  assert.is(read(c, 'prompts/hello.md'), '# a prompt\n');
});

o.run();

const d = suite('contract: pull --dry-run prints the whole plan and exits 1 when something blocks');
d.after(() => cleanup());

d('a true conflict next to a remote edit and a clean merge: the plan lists all three, exit 1, nothing changed', async () => {
  const { a, b } = await pair();
  const lines = read(a, DOC)!.split('\n');
  write(a, DOC, [`${lines[0]} REMOTE`, ...lines.slice(1)].join('\n'));
  write(a, 'agents/welcome.yaml', 'name: welcome\nfrom: a\n');
  write(a, 'mcp/github.yaml', read(a, 'mcp/github.yaml')! + '# remote note\n');
  await ok(a, 'push');
  write(b, DOC, [...lines.slice(0, -2), `${lines[lines.length - 2]} MINE`, ''].join('\n'));
  write(b, 'agents/welcome.yaml', 'name: welcome\nfrom: b\n');
  const before = [read(b, DOC), read(b, 'agents/welcome.yaml'), read(b, 'mcp/github.yaml')];
  const j = await cli(b, 'pull', '--dry-run', '--json');
  assert.is(j.code, 1, j.err);
  assert.equal(j.json.blocked, [{ path: 'agents/welcome.yaml', state: 'conflict', reason: 'conflict' }]);
  assert.equal(j.json.merged, [DOC]);
  assert.equal(j.json.pulled.map((e: { path: string }) => e.path), ['mcp/github.yaml']);
  const t = await cli(b, 'pull', '--dry-run');
  assert.is(t.code, 1);
  assert.match(t.out, /blocked\s+true conflict\s+agents\/welcome\.yaml/);
  assert.equal([read(b, DOC), read(b, 'agents/welcome.yaml'), read(b, 'mcp/github.yaml')], before);
  // Without --dry-run the documented refusal stands.
  const real = await cli(b, 'pull', '--json');
  assert.is(real.code, 1);
  assert.is(real.json.error.code, 'PULL_REFUSED');
  assert.equal([read(b, DOC), read(b, 'agents/welcome.yaml'), read(b, 'mcp/github.yaml')], before);
});

d.run();

const mm = suite('contract: merge of a modified/deleted conflict says there is nothing to merge');
mm.after(() => cleanup());

mm('local modified, remote deleted: NOT_MERGEABLE (exit 1), nothing written; a clean artifact is still NOT_IN_CONFLICT', async () => {
  const { a, b } = await pair();
  const { rmSync } = await import('node:fs');
  rmSync(join(a, 'services', 'agents', 'welcome.yaml'));
  await ok(a, 'push');
  write(b, 'agents/welcome.yaml', 'name: welcome\nlocal: edit\n');
  await ok(b, 'fetch');
  const r = await cli(b, 'merge', 'agents/welcome.yaml', '--json');
  assert.is(r.code, 1, r.err);
  assert.is(r.json.error.code, 'NOT_MERGEABLE');
  assert.equal([r.json.error.data.local, r.json.error.data.remote], ['modified', 'deleted']);
  assert.is(read(b, 'agents/welcome.yaml'), 'name: welcome\nlocal: edit\n');
  const clean = await cli(b, 'merge', 'skills/sql-helper.yaml', '--json');
  assert.is(clean.json.error.code, 'NOT_IN_CONFLICT');
});

mm.run();
