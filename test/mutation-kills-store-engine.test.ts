/**
 * Tests written to kill mutants of `src/store` and `src/engine` that `npm run mutate` (fixtures/mutate.ts)
 * found surviving: exact answers — error codes and `data`, the keys and bytes a store holds, whole
 * manifests and change lists — of code no other suite checked closely enough. Fast: stores are
 * opened directly (no CLI) wherever that reaches the code. test/README.md lists the survivors that
 * remain and why.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkManifest, encodeNode } from '../src/model/chunks.js';
import { AgentsyncError } from '../src/model/errors.js';
import { blobId } from '../src/model/hash.js';
import {
  applyChanges, diffManifests, encodeManifest, manifestObjectId, snapshotHash, snapshotHashOf, EMPTY_SNAPSHOT, type Change, type Manifest,
} from '../src/model/manifest.js';
import { compactAll, dec, enc, jsonValue, lockTimeout, openDb, parseJson, type Db } from '../src/store/db.js';
import { LocalStore } from '../src/store/local.js';
import { ManifestStore, convertLegacy } from '../src/store/manifests.js';
import { ObjectStore, commit, type BatchOp } from '../src/store/objects.js';
import { MAX_TEXT_BYTES, RemoteStore, STORE_FORMAT, checkVersionText, upgradeStore } from '../src/store/remote-store.js';
import {
  decodeStat, emptyStatCache, encodeStat, statCacheOf, statEntries, statSave, STAT_DELTA_MAX, type StatCache, type StatEntry,
} from '../src/store/stat-cache.js';
import { openContext, pickRemote } from '../src/engine/context.js';
import { fetchRemote } from '../src/engine/fetch.js';
import { previewMerge, resolve, startMerge } from '../src/engine/merge.js';
import { mergeJournals, planPull } from '../src/engine/pull.js';
import { deploy, rollback } from '../src/engine/history.js';
import { push as enginePush } from '../src/engine/push.js';
import type { Entry } from '../src/engine/status.js';
import { applySync, fetchForSync, isOffline, planSync } from '../src/engine/sync.js';
import { validateArtifacts } from '../src/engine/validation.js';
import { validateArtifact } from '../src/engine/validate.js';
import type { Remote } from '../src/remote/types.js';
import type { Workspace } from '../src/workspace/config.js';
import { cleanup, cli, needs, ok, read, states, tmp, workspace, write } from './helpers.js';
import { emptyWs, twoClones, withCtx } from './engine-helpers.js';

const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : dec.decode(b));

/** Byte arrays compared by content (a LevelDB value is a Buffer, an encoder's a Uint8Array). */
function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return `bytes:${Buffer.from(x).toString('hex')}`;
  if (Array.isArray(x)) return x.map(norm);
  if (x instanceof Map) return new Map([...x].map(([k, v]) => [k, norm(v)]));
  if (x instanceof Set) return new Set([...x].map(norm));
  if (x && typeof x === 'object' && !(x instanceof AgentsyncError)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]));
  return x;
}
const eq = (a: unknown, b: unknown, msg?: string) => assert.equal(norm(a), norm(b), msg);

async function rejects<T>(p: Promise<T> | (() => Promise<T> | T), code: string, data?: Record<string, unknown>): Promise<AgentsyncError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, AgentsyncError, `expected ${code}, got ${String(e)}`);
    assert.is((e as AgentsyncError).code, code);
    if (data) eq((e as AgentsyncError).data, data);
    return e as AgentsyncError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

function generated(n: number, prefix = 'agents/a'): Manifest {
  const m: Manifest = new Map();
  for (let i = 0; i < n; i++) m.set(`${prefix}${String(i).padStart(5, '0')}.yaml`, blobId(bytes(`name: a${i}\n`)));
  return m;
}

const dbs: Db[] = [];
async function db(): Promise<Db> {
  const d = await openDb(join(tmp('agentsync-mk-'), 'db'));
  dbs.push(d);
  return d;
}
async function closeAll(): Promise<void> {
  for (const d of dbs.splice(0)) if (d.status === 'open') await d.close().catch(() => {});
}

/** Every key of the database with its value as text (a store's whole state, to compare exactly). */
async function dump(d: Db): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const [k, v] of d.iterator()) out[k] = dec.decode(v);
  return out;
}

// ---------------------------------------------------------------- src/store/manifests.ts

const manifests = suite('mutation kills: src/store/manifests.ts');
manifests.after.each(closeAll);
manifests.after(cleanup);

manifests('root/has/get/bytes: empty, absent, empty m! value, bad root, whole (format 1) and tree', async () => {
  const d = await db();
  const ms = new ManifestStore(d);
  eq(await ms.root(EMPTY_SNAPSHOT), { root: null, legacy: false });
  assert.is(await ms.has(EMPTY_SNAPSHOT), true);
  assert.is((await ms.get(EMPTY_SNAPSHOT))!.length, 0);
  assert.is((await ms.bytes(EMPTY_SNAPSHOT)).length, 0);
  const absent = 'sha256:' + 'a'.repeat(64);
  assert.is(await ms.root(absent), undefined);
  assert.is(await ms.has(absent), false);
  assert.is(await ms.get(absent), undefined);
  await rejects(ms.bytes(absent), 'OBJECT_MISSING', { id: 'a'.repeat(64) });
  // An m! key with an empty value: the empty manifest, whatever snapshot names it.
  await commit(d, [{ type: 'put', key: 'm!' + 'b'.repeat(64), value: new Uint8Array(0) }]);
  eq(await ms.root('sha256:' + 'b'.repeat(64)), { root: null, legacy: false });
  assert.is((await ms.get('sha256:' + 'b'.repeat(64)))!.length, 0);
  // An m! key whose value is not an object id.
  await commit(d, [{ type: 'put', key: 'm!' + 'c'.repeat(64), value: bytes('not-an-id') }]);
  await rejects(ms.root('sha256:' + 'c'.repeat(64)), 'STORE_CORRUPT', { snapshot: 'sha256:' + 'c'.repeat(64) });
  // Format 1: the whole manifest at o!<hex>, no m! key.
  const whole = encodeManifest(generated(300));
  const ws = snapshotHashOf(whole);
  await commit(d, [{ type: 'put', key: 'o!' + manifestObjectId(ws), value: whole }]);
  eq(await ms.root(ws), { root: manifestObjectId(ws), legacy: true });
  assert.is(await ms.has(ws), true);
  eq(await ms.get(ws), whole);
  // A tree: m! names its root, the bytes are the leaves.
  const tb = encodeManifest(generated(1000));
  const { ops, snapshot } = await ms.putOps(tb);
  await commit(d, ops);
  eq(await ms.root(snapshot), { root: chunkManifest(tb).root, legacy: false });
  eq(await ms.bytes(snapshot), tb);
});

manifests('putOps: exactly the chunks the store lacks, then m! naming the root; nothing when stored; a known hash is used as given', async () => {
  const d = await db();
  const ms = new ManifestStore(d, 't!x!');
  const m = generated(1000);
  const b = encodeManifest(m);
  const t = chunkManifest(b);
  eq(await ms.putOps(new Uint8Array(0)), { ops: [], snapshot: EMPTY_SNAPSHOT });
  const first = await ms.putOps(b);
  assert.is(first.snapshot, snapshotHashOf(b));
  eq(first.ops.map((o) => o.key), [...t.chunks.map((c) => 't!x!o!' + c.id), 't!x!m!' + manifestObjectId(first.snapshot)]);
  eq(first.ops.map((o) => o.type), first.ops.map(() => 'put'));
  for (let i = 0; i < t.chunks.length; i++) eq((first.ops[i] as { value: Uint8Array }).value, t.chunks[i]!.bytes);
  assert.is(text((first.ops.at(-1) as { value: Uint8Array }).value), t.root);
  await commit(d, first.ops);
  eq(await ms.putOps(b), { ops: [], snapshot: first.snapshot });
  // One edit: only the new leaf and the nodes above it.
  const m2 = new Map(m);
  m2.set('agents/a00500.yaml', blobId(bytes('edited')));
  const b2 = encodeManifest(m2);
  const t2 = chunkManifest(b2);
  const have = new Set(t.chunks.map((c) => c.id));
  const second = await ms.putOps(b2);
  eq(second.ops.map((o) => o.key), [...t2.chunks.filter((c) => !have.has(c.id)).map((c) => 't!x!o!' + c.id), 't!x!m!' + manifestObjectId(second.snapshot)]);
  assert.is(second.ops.length, 1 + 2 + 1, 'one leaf, one node at each of the two levels above it... and m!');
  // A one-leaf manifest: the root is the snapshot hex; `known` is trusted as given.
  const small = encodeManifest(generated(3));
  const known = 'sha256:' + '9'.repeat(64);
  // Empty bytes under a snapshot that is not the empty one (never asked for): an empty m! value.
  eq(await ms.putOps(new Uint8Array(0), known), { ops: [{ type: 'put', key: 't!x!m!' + '9'.repeat(64), value: new Uint8Array(0) }], snapshot: known });
  const third = await ms.putOps(small, known);
  assert.is(third.snapshot, known);
  eq(third.ops.map((o) => o.key), ['t!x!o!' + blobId(small), 't!x!m!' + '9'.repeat(64)]);
  assert.is(text((third.ops[1] as { value: Uint8Array }).value), manifestObjectId(snapshotHashOf(small)));
});

/** A hand-made tree: leaves of the given texts under one node (or the bytes given). */
async function handTree(d: Db, root: Uint8Array, chunks: Uint8Array[], snapshot = 'sha256:' + 'd'.repeat(64)): Promise<string> {
  await commit(d, [
    ...chunks.map((c) => ({ type: 'put' as const, key: 'o!' + blobId(c), value: c })),
    { type: 'put', key: 'o!' + blobId(root), value: root },
    { type: 'put', key: 'm!' + manifestObjectId(snapshot), value: bytes(blobId(root)) },
  ]);
  return snapshot;
}
const ref = (c: Uint8Array, entries = 1, size = c.length) => ({ id: blobId(c), entries, bytes: size });

manifests('walk: chunks root first, level by level; each malformed shape is STORE_CORRUPT, a missing chunk OBJECT_MISSING (first one)', async () => {
  const l1 = bytes('0'.repeat(64) + '  a\n'), l2 = bytes('1'.repeat(64) + '  b\n'), l3 = bytes('2'.repeat(64) + '  c\n');
  {
    const d = await db();
    const ms = new ManifestStore(d);
    const n1 = encodeNode(1, [ref(l1), ref(l2)]), n2 = encodeNode(1, [ref(l3)]);
    const root = encodeNode(2, [{ id: blobId(n1), entries: 2, bytes: l1.length + l2.length }, { id: blobId(n2), entries: 1, bytes: l3.length }]);
    const s = await handTree(d, root, [l1, l2, l3, n1, n2]);
    const w = await ms.walk(s, blobId(root));
    eq(w.chunks, [blobId(root), blobId(n1), blobId(n2), blobId(l1), blobId(l2), blobId(l3)]);
    assert.is(text(w.bytes), text(l1)! + text(l2) + text(l3));
    assert.is(text(await ms.get(s)), text(l1)! + text(l2) + text(l3));
  }
  const corrupt = async (root: Uint8Array, chunks: Uint8Array[], what: string) => {
    const d = await db();
    const s = await handTree(d, root, chunks);
    const e = await rejects(new ManifestStore(d).bytes(s), 'STORE_CORRUPT', { snapshot: s });
    assert.ok(e, what);
  };
  const n1 = encodeNode(1, [ref(l1), ref(l2)]);
  await corrupt(encodeNode(1, [ref(l1), ref(n1, 2, l1.length + l2.length)]), [l1, l2, n1], 'a leaf and a node side by side');
  await corrupt(encodeNode(2, [ref(l1), ref(l2)]), [l1, l2], 'leaves under a level-2 node');
  await corrupt(encodeNode(1, [ref(l1), ref(l2, 1, l2.length + 1)]), [l1, l2], 'a leaf size that differs');
  await corrupt(bytes('tree x\n'), [], 'a node that does not decode');
  const deep = encodeNode(2, [ref(n1, 2, l1.length + l2.length)]);
  await corrupt(encodeNode(3, [ref(n1, 2, l1.length + l2.length), ref(deep, 2, l1.length + l2.length)]), [l1, l2, n1, deep], 'node levels that differ');
  await corrupt(encodeNode(2, [ref(n1, 2, l1.length + l2.length + 1)]), [l1, l2, n1], 'bytes that differ from the children');
  await corrupt(encodeNode(2, [ref(n1, 3, l1.length + l2.length)]), [l1, l2, n1], 'entries that differ from the children');
  // The right counts pass (the two above are the only difference).
  {
    const d = await db();
    const s = await handTree(d, encodeNode(2, [ref(n1, 2, l1.length + l2.length)]), [l1, l2, n1]);
    assert.is(text(await new ManifestStore(d).bytes(s)), text(l1)! + text(l2));
  }
  // Missing chunks: the first missing one of a level is named.
  {
    const d = await db();
    const root = encodeNode(1, [ref(l1), ref(l2), ref(l3)]);
    const s = await handTree(d, root, [l1]);
    await rejects(new ManifestStore(d).bytes(s), 'OBJECT_MISSING', { id: blobId(l2), snapshot: s });
    const d2 = await db();
    const s2 = 'sha256:' + 'e'.repeat(64);
    await commit(d2, [{ type: 'put', key: 'm!' + 'e'.repeat(64), value: bytes(blobId(root)) }]);
    await rejects(new ManifestStore(d2).bytes(s2), 'OBJECT_MISSING', { id: blobId(root), snapshot: s2 });
  }
});

manifests('snapshots and forgetOp stay in their keyspace; reach adds chunks and blobs (whole objects too), skips a tree already reached', async () => {
  const d = await db();
  const a = new ManifestStore(d), t = new ManifestStore(d, 't!a!');
  const ma = generated(2), mt = generated(1, 'agents/t');
  const ba = encodeManifest(ma), bt = encodeManifest(mt);
  await commit(d, [
    ...(await a.putOps(ba)).ops, ...(await t.putOps(bt)).ops,
    { type: 'put', key: 'm', value: bytes('x') }, { type: 'put', key: 'm"', value: bytes('y') }, { type: 'put', key: 'merge!x', value: bytes('{}') },
  ]);
  const list = async (s: ManifestStore) => { const out = []; for await (const x of s.snapshots()) out.push(x); return out; };
  eq(await list(a), [{ snapshot: snapshotHashOf(ba), root: blobId(ba) }]);
  eq(await list(t), [{ snapshot: snapshotHashOf(bt), root: blobId(bt) }]);
  eq(t.forgetOp(snapshotHashOf(bt)), { type: 'del', key: 't!a!m!' + manifestObjectId(snapshotHashOf(bt)) });
  // reach: absent and empty add nothing.
  const into = new Set<string>();
  await a.reach('sha256:' + 'f'.repeat(64), into);
  await a.reach(EMPTY_SNAPSHOT, into);
  eq([...into], []);
  // A tree: its chunks, then its blobs.
  await a.reach(snapshotHashOf(ba), into);
  eq([...into], [blobId(ba), ...ma.values()]);
  // A tree whose root is already in the set is not walked again.
  const big = generated(600);
  const bb = encodeManifest(big);
  await commit(d, (await a.putOps(bb)).ops);
  const seen = new Set([chunkManifest(bb).root!]);
  await a.reach(snapshotHashOf(bb), seen);
  eq([...seen], [chunkManifest(bb).root]);
  const all = new Set<string>();
  await a.reach(snapshotHashOf(bb), all);
  eq(all, new Set([...chunkManifest(bb).chunks.map((c) => c.id), ...big.values()]));
  // A whole (format 1) manifest: the object and its blobs.
  const whole = encodeManifest(generated(4, 'agents/w'));
  await commit(d, [{ type: 'put', key: 'o!' + blobId(whole), value: whole }]);
  const w = new Set<string>();
  await a.reach(snapshotHashOf(whole), w);
  eq([...w], [blobId(whole), ...generated(4, 'agents/w').values()]);
});

manifests('convertLegacy: whole manifests become trees (the whole objects stay until the caller drops them); a rerun after a crash; a one-leaf manifest is its own tree; a bad hash is STORE_CORRUPT', async () => {
  const d = await db();
  const p = 't!q!';
  const big = encodeManifest(generated(1000)), small = encodeManifest(generated(3));
  const sb = snapshotHashOf(big), ss = snapshotHashOf(small);
  await commit(d, [{ type: 'put', key: p + 'o!' + manifestObjectId(sb), value: big }, { type: 'put', key: p + 'o!' + manifestObjectId(ss), value: small }]);
  const absent = 'sha256:' + '1'.repeat(64);
  eq(await convertLegacy(d, p, [sb, ss, sb, absent, EMPTY_SNAPSHOT]), [manifestObjectId(sb)]);
  const ms = new ManifestStore(d, p);
  eq(await ms.root(sb), { root: chunkManifest(big).root, legacy: false });
  eq(await ms.root(ss), { root: manifestObjectId(ss), legacy: false });
  eq(await d.get(p + 'o!' + manifestObjectId(sb)), big, 'the whole object stays');
  eq(await ms.bytes(sb), big);
  // A rerun (the caller died before deleting it): still reported, once.
  eq(await convertLegacy(d, p, [sb, ss]), [manifestObjectId(sb)]);
  await commit(d, [{ type: 'del', key: p + 'o!' + manifestObjectId(sb) }]);
  eq(await convertLegacy(d, p, [sb, ss]), []);
  // Bytes that do not hash to their snapshot.
  const lie = 'sha256:' + '2'.repeat(64);
  await commit(d, [{ type: 'put', key: p + 'o!' + '2'.repeat(64), value: small }]);
  await rejects(convertLegacy(d, p, [lie]), 'STORE_CORRUPT', { snapshot: lie });
  assert.is(await d.get(p + 'm!' + '2'.repeat(64)), undefined);
});

manifests('convertLegacy of more than 8 MiB of whole manifests writes in synced batches and converts every one', async () => {
  const d = await db();
  // Three whole manifests of about 4.7 MB each (they share most lines, so their chunks do too).
  const big = generated(60000, 'content/a-long-folder-name/and-a-longer-file-name-');
  const snaps: string[] = [];
  const wholes: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    const m = new Map(big);
    m.set(`content/extra-${i}.md`, blobId(bytes(String(i))));
    const b = encodeManifest(m);
    wholes.push(b);
    snaps.push(snapshotHashOf(b));
    await commit(d, [{ type: 'put', key: 'o!' + manifestObjectId(snapshotHashOf(b)), value: b }]);
  }
  const spy = spyBatches(d);
  let legacy: string[];
  try { legacy = await convertLegacy(d, '', snaps); } finally { spy.restore(); }
  eq(legacy, snaps.map((x) => manifestObjectId(x)));
  assert.is(spy.calls.length, 2, 'one batch after 8 MiB, one for the rest');
  const ms = new ManifestStore(d);
  for (let i = 0; i < 3; i++) {
    eq(await ms.root(snaps[i]!), { root: chunkManifest(wholes[i]!).root, legacy: false });
    assert.ok(Buffer.from(await ms.bytes(snaps[i]!)).equals(wholes[i]!));
  }
});

manifests.run();

// ---------------------------------------------------------------- src/store/objects.ts, db.ts

const objects = suite('mutation kills: src/store/objects.ts, db.ts');
objects.after.each(closeAll);
objects.after(cleanup);

objects('ObjectStore: empty lists, need, putOps, ids within its keyspace only', async () => {
  const d = await db();
  const o = new ObjectStore(d, 't!a!');
  eq(await o.missing([]), []);
  eq(await o.getMany([]), []);
  const x = bytes('x'), y = bytes('y');
  eq(o.putOps([x, y]), { ops: [{ type: 'put', key: 't!a!o!' + blobId(x), value: x }, { type: 'put', key: 't!a!o!' + blobId(y), value: y }], ids: [blobId(x), blobId(y)] });
  eq(await o.put([]), []);
  eq(await o.put([x]), [blobId(x)]);
  await rejects(o.need(blobId(y), 'blob'), 'OBJECT_MISSING', { id: blobId(y) });
  eq(await o.need(blobId(x)), x);
  eq(await o.missing([blobId(y), blobId(x)]), [blobId(y)]);
  eq(await o.getMany([blobId(y), blobId(x)]), [undefined, x]);
  await new ObjectStore(d).put([y]);
  await new ObjectStore(d, 't!b!').put([y]);
  await commit(d, [{ type: 'put', key: 't!a!o"', value: y }, { type: 'put', key: 't!a!m!' + blobId(y), value: y }]);
  const ids = async (s: ObjectStore) => { const out = []; for await (const id of s.ids()) out.push(id); return out; };
  eq(await ids(o), [blobId(x)]);
  eq(await ids(new ObjectStore(d)), [blobId(y)]);
  // commit of nothing writes nothing (and does not fail on a closed store).
  await d.close();
  await commit(d, []);
});

objects('db: lockTimeout, parseJson, jsonValue, an absent store not created, the lock code given', async () => {
  assert.is(lockTimeout({}), 10000);
  assert.is(lockTimeout({ AGENTSYNC_LOCK_TIMEOUT_MS: '' }), 10000);
  assert.is(lockTimeout({ AGENTSYNC_LOCK_TIMEOUT_MS: 'soon' }), 10000);
  assert.is(lockTimeout({ AGENTSYNC_LOCK_TIMEOUT_MS: '-1' }), 10000);
  assert.is(lockTimeout({ AGENTSYNC_LOCK_TIMEOUT_MS: 'Infinity' }), 10000);
  assert.is(lockTimeout({ AGENTSYNC_LOCK_TIMEOUT_MS: '0' }), 0);
  assert.is(lockTimeout({ AGENTSYNC_LOCK_TIMEOUT_MS: '250' }), 250);
  assert.is(parseJson(undefined, 'x'), undefined);
  eq(parseJson(bytes('{"a":[1]}'), 'x'), { a: [1] });
  await rejects(() => parseJson(bytes('{'), 'x'), 'STORE_CORRUPT', {});
  assert.is(text(jsonValue({ b: 'é' })), '{"b":"é"}');
  const dir = join(tmp('agentsync-mk-'), 'none');
  await rejects(openDb(dir, { createIfMissing: false, waitMs: 0 }), 'STORE_CORRUPT', { dir });
  const held = join(tmp('agentsync-mk-'), 'held');
  const d = await openDb(held);
  dbs.push(d);
  await rejects(openDb(held, { waitMs: 0, lockedCode: 'REMOTE_BUSY' }), 'REMOTE_BUSY', { dir: held });
  await rejects(openDb(held, { waitMs: 0 }), 'STORE_LOCKED', { dir: held });
  await d.put('k', bytes('v'));
  await compactAll(d);
  assert.is(text(await d.get('k')), 'v');
});

objects.run();

// ---------------------------------------------------------------- src/store/remote-store.ts

const remote = suite('mutation kills: src/store/remote-store.ts');
remote.after.each(closeAll);
remote.after(cleanup);

/** Upload the blobs of `files` (path → text, null: delete) and create a version on `expected`. */
async function push(rs: RemoteStore, expected: number | null, parent: Manifest, files: Record<string, string | null>, draft = false) {
  const changes: Change[] = [];
  for (const [path, t] of Object.entries(files)) {
    if (t === null) { changes.push({ path, id: null }); continue; }
    await rs.putObjects([{ id: blobId(bytes(t)), bytes: bytes(t) }]);
    changes.push({ path, id: blobId(bytes(t)) });
  }
  const next = applyChanges(parent, changes);
  const v = await rs.createVersion({ expected, changes, snapshot: snapshotHash(next), author: 'a', message: 'm', draft });
  return { v, m: next };
}

remote('checkVersionText: the byte limit (UTF-8), control characters, tabs and newlines only in a message', () => {
  assert.is(checkVersionText('author', 'x'.repeat(MAX_TEXT_BYTES)), 'x'.repeat(MAX_TEXT_BYTES));
  const long = () => checkVersionText('author', 'x'.repeat(MAX_TEXT_BYTES + 1));
  assert.throws(long);
  for (const [field, v] of [['author', 'é'.repeat(MAX_TEXT_BYTES / 2 + 1)], ['message', 'x'.repeat(MAX_TEXT_BYTES + 1)], ['author', 7], ['message', null]] as const) {
    try { checkVersionText(field, v); assert.unreachable(); } catch (e) {
      assert.is((e as AgentsyncError).code, 'REQUEST_INVALID');
      eq((e as AgentsyncError).data, { field, reason: 'bad-field' });
    }
  }
  assert.is(checkVersionText('message', 'é'.repeat(MAX_TEXT_BYTES / 2)), 'é'.repeat(MAX_TEXT_BYTES / 2));
  assert.is(checkVersionText('message', 'a\n\tb'), 'a\n\tb');
  for (const [field, v] of [['author', 'a\tb'], ['author', 'a\nb'], ['message', 'a\rb'], ['message', 'a\u009bb']] as const) {
    try { checkVersionText(field, v); assert.unreachable(); } catch (e) {
      assert.is((e as AgentsyncError).code, 'REQUEST_INVALID');
      eq((e as AgentsyncError).data, { field, reason: 'control-character' });
    }
  }
});

remote('createVersion: each refusal\'s code and data, nothing stored; the version and head written exactly', async () => {
  const d = await db();
  const rs = new RemoteStore(d);
  eq(await rs.head(), { latestPublished: null, current: null, lastId: 0 });
  eq(await rs.versions(), []);
  eq(await rs.versionChanges(1), []);
  await rejects(rs.version(1), 'VERSION_UNKNOWN', { version: 1, hint: 'agentsync versions' });
  const { v: v1, m: m1 } = await push(rs, null, new Map(), { 'b.md': 'b', 'a/x.md': 'x' });
  eq({ ...v1, createdAt: 0, publishedAt: 0 }, { id: 1, snapshot: snapshotHash(m1), parent: null, author: 'a', message: 'm', createdAt: 0, state: 'published', changed: 2, publishedAt: 0 });
  assert.is(v1.publishedAt, v1.createdAt);
  // Stored in path order whatever order was sent.
  eq(await rs.versionChanges(1), [{ path: 'a/x.md', id: blobId(bytes('x')) }, { path: 'b.md', id: blobId(bytes('b')) }]);
  const before = await dump(d);
  const id = (t: string) => blobId(bytes(t));
  const req = (changes: Change[], over: Partial<Parameters<RemoteStore['createVersion']>[0]> = {}) =>
    ({ expected: 1, changes, snapshot: snapshotHash(applyChanges(m1, changes)), author: 'a', message: 'm', draft: false, ...over });
  await rejects(rs.createVersion(req([{ path: 'c.md', id: id('b') }, { path: 'c.md', id: null }])), 'REQUEST_INVALID', { field: 'changes', reason: 'duplicate-path', path: 'c.md' });
  await rejects(rs.createVersion(req([{ path: 'c.md', id: id('b') }], { expected: null })), 'STALE_REMOTE', { latestPublished: 1, expected: null });
  await rejects(rs.createVersion(req([{ path: 'c.md', id: id('b') }], { expected: 2 })), 'STALE_REMOTE', { latestPublished: 1, expected: 2 });
  const clashReason = 'is a file and also the folder of another path';
  await rejects(rs.createVersion(req([{ path: 'a', id: id('b') }])), 'PATH_UNSAFE', { path: 'a', reason: clashReason, clash: { file: 'a', under: 'a/x.md' } });
  await rejects(rs.createVersion(req([{ path: 'b.md/y.md', id: id('b') }])), 'PATH_UNSAFE', { path: 'b.md/y.md', reason: clashReason, clash: { file: 'b.md', under: 'b.md/y.md' } });
  // Many added paths take the other clash check: the same answer.
  const many: Change[] = [...Array(150).keys()].map((i) => ({ path: `many/m${String(i).padStart(3, '0')}.md`, id: id('b') }));
  await rejects(rs.createVersion(req([...many, { path: 'b.md/z.md', id: id('b') }])), 'PATH_UNSAFE', { path: 'b.md/z.md', reason: clashReason, clash: { file: 'b.md', under: 'b.md/z.md' } });
  const wrong = snapshotHash(new Map([['q.md', id('b')]]));
  const right = snapshotHash(applyChanges(m1, [{ path: 'c.md', id: id('b') }]));
  await rejects(rs.createVersion(req([{ path: 'c.md', id: id('b') }], { snapshot: wrong })), 'REMOTE_PROTOCOL', { snapshot: right, expected: wrong });
  await rejects(rs.createVersion(req([{ path: 'c.md', id: null }])), 'REQUEST_INVALID', { field: 'changes', reason: 'no-op-change', path: 'c.md' });
  await rejects(rs.createVersion(req([{ path: 'b.md', id: id('b') }])), 'REQUEST_INVALID', { field: 'changes', reason: 'no-op-change', path: 'b.md' });
  await rejects(rs.createVersion(req([{ path: 'c.md', id: id('nope') }, { path: 'd.md', id: id('nope') }, { path: 'e.md', id: id('b') }])), 'OBJECT_MISSING', { missing: [id('nope')] });
  await rejects(rs.createVersion(req([{ path: 'c.md', id: id('b') }], { author: 'a\u0007' })), 'REQUEST_INVALID', { field: 'author', reason: 'control-character' });
  await rejects(rs.createVersion(req([{ path: '../c.md', id: id('b') }])), 'PATH_UNSAFE');
  eq(await dump(d), before, 'nothing stored by a refused version');
  // A draft: only lastId moves; no publishedAt.
  const { v: v2, m: m2 } = await push(rs, 1, m1, { 'b.md': null, 'c.md': 'c' }, true);
  eq({ ...v2, createdAt: 0 }, { id: 2, snapshot: snapshotHash(m2), parent: 1, author: 'a', message: 'm', createdAt: 0, state: 'draft', changed: 2 });
  eq(await rs.head(), { latestPublished: 1, current: 1, lastId: 2 });
  eq((await rs.versions(1)).map((v) => v.id), [2]);
  eq((await rs.versions()).map((v) => v.id), [1, 2]);
  eq(await rs.manifestBytes(2), encodeManifest(m2));
  // Deploy of a published version moves current only; of a stale draft: DRAFT_STALE with data.
  const { v: v3 } = await push(rs, 1, m1, { 'd.md': 'd' });
  eq(await rs.head(), { latestPublished: 3, current: 3, lastId: 3 });
  await rejects(rs.deploy(2), 'DRAFT_STALE', { version: 2, parent: 1, latestPublished: 3, hint: 'agentsync pull' });
  await rejects(rs.rollback(2), 'VERSION_DRAFT', { version: 2, hint: 'agentsync deploy 2' });
  eq(await rs.rollback(1), { version: v1, head: { latestPublished: 3, current: 1, lastId: 3 } });
  eq(await rs.deploy(3), { version: v3, head: { latestPublished: 3, current: 3, lastId: 3 } });
  eq(await rs.head(), { latestPublished: 3, current: 3, lastId: 3 });
  await rejects(rs.deploy(9), 'VERSION_UNKNOWN', { version: 9, hint: 'agentsync versions' });
  // A fresh draft on the latest deploys: published, both pointers move.
  const { v: v4 } = await push(rs, 3, applyChanges(m1, [{ path: 'd.md', id: id('d') }]), { 'e.md': 'e' }, true);
  const dep = await rs.deploy(4);
  eq(dep.head, { latestPublished: 4, current: 4, lastId: 4 });
  eq({ ...dep.version, publishedAt: 0 }, { ...v4, state: 'published', publishedAt: 0 });
  eq(await rs.version(4), dep.version);
  assert.ok(dep.version.publishedAt! >= v4.createdAt);
});

remote('changesBetween: composed along the chain or diffed, always what diffManifests says; an empty manifest reads as empty', async () => {
  const d = await db();
  const rs = new RemoteStore(d);
  const ms: Manifest[] = [new Map()];
  let m: Manifest = new Map();
  let prev: number | null = null;
  const steps: Record<string, string | null>[] = [
    { 'a.md': '1', 'b.md': '1', 'c.md': '1' }, { 'a.md': '2' }, { 'd.md': '1' }, { 'a.md': '1' }, { 'd.md': null }, { 'b.md': null, 'e.md': '1' },
    { 'a.md': null, 'c.md': null, 'e.md': null }, { 'f.md': '1' },
  ];
  for (const s of steps) {
    const r = await push(rs, prev, m, s);
    prev = r.v.id;
    m = r.m;
    ms[r.v.id] = m;
  }
  eq(await rs.manifestBytes(7), new Uint8Array(0));
  for (let from = 1; from <= 8; from++) {
    for (let to = 1; to <= 8; to++) eq(await rs.changesBetween(from, to), diffManifests(ms[from]!, ms[to]!), `${from}..${to}`);
  }
  for (let to = 1; to <= 8; to++) eq(await rs.changesBetween(null, to), diffManifests(new Map(), ms[to]!), `null..${to}`);
  // A draft on top of 8 composes from 8 too.
  const dr = await push(rs, 8, m, { 'g.md': '1', 'f.md': '2' }, true);
  eq(await rs.changesBetween(8, dr.v.id), diffManifests(m, dr.m));
  eq(await rs.changesBetween(3, dr.v.id), diffManifests(ms[3]!, dr.m));
  // A manifest reads like an object by its snapshot hex; unknown ids stay undefined.
  const got = await rs.getObjects([manifestObjectId(snapshotHash(ms[1]!)), 'f'.repeat(64), blobId(bytes('1'))]);
  eq(got, [encodeManifest(ms[1]!), undefined, bytes('1')]);
});

remote('putObjects: a mismatch stores nothing (REMOTE_PROTOCOL with data); a repeated id is written once; gc counts exactly and keeps other tenants', async () => {
  const d = await db();
  const rs = new RemoteStore(d, 't!a!');
  const other = new RemoteStore(d, 't!b!');
  const x = bytes('x'), y = bytes('y');
  await rejects(rs.putObjects([{ id: blobId(x), bytes: x }, { id: blobId(x), bytes: y }]), 'REMOTE_PROTOCOL', { id: blobId(x), actual: blobId(y) });
  eq(await dump(d), {});
  await rs.putObjects([{ id: blobId(x), bytes: x }, { id: blobId(x), bytes: x }, { id: blobId(y), bytes: y }]);
  eq(Object.keys(await dump(d)), ['t!a!o!' + blobId(x), 't!a!o!' + blobId(y)].sort());
  const { m } = await push(rs, null, new Map(), { 'a.md': 'x' });
  await push(other, null, new Map(), { 'z.md': 'z' });
  await other.putObjects([{ id: blobId(bytes('orphan')), bytes: bytes('orphan') }]);
  // An m! key of no version, with a chunk of its own.
  const stray = encodeManifest(generated(2, 'agents/s'));
  await commit(d, (await rs.manifests.putOps(stray)).ops);
  const keep = bytes('keep');
  await rs.putObjects([{ id: blobId(keep), bytes: keep }]);
  const r = await rs.gc(new Set([blobId(keep)]));
  eq(r, { objects: 2, bytes: y.length + stray.length, manifests: 1, kept: 1 });
  eq(Object.keys(await dump(d)).filter((k) => k.startsWith('t!a!')).sort(), [
    't!a!c!0000000001', 't!a!h', 't!a!m!' + manifestObjectId(snapshotHash(m)), 't!a!o!' + blobId(x), 't!a!o!' + blobId(keep), 't!a!o!' + blobId(encodeManifest(m)), 't!a!v!0000000001',
  ].sort());
  eq(await other.objects.missing([blobId(bytes('orphan'))]), [], 'another tenant is not collected');
  eq(await rs.gc(new Set([blobId(keep)])), { objects: 0, bytes: 0, manifests: 0, kept: 1 });
  eq(await rs.reachable(), new Set([blobId(encodeManifest(m)), blobId(x)]));
});

/** Record the ops of every `db.batch` (and what `probe` says at that moment) until `restore()`. */
function spyBatches(d: Db, probe: () => unknown = () => undefined) {
  const calls: { ops: number; probe: unknown }[] = [];
  const real = d.batch.bind(d);
  (d as unknown as { batch: unknown }).batch = (ops: BatchOp[], o?: unknown) => {
    calls.push({ ops: ops.length, probe: probe() });
    return real(ops as never, o as never);
  };
  return { calls, restore: () => { (d as unknown as { batch: unknown }).batch = real; } };
}

remote('putObjects writes in slices (at most 1000 objects, about 4 MiB) and lets the event loop turn between hash slices', async () => {
  const d = await db();
  const rs = new RemoteStore(d);
  const obj = (n: number, fill: number) => { const b = new Uint8Array(n).fill(fill); return { id: blobId(b), bytes: b }; };
  const small = [...Array(2500).keys()].map((i) => ({ id: blobId(bytes(`o${i}`)), bytes: bytes(`o${i}`) }));
  let spy = spyBatches(d);
  try { await rs.putObjects(small); } finally { spy.restore(); }
  eq(spy.calls.map((c) => c.ops), [1000, 1000, 500]);
  // Each object counts its bytes + 1 KiB: two of 4 MiB - 1 KiB fill a slice each.
  const exact = [obj(4 * 1024 * 1024 - 1024, 1), obj(4 * 1024 * 1024 - 1024, 2)];
  spy = spyBatches(d);
  try { await rs.putObjects(exact); } finally { spy.restore(); }
  eq(spy.calls.map((c) => c.ops), [1, 1]);
  const three = [obj(3 * 1024 * 1024, 3), obj(3 * 1024 * 1024, 4), obj(3 * 1024 * 1024, 5)];
  let turned = false;
  spy = spyBatches(d, () => turned);
  try {
    setImmediate(() => { turned = true; });
    await rs.putObjects(three);
  } finally { spy.restore(); }
  eq(spy.calls, [{ ops: 2, probe: true }, { ops: 1, probe: true }], 'the loop turned while hashing, before the first write');
  eq(await rs.objects.missing([...small, ...exact, ...three].map((o) => o.id)), []);
});

remote('gc deletes in batches of at most 10 000 ops', async () => {
  const d = await db();
  const rs = new RemoteStore(d, 't!g!');
  const ops: BatchOp[] = [];
  for (let i = 0; i < 10005; i++) ops.push({ type: 'put', key: 't!g!o!' + blobId(bytes(`g${i}`)), value: bytes(`g${i}`) });
  await commit(d, ops);
  const spy = spyBatches(d);
  let r;
  try { r = await rs.gc(); } finally { spy.restore(); }
  eq(r, { objects: 10005, bytes: ops.reduce((n, o) => n + (o as { value: Uint8Array }).value.length, 0), manifests: 0, kept: 0 });
  eq(spy.calls.map((c) => c.ops), [10000, 5]);
  eq(await dump(d), {});
});

remote('createVersion reads the parent manifest once: a refused create leaves it cached for the next', async () => {
  const d = await db();
  const first = new RemoteStore(d);
  const { m } = await push(first, null, new Map(), Object.fromEntries([...Array(300).keys()].map((i) => [`p/f${i}.md`, String(i)])));
  const rs = new RemoteStore(d); // a fresh handle: nothing cached
  const reads: string[] = [];
  const realGet = d.get.bind(d), realMany = d.getMany.bind(d);
  (d as unknown as { get: unknown }).get = (k: string, ...rest: unknown[]) => { reads.push(k.slice(0, 2)); return (realGet as (...a: unknown[]) => unknown)(k, ...rest); };
  (d as unknown as { getMany: unknown }).getMany = (ks: string[], ...rest: unknown[]) => { reads.push(...ks.map((k) => k.slice(0, 2))); return (realMany as (...a: unknown[]) => unknown)(ks, ...rest); };
  try {
    const changes = [{ path: 'p/new.md', id: blobId(bytes('not uploaded')) }];
    const req = { expected: 1, changes, snapshot: snapshotHash(applyChanges(m, changes)), author: 'a', message: 'm', draft: false };
    await rejects(rs.createVersion(req), 'OBJECT_MISSING');
    assert.ok(reads.includes('m!'), 'the first create read the parent');
    reads.length = 0;
    await rejects(rs.createVersion(req), 'OBJECT_MISSING');
    eq(reads.filter((k) => k === 'm!' || k === 'o!'), [], 'no manifest read (the missing-object check uses hasMany)');
  } finally {
    (d as unknown as { get: unknown }).get = realGet;
    (d as unknown as { getMany: unknown }).getMany = realMany;
  }
});

remote('upgradeStore: a current store is left alone, a newer one refused with data.format; a format-1 store converted, marked, then cleaned in one batch', async () => {
  const d = await db();
  await commit(d, [{ type: 'put', key: 'a!format', value: bytes(STORE_FORMAT) }]);
  let called = 0;
  assert.is(await upgradeStore(d, 'a!format', async () => { called++; return []; }), false);
  assert.is(called, 0);
  await commit(d, [{ type: 'put', key: 'a!format', value: bytes('3') }]);
  await rejects(upgradeStore(d, 'a!format', async () => []), 'STORE_CORRUPT', { format: '3' });
  // Format 1: one tenant with a large manifest stored whole, one with a one-leaf manifest.
  const d2 = await db();
  const rs = new RemoteStore(d2, 't!a!');
  const { m } = await push(rs, null, new Map(), Object.fromEntries([...Array(600).keys()].map((i) => [`p/f${i}.md`, String(i)])));
  const snap = snapshotHash(m);
  const b = encodeManifest(m);
  const legacyOps: BatchOp[] = [{ type: 'put', key: 't!a!o!' + manifestObjectId(snap), value: b }];
  for (const c of chunkManifest(b).chunks) legacyOps.push({ type: 'del', key: 't!a!o!' + c.id });
  legacyOps.push({ type: 'del', key: 't!a!m!' + manifestObjectId(snap) });
  await commit(d2, legacyOps);
  const before = await dump(d2);
  let marked: Record<string, string> | undefined;
  assert.is(await upgradeStore(d2, 'a!format', async () => [rs], () => { marked = {}; }), true);
  assert.ok(marked);
  const after = await dump(d2);
  assert.is(after['a!format'], '2');
  assert.is(after['t!a!o!' + manifestObjectId(snap)], undefined, 'the whole manifest is deleted');
  assert.is(after['t!a!m!' + manifestObjectId(snap)], chunkManifest(b).root);
  for (const c of chunkManifest(b).chunks) assert.ok(after['t!a!o!' + c.id] !== undefined);
  for (const k of Object.keys(before)) if (k !== 't!a!o!' + manifestObjectId(snap)) assert.is(after[k], before[k], k);
  eq(await rs.manifestBytes(1), b);
  assert.is(await upgradeStore(d2, 'a!format', async () => [rs]), false);
});

remote('the marker callback runs after the trees are written (synced) and before the batch that drops the whole manifests', async () => {
  const d = await db();
  const rs = new RemoteStore(d);
  const { m } = await push(rs, null, new Map(), Object.fromEntries([...Array(600).keys()].map((i) => [`p/f${i}.md`, String(i)])));
  const snap = snapshotHash(m);
  const hex = manifestObjectId(snap);
  const b = encodeManifest(m);
  await commit(d, [{ type: 'put', key: 'o!' + hex, value: b }, { type: 'del', key: 'm!' + hex }]);
  const batches: { keys: string[]; sync: boolean }[] = [];
  const real = d.batch.bind(d);
  (d as unknown as { batch: unknown }).batch = (ops: BatchOp[], o?: { sync?: boolean }) => {
    batches.push({ keys: ops.map((x) => `${x.type} ${x.key}`), sync: o?.sync === true });
    return real(ops as never, o as never);
  };
  let at = -1;
  try {
    assert.is(await upgradeStore(d, 'format', async () => [rs], () => { at = batches.length; }), true);
  } finally {
    (d as unknown as { batch: unknown }).batch = real;
  }
  assert.is(at, 1);
  assert.is(batches.length, 2);
  assert.ok(batches[0]!.sync && batches[0]!.keys.includes('put m!' + hex), 'the tree, synced, before the marker');
  eq(batches[1], { keys: ['del o!' + hex, 'put format'], sync: true });
});

remote.run();

// ---------------------------------------------------------------- src/store/local.ts

const local = suite('mutation kills: src/store/local.ts');
local.after.each(closeAll);
local.after(cleanup);

const opened: LocalStore[] = [];
async function localStore(dir = join(tmp('agentsync-mk-'), 'store')): Promise<LocalStore> {
  const s = await LocalStore.open(dir);
  opened.push(s);
  return s;
}
local.after.each(async () => { for (const s of opened.splice(0)) if (s.db.status === 'open') await s.close(); });

local('refs, refSnapshots, tracking, base ops, forgetRemote: exact keys; a store opened writes format 2', async () => {
  const ls = await localStore();
  eq(await dump(ls.db), { format: '2' });
  assert.is(await ls.baseSnapshot('origin'), EMPTY_SNAPSHOT);
  eq(await ls.manifest(null), new Map());
  eq(await ls.manifest(EMPTY_SNAPSHOT), new Map());
  const m = generated(3);
  const { ops, snapshot } = await ls.baseOps('origin', m);
  eq(ops.at(-1), { type: 'put', key: 'base!origin', value: bytes(snapshot) });
  await commit(ls.db, ops);
  assert.is(await ls.baseSnapshot('origin'), snapshot);
  eq(await ls.manifest(snapshot), m);
  eq(ls.baseRefOp('b', snapshot), { type: 'put', key: 'base!b', value: bytes(snapshot) });
  const moved = await ls.moveBaseOps('origin', [{ path: 'agents/a00000.yaml', id: null }, { path: 'z.md', id: blobId(bytes('z')) }]);
  await commit(ls.db, moved);
  const m2 = applyChanges(m, [{ path: 'agents/a00000.yaml', id: null }, { path: 'z.md', id: blobId(bytes('z')) }]);
  assert.is(await ls.baseSnapshot('origin'), snapshotHash(m2));
  eq(await ls.manifest(snapshotHash(m2)), m2);
  // moveBaseOps on a base given decoded uses it, not the stored one.
  const given = await ls.moveBaseOps('origin', [{ path: 'y.md', id: blobId(bytes('y')) }], new Map());
  eq(given.at(-1), { type: 'put', key: 'base!origin', value: bytes(snapshotHash(new Map([['y.md', blobId(bytes('y'))]]))) });
  const t = { url: '/r', fetchedAt: 'now', head: { latestPublished: 1, current: 1, lastId: 1 }, latestSnapshot: snapshot, firstDraft: null };
  await commit(ls.db, [...(await ls.trackingOps('origin', t, [], 0)).ops, ...(await ls.trackingOps('other', { ...t, latestSnapshot: null }, [], 0)).ops, { type: 'put', key: 'base"', value: bytes('x') }, { type: 'put', key: 'stat', value: bytes('') }]);
  eq(await ls.tracking('origin'), t);
  assert.is(await ls.tracking('nope'), undefined);
  eq((await ls.refs()).map((r) => r.key), ['base!origin', 'track!origin', 'track!other']);
  eq(await ls.refSnapshots(), [snapshotHash(m2), snapshot]);
  await ls.forgetRemote('origin');
  eq((await ls.refs()).map((r) => r.key), ['track!other']);
  eq(await ls.refSnapshots(), []);
});

local('undo journal and its pending mark: ops, a mark of another journal is stale', async () => {
  const ls = await localStore();
  assert.is(await ls.undo(), undefined);
  assert.is(await ls.pendingUndo(), undefined);
  const j = { at: 't1', op: 'pull', entries: [{ path: 'a.md', id: null }] };
  eq(ls.undoOp(null), { type: 'del', key: 'undo' });
  eq(ls.undoPendingOp(null), { type: 'del', key: 'undo-pending' });
  await commit(ls.db, [ls.undoOp(j), ls.undoPendingOp({ at: 't0', op: 'pull' })]);
  eq(await ls.undo(), j);
  eq(await ls.undoPendingMark(), { at: 't0', op: 'pull' });
  assert.is(await ls.pendingUndo(), undefined, 'a mark of another journal');
  await commit(ls.db, [ls.undoPendingOp({ at: 't1', op: 'pull' })]);
  eq(await ls.pendingUndo(), { journal: j, marker: { at: 't1', op: 'pull' } });
  await commit(ls.db, [ls.undoOp(null)]);
  assert.is(await ls.pendingUndo(), undefined, 'a mark without a journal');
});

local('reachable and gc: bases, fetch records, both undo journals and merge records keep their objects; exact counts; dry run writes nothing', async () => {
  const ls = await localStore();
  const blob = (s: string) => { const b = bytes(s); return { b, id: blobId(b) }; };
  const [base, tracked, undoId, undoBase, undoAfter, undoing, mBase, mLocal, mRemote, orphan] =
    ['base', 'tracked', 'undo', 'undo-base', 'undo-after', 'undoing', 'm-base', 'm-local', 'm-remote', 'orphan'].map(blob);
  await ls.objects.put([base, tracked, undoId, undoBase, undoAfter, undoing, mBase, mLocal, mRemote, orphan].map((x) => x!.b));
  const mb = new Map([['a.md', base!.id]]), mt = new Map([['b.md', tracked!.id]]), stray = generated(700);
  const b1 = await ls.baseOps('origin', mb);
  const t1 = await ls.manifestOps(mt);
  const s1 = await ls.manifestOps(stray);
  await commit(ls.db, [...b1.ops, ...t1.ops, ...s1.ops,
    ...(await ls.trackingOps('origin', { url: '/r', fetchedAt: 'x', head: { latestPublished: 1, current: 1, lastId: 1 }, latestSnapshot: t1.snapshot }, [], 0)).ops,
    ls.undoOp({ at: 'a', op: 'pull', entries: [{ path: 'a.md', id: undoId!.id, base: undoBase!.id, after: undoAfter!.id }, { path: 'n.md', id: null, base: null, after: null }] }),
    ls.undoPendingOp({ at: 'b', op: 'undo', undoing: { at: 'c', op: 'pull', entries: [{ path: 'u.md', id: undoing!.id }] } }),
    { type: 'put', key: 'merge!a.md', value: jsonValue({ base: mBase!.id, local: mLocal!.id, remoteId: mRemote!.id }) },
    { type: 'put', key: 'merge!b.md', value: jsonValue({ base: null, local: null, remoteId: null }) },
  ]);
  const reach = await ls.reachable();
  eq(reach, new Set([blobId(encodeManifest(mb)), base!.id, blobId(encodeManifest(mt)), tracked!.id, undoId!.id, undoBase!.id, undoAfter!.id, undoing!.id, mBase!.id, mLocal!.id, mRemote!.id]));
  const strayChunks = chunkManifest(encodeManifest(stray)).chunks;
  const want = { objects: 1 + strayChunks.length, bytes: orphan!.b.length + strayChunks.reduce((n, c) => n + c.bytes.length, 0), manifests: 1 };
  const before = await dump(ls.db);
  eq(await ls.gc(true), want);
  eq(await dump(ls.db), before);
  eq(await ls.gc(), want);
  const after = await dump(ls.db);
  eq(Object.keys(after).sort(), Object.keys(before).filter((k) => k !== 'o!' + orphan!.id && k !== 'm!' + manifestObjectId(s1.snapshot) && !strayChunks.some((c) => k === 'o!' + c.id)).sort());
  eq(await ls.gc(), { objects: 0, bytes: 0, manifests: 0 });
});

local('a format-1 store upgrades on open: named whole manifests become trees and go, an unnamed one stays; a newer format is refused', async () => {
  const dir = join(tmp('agentsync-mk-'), 'store');
  const d = await openDb(dir);
  const named = encodeManifest(generated(1000)), tracked = encodeManifest(generated(900, 'agents/t')), unnamed = encodeManifest(generated(800, 'agents/u'));
  const sn = snapshotHashOf(named), st = snapshotHashOf(tracked), su = snapshotHashOf(unnamed);
  await commit(d, [
    { type: 'put', key: 'o!' + manifestObjectId(sn), value: named },
    { type: 'put', key: 'o!' + manifestObjectId(st), value: tracked },
    { type: 'put', key: 'o!' + manifestObjectId(su), value: unnamed },
    { type: 'put', key: 'base!origin', value: bytes(sn) },
    { type: 'put', key: 'track!origin', value: jsonValue({ url: '/r', fetchedAt: 'x', head: { latestPublished: 1, current: 1, lastId: 1 }, versions: [], latestSnapshot: st }) },
    // The fetch record's whole manifest is also the content of a file the undo journal keeps.
    { type: 'put', key: 'undo', value: jsonValue({ at: 'a', op: 'pull', entries: [{ path: 'x.md', id: manifestObjectId(st) }] }) },
  ]);
  await d.close();
  const ls = await localStore(dir);
  const after = await dump(ls.db);
  assert.is(after.format, '2');
  assert.is(after['o!' + manifestObjectId(sn)], undefined);
  assert.is(text(await ls.db.get('o!' + manifestObjectId(st))), text(tracked), 'still reached by the undo journal');
  assert.is(text(await ls.db.get('o!' + manifestObjectId(su))), text(unnamed));
  assert.is(after['m!' + manifestObjectId(sn)], chunkManifest(named).root);
  assert.is(after['m!' + manifestObjectId(st)], chunkManifest(tracked).root);
  assert.is(after['m!' + manifestObjectId(su)], undefined);
  eq(await ls.manifestBytes(sn), named);
  await ls.close();
  const d2 = await openDb(dir);
  await d2.put('format', bytes('7'));
  await d2.close();
  await rejects(LocalStore.open(dir), 'STORE_CORRUPT', { format: '7' });
  // The refused open released the store.
  const again = await openDb(dir, { waitMs: 0 });
  await again.close();
});

local('stat cache through the store: a few changed rows are saved as stat+ against the full cache; many rewrite it whole', async () => {
  const ls = await localStore();
  const e = (i: number): StatEntry => ({ id: blobId(bytes(String(i))), size: i, mtimeMs: 1000 + i, ino: 7 + i });
  const rows = new Map([...Array(600).keys()].map((i) => [`f${i}.md`, e(i)] as const));
  const c1 = statCacheOf(5, 's1', 'k', rows);
  eq(await ls.statCache(), emptyStatCache());
  await ls.saveStatCache(c1);
  eq(await ls.db.get('stat'), encodeStat(c1));
  assert.is(await ls.db.get('stat+'), undefined);
  await ls.statCache();
  const r2 = new Map(rows);
  r2.set('f3.md', e(9999));
  const c2 = statCacheOf(6, 's2', 'k', r2);
  await ls.saveStatCache(c2);
  eq(await ls.db.get('stat'), encodeStat(c1), 'the full cache stays');
  eq(JSON.parse(text(await ls.db.get('stat+'))!), { v: 3, of: 5, writtenAt: 6, snapshot: 's2', kinds: 'k', set: [['f3.md', e(9999).id, 9999, 10999, 10006]], del: [] });
  eq([...statEntries(await ls.statCache())], [...r2]);
  // Every row changed: the whole cache, stat+ deleted.
  const c3 = statCacheOf(7, 's3', 'k', new Map([...rows].map(([p, x]) => [p, { ...x, size: x.size + 1 }])));
  await ls.saveStatCache(c3);
  eq(await ls.db.get('stat'), encodeStat(c3));
  assert.is(await ls.db.get('stat+'), undefined);
});

local.run();

// ---------------------------------------------------------------- src/store/stat-cache.ts

const stat = suite('mutation kills: src/store/stat-cache.ts');

const row = (i: number): StatEntry => ({ id: blobId(bytes(`r${i}`)), size: i, mtimeMs: 100 + i, ino: 1000 + i });
const cacheOf = (writtenAt: number, paths: string[], snapshot = 'snap', kinds = 'kinds') => statCacheOf(writtenAt, snapshot, kinds, new Map(paths.map((p, i) => [p, row(i)])));
const plain = (c: StatCache) => ({ writtenAt: c.writtenAt, snapshot: c.snapshot, kinds: c.kinds, rows: [...statEntries(c)] });
const deltaOf = (d: object) => bytes(JSON.stringify(d));

stat('decodeStat: a delta applies only to the cache it was written against; edits in place, deletions, new rows at the end', () => {
  const full = cacheOf(50, ['a', 'b', 'c']);
  const v = encodeStat(full);
  eq(decodeStat(undefined, deltaOf({})), { cache: emptyStatCache(), full: undefined });
  const alone = decodeStat(v, undefined);
  eq(plain(alone.cache), plain(full));
  eq(plain(alone.full!), plain(full));
  eq(plain(decodeStat(v, new Uint8Array(0)).cache), plain(full));
  eq(plain(decodeStat(v, bytes('{oops')).cache), plain(full));
  const set = (i: number, p: string) => [p, row(i).id, row(i).size, row(i).mtimeMs, row(i).ino];
  const d = { v: 3, of: 50, writtenAt: 60, snapshot: 's2', kinds: 'k2', set: [set(9, 'b'), set(8, 'z')], del: [] as string[] };
  for (const bad of [{ ...d, v: 2 }, { ...d, of: 49 }]) eq(plain(decodeStat(v, deltaOf(bad)).cache), plain(full));
  const edited = decodeStat(v, deltaOf(d));
  eq(plain(edited.cache), { writtenAt: 60, snapshot: 's2', kinds: 'k2', rows: [['a', row(0)], ['b', row(9)], ['c', row(2)], ['z', row(8)]] });
  eq(plain(edited.full!), plain(full), 'the full cache is what stat holds');
  const onlyEdits = decodeStat(v, deltaOf({ ...d, set: [set(9, 'c')] }));
  eq(plain(onlyEdits.cache).rows, [['a', row(0)], ['b', row(1)], ['c', row(9)]]);
  const removed = decodeStat(v, deltaOf({ ...d, set: [set(9, 'c'), set(7, 'y')], del: ['a'] }));
  eq(plain(removed.cache), { writtenAt: 60, snapshot: 's2', kinds: 'k2', rows: [['b', row(1)], ['c', row(9)], ['y', row(7)]] });
  // The full cache's own columns are not changed by applying a delta.
  eq(plain(decodeStat(v, undefined).cache), plain(full));
  // A cache written at 0 takes no delta.
  const zero = encodeStat(cacheOf(0, ['a']));
  eq(plain(decodeStat(zero, deltaOf({ ...d, of: 0 })).cache), plain(cacheOf(0, ['a'])));
});

stat('decodeStat: the older formats (text, JSON) read, carry no kinds and take no delta base; damage reads as empty', () => {
  const r0 = row(0), r1 = row(1);
  const t1 = bytes(`42 sha256:x\n${r0.id}\t${r0.size}\t${r0.mtimeMs}\t${r0.ino}\ta b.md\n\n${r1.id}\t${r1.size}\t${r1.mtimeMs}\t${r1.ino}\tc.md\n`);
  const one = decodeStat(t1, undefined);
  eq(plain(one.cache), { writtenAt: 42, snapshot: 'sha256:x', kinds: '', rows: [['a b.md', r0], ['c.md', r1]] });
  assert.is(one.full, undefined);
  eq(plain(decodeStat(bytes('soon\n'), undefined).cache), { writtenAt: 0, snapshot: '', kinds: '', rows: [] });
  eq(decodeStat(bytes(`1 s\n${r0.id}\t1\t2\tno-fourth-tab\n`), undefined), { cache: emptyStatCache(), full: undefined });
  const j2 = { v: 2, writtenAt: 9, snapshot: 's', paths: ['p'], ids: [r0.id], size: [1], mtime: [2], ino: [3] };
  const two = decodeStat(bytes(JSON.stringify(j2)), undefined);
  eq(plain(two.cache), { writtenAt: 9, snapshot: 's', kinds: '', rows: [['p', { id: r0.id, size: 1, mtimeMs: 2, ino: 3 }]] });
  assert.is(two.full, undefined);
  // A delta over format 2 applies, without kinds.
  const over = decodeStat(bytes(JSON.stringify(j2)), deltaOf({ v: 3, of: 9, writtenAt: 10, snapshot: 't', kinds: 'k', set: [['q', r1.id, 4, 5, 6]], del: [] }));
  eq(plain(over.cache), { writtenAt: 10, snapshot: 't', kinds: '', rows: [['p', { id: r0.id, size: 1, mtimeMs: 2, ino: 3 }], ['q', { id: r1.id, size: 4, mtimeMs: 5, ino: 6 }]] });
  for (const bad of [{ ...j2, v: 1 }, { ...j2, paths: 'p' }, { ...j2, ids: [] }, { ...j2, size: [] }, { ...j2, mtime: [] }, { ...j2, ino: [] }]) {
    eq(decodeStat(bytes(JSON.stringify(bad)), undefined), { cache: emptyStatCache(), full: undefined }, JSON.stringify(bad));
  }
  // Format 3 damage: a wrong version, counts that do not add up.
  const good = encodeStat(cacheOf(5, ['a', 'b']));
  const nl = good.indexOf(0x0a);
  const header = JSON.parse(text(good.subarray(0, nl))!);
  const withHeader = (h: object) => new Uint8Array([...bytes(JSON.stringify(h)), ...good.subarray(nl)]);
  eq(plain(decodeStat(withHeader(header), undefined).cache), plain(cacheOf(5, ['a', 'b'])));
  for (const h of [{ ...header, v: 4 }, { ...header, n: 1 }, { ...header, n: 3 }, { ...header, pathBytes: header.pathBytes - 1 }]) {
    eq(decodeStat(withHeader(h), undefined), { cache: emptyStatCache(), full: undefined }, JSON.stringify(h));
  }
  eq(decodeStat(good.subarray(0, good.length - 1), undefined), { cache: emptyStatCache(), full: undefined });
  const empty = encodeStat(cacheOf(5, []));
  eq(plain(decodeStat(empty, undefined).cache), { writtenAt: 5, snapshot: 'snap', kinds: 'kinds', rows: [] });
  assert.throws(() => encodeStat({ ...cacheOf(1, ['a']), ids: ['abc'] }));
  // The bytes on disk: header line, paths, ids, then sizes, mtimes and inodes as little-endian float64.
  const oneRow = statCacheOf(3, 's', 'k', new Map([['p', { id: 'a'.repeat(64), size: 1, mtimeMs: 2, ino: 3 }]]));
  const f64 = (x: number) => Buffer.from(new Float64Array([x]).buffer).toString('hex');
  eq(Buffer.from(encodeStat(oneRow)).toString('hex'), Buffer.from('{"v":3,"writtenAt":3,"snapshot":"s","kinds":"k","n":1,"pathBytes":1}\np' + 'a'.repeat(64)).toString('hex') + f64(1) + f64(2) + f64(3));
  assert.is(f64(1), '000000000000f03f', 'little-endian');
  eq(decodeStat(undefined, undefined).cache, { writtenAt: 0, snapshot: '', kinds: '', paths: [], ids: [], size: [], mtime: [], ino: [] });
});

stat('statSave: a delta of at most STAT_DELTA_MAX rows (set and del together), else the whole cache', () => {
  const paths = [...Array(STAT_DELTA_MAX + 10).keys()].map((i) => `p${i}`);
  const full = cacheOf(5, paths);
  assert.ok('full' in statSave(full, undefined));
  assert.ok('full' in statSave(full, cacheOf(0, paths)));
  const same = statSave(cacheOf(6, paths, 's', 'k'), full);
  eq(same, { delta: { v: 3, of: 5, writtenAt: 6, snapshot: 's', kinds: 'k', set: [], del: [] } });
  // Rows moved around, one removed, one added, one edited.
  const moved = [...paths.slice(1).reverse(), 'new'];
  const c = statCacheOf(7, 's', 'k', new Map(moved.map((p) => [p, p === 'p3' ? row(9999) : p === 'new' ? row(1) : row(paths.indexOf(p))])));
  eq(statSave(c, full), { delta: { v: 3, of: 5, writtenAt: 7, snapshot: 's', kinds: 'k', set: [['p3', row(9999).id, 9999, 10099, 10999], ['new', row(1).id, 1, 101, 1001]], del: ['p0'] } });
  // Exactly STAT_DELTA_MAX edited rows: a delta; one more: whole.
  const edit = (n: number) => statCacheOf(8, 's', 'k', new Map(paths.map((p, i) => [p, i < n ? { ...row(i), size: -1 } : row(i)])));
  const atMax = statSave(edit(STAT_DELTA_MAX), full);
  assert.is('delta' in atMax && atMax.delta.set.length, STAT_DELTA_MAX);
  assert.ok('full' in statSave(edit(STAT_DELTA_MAX + 1), full));
  // STAT_DELTA_MAX edited plus one removed: whole; STAT_DELTA_MAX - 1 edited plus one removed: a delta.
  const editDrop = (n: number) => statCacheOf(8, 's', 'k', new Map(paths.slice(0, -1).map((p, i) => [p, i < n ? { ...row(i), size: -1 } : row(i)])));
  assert.ok('full' in statSave(editDrop(STAT_DELTA_MAX), full));
  const under = statSave(editDrop(STAT_DELTA_MAX - 1), full);
  assert.ok('delta' in under && under.delta.del.length === 1 && under.delta.set.length === STAT_DELTA_MAX - 1);
  // Each column counts as a change.
  for (const k of ['id', 'size', 'mtimeMs', 'ino'] as const) {
    const x = new Map(paths.map((p, i) => [p, row(i)]));
    x.set('p2', { ...row(2), [k]: k === 'id' ? row(77).id : 77 });
    const s = statSave(statCacheOf(9, 's', 'k', x), full);
    eq('delta' in s && s.delta.set.map((r) => r[0]), ['p2'], k);
  }
  // A whole save round-trips.
  const w = statSave(edit(STAT_DELTA_MAX + 1), full);
  eq(plain(decodeStat((w as { full: Uint8Array }).full, undefined).cache), plain(edit(STAT_DELTA_MAX + 1)));
});

stat.run();

// ---------------------------------------------------------------- src/engine

const engine = suite('mutation kills: src/engine');
engine.after(cleanup);

/** Two clones of `content/a.md` (`base`): the remote has `theirs` (pushed by a), b has `ours`, not yet fetched. */
async function conflictedClones(): Promise<{ a: string; b: string; remote: string }> {
  const c = await twoClones({ 'content/a.md': 'base\n' });
  write(c.a, 'content/a.md', 'theirs\n');
  await ok(c.a, 'push');
  write(c.b, 'content/a.md', 'ours\n');
  return c;
}

engine('openContext: an unknown remote is REMOTE_UNKNOWN and closes the store, so the next open succeeds at once', async () => {
  const { ws } = await emptyWs();
  const env = { ...process.env, AGENTSYNC_LOCK_TIMEOUT_MS: '0' };
  await rejects(openContext({ cwd: ws, env, remote: 'nope' }), 'REMOTE_UNKNOWN', { remote: 'nope' });
  const ctx = await openContext({ cwd: ws, env });
  try { assert.is(ctx.remoteConfig?.name, 'origin'); } finally { await ctx.close(); }
});

engine('pickRemote: a named one, else origin wherever it is listed, else the only one; REMOTE_UNKNOWN with data.remote', () => {
  const ws = (names: string[]) => ({ remotes: names.map((name) => ({ name, url: `/r/${name}` })) }) as unknown as Workspace;
  assert.is(pickRemote(ws(['backup', 'origin', 'third']), undefined)?.name, 'origin');
  assert.is(pickRemote(ws(['backup']), undefined)?.name, 'backup');
  assert.is(pickRemote(ws(['backup', 'third']), undefined), undefined);
  assert.is(pickRemote(ws([]), undefined), undefined);
  assert.is(pickRemote(ws(['origin', 'backup']), 'backup')?.name, 'backup');
  try { pickRemote(ws(['origin']), 'nope'); assert.unreachable(); } catch (e) {
    assert.is((e as AgentsyncError).code, 'REMOTE_UNKNOWN');
    eq((e as AgentsyncError).data, { remote: 'nope' });
  }
});

engine('log <path>: added, modified, deleted, added again — newest first, only the versions that changed it', async () => {
  const { ws } = await emptyWs();
  const steps: [string | null, string][] = [['one\n', 'add'], ['two\n', 'edit'], [null, 'delete'], ['three\n', 're-add']];
  await ok(ws, 'push', '-m', 'other');
  write(ws, 'content/other.md', 'x\n');
  await ok(ws, 'push', '-m', 'other');
  for (const [t, m] of steps) {
    if (t === null) rmSync(join(ws, 'services', 'content', 'a.md'));
    else write(ws, 'content/a.md', t);
    await ok(ws, 'push', '-m', m);
  }
  write(ws, 'content/other.md', 'y\n');
  await ok(ws, 'push', '-m', 'other again');
  const r = await ok(ws, '--json', 'log', 'services/content/a.md');
  eq(r.json.versions.map((e: { id: number; change: string; message: string }) => [e.id, e.change, e.message]), [[2, 'added', 'add'], [3, 'modified', 'edit'], [4, 'deleted', 'delete'], [5, 'added', 're-add']]);
  const all = await ok(ws, '--json', 'log');
  eq(all.json.versions.map((e: { id: number }) => e.id), [1, 2, 3, 4, 5, 6]);
  eq(all.json.versions.map((e: { change?: string }) => e.change), [undefined, undefined, undefined, undefined, undefined, undefined]);
  // The default version message names the one artifact pushed, or counts them.
  write(ws, 'content/b.md', 'b\n');
  write(ws, 'content/c.md', 'c\n');
  const two = await ok(ws, '--json', 'push');
  assert.is(two.json.version.message, 'update 2 artifacts');
  write(ws, 'content/b.md', 'b2\n');
  const one = await ok(ws, '--json', 'push');
  assert.is(one.json.version.message, 'update content/b.md');
});

engine('verify --remote: the latest published snapshot (not a later draft), null when none is published', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  const none = await cli(ws, '--json', 'verify', 'sha256:' + '0'.repeat(64), '--remote');
  eq([none.json.actual, none.json.ok, none.json.source], [null, false, 'remote']);
  const p1 = await ok(ws, '--json', 'push');
  write(ws, 'content/b.md', 'b\n');
  const p2 = await ok(ws, '--json', 'push');
  write(ws, 'content/c.md', 'c\n');
  await ok(ws, '--json', 'push', '--draft');
  await ok(ws, 'rollback', '1');
  const v = await ok(ws, '--json', 'verify', p2.json.version.snapshot, '--remote');
  eq([v.json.actual, v.json.ok], [p2.json.version.snapshot, true]);
  const w = await cli(ws, '--json', 'verify', p1.json.version.snapshot, '--remote');
  eq([w.json.actual, w.json.ok], [p2.json.version.snapshot, false]);
});

engine('deploy of our own draft records the base: every artifact is clean (no entry) after it, none converged', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'a2\n');
  write(ws, 'content/b.md', 'b\n');
  const d = await ok(ws, '--json', 'push', '--draft');
  eq(await states(ws), { 'content/a.md': 'push', 'content/b.md': 'push' });
  await ok(ws, 'deploy', String(d.json.version.id));
  eq(await states(ws), {});
});

engine('fsck: each damage names where it is; counts objects and refs', async () => {
  const { ws } = await emptyWs();
  for (let i = 0; i < 300; i++) write(ws, `content/f${String(i).padStart(3, '0')}.md`, `file ${i}\n`);
  await ok(ws, 'push');
  const clean = await ok(ws, '--json', 'fsck');
  eq(clean.json.problems, []);
  eq(clean.json.refs, 2);
  const base = (await ok(ws, '--json', 'status')).json.base as string;
  const tree = chunkManifest(await withCtx(ws, (ctx) => ctx.store.manifestBytes(base)));
  assert.ok(tree.chunks.length > 2, 'a manifest of several chunks');
  assert.is(clean.json.objects, 300 + tree.chunks.length);
  const leaf = tree.chunks[0]!;
  const blob = blobId(bytes('file 7\n'));
  const problems = async () => (await cli(ws, '--json', 'fsck')).json.problems.map((p: { what: string }) => p.what).sort();
  // A chunk of the tree gone: both refs name the manifest.
  await withCtx(ws, (ctx) => commit(ctx.store.db, [{ type: 'del', key: 'o!' + leaf.id }]));
  eq(await problems(), ['base!origin', 'track!origin']);
  // A damaged object: named by its id.
  await withCtx(ws, (ctx) => commit(ctx.store.db, [{ type: 'put', key: 'o!' + leaf.id, value: leaf.bytes }, { type: 'put', key: 'o!' + blob, value: bytes('not file 7\n') }]));
  eq(await problems(), [`object ${blob}`]);
  // A blob the manifests name, gone.
  await withCtx(ws, (ctx) => commit(ctx.store.db, [{ type: 'del', key: 'o!' + blob }]));
  eq(await problems(), ['base!origin', 'track!origin']);
  await withCtx(ws, (ctx) => commit(ctx.store.db, [{ type: 'put', key: 'o!' + blob, value: bytes('file 7\n') }]));
  eq(await problems(), []);
  // A base that is not a snapshot hash; a fetch record that is not JSON; journals naming absent blobs.
  const absent = blobId(bytes('never stored'));
  await withCtx(ws, (ctx) => commit(ctx.store.db, [
    { type: 'put', key: 'base!other', value: bytes('sha256:xyz') },
    { type: 'put', key: 'track!other', value: bytes('{') },
    ctx.store.undoOp({ at: 'a', op: 'pull', entries: [{ path: 'content/x.md', id: absent }, { path: 'content/y.md', id: null }] }),
    ctx.store.undoPendingOp({ at: 'b', op: 'undo', undoing: { at: 'c', op: 'pull', entries: [{ path: 'content/z.md', id: absent }] } }),
  ]));
  const f = await cli(ws, '--json', 'fsck');
  eq(f.json.problems.map((p: { what: string }) => p.what).sort(), ['base!other', 'track!other', 'undo', 'undo-pending']);
  eq(f.json.refs, 4);
  // Journals that are not JSON.
  await withCtx(ws, (ctx) => commit(ctx.store.db, [
    { type: 'del', key: 'base!other' }, { type: 'del', key: 'track!other' },
    { type: 'put', key: 'undo', value: bytes('{') }, { type: 'put', key: 'undo-pending', value: bytes('[') },
  ]));
  eq(await problems(), ['undo', 'undo-pending']);
});

engine('merge and resolve: refusals with their data; --ours keeps ours, --theirs takes theirs; hints quote a path only when needed', async () => {
  const { a, b } = await twoClones({ 'content/a b.md': 'base\n', 'content/plain.md': 'base\n', 'content/clean.md': 'base\n' });
  write(a, 'content/a b.md', 'ours\n');
  write(a, 'content/plain.md', 'ours\n');
  write(b, 'content/a b.md', 'theirs\n');
  write(b, 'content/plain.md', 'theirs\n');
  await ok(b, 'push');
  await ok(a, 'fetch');
  const refused = await cli(a, '--json', 'push');
  assert.is(refused.json.error.code, 'PUSH_REFUSED');
  eq(refused.json.error.data, { paths: [{ path: 'content/a b.md', state: 'conflict' }, { path: 'content/plain.md', state: 'conflict' }], hint: "agentsync merge 'content/a b.md'" });
  const refused2 = await cli(a, '--json', 'push', 'content/plain.md');
  eq(refused2.json.error.data.hint, 'agentsync merge content/plain.md');
  for (const [argv, data] of [
    [['merge', 'content/clean.md'], { path: 'content/clean.md', state: 'clean' }],
    [['resolve', 'content/plain.md', '--ours'], { path: 'content/plain.md' }],
  ] as const) {
    const r = await cli(a, '--json', ...argv);
    assert.is(r.json.error.code, 'NOT_IN_CONFLICT', argv.join(' '));
    eq(r.json.error.data, data);
  }
  const m1 = await cli(a, '--json', 'merge', 'services/content/plain.md');
  eq([m1.code, m1.json.path, m1.json.clean, m1.json.conflicts], [1, 'content/plain.md', false, 1]);
  const again = await cli(a, '--json', 'merge', 'content/plain.md');
  eq([again.json.error.code, again.json.error.data], ['CONFLICT', { path: 'content/plain.md' }]);
  const r1 = await ok(a, '--json', 'resolve', 'content/plain.md', '--ours');
  eq(r1.json, { path: 'content/plain.md', how: 'ours' });
  assert.is(read(a, 'content/plain.md'), 'ours\n');
  assert.is((await cli(a, 'merge', 'content/a b.md')).code, 1);
  const r2 = await ok(a, '--json', 'resolve', 'content/a b.md', '--theirs');
  eq(r2.json, { path: 'content/a b.md', how: 'theirs' });
  assert.is(read(a, 'content/a b.md'), 'theirs\n');
  eq(await states(a), { 'content/plain.md': 'push' });
});

engine('undo after the base moved: UNDO_STALE with the op, its time and the paths', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'one\n' });
  write(b, 'content/a.md', 'two\n');
  await ok(b, 'push');
  await ok(a, 'pull');
  const j = await withCtx(a, (ctx) => ctx.store.undo());
  write(a, 'content/a.md', 'three\n');
  await ok(a, 'push');
  const r = await cli(a, '--json', 'undo');
  assert.is(r.json.error.code, 'UNDO_STALE');
  eq(r.json.error.data, { op: 'pull', at: j!.at, paths: ['content/a.md'] });
});

engine('a pull that replaces a folder by a file of the same name deletes first, then writes', async () => {
  const { a, b } = await twoClones({ 'content/x.md/inner.md': 'inner\n' });
  assert.is(read(b, 'content/x.md/inner.md'), 'inner\n');
  rmSync(join(a, 'services', 'content', 'x.md'), { recursive: true });
  write(a, 'content/x.md', 'now a file\n');
  await ok(a, 'push');
  const p = await ok(b, '--json', 'pull');
  eq(p.json.pulled.map((e: { path: string }) => e.path), ['content/x.md', 'content/x.md/inner.md']);
  assert.is(read(b, 'content/x.md'), 'now a file\n');
  eq(await states(b), {});
});

engine('fetch: a remote that vanished after versions were fetched is unreachable, not empty; newVersions counts only new ones', async () => {
  const { ws, remote } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  const b = await workspace(remote, { sample: false });
  const f1 = await ok(b, '--json', 'fetch');
  assert.is(f1.json.newVersions, 1);
  write(ws, 'content/a.md', 'a2\n');
  await ok(ws, 'push');
  write(ws, 'content/b.md', 'b\n');
  await ok(ws, 'push');
  const f2 = await ok(b, '--json', 'fetch');
  eq([f2.json.newVersions, f2.json.latestPublished, f2.json.objectsFetched], [2, 3, 2]);
  rmSync(remote, { recursive: true });
  const gone = await cli(b, '--json', 'fetch');
  assert.is(gone.json.error.code, 'REMOTE_UNREACHABLE');
  // A workspace that never fetched from it: empty, nothing to pull.
  const c = await workspace(remote, { sample: false });
  eq((await ok(c, '--json', 'status')).json.entries, []);
});

/** The workspace's remote, with `createVersion` racing another writer's version in first (once). */
function racing(real: Remote, other: (real: Remote) => Promise<void>): Remote {
  let raced = false;
  return new Proxy(real, {
    get(t, k) {
      if (k === 'createVersion') {
        return async (...args: Parameters<Remote['createVersion']>) => {
          if (!raced) { raced = true; await other(t); }
          return t.createVersion(...args);
        };
      }
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/** Another writer's version on `r`: `files` (path → text, null: delete) on top of the latest published. */
async function otherWriter(r: Remote, files: Record<string, string | null>): Promise<void> {
  const head = await r.head();
  const m = applyChanges(new Map(), head.latestPublished === null ? [] : await r.changesBetween(null, head.latestPublished));
  const changes: Change[] = Object.entries(files).map(([path, t]) => ({ path, id: t === null ? null : blobId(bytes(t)) }));
  await r.putObjects(Object.values(files).filter((t): t is string => t !== null).map((t) => ({ id: blobId(bytes(t)), bytes: bytes(t) })));
  await r.createVersion({ expected: head.latestPublished, changes, snapshot: snapshotHash(applyChanges(m, changes)), author: 'other', message: 'other', draft: false });
}

engine('push: a file changed between the scan and the checks is refused with its path and the way to look; nothing is published', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  for (const change of ['changed meanwhile\n', null]) {
    write(ws, 'content/a.md', 'scanned\n');
    const err = await withCtx(ws, async (ctx) => {
      // The scan saves the stat cache when it is done: the file changes (or goes) right after.
      const save = ctx.store.saveStatCache.bind(ctx.store);
      ctx.store.saveStatCache = async (c) => {
        if (change === null) rmSync(join(ws, 'services', 'content', 'a.md'));
        else write(ws, 'content/a.md', change);
        return save(c);
      };
      return rejects(enginePush(ctx, { selectors: [], author: 'me' }), 'PUSH_REFUSED', { path: 'content/a.md', hint: 'agentsync diff content/a.md' });
    });
    assert.match(err.message, /^services\/content\/a\.md changed while pushing; nothing was published/);
    eq((await withCtx(ws, async (ctx) => (await ctx.remote()).head())).lastId, 1, 'no version made');
  }
});

engine('push: a file changed after the checks — the version holds what was scanned and checked; the new edit stays a local change', async () => {
  const { ws, remote } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'scanned\n');
  await withCtx(ws, async (ctx) => {
    const real = ctx.remote();
    ctx.remote = () => new Proxy(real, {
      get(t, k) {
        const v = (t as unknown as Record<string | symbol, unknown>)[k];
        if (k === 'missing') return async (ids: string[]) => { write(ws, 'content/a.md', 'changed meanwhile\n'); return t.missing(ids); };
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    await enginePush(ctx, { selectors: [], author: 'me' });
  });
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  assert.is(read(b, 'content/a.md'), 'scanned\n');
  assert.is(read(ws, 'content/a.md'), 'changed meanwhile\n');
  eq(await states(ws), { 'content/a.md': 'push' });
});

engine('push retried on top of another writer\'s version: their blobs fetched, their paths left to pull; an overlap refused with data', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  write(ws, 'content/gone.md', 'gone\n');
  await ok(ws, 'push');
  write(ws, 'content/mine.md', 'mine\n');
  const r = await withCtx(ws, async (ctx) => {
    const real = ctx.remote();
    const wrapped = racing(real, (t) => otherWriter(t, { 'content/theirs.md': 'theirs\n', 'content/gone.md': null }));
    ctx.remote = () => wrapped;
    return enginePush(ctx, { selectors: [], author: 'me' });
  });
  assert.is(r.retries, 1);
  eq([r.version!.id, r.version!.parent, r.version!.changed], [3, 2, 1]);
  eq(r.pushed.map((e) => e.path), ['content/mine.md']);
  eq(r.notPulled.map((e) => [e.path, e.state]), [['content/gone.md', 'pull'], ['content/theirs.md', 'pull']]);
  eq((await ok(ws, '--json', 'fsck')).json.problems, []);
  await withCtx(ws, async (ctx) => eq(await ctx.store.objects.missing([blobId(bytes('theirs\n'))]), []));
  eq(await states(ws), { 'content/gone.md': 'pull', 'content/theirs.md': 'pull' });
  await ok(ws, 'pull');
  assert.is(read(ws, 'content/theirs.md'), 'theirs\n');
  // The other writer changed a path this push sends: refused, nothing published.
  write(ws, 'content/a.md', 'mine too\n');
  const err = await withCtx(ws, async (ctx) => {
    const wrapped = racing(ctx.remote(), (t) => otherWriter(t, { 'content/a.md': 'theirs too\n' }));
    ctx.remote = () => wrapped;
    try { await enginePush(ctx, { selectors: [], author: 'me' }); } catch (e) { return e as AgentsyncError; }
    return undefined;
  });
  assert.is(err?.code, 'PUSH_REFUSED');
  eq(err!.data, { paths: [{ path: 'content/a.md', state: 'conflict' }], hint: 'agentsync merge content/a.md' });
  eq((await ok(ws, '--json', 'versions')).json.versions.map((v: { author: string }) => v.author), ['tester', 'other', 'me', 'other']);
});

engine('push: an artifact both sides changed the same way (converged) is not reported as not pulled', async () => {
  const { a, b } = await twoClones({ 'content/x.md': 'x\n', 'content/y.md': 'y\n' });
  write(b, 'content/x.md', 'same\n');
  await ok(b, 'push');
  write(a, 'content/x.md', 'same\n');
  write(a, 'content/y.md', 'y from a\n');
  await ok(a, 'fetch');
  eq(await states(a), { 'content/x.md': 'converged', 'content/y.md': 'push' });
  const p = await ok(a, '--json', 'push');
  eq([p.json.pushed.map((e: { path: string }) => e.path), p.json.converged, p.json.notPulled], [['content/y.md'], ['content/x.md'], []]);
});

engine('push: remote-only changes stay on the remote and are reported not pulled; --force reverts them', async () => {
  const { a, b } = await twoClones({ 'content/x.md': 'x\n', 'content/y.md': 'y\n' });
  write(b, 'content/x.md', 'x from b\n');
  await ok(b, 'push');
  write(a, 'content/y.md', 'y from a\n');
  const p = await ok(a, '--json', 'push');
  eq([p.json.version.changed, p.json.pushed.map((e: { path: string }) => e.path), p.json.notPulled.map((e: { path: string }) => e.path)], [1, ['content/y.md'], ['content/x.md']]);
  await ok(b, 'pull');
  assert.is(read(b, 'content/x.md'), 'x from b\n');
  const f = await ok(a, '--json', 'push', '--force');
  eq([f.json.version.changed, f.json.pushed.map((e: { path: string; state: string }) => [e.path, e.state]), f.json.notPulled], [1, [['content/x.md', 'pull']], []]);
  await ok(b, 'pull');
  assert.is(read(b, 'content/x.md'), 'x\n', 'the remote change was reverted');
});

engine('fetch refuses a version whose changes make a file also a folder (a hostile remote), and stores nothing', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/x.md', 'x\n');
  const v1 = (await ok(ws, '--json', 'push')).json.version;
  const before = await withCtx(ws, (ctx) => ctx.store.tracking('origin'));
  const inner = bytes('inner\n');
  const m2 = new Map([['content/x.md', blobId(bytes('x\n'))], ['content/x.md/y.md', blobId(inner)]]);
  const v2 = { ...v1, id: 2, parent: 1, snapshot: snapshotHash(m2), changed: 1 };
  const err = await withCtx(ws, async (ctx) => {
    const real = ctx.remote();
    const hostile = new Proxy(real, {
      get(t, k) {
        if (k === 'head') return async () => ({ latestPublished: 2, current: 2, lastId: 2 });
        if (k === 'versions') return async () => [v1, v2];
        if (k === 'changesBetween') return async (from: number | null) => (from === 1 ? [{ path: 'content/x.md/y.md', id: blobId(inner) }] : [...m2].map(([path, id]) => ({ path, id })));
        if (k === 'getObjects') return async () => [{ id: blobId(inner), bytes: inner }];
        const v = (t as unknown as Record<string | symbol, unknown>)[k];
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    ctx.remote = () => hostile;
    try { await fetchRemote(ctx); } catch (e) { return e as AgentsyncError; }
    return undefined;
  });
  assert.is(err?.code, 'PATH_UNSAFE');
  eq(err!.data, { path: 'content/x.md/y.md', clash: { file: 'content/x.md', under: 'content/x.md/y.md' }, reason: 'file-folder clash' });
  eq(await withCtx(ws, (ctx) => ctx.store.tracking('origin')), before);
});

engine('previewMerge of an entry not in conflict: NOT_IN_CONFLICT with path and state; one side deleted: NOT_MERGEABLE', async () => {
  const { ws } = await emptyWs();
  const ids: Entry['ids'] = { local: blobId(bytes('a')), base: null, remote: null };
  await withCtx(ws, async (ctx) => {
    const entry = (state: string, e: Entry['ids'] = ids) => ({ path: 'content/a.md', kind: 'content', state, local: 'added', remote: 'unchanged', ids: e }) as unknown as Entry;
    await rejects(previewMerge(ctx, entry('push')), 'NOT_IN_CONFLICT', { path: 'content/a.md', state: 'push' });
    await rejects(previewMerge(ctx, entry('conflict', { local: null, base: blobId(bytes('b')), remote: blobId(bytes('c')) })), 'NOT_MERGEABLE', { path: 'content/a.md', state: 'conflict', local: 'added', remote: 'unchanged' });
  });
});

engine('undo of a conflicted merge restores the file and writes no base of another remote; a second undo redoes a pull', async () => {
  const { a, b, remote } = await twoClones({ 'content/a.md': 'base\n' });
  write(b, 'content/a.md', 'theirs\n');
  await ok(b, 'push');
  write(a, 'content/a.md', 'ours\n');
  await ok(a, 'fetch');
  assert.is((await cli(a, 'merge', 'content/a.md')).code, 1);
  assert.ok(read(a, 'content/a.md')!.includes('<<<<<<<'));
  await ok(a, 'undo');
  assert.is(read(a, 'content/a.md'), 'ours\n');
  eq((await withCtx(a, (ctx) => ctx.store.refs())).map((r) => r.key), ['base!origin', 'track!origin']);
  // A pull, its undo, and the undo of that undo.
  write(b, 'content/a.md', 'theirs 2\n');
  await ok(b, 'push');
  await ok(b, 'fetch');
  const c = await workspace(remote, { sample: false });
  await ok(c, 'pull');
  write(b, 'content/a.md', 'theirs 3\n');
  await ok(b, 'push');
  await ok(c, 'pull');
  assert.is(read(c, 'content/a.md'), 'theirs 3\n');
  await ok(c, 'undo');
  assert.is(read(c, 'content/a.md'), 'theirs 2\n');
  eq(await states(c), { 'content/a.md': 'pull' });
  await ok(c, 'undo');
  assert.is(read(c, 'content/a.md'), 'theirs 3\n');
  eq(await states(c), {});
});

engine('pull refuses to write a file where an untracked folder stands (PATH_BLOCKED with data), nothing written', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'a\n' });
  write(a, 'content/n.md', 'n\n');
  write(a, 'content/a.md', 'a2\n');
  await ok(a, 'push');
  write(b, 'content/n.md/notes.txt', 'mine, not an artifact\n');
  const r = await cli(b, '--json', 'pull');
  assert.is(r.json.error.code, 'PATH_BLOCKED');
  eq(r.json.error.data, { path: 'content/n.md', blocker: 'content/n.md', what: 'folder' });
  assert.is(read(b, 'content/a.md'), 'a\n');
  assert.is(read(b, 'content/n.md/notes.txt'), 'mine, not an artifact\n');
});

engine('applySync: a merge choice without a clean merge is CONFLICT with data; an explicit overwrite is checked against what was seen (STALE_REMOTE), else one version', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'base\n', 'content/q b.md': 'base\n' });
  write(b, 'content/a.md', 'theirs\n');
  write(b, 'content/q b.md', 'theirs\n');
  await ok(b, 'push');
  write(a, 'content/a.md', 'ours\n');
  write(a, 'content/q b.md', 'ours\n');
  await withCtx(a, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [], previews: true });
    eq(plan.items.map((i) => [i.entry.path, i.entry.state, i.mergeText]), [['content/a.md', 'conflict', null], ['content/q b.md', 'conflict', null]]);
    await rejects(applySync(ctx, plan, [{ item: plan.items[1]!, choice: 'merge' }], { author: 'me' }), 'CONFLICT', { path: 'content/q b.md', hint: "agentsync merge 'content/q b.md'" });
    // The remote changes again after the plan was made: an explicit push over it is refused.
    await otherWriter(ctx.remote(), { 'content/a.md': 'theirs again\n' });
    await rejects(applySync(ctx, plan, [{ item: plan.items[0]!, choice: 'push' }], { author: 'me', explicit: true }), 'STALE_REMOTE', { paths: [{ path: 'content/a.md', state: 'conflict' }] });
  });
  eq((await ok(a, '--json', 'versions')).json.versions.length, 3, 'nothing pushed');
  await withCtx(a, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [], previews: true });
    const r = await applySync(ctx, plan, [{ item: plan.items[0]!, choice: 'push' }, { item: plan.items[1]!, choice: 'pull' }], { author: 'me', explicit: true });
    eq([r.pushed, r.pulled, r.version?.id, r.version?.message], [['content/a.md'], ['content/q b.md'], 4, 'sync: push content/a.md']);
  });
  eq((await ok(a, '--json', 'versions')).json.versions.length, 4, 'one version');
  assert.is(read(a, 'content/q b.md'), 'theirs\n');
  eq(await states(a), {});
});

engine('mergeJournals: the interrupted journal keeps its entries, takes a base it lacked and the new "after", adds new paths; another remote is CONFLICT', () => {
  const old = { at: 't0', op: 'pull', remote: 'origin', entries: [{ path: 'a', id: 'A0' }, { path: 'b', id: 'B0', base: 'Bb', after: 'Ba' }] };
  const next = { at: 't1', op: 'pull --force', remote: 'origin', entries: [{ path: 'a', id: 'A1', base: 'Ab', after: 'Aa' }, { path: 'b', id: 'B1', base: 'Bb2' }, { path: 'c', id: null, base: null, after: 'Ca' }] };
  eq(mergeJournals(old, next), { at: 't0', op: 'pull', remote: 'origin', entries: [
    { path: 'a', id: 'A0', base: 'Ab', after: 'Aa' }, { path: 'b', id: 'B0', base: 'Bb', after: 'Ba' }, { path: 'c', id: null, base: null, after: 'Ca' },
  ] });
  eq(mergeJournals({ at: 't0', op: 'merge', entries: [{ path: 'a', id: 'A0' }] }, { at: 't1', op: 'pull', remote: 'up', entries: [] }), { at: 't0', op: 'merge', remote: 'up', entries: [{ path: 'a', id: 'A0' }] });
  eq(mergeJournals({ at: 't0', op: 'merge', entries: [] }, { at: 't1', op: 'merge', entries: [] }), { at: 't0', op: 'merge', entries: [] });
  try { mergeJournals(old, { ...next, remote: 'backup' }); assert.unreachable(); } catch (e) {
    assert.is((e as AgentsyncError).code, 'CONFLICT');
    eq((e as AgentsyncError).data, { pending: { op: 'pull', at: 't0', remote: 'origin' } });
  }
});

engine('compile stores the manifest it names; fetch of a remote not created yet is empty; the parsed config comes from the store while the file is unchanged', async () => {
  const { ws, remote } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  const c = await ok(ws, '--json', 'compile');
  eq([c.json.artifacts, c.json.kinds], [1, { content: 1 }]);
  eq(await withCtx(ws, (ctx) => ctx.store.manifestBytes(c.json.snapshot)), encodeManifest(new Map([['content/a.md', blobId(bytes('a\n'))]])));
  const f = await ok(ws, '--json', 'fetch');
  eq([f.json.latestPublished, f.json.newVersions, f.json.snapshot], [null, 0, null]);
  // The cached config names another remote URL: with the file's stat unchanged, that is what is used.
  const other = join(tmp('agentsync-mk-remote-'), 'other');
  await withCtx(ws, async (ctx) => {
    const cached = JSON.parse(text(await ctx.store.db.get('config'))!);
    const value = JSON.parse(JSON.stringify(cached.value).split(JSON.stringify(remote).slice(1, -1)).join(JSON.stringify(other).slice(1, -1)));
    await ctx.store.db.put('config', jsonValue({ ...cached, value }));
  });
  assert.is((await ok(ws, '--json', 'fetch')).json.url, other);
});

engine('a pull that only converges keeps the undo journal; sync plans a merge in progress apart from the drifted items', async () => {
  const { a, b } = await twoClones({ 'content/x.md': 'x\n', 'content/m.md': 'base\n' });
  const j = await withCtx(b, (ctx) => ctx.store.undo());
  assert.ok(j);
  write(a, 'content/x.md', 'same\n');
  write(b, 'content/x.md', 'same\n');
  await ok(a, 'push');
  const p = await ok(b, '--json', 'pull');
  eq([p.json.pulled, p.json.converged], [[], ['content/x.md']]);
  eq(await withCtx(b, (ctx) => ctx.store.undo()), j);
  write(a, 'content/m.md', 'theirs\n');
  await ok(a, 'push');
  write(b, 'content/m.md', 'ours\n');
  write(b, 'content/other.md', 'new\n');
  await ok(b, 'fetch');
  assert.is((await cli(b, 'merge', 'content/m.md')).code, 1);
  await withCtx(b, async (ctx) => {
    const plan = await planSync(ctx, { selectors: [] });
    eq([plan.merging.map((e) => e.path), plan.items.map((i) => i.entry.path)], [['content/m.md'], ['content/other.md']]);
  });
});

engine('an explicit sync push of a local change the remote changed since the plan is a conflict (PUSH_REFUSED), not an overwrite', async () => {
  const { b } = await twoClones({ 'content/a.md': 'base\n' });
  write(b, 'content/a.md', 'ours\n');
  await withCtx(b, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [] });
    eq(plan.items.map((i) => [i.entry.path, i.entry.state]), [['content/a.md', 'push']]);
    await otherWriter(ctx.remote(), { 'content/a.md': 'theirs\n' });
    await rejects(applySync(ctx, plan, [{ item: plan.items[0]!, choice: 'push' }], { author: 'me', explicit: true }), 'PUSH_REFUSED', { paths: [{ path: 'content/a.md', state: 'conflict' }], hint: 'agentsync merge content/a.md' });
  });
});

engine('a sync choice that would overwrite the other side is refused with the way out: merge for a conflict, pull or push otherwise', async () => {
  const { a, b } = await twoClones({ 'content/c.md': 'base\n', 'content/r.md': 'base\n', 'content/l.md': 'base\n' });
  write(a, 'content/c.md', 'theirs\n');
  write(a, 'content/r.md', 'theirs\n');
  await ok(a, 'push');
  write(b, 'content/c.md', 'ours\n');
  write(b, 'content/l.md', 'ours\n');
  await withCtx(b, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [] });
    const item = (p: string) => plan.items.find((i) => i.entry.path === p)!;
    eq(plan.items.map((i) => [i.entry.path, i.entry.state]), [['content/c.md', 'conflict'], ['content/l.md', 'push'], ['content/r.md', 'pull']]);
    const said: string[] = [];
    said.push((await rejects(applySync(ctx, plan, [{ item: item('content/c.md'), choice: 'push' }], { author: 'me' }), 'PUSH_REFUSED', { paths: [{ path: 'content/c.md', state: 'conflict' }], hint: 'agentsync merge content/c.md' })).message);
    said.push((await rejects(applySync(ctx, plan, [{ item: item('content/r.md'), choice: 'push' }], { author: 'me' }), 'PUSH_REFUSED', { paths: [{ path: 'content/r.md', state: 'pull' }], hint: 'agentsync pull content/r.md' })).message);
    said.push((await rejects(applySync(ctx, plan, [{ item: item('content/c.md'), choice: 'pull' }], { author: 'me' }), 'PULL_REFUSED', { paths: [{ path: 'content/c.md', state: 'conflict' }], hint: 'agentsync merge content/c.md' })).message);
    said.push((await rejects(applySync(ctx, plan, [{ item: item('content/l.md'), choice: 'pull' }], { author: 'me' }), 'PULL_REFUSED', { paths: [{ path: 'content/l.md', state: 'push' }], hint: 'agentsync push content/l.md' })).message);
    eq(said, [
      'refusing to push: 1 artifact(s) changed on the remote (content/c.md); see `agentsync diff content/c.md`, then `agentsync merge <path>` to merge by hand, or sync --push --force to overwrite the remote',
      'refusing to push: 1 artifact(s) changed on the remote (content/r.md); take them with `agentsync pull`, or sync --push --force to revert them on the remote',
      'refusing to pull: 1 artifact(s) have local changes that would be overwritten (content/c.md); see `agentsync diff content/c.md`, then `agentsync merge <path>` to merge by hand, or sync --pull --force to take the remote\'s',
      'refusing to pull: 1 artifact(s) have local changes that would be overwritten (content/l.md); send them with `agentsync push`, or sync --pull --force to discard them and take the remote\'s',
    ]);
  });
  eq([read(b, 'content/c.md'), read(b, 'content/l.md'), read(b, 'content/r.md')], ['ours\n', 'ours\n', 'base\n'], 'nothing was written');
});

engine('a pull of some of the remote\'s changes stores the new base manifest (neither the old base nor the remote\'s): fsck clean, status exact in a new process', async () => {
  const { a, b } = await twoClones({ 'content/x.md': 'base\n', 'content/y.md': 'base\n' });
  write(a, 'content/x.md', 'theirs\n');
  write(a, 'content/y.md', 'theirs\n');
  await ok(a, 'push');
  await ok(b, 'fetch');
  await ok(b, 'pull', 'content/x.md');
  const f = await cli(b, '--json', 'fsck');
  eq([f.code, f.json.problems], [0, []]);
  eq(await states(b), { 'content/y.md': 'pull' });
  const base = await withCtx(b, async (ctx) => ctx.store.baseSnapshot('origin'));
  assert.ok(await withCtx(b, async (ctx) => (await ctx.store.manifests.get(base)) !== undefined), 'the base manifest is stored');
});

engine('sync\'s version says what it holds: one pushed path by name, several by count', async () => {
  const { a, b } = await twoClones({ 'content/x.md': 'base\n', 'content/y.md': 'base\n' });
  write(b, 'content/x.md', 'ours\n');
  write(b, 'content/y.md', 'ours\n');
  await withCtx(b, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [] });
    const r = await applySync(ctx, plan, plan.items.map((item) => ({ item, choice: 'push' as const })), { author: 'me' });
    eq([r.version?.message, [...r.pushed].sort()], ['sync: push 2 artifacts', ['content/x.md', 'content/y.md']]);
  });
  assert.is((await ok(a, 'pull')).code, 0);
  assert.is(read(a, 'content/y.md'), 'ours\n');
});

engine('sync refusals name at most three paths, then …; a conflict says how to merge it', async () => {
  const files = Object.fromEntries(['a', 'b', 'c', 'd'].map((x) => [`content/${x}.md`, 'base\n']));
  const { a, b } = await twoClones({ ...files, 'content/x.md': 'base\n' });
  for (const p of Object.keys(files)) write(a, p, 'theirs\n');
  write(a, 'content/x.md', 'theirs\n');
  await ok(a, 'push');
  write(b, 'content/x.md', 'ours\n');
  await withCtx(b, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [] });
    const items = plan.items.filter((i) => i.entry.state === 'pull');
    eq(items.map((i) => i.entry.path), Object.keys(files));
    const e = await rejects(applySync(ctx, plan, items.map((item) => ({ item, choice: 'push' as const })), { author: 'me' }), 'PUSH_REFUSED');
    assert.is(e.message, 'refusing to push: 4 artifact(s) changed on the remote (content/a.md, content/b.md, content/c.md, …); take them with `agentsync pull`, or sync --push --force to revert them on the remote');
    const x = plan.items.find((i) => i.entry.path === 'content/x.md')!;
    eq(x.entry.state, 'conflict');
    const c = await rejects(applySync(ctx, plan, [{ item: x, choice: 'pull' }], { author: 'me' }), 'PULL_REFUSED');
    assert.is(c.message, 'refusing to pull: 1 artifact(s) have local changes that would be overwritten (content/x.md); see `agentsync diff content/x.md`, then `agentsync merge <path>` to merge by hand, or sync --pull --force to take the remote\'s');
  });
});

engine('merge and resolve take a path with its services/ prefix as the artifact path', async () => {
  const { b } = await conflictedClones();
  await withCtx(b, async (ctx) => {
    await fetchRemote(ctx);
    eq(await startMerge(ctx, 'services/content/a.md'), { path: 'content/a.md', clean: false, conflicts: 1 });
    eq(await resolve(ctx, 'services/content/a.md', 'theirs'), { path: 'content/a.md', how: 'theirs' });
  });
  eq(read(b, 'content/a.md'), 'theirs\n');
});

engine('planPull: a conflict merged meanwhile is not taken (force or not); with force every other conflict is', () => {
  const entry = (path: string, state: Entry['state']) => ({ path, kind: 'content', state, local: 'modified', remote: 'modified', ids: { local: null, base: null, remote: null } }) as unknown as Entry;
  const es = [entry('content/p.md', 'pull'), entry('content/m.md', 'conflict'), entry('content/c.md', 'converged')];
  const merged = new Set(['content/m.md']);
  const plain = planPull(es, false, merged);
  eq([plain.take.map((e) => e.path), plain.converged.map((e) => e.path)], [['content/p.md'], ['content/c.md']]);
  eq(planPull(es, true, merged).take.map((e) => e.path), ['content/p.md']);
  eq(planPull(es, true).take.map((e) => e.path), ['content/p.md', 'content/m.md']);
});

engine('deploy and rollback take `3` or `v3`, nothing else (`3v` is no version)', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  await withCtx(ws, async (ctx) => {
    for (const bad of ['1v', 'x1', 'v', '0', 'v1.5']) {
      await rejects(deploy(ctx, bad), 'USAGE');
      await rejects(rollback(ctx, bad), 'USAGE');
    }
    eq((await deploy(ctx, 'v1')).version.id, 1);
  });
});

engine('fsck: a base whose stored tree reads back as other bytes is reported as not hashing to its snapshot', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  const snap = await withCtx(ws, async (ctx) => {
    const s = await ctx.store.baseSnapshot('origin');
    const r = await ctx.store.manifests.root(s);
    const leaf = (await ctx.store.db.get('o!' + r!.root!))!;
    const other = Uint8Array.from(leaf);
    other[other.length - 2] = other[other.length - 2] === 0x61 ? 0x62 : 0x61; // same size, other bytes
    await ctx.store.db.put('o!' + r!.root!, other);
    return s;
  });
  const f = await cli(ws, '--json', 'fsck');
  assert.is(f.code, 4);
  const problems = JSON.parse(f.out).problems as { what: string; message: string }[];
  assert.ok(problems.some((p) => p.what === 'base!origin' && p.message === `manifest ${snap} does not hash to its snapshot`), JSON.stringify(problems));
});

engine('a merge in progress belongs to its remote: status against another remote does not count it', async () => {
  const { b } = await conflictedClones();
  await ok(b, 'fetch');
  await withCtx(b, (ctx) => startMerge(ctx, 'content/a.md'));
  const here = (await ok(b, '--json', 'status')).json.entries;
  eq(here.map((e: { path: string; state: string; merging?: boolean }) => [e.path, e.state, e.merging]), [['content/a.md', 'conflict', true]]);
  await ok(b, 'remote', 'add', 'other', join(tmp('agentsync-other-'), 'remote'));
  const there = (await ok(b, '--json', 'status', '--remote', 'other')).json.entries;
  eq(there.map((e: { path: string; state: string; merging?: boolean }) => [e.path, e.state, e.merging]), [['content/a.md', 'push', undefined]]);
});

engine('fetchForSync: an unreachable remote is returned (sync goes on offline); any other failure is thrown', async () => {
  const { ws } = await emptyWs();
  const notRemote = tmp('agentsync-notremote-');
  writeFileSync(join(notRemote, 'something.txt'), 'x');
  await ok(ws, 'remote', 'add', 'other', notRemote);
  const ctx = await openContext({ cwd: ws, remote: 'other', env: process.env });
  try {
    await rejects(fetchForSync(ctx), 'NOT_A_REMOTE');
  } finally { await ctx.close(); }
  assert.ok(isOffline(new AgentsyncError('REMOTE_BUSY', 'x')) && isOffline(new AgentsyncError('REMOTE_UNREACHABLE', 'x')));
  assert.is(isOffline(new AgentsyncError('NOT_A_REMOTE', 'x')), false);
  assert.is(isOffline(new Error('REMOTE_BUSY')), false);
});

engine('validateArtifacts: a file removed since the scan is skipped; a path no kind matches has no schema; a bad one is a problem', async () => {
  const { ws } = await emptyWs();
  write(ws, 'agents/bad.yaml', '- not a map\n');
  write(ws, 'zzz/free.txt', '- anything\n');
  await withCtx(ws, async (ctx) => {
    const id = (t: string) => blobId(bytes(t));
    eq(await validateArtifacts(ctx, [{ path: 'agents/gone.yaml', id: id('name: y\n') }]), []);
    eq(await validateArtifacts(ctx, [{ path: 'zzz/free.txt', id: id('- anything\n') }]), []);
    const found = await validateArtifacts(ctx, [{ path: 'agents/gone.yaml', id: id('name: y\n') }, { path: 'agents/bad.yaml', id: id('- not a map\n') }]);
    eq(found.map((p) => [p.path, p.line]), [['agents/bad.yaml', 1]]);
  });
});

engine('validateArtifact: exact problems (file:line:col and message) for every kind of bad file, and none for good ones', () => {
  const e = (t: string) => bytes(t);
  const p = (path: string, line: number, col: number, message: string) => ({ path, line, col, message });
  const cases: [string, Uint8Array, 'agent' | 'skill' | 'mcp' | 'none', ReturnType<typeof p>[]][] = [
    ['agents/a.yaml', new Uint8Array([0x6e, 0xff, 0x0a]), 'agent', [p('agents/a.yaml', 1, 1, 'is not valid UTF-8 text')]],
    ['agents/a.yaml', e('name: a\nname: b\n'), 'agent', [p('agents/a.yaml', 2, 1, 'Map keys must be unique')]],
    ['agents/a.yaml', e('- x\n'), 'agent', [p('agents/a.yaml', 1, 1, 'an agent must be a YAML map with a `name`')]],
    ['agents/a.yaml', e('a: &n [1]\nname: *n\n'), 'agent', [p('agents/a.yaml', 1, 1, 'an agent needs a non-empty string `name`')]],
    ['agents/a.yaml', e('name: "  "\n'), 'agent', [p('agents/a.yaml', 1, 1, 'an agent needs a non-empty string `name`')]],
    ['skills/s.yaml', e('name: ""\n'), 'skill', [p('skills/s.yaml', 1, 1, 'a skill needs a non-empty string `name`')]],
    ['mcp/m.yaml', e('x: 1\n'), 'mcp', [p('mcp/m.yaml', 1, 1, 'an mcp server needs a non-empty string `name`')]],
    ['mcp/m.yaml', e('name: m\n'), 'mcp', [p('mcp/m.yaml', 1, 1, 'an mcp server needs a `command` (local process) or a `url` (remote server)')]],
    ['mcp/m.yaml', e('a: &n m\nname: *n\ncommand: *n\n'), 'mcp', []],
    ['mcp/m.yaml', e('name: m\nurl: http://x\n'), 'mcp', []],
    ['agents/a.yaml', e('x: [\n'), 'none', [p('agents/a.yaml', 2, 1, 'Flow sequence in block collection must be sufficiently indented and end with a ]')]],
    // At most three problems per file.
    ['agents/a.yaml', e('key: [\nother: {\n  - x\n: y\n'), 'none', [
      p('agents/a.yaml', 2, 1, 'Flow sequence in block collection must be sufficiently indented and end with a ]'),
      p('agents/a.yaml', 3, 3, 'Block collections are not allowed within flow collections'),
      p('agents/a.yaml', 4, 1, 'Flow map in block collection must be sufficiently indented and end with a }')]],
    // Markdown: only front matter is YAML, its lines counted from the file's first.
    ['content/c.md', e('---\ntitle: x\n'), 'none', [p('content/c.md', 1, 1, 'front matter opened with --- is never closed')]],
    ['content/c.md', e('---\r\ntitle: [\r\n---\r\n'), 'agent', [p('content/c.md', 2, 10, 'Flow sequence in block collection must be sufficiently indented and end with a ]')]],
    ['content/c.md', e('---\nname: a\nname: b\n---\nbody\n'), 'agent', [p('content/c.md', 3, 1, 'Map keys must be unique')]],
    ['content/c.md', e('---\n---\n'), 'agent', [p('content/c.md', 2, 1, 'an agent must be a YAML map with a `name`')]],
    ['content/c.md', e('no front matter: [\n'), 'agent', []],
    ['notes/t.txt', e('anything: [\n'), 'agent', []],
  ];
  for (const [path, b, schema, want] of cases) eq(validateArtifact(path, b, schema), want, `${path} ${JSON.stringify(dec.decode(b))}`);
});

engine('sync --push-merged: the merged result is pushed in the same version, whose default message says so', async () => {
  const { a, b } = await twoClones({ 'content/m.md': 'one\ntwo\nthree\n', 'content/p.md': 'p\n' });
  write(b, 'content/m.md', 'ONE\ntwo\nthree\n');
  await ok(b, 'push');
  write(a, 'content/m.md', 'one\ntwo\nTHREE\n');
  write(a, 'content/p.md', 'p2\n');
  await withCtx(a, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [], previews: true });
    const item = (p: string) => plan.items.find((i) => i.entry.path === p)!;
    assert.is(item('content/m.md').mergeText, 'ONE\ntwo\nTHREE\n');
    const r = await applySync(ctx, plan, [{ item: item('content/m.md'), choice: 'merge' }, { item: item('content/p.md'), choice: 'push' }], { author: 'me', pushMerged: true });
    eq([r.version?.id, r.version?.message, [...r.pushed].sort()], [3, 'sync: push content/p.md; merge of content/m.md with origin v2', ['content/m.md', 'content/p.md']]);
  });
  await ok(b, 'pull');
  eq([read(b, 'content/m.md'), read(b, 'content/p.md')], ['ONE\ntwo\nTHREE\n', 'p2\n']);
  eq(await states(a), {});
  // The sync's own push moved the base of the merged file: its journal says so, so that one
  // undo of the sync is still possible (the local edit comes back, to push or merge again).
  const u = await ok(a, '--json', 'undo');
  eq([u.json.op, u.json.restored.map((e: { path: string }) => e.path)], ['sync', ['content/m.md']]);
  eq([read(a, 'content/m.md'), read(a, 'content/p.md')], ['one\ntwo\nTHREE\n', 'p2\n']);
  eq((await states(a))['content/m.md'], 'conflict');
});

engine('sync --push-merged: a merge whose result is the remote\'s bytes makes no version, and says so without failing', async () => {
  const { a, b } = await twoClones({ 'content/m.md': 'one\ntwo\nthree\n' });
  write(b, 'content/m.md', 'ONE\ntwo\nTHREE\n');
  await ok(b, 'push');
  // A made one of B's two edits: a conflict (three different ids) whose clean merge is B's file.
  write(a, 'content/m.md', 'ONE\ntwo\nthree\n');
  await withCtx(a, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: [], previews: true });
    eq(plan.items.map((i) => [i.entry.path, i.entry.state]), [['content/m.md', 'conflict']]);
    assert.is(plan.items[0]!.mergeText, 'ONE\ntwo\nTHREE\n');
    const r = await applySync(ctx, plan, [{ item: plan.items[0]!, choice: 'merge' }], { author: 'me', pushMerged: true });
    eq([r.version, r.pushed, r.merged], [null, [], ['content/m.md']]);
  });
  eq(read(a, 'content/m.md'), 'ONE\ntwo\nTHREE\n');
  eq(await states(a), {});
  eq((await withCtx(a, async (ctx) => (await ctx.remote()).head())).lastId, 2, 'no third version');
});

/**
 * A pushes content/a.md and content/b.md, B pulls them; A changes both, B's pull of the change
 * stops after one file (its journal left pending); A then takes that file back to the base, so
 * in B it is a local change (push) and the other is still to pull.
 */
async function interruptedPullOfTwo(): Promise<{ a: string; b: string; done: string; kept: string; other: string }> {
  const { a, b } = await twoClones({ 'content/a.md': 'a\n', 'content/b.md': 'b\n' });
  write(a, 'content/a.md', 'a2\n');
  write(a, 'content/b.md', 'b2\n');
  await ok(a, 'push');
  process.env.AGENTSYNC_TEST_FAIL_AFTER_WRITES = '1';
  try {
    assert.is.not((await cli(b, '--json', 'pull')).code, 0);
  } finally { delete process.env.AGENTSYNC_TEST_FAIL_AFTER_WRITES; }
  const written = ['content/a.md', 'content/b.md'].filter((p) => read(b, p) === read(a, p));
  eq(written.length, 1, 'the interrupted pull wrote one file');
  assert.ok(await withCtx(b, (ctx) => ctx.store.undoPendingMark()), 'and left its mark');
  const done = written[0]!;
  const kept = read(b, done)!;
  write(a, done, done === 'content/a.md' ? 'a\n' : 'b\n');
  await ok(a, 'push');
  await ok(b, 'fetch');
  const other = done === 'content/a.md' ? 'content/b.md' : 'content/a.md';
  eq([(await states(b))[done], (await states(b))[other]], ['push', 'pull']);
  return { a, b, done, kept, other };
}

engine('a full pull after an interrupted one settles the undo mark even when a file it listed is not rewritten', async () => {
  const { b, done, kept } = await interruptedPullOfTwo();
  // The local change is left alone by the pull.
  await ok(b, 'pull');
  assert.is(await withCtx(b, (ctx) => ctx.store.undoPendingMark()), undefined, 'a pull of every artifact settles the journal');
  eq(read(b, done), kept);
});

engine('a sync of every artifact after an interrupted pull settles the undo mark though it skips a file the journal lists; its result names what it skipped', async () => {
  const { a, b, done, kept, other } = await interruptedPullOfTwo();
  await withCtx(b, async (ctx) => {
    const plan = await planSync(ctx, { selectors: [] });
    const item = (p: string) => plan.items.find((i) => i.entry.path === p)!;
    const r = await applySync(ctx, plan, [{ item: item(other), choice: 'pull' }, { item: item(done), choice: 'skip' }], { author: 'me' });
    eq([r.pulled, r.skipped, r.pushed], [[other], [done], []]);
  });
  assert.is(await withCtx(b, (ctx) => ctx.store.undoPendingMark()), undefined, 'a sync of every artifact settles the journal');
  eq([read(b, done), read(b, other)], [kept, read(a, other)]);
});

engine('fetch of a directory remote that does not exist yet is an empty remote, not an error (status, pull, sync fetch that way)', async () => {
  const { ws, remote } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  const f = await withCtx(ws, (ctx) => fetchRemote(ctx));
  eq([f.latestPublished, f.current, f.newVersions, f.snapshot], [null, null, 0, null]);
  eq((await states(ws))['content/a.md'], 'push');
  await ok(ws, 'push');
  eq(read(ws, 'content/a.md'), 'a\n');
  assert.ok(remote);
});

engine('fetch from a recreated remote whose version of the last fetch now holds other files reads the whole latest snapshot, not a patch of the old one', async () => {
  const { ws: a, remote } = await emptyWs();
  write(a, 'content/a.md', '1\n');
  write(a, 'content/b.md', 'b\n');
  await ok(a, 'push');
  write(a, 'content/a.md', '2\n');
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'fetch');
  rmSync(remote, { recursive: true, force: true });
  const c = await workspace(remote, { sample: false });
  write(c, 'content/a.md', '1\n');
  write(c, 'content/c.md', 'c\n');
  await ok(c, 'push');
  write(c, 'content/a.md', '2\n');
  await ok(c, 'push');
  write(c, 'content/a.md', '3\n');
  await ok(c, 'push');
  await ok(b, 'fetch');
  eq((await withCtx(b, (ctx) => ctx.store.tracking('origin')))?.latestSnapshot, (await withCtx(c, (ctx) => ctx.store.tracking('origin')))?.latestSnapshot);
  await ok(b, 'pull');
  eq([read(b, 'content/a.md'), read(b, 'content/b.md'), read(b, 'content/c.md')], ['3\n', null, 'c\n']);
});

engine('a pull where a file takes the place of a folder the same pull empties deletes first, then writes', async () => {
  const { a, b } = await twoClones({ 'content/x.md/a.md': 'in a folder\n' });
  rmSync(join(a, 'services', 'content', 'x.md'), { recursive: true });
  write(a, 'content/x.md', 'now a file\n');
  await ok(a, 'push');
  eq((await states(b, '--fetch'))['content/x.md'], 'pull');
  await ok(b, 'pull');
  eq([read(b, 'content/x.md'), read(b, 'content/x.md/a.md')], ['now a file\n', null]);
});

engine('fsck reports a recorded version that does not decode (exit 4), naming the fetch record it belongs to', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  eq((await cli(ws, '--json', 'fsck')).code, 0);
  const d = await openDb(join(ws, '.agentsync'));
  try {
    eq(await d.keys({ gte: 'trackv!', lt: 'trackv"' }).all(), ['trackv!origin!0000000001']);
    await d.put('trackv!origin!0000000001', bytes('{not json'));
  } finally { await d.close(); }
  const f = await cli(ws, '--json', 'fsck');
  eq(f.code, 4);
  const found = f.json.problems.filter((p: { what: string; message: string }) => /a recorded version is unreadable/.test(p.message));
  eq(found.map((p: { what: string }) => p.what), ['track!origin']);
});

engine('fetch from a remote recreated at the same URL, whose last version has the same snapshot but another creation time, reads its history again', async () => {
  const { ws: a, remote } = await emptyWs();
  write(a, 'content/a.md', '1\n');
  await ok(a, 'push', '-m', 'one');
  write(a, 'content/a.md', '2\n');
  await ok(a, 'push', '-m', 'two');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'fetch');
  rmSync(remote, { recursive: true, force: true });
  const c = await workspace(remote, { sample: false });
  write(c, 'content/a.md', '0\n');
  await ok(c, 'push', '-m', 'uno');
  write(c, 'content/a.md', '2\n');
  await ok(c, 'push', '-m', 'dos');
  // A third version moves the head. (With the very same head numbers, fetch's one-request
  // shortcut cannot tell a recreated remote from the one it knew: a known gap, not tested here.)
  write(c, 'content/a.md', '3\n');
  await ok(c, 'push', '-m', 'tres');
  await ok(b, 'fetch');
  const mine = await withCtx(b, (ctx) => ctx.store.trackedVersions('origin'));
  const theirs = await withCtx(c, (ctx) => ctx.store.trackedVersions('origin'));
  eq(mine[1]!.snapshot, theirs[1]!.snapshot, 'version 2 has the same snapshot on both remotes');
  eq(mine.map((v) => [v.id, v.message, v.createdAt]), theirs.map((v) => [v.id, v.message, v.createdAt]));
});

engine('fetch sees a draft pushed elsewhere (only lastId moves); log <path> calls a path of the first version added', async () => {
  const { ws: a, remote } = await emptyWs();
  write(a, 'content/a.md', '1\n');
  await ok(a, 'push', '-m', 'one');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  write(b, 'content/a.md', '2\n');
  await ok(b, 'push', '--draft', '-m', 'draft');
  const f = await ok(a, '--json', 'fetch');
  eq([f.json.latestPublished, f.json.current, f.json.newVersions], [1, 1, 1]);
  const v = await ok(a, '--json', 'versions');
  eq(v.json.versions.map((x: { id: number; state: string }) => [x.id, x.state]), [[1, 'published'], [2, 'draft']]);
  const l = await ok(a, '--json', 'log', 'content/a.md');
  eq(l.json.versions.map((x: { id: number; change: string }) => [x.id, x.change]), [[1, 'added'], [2, 'modified']]);
});

const hasGit = spawnSync('git', ['--version']).status === 0;
function git(cwd: string, ...args: string[]): void {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
}

needs(engine, hasGit, 'mutation kills: src/engine (git)', 'git is not on PATH; .ci/run installs it')('pull --commit commits a taken file and a clean merge together', async () => {
  const { ws: a, remote } = await emptyWs();
  const doc = (x: string, y: string) => `1 ${x}\n2\n3\n4\n5\n6\n7\n8\n9 ${y}\n`;
  write(a, 'content/doc.md', doc('', ''));
  write(a, 'content/t.md', 't\n');
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  git(b, 'init', '-q');
  git(b, 'add', '-A');
  git(b, 'commit', '-qm', 'start');
  write(a, 'content/doc.md', doc('theirs', ''));
  write(a, 'content/t.md', 't2\n');
  await ok(a, 'push');
  write(b, 'content/doc.md', doc('', 'ours'));
  git(b, 'add', '-A');
  git(b, 'commit', '-qm', 'ours');
  const r = await ok(b, '--json', 'pull', '--commit');
  eq([r.json.pulled.map((e: { path: string }) => e.path), r.json.merged, r.json.uncommitted], [['content/t.md'], ['content/doc.md'], []]);
  assert.match(r.json.commit, /^[0-9a-f]{40}$/);
  eq(spawnSync('git', ['log', '-1', '--format=%an'], { cwd: b, encoding: 'utf8' }).stdout, 'tester\n', 'committed as the pull\'s author');
  assert.is(read(b, 'content/doc.md'), doc('theirs', 'ours'));
  eq(spawnSync('git', ['status', '--porcelain', 'services'], { cwd: b, encoding: 'utf8' }).stdout, '');
});

needs(engine, hasGit, 'mutation kills: src/engine (git)', 'git is not on PATH; .ci/run installs it')('sync --commit: a clean merge into committed files is committed, and nothing is reported uncommitted; one into an uncommitted edit stays out', async () => {
  const { ws: a, remote } = await emptyWs();
  const doc = (x: string, y: string) => `1 ${x}\n2\n3\n4\n5\n6\n7\n8\n9 ${y}\n`;
  write(a, 'content/doc.md', doc('', ''));
  write(a, 'content/dirty.md', doc('', ''));
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  git(b, 'init', '-q');
  git(b, 'add', '-A');
  git(b, 'commit', '-qm', 'start');
  write(a, 'content/doc.md', doc('theirs', ''));
  write(a, 'content/dirty.md', doc('theirs', ''));
  await ok(a, 'push');
  write(b, 'content/doc.md', doc('', 'ours'));
  git(b, 'add', '-A');
  git(b, 'commit', '-qm', 'ours');
  const syncMerge = (paths: string[]) => withCtx(b, async (ctx) => {
    await fetchRemote(ctx);
    const plan = await planSync(ctx, { selectors: paths, previews: true });
    return applySync(ctx, plan, plan.items.map((item) => ({ item, choice: 'merge' as const })), { author: 'me', commit: true });
  });
  const r = await syncMerge(['content/doc.md']);
  assert.match(r.commit ?? '', /^[0-9a-f]{40}$/);
  assert.is(r.uncommitted, undefined, 'nothing was kept out of the commit');
  assert.is(read(b, 'content/doc.md'), doc('theirs', 'ours'));
  write(b, 'content/dirty.md', doc('', 'ours')); // an edit git has not seen
  const d = await syncMerge(['content/dirty.md']);
  eq(d.uncommitted, ['content/dirty.md']);
  assert.is(d.commit, null);
  assert.is(read(b, 'content/dirty.md'), doc('theirs', 'ours'));
  // Both in one sync: only the one merged into an uncommitted edit is reported and kept out.
  git(b, 'add', '-A');
  git(b, 'commit', '-qm', 'both merged');
  const doc3 = (x: string, m: string, y: string) => `1 ${x}\n2\n3\n4\n5${m ? ` ${m}` : ''}\n6\n7\n8\n9 ${y}\n`;
  write(a, 'content/doc.md', doc3('theirs', 'again', ''));
  write(a, 'content/dirty.md', doc3('theirs', 'again', ''));
  await ok(a, 'push');
  write(b, 'content/doc.md', doc3('theirs', '', 'ours 2'));
  git(b, 'add', '-A');
  git(b, 'commit', '-qm', 'ours 2');
  write(b, 'content/dirty.md', doc3('theirs', '', 'ours 2')); // not committed
  const both = await syncMerge([]);
  eq([...both.merged].sort(), ['content/dirty.md', 'content/doc.md']);
  eq(both.uncommitted, ['content/dirty.md']);
  assert.match(both.commit ?? '', /^[0-9a-f]{40}$/);
  const committed = spawnSync('git', ['show', '--name-only', '--format=', 'HEAD'], { cwd: b, encoding: 'utf8' }).stdout;
  assert.is(committed, 'services/content/doc.md\n');
});

/** The workspace's remote, counting the calls made through it and the objects uploaded. */
/**
 * The remote, counting its calls; `uploaded`: the ids sent (uploads and objects sent with a
 * create); `writes`: `putObjects <n>` and `createVersion <n objects sent with it | alone>`.
 */
function counting(real: Remote): { remote: Remote; calls: string[]; uploaded: string[]; writes: string[] } {
  const calls: string[] = [], uploaded: string[] = [], writes: string[] = [];
  const remote = new Proxy(real, {
    get(t, k) {
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(k));
        if (k === 'putObjects') uploaded.push(...(args[0] as { id: string }[]).map((o) => o.id));
        if (k === 'createVersion' && args[1]) uploaded.push(...(args[1] as { id: string }[]).map((o) => o.id)); // sent with the create
        if (k === 'putObjects') writes.push(`putObjects ${(args[0] as unknown[]).length}`);
        if (k === 'createVersion') writes.push(`createVersion ${args[1] === undefined ? 'alone' : (args[1] as unknown[]).length}`);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { remote, calls, uploaded, writes };
}

engine('push refuses a file whose very first bytes open a conflict block (CONFLICT_MARKERS, data.paths)', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', '<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n');
  write(ws, 'content/b.md', 'fine\n');
  const r = await cli(ws, '--json', 'push');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'CONFLICT_MARKERS');
  eq(r.json.error.data.paths, ['content/a.md']);
});

engine('push --force sends pull and conflict entries but never a converged one (the remote would refuse a no-op)', async () => {
  const { remote, ws: a } = await emptyWs();
  write(a, 'content/same.md', 'one\n');
  write(a, 'content/theirs.md', 'one\n');
  await ok(a, 'push', '-m', 'init');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  write(b, 'content/same.md', 'two\n');
  write(b, 'content/theirs.md', 'two\n');
  await ok(b, 'push', '-m', 'b');
  write(a, 'content/same.md', 'two\n'); // the same edit: converged
  await ok(a, 'fetch');
  eq(await states(a), { 'content/same.md': 'converged', 'content/theirs.md': 'pull' });
  const r = await ok(a, '--json', 'push', '--force', '-m', 'forced');
  eq(r.json.version.changed, 1, 'only the pull entry is sent (its local content overwrites theirs)');
  assert.is(read(b, 'content/theirs.md'), 'two\n');
  await ok(b, 'pull');
  assert.is(read(b, 'content/theirs.md'), 'one\n');
  assert.is(read(b, 'content/same.md'), 'two\n');
});

engine('a clean `agentsync merge` writes the merged text and moves the base to the remote\'s side: the file is then a push', async () => {
  const { a, b } = await twoClones({ 'content/m.md': 'one\ntwo\nthree\n' });
  write(a, 'content/m.md', 'ONE\ntwo\nthree\n');
  await ok(a, 'push');
  write(b, 'content/m.md', 'one\ntwo\nTHREE\n');
  await ok(b, 'fetch');
  const r = await ok(b, '--json', 'merge', 'content/m.md');
  eq([r.json.clean, r.json.conflicts], [true, 0]);
  eq(read(b, 'content/m.md'), 'ONE\ntwo\nTHREE\n');
  eq(await states(b), { 'content/m.md': 'push' });
});

engine('sync lists what was already the same on both sides as converged', async () => {
  const { a, b } = await twoClones({ 'content/s.md': 'base\n', 'content/p.md': 'base\n' });
  write(a, 'content/s.md', 'same\n');
  write(a, 'content/p.md', 'theirs\n');
  await ok(a, 'push');
  write(b, 'content/s.md', 'same\n');
  const r = await ok(b, '--json', 'sync', '--pull');
  eq([r.json.converged, r.json.pulled], [['content/s.md'], ['content/p.md']]);
});

engine('push: blobs over 12 KiB are uploaded, then the create goes without objects; a chunk with nothing the remote lacks uploads nothing', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/big.md', '# big\n' + 'x'.repeat(13 * 1024) + '\n');
  write(ws, 'content/small.md', '# small\n');
  const seen = await withCtx(ws, async (ctx) => {
    const c = counting(ctx.remote());
    ctx.remote = () => c.remote;
    const log = c.writes;
    await enginePush(ctx, { selectors: [], author: 'me' });
    eq(log, ['putObjects 2', 'createVersion alone'], 'over 12 KiB: uploaded first');
    // 1 001 files whose blobs the remote already has (copies under another folder): two chunks
    // of negotiation, nothing to upload, and no empty upload.
    for (let i = 0; i < 1001; i++) write(ws, `content/src/${i}.md`, `# ${i}\n`);
    await enginePush(ctx, { selectors: [], author: 'me' });
    for (let i = 0; i < 1001; i++) write(ws, `content/copy/${i}.md`, `# ${i}\n`);
    log.length = 0;
    const r = await enginePush(ctx, { selectors: [], author: 'me' });
    eq([r.pushed.length, r.objectsSent], [1001, 0]);
    return log;
  });
  eq(seen, ['createVersion alone']);
});

engine('push uploads only the objects the remote lacks (not those it lacks only locally)', async () => {
  const { remote, ws: a } = await emptyWs();
  write(a, 'content/a.md', 'shared\n');
  await ok(a, 'push', '-m', 'a');
  write(a, 'content/a.md', 'later\n');
  await ok(a, 'push', '-m', 'later');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull'); // the latest snapshot's blobs only: not 'shared'
  write(b, 'content/copy.md', 'shared\n'); // the remote has this blob (v1), this clone does not
  write(b, 'content/new.md', 'new\n');
  const uploaded = await withCtx(b, async (ctx) => {
    const c = counting(ctx.remote());
    ctx.remote = () => c.remote;
    await enginePush(ctx, { selectors: [], author: 'me', message: 'b' });
    return c.uploaded;
  });
  eq(uploaded, [blobId(bytes('new\n'))]);
});

engine('fetch: an unchanged head costs one request; a rollback elsewhere (same lastId, another current) is seen', async () => {
  const { remote, ws: a } = await emptyWs();
  write(a, 'content/a.md', '1\n');
  await ok(a, 'push', '-m', 'one');
  write(a, 'content/a.md', '2\n');
  await ok(a, 'push', '-m', 'two');
  const calls = await withCtx(a, async (ctx) => {
    const c = counting(ctx.remote());
    ctx.remote = () => c.remote;
    const r = await fetchRemote(ctx);
    assert.is(r.newVersions, 0);
    return c.calls;
  });
  eq(calls, ['head']);
  const b = await workspace(remote, { sample: false });
  await ok(b, 'rollback', '1');
  const f = await ok(a, '--json', 'fetch');
  eq([f.json.latestPublished, f.json.current], [2, 1]);
  const v = await ok(a, '--json', 'versions');
  eq([v.json.latestPublished, v.json.current], [2, 1]);
  await ok(b, 'deploy', '2');
  const g = await ok(a, '--json', 'fetch');
  eq([g.json.latestPublished, g.json.current], [2, 2]);
});

engine.run();
