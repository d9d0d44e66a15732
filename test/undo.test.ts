/**
 * The undo journal across an interrupted overwrite. A pull (or undo) stopped midway — by the
 * test-only hook AGENTSYNC_TEST_FAIL_AFTER_WRITES, which leaves exactly what a kill leaves:
 * journal written and marked pending, n files written, base not moved — then resumed by
 * `pull`, `sync --pull`, after a `push`, through `resolve`, or not at all: `undo` must give back
 * every file's bytes and `status --json` as they were before the FIRST pull.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDb } from '../src/store/db.js';
import { cleanup, cli, ok, read, states, workspace, write } from './helpers.js';
import { dirRemote } from './remotes.js';

const HOOK = 'AGENTSYNC_TEST_FAIL_AFTER_WRITES';
const N = 40;
const doc = (i: number, v: string) => `# doc ${i}\n\n${v} ${i}\n`;
const name = (i: number) => `content/gen/doc-${String(i).padStart(3, '0')}.md`;
const MERGE_PATH = 'content/merge.md';
const lines = (first: string, last: string) => `${first}\n${['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].join('\n')}\n${last}\n`;

/** Every file under services/, path → bytes (as latin1 text, exact). */
function files(ws: string): Record<string, string> {
  const out: Record<string, string> = {};
  const root = join(ws, 'services');
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    out[abs.slice(root.length + 1).split('\\').join('/')] = readFileSync(abs, 'latin1');
  }
  return out;
}

/** `status --json` without `fetchedAt` (a rerun fetches again; that time moves on). */
async function status(ws: string): Promise<unknown> {
  const r = await cli(ws, 'status', '--json');
  assert.ok(r.code === 0 || r.code === 1, r.err);
  delete r.json.fetchedAt;
  return r.json;
}

async function readMark(ws: string): Promise<any> {
  const db = await openDb(join(ws, '.agentsync'));
  try {
    const v = await db.get('undo-pending');
    return v === undefined ? undefined : JSON.parse(new TextDecoder().decode(v));
  } finally {
    await db.close();
  }
}

async function withHook<T>(n: number, f: () => Promise<T>): Promise<T> {
  process.env[HOOK] = String(n);
  try {
    return await f();
  } finally {
    delete process.env[HOOK];
  }
}

interface Setup {
  remote: string;
  a: string;
  b: string;
  /** B's files and status before the first pull (after fetching v2). */
  before: Record<string, string>;
  statusBefore: any;
}

/**
 * A pushes v1 (N docs + a mergeable file), B pulls it. A then modifies most docs, adds some,
 * deletes some and edits the top of MERGE_PATH; B makes the same edit as A to one doc
 * (converged), edits the bottom of MERGE_PATH (a clean merge), and with `localEdit` changes a
 * file only locally (left alone by pull). A pushes v2; B fetches.
 */
async function setup(o: { localEdit?: boolean; conflict?: boolean } = {}): Promise<Setup> {
  const remote = await dirRemote.make();
  const a = await workspace(remote, { sample: false });
  for (let i = 0; i < N; i++) write(a, name(i), doc(i, 'one'));
  write(a, MERGE_PATH, lines('top', 'bottom'));
  write(a, 'content/local.md', 'local v1\n');
  write(a, 'content/conflict.md', 'conflict v1\n');
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  for (let i = 0; i < N - 8; i++) write(a, name(i), doc(i, 'two'));
  for (let i = N; i < N + 4; i++) write(a, name(i), doc(i, 'added'));
  const { rmSync } = await import('node:fs');
  for (let i = N - 4; i < N; i++) rmSync(join(a, 'services', name(i)));
  write(a, MERGE_PATH, lines('TOP from a', 'bottom'));
  if (o.conflict) write(a, 'content/conflict.md', 'conflict from a\n');
  await ok(a, 'push');
  write(b, name(5), doc(5, 'two')); // same edit on both sides: converged
  write(b, MERGE_PATH, lines('top', 'BOTTOM from b'));
  if (o.localEdit) write(b, 'content/local.md', 'local edit in b\n');
  if (o.conflict) write(b, 'content/conflict.md', 'conflict from b\n');
  await ok(b, 'fetch');
  const statusBefore = await status(b);
  const want: Record<string, string> = { [MERGE_PATH]: 'conflict', [name(5)]: 'converged' };
  for (let i = 0; i < N + 4; i++) if (i !== 5 && (i < N - 8 || i >= N - 4)) want[name(i)] = 'pull';
  if (o.localEdit) want['content/local.md'] = 'push';
  if (o.conflict) want['content/conflict.md'] = 'conflict';
  assert.equal(await states(b), want);
  return { remote, a, b, before: files(b), statusBefore };
}

/** Files that differ between two snapshots. */
function changed(x: Record<string, string>, y: Record<string, string>): string[] {
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((p) => x[p] !== y[p]).sort();
}

/** Stop a pull after `n` files; check it left n files changed and a store fsck accepts. */
async function interruptedPull(s: Setup, n: number, ...args: string[]): Promise<void> {
  const r = await withHook(n, () => cli(s.b, 'pull', '--json', ...args));
  assert.is(r.code, 4, r.err);
  assert.is(r.json.error.code, 'INTERNAL');
  assert.is(changed(s.before, files(s.b)).length, n);
  assert.is((await cli(s.b, 'fsck')).code, 0);
}

async function assertBefore(s: Setup, what: string): Promise<void> {
  assert.equal(changed(s.before, files(s.b)), [], `${what}: files`);
  assert.equal(await status(s.b), s.statusBefore, `${what}: status`);
  assert.is((await cli(s.b, 'fsck')).code, 0, `${what}: fsck`);
}

const t = suite('undo after an interrupted overwrite');
t.after(cleanup);

t('pull stopped midway, rerun, undo: files and status as before the first pull; undo again redoes', async () => {
  const s = await setup({ localEdit: true });
  await interruptedPull(s, 20);
  await ok(s.b, 'pull');
  const after = files(s.b);
  const statusAfter = await status(s.b);
  assert.equal(await states(s.b), { [MERGE_PATH]: 'push', 'content/local.md': 'push' });
  assert.is(read(s.b, MERGE_PATH), lines('TOP from a', 'BOTTOM from b'));
  const u = await ok(s.b, 'undo', '--json');
  assert.is(u.json.op, 'pull');
  await assertBefore(s, 'undo');
  await ok(s.b, 'undo');
  assert.equal(changed(after, files(s.b)), []);
  assert.equal(await status(s.b), statusAfter);
});

t('an uninterrupted pull: undo restores converged artifacts\' base too (status as before)', async () => {
  const s = await setup();
  await ok(s.b, 'pull');
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('pull stopped midway and never resumed: undo restores everything it had written', async () => {
  const s = await setup({ localEdit: true });
  await interruptedPull(s, 25);
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('pull stopped midway, then a second interrupted pull, then a complete one: undo goes back to the first', async () => {
  const s = await setup();
  await interruptedPull(s, 10);
  const r = await withHook(15, () => cli(s.b, 'pull', '--json'));
  assert.is(r.json.error.code, 'INTERNAL');
  await ok(s.b, 'pull');
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('pull stopped midway, resumed by sync --pull: undo restores the state before the pull', async () => {
  const s = await setup();
  await interruptedPull(s, 20);
  await ok(s.b, 'sync', '--pull');
  assert.equal(await states(s.b), { [MERGE_PATH]: 'push' });
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('sync --pull stopped midway, resumed by pull: undo restores the state before the sync', async () => {
  const s = await setup();
  const r = await withHook(20, () => cli(s.b, 'sync', '--pull', '--json'));
  assert.is(r.code, 4, r.err);
  assert.is(changed(s.before, files(s.b)).length, 20);
  await ok(s.b, 'pull');
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('a partial pull after an interrupted one keeps the journal open; the full pull closes it', async () => {
  const s = await setup();
  await interruptedPull(s, 20);
  await ok(s.b, 'pull', MERGE_PATH);
  await ok(s.b, 'pull');
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('pull stopped midway, then a push of a local edit, then pull: undo restores every pulled file and base', async () => {
  const s = await setup({ localEdit: true });
  await interruptedPull(s, 20);
  // push records the base of the files the interrupted pull wrote (converged) and sends local.md
  const written = changed(s.before, files(s.b));
  assert.equal(Object.fromEntries(Object.entries(await states(s.b)).filter(([p]) => written.includes(p))), Object.fromEntries(written.map((p) => [p, 'converged'])));
  await ok(s.b, 'push', 'content/local.md', ...written);
  await ok(s.b, 'pull');
  await ok(s.b, 'undo');
  assert.equal(changed(s.before, files(s.b)), []);
  const want = { ...(await states(s.b)) };
  const expected: Record<string, string> = {};
  for (const e of s.statusBefore.entries) if (e.path !== 'content/local.md') expected[e.path] = e.state;
  assert.equal(want, expected);
  assert.is((await cli(s.b, 'fsck')).code, 0);
});

t('pull --force stopped midway, resolve --ours of a conflict, pull --force: undo restores all, conflict included', async () => {
  const s = await setup({ conflict: true });
  await interruptedPull(s, 7, '--force');
  // Deletions are written first (4 of them), then in path order: content/conflict.md sorts
  // before content/gen, so the 7 files written include it
  assert.is(read(s.b, 'content/conflict.md'), 'conflict from a\n');
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo of the interrupted pull');
  await interruptedPull(s, 0, '--force');
  const m = await cli(s.b, 'merge', 'content/conflict.md', '--json');
  assert.is(m.json.clean, false, m.err);
  assert.ok(read(s.b, 'content/conflict.md')!.includes('<<<<<<<'));
  await ok(s.b, 'resolve', 'content/conflict.md', '--ours');
  await ok(s.b, 'pull', '--force');
  await ok(s.b, 'undo');
  await assertBefore(s, 'undo');
});

t('undo stopped midway resumes on the next undo (it does not swap back); then undo redoes', async () => {
  const s = await setup({ localEdit: true });
  await ok(s.b, 'pull');
  const after = files(s.b);
  const statusAfter = await status(s.b);
  const r = await withHook(12, () => cli(s.b, 'undo', '--json'));
  assert.is(r.code, 4, r.err);
  assert.is(changed(after, files(s.b)).length, 12);
  assert.is((await cli(s.b, 'fsck')).code, 0);
  const u = await ok(s.b, 'undo', '--json');
  assert.is(u.json.op, 'pull');
  await assertBefore(s, 'resumed undo');
  await ok(s.b, 'undo');
  assert.equal(changed(after, files(s.b)), []);
  assert.equal(await status(s.b), statusAfter);
});

t('a pull after an interrupted undo turns its mark into an ordinary pending journal: the next undo restores, it does not resume the undo', async () => {
  const s = await setup({ localEdit: true });
  await ok(s.b, 'pull');
  const after = files(s.b);
  const r = await withHook(12, () => cli(s.b, 'undo', '--json'));
  assert.is(r.code, 4, r.err);
  assert.is((await readMark(s.b)).undoing.op, 'pull', 'an interrupted undo of the pull');
  write(s.a, 'content/fresh.md', 'fresh\n');
  await ok(s.a, 'push');
  // A pull of one path merges into that journal without covering it: the mark stays, but as an
  // ordinary pending journal, no longer an undo to resume.
  await ok(s.b, 'pull', 'content/fresh.md');
  assert.is(read(s.b, 'content/fresh.md'), 'fresh\n');
  const mark = await readMark(s.b);
  assert.equal([mark.op, mark.undoing], ['undo pull', undefined]);
  // So undo restores the state before the interrupted undo (and takes the new file out again).
  const u = await ok(s.b, 'undo', '--json');
  assert.is(u.json.op, 'undo pull');
  assert.equal(changed(after, files(s.b)), []);
  assert.is(await readMark(s.b), undefined);
  assert.is((await cli(s.b, 'fsck')).code, 0);
});

t('an interrupted pull from origin blocks an overwrite from another remote (CONFLICT, nothing written)', async () => {
  const s = await setup();
  await interruptedPull(s, 20);
  const other = await dirRemote.make();
  const c = await workspace(other, { sample: false });
  write(c, 'content/other.md', 'from other\n');
  await ok(c, 'push');
  await ok(s.b, 'remote', 'add', 'other', other);
  const mid = files(s.b);
  const r = await cli(s.b, 'pull', '--remote', 'other', '--json');
  assert.is(r.code, 1, r.err);
  assert.is(r.json.error.code, 'CONFLICT');
  assert.is(r.json.error.data.pending.remote, 'origin');
  assert.is(r.json.error.data.pending.op, 'pull');
  assert.equal(changed(mid, files(s.b)), []);
  await ok(s.b, 'pull');
  await ok(s.b, 'pull', '--remote', 'other');
  assert.is(read(s.b, 'content/other.md'), 'from other\n');
  // the journal is now the other remote's pull: undo removes its file
  await ok(s.b, 'undo');
  assert.is(read(s.b, 'content/other.md'), null);
});

t('fsck reports a damaged undo-pending mark (exit 4), and the blobs of the journal an interrupted undo restores', async () => {
  const s = await setup();
  await ok(s.b, 'pull');
  const r = await withHook(3, () => cli(s.b, 'undo'));
  assert.is(r.code, 4, r.err);
  const mark = await readMark(s.b);
  assert.is(mark.undoing.op, 'pull');
  const id = mark.undoing.entries.find((e: { path: string }) => e.path === name(0)).id;
  const db = await openDb(join(s.b, '.agentsync'));
  try {
    await db.del('o!' + id);
  } finally {
    await db.close();
  }
  const f = await cli(s.b, 'fsck', '--json');
  assert.is(f.code, 4);
  assert.equal(f.json.problems.filter((p: { what: string }) => p.what === 'undo-pending').length, 1);
  const db2 = await openDb(join(s.b, '.agentsync'));
  try {
    await db2.put('undo-pending', new TextEncoder().encode('{not json'));
  } finally {
    await db2.close();
  }
  const g = await cli(s.b, 'fsck', '--json');
  assert.is(g.code, 4);
  assert.ok(g.json.problems.some((p: { what: string }) => p.what === 'undo-pending'), JSON.stringify(g.json.problems));
});

t.run();
