/**
 * The stores, used directly: RemoteStore (versions, CAS, pointers, objects), LocalStore (base,
 * tracking, undo journal, stat cache) and the LevelDB lock.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentsyncError } from '../src/model/errors.js';
import { blobId } from '../src/model/hash.js';
import { encodeManifest, snapshotHash, EMPTY_SNAPSHOT, type Change, type Manifest } from '../src/model/manifest.js';
import { openDb, type Db } from '../src/store/db.js';
import { LocalStore } from '../src/store/local.js';
import { encodeStat, statCacheOf, statEntries, type StatCache } from '../src/store/stat-cache.js';
import { commit } from '../src/store/objects.js';
import { RemoteStore } from '../src/store/remote-store.js';
import { run } from '../src/cli/main.js';
import { cleanup, tmp } from './helpers.js';
import type { Version } from '../src/model/version.js';

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const hex = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('hex'));

async function rejectsCode<T>(p: Promise<T> | (() => Promise<T>), code: string): Promise<AgentsyncError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, AgentsyncError, `expected ${code}, got ${String(e)}`);
    assert.is((e as AgentsyncError).code, code);
    return e as AgentsyncError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const dbs: Db[] = [];
async function remoteStore(): Promise<{ rs: RemoteStore; db: Db; dir: string }> {
  const dir = join(tmp('agentsync-store-'), 'db');
  const db = await openDb(dir);
  dbs.push(db);
  return { rs: new RemoteStore(db), db, dir };
}
async function closeAll(): Promise<void> {
  for (const db of dbs.splice(0)) if (db.status === 'open') await db.close();
}

/** Upload blobs and create a version from `files` (path → text or null to delete) on top of `parent`. */
async function pushFiles(rs: RemoteStore, expected: number | null, parent: Manifest, files: Record<string, string | null>, draft = false) {
  const changes: Change[] = [];
  const objs: { id: string; bytes: Uint8Array }[] = [];
  for (const [path, text] of Object.entries(files)) {
    if (text === null) { changes.push({ path, id: null }); continue; }
    const b = bytes(text);
    objs.push({ id: blobId(b), bytes: b });
    changes.push({ path, id: blobId(b) });
  }
  await rs.putObjects(objs);
  const next = new Map(parent);
  for (const c of changes) { if (c.id === null) next.delete(c.path); else next.set(c.path, c.id); }
  const v = await rs.createVersion({ expected, changes, snapshot: snapshotHash(next), author: 'tester', message: 'm', draft });
  return { v, manifest: next };
}

// ---------------------------------------------------------------- RemoteStore

const remote = suite('store: RemoteStore');
remote.after.each(closeAll);
remote.after(cleanup);

remote('empty store: head, versions', async () => {
  const { rs } = await remoteStore();
  assert.equal(await rs.head(), { latestPublished: null, current: null, lastId: 0 });
  assert.equal(await rs.versions(), []);
  await rejectsCode(rs.version(1), 'VERSION_UNKNOWN');
});

remote('createVersion publishes and moves both pointers; versions and changes are recorded', async () => {
  const { rs } = await remoteStore();
  const { v: v1, manifest: m1 } = await pushFiles(rs, null, new Map(), { 'agents/a.yaml': 'name: a\n', 'skills/b.yaml': 'name: b\n' });
  assert.is(v1.id, 1);
  assert.is(v1.parent, null);
  assert.is(v1.state, 'published');
  assert.is(v1.changed, 2);
  assert.is(v1.author, 'tester');
  assert.type(v1.publishedAt, 'string');
  assert.is(v1.snapshot, snapshotHash(m1));
  assert.equal(await rs.head(), { latestPublished: 1, current: 1, lastId: 1 });
  const { v: v2, manifest: m2 } = await pushFiles(rs, 1, m1, { 'agents/a.yaml': null, 'content/c.md': '# c\n' });
  assert.is(v2.id, 2);
  assert.is(v2.parent, 1);
  assert.equal(await rs.head(), { latestPublished: 2, current: 2, lastId: 2 });
  assert.equal((await rs.versions()).map((v) => v.id), [1, 2]);
  assert.equal((await rs.versions(1)).map((v) => v.id), [2]);
  assert.equal(await rs.version(2), v2);
  assert.equal(await rs.versionChanges(2), [{ path: 'agents/a.yaml', id: null }, { path: 'content/c.md', id: blobId(bytes('# c\n')) }]);
  assert.equal(await rs.manifestOf(v2.snapshot), m2);
  assert.is(hex(await rs.manifestBytes(2)), hex(encodeManifest(m2)));
  const between = await rs.changesBetween(null, 2);
  assert.equal(between.map((c) => c.path), ['content/c.md', 'skills/b.yaml']);
  assert.equal(await rs.changesBetween(1, 2), [{ path: 'agents/a.yaml', id: null }, { path: 'content/c.md', id: blobId(bytes('# c\n')) }]);
});

remote('createVersion is compare-and-swap: STALE_REMOTE with data.latestPublished, nothing stored', async () => {
  const { rs } = await remoteStore();
  const { manifest: m1 } = await pushFiles(rs, null, new Map(), { 'a.md': 'a' });
  // a client that still thinks there is no version
  const e = await rejectsCode(pushFiles(rs, null, new Map(), { 'b.md': 'b' }), 'STALE_REMOTE');
  assert.is(e.data.latestPublished, 1);
  assert.is(e.exitCode, 1);
  const e2 = await rejectsCode(pushFiles(rs, 7, m1, { 'b.md': 'b' }), 'STALE_REMOTE');
  assert.is(e2.data.latestPublished, 1);
  assert.equal(await rs.head(), { latestPublished: 1, current: 1, lastId: 1 });
  assert.is((await rs.versions()).length, 1);
});

remote('createVersion checks the client snapshot (REMOTE_PROTOCOL) and stores nothing', async () => {
  const { rs } = await remoteStore();
  const b = bytes('x');
  await rs.putObjects([{ id: blobId(b), bytes: b }]);
  const wrong = snapshotHash(new Map([['other.md', blobId(b)]]));
  const e = await rejectsCode(rs.createVersion({ expected: null, changes: [{ path: 'x.md', id: blobId(b) }], snapshot: wrong, author: 't', message: 'm', draft: false }), 'REMOTE_PROTOCOL');
  assert.is(e.data.expected, wrong);
  assert.is(e.data.snapshot, snapshotHash(new Map([['x.md', blobId(b)]])));
  assert.equal(await rs.head(), { latestPublished: null, current: null, lastId: 0 });
  assert.equal(await rs.versions(), []);
});

remote('createVersion refuses changes whose objects were not uploaded (OBJECT_MISSING), nothing stored', async () => {
  const { rs } = await remoteStore();
  const up = bytes('uploaded'), down = bytes('not uploaded');
  await rs.putObjects([{ id: blobId(up), bytes: up }]);
  const m = new Map([['a.md', blobId(up)], ['b.md', blobId(down)]]);
  const e = await rejectsCode(rs.createVersion({
    expected: null, changes: [{ path: 'a.md', id: blobId(up) }, { path: 'b.md', id: blobId(down) }], snapshot: snapshotHash(m), author: 't', message: 'm', draft: false,
  }), 'OBJECT_MISSING');
  assert.equal(e.data.missing, [blobId(down)]);
  assert.equal(await rs.head(), { latestPublished: null, current: null, lastId: 0 });
  assert.equal(await rs.versions(), []);
  assert.not.ok(await rs.objects.has(blobId(encodeManifest(m))));
});

remote('createVersion refuses unsafe paths (PATH_UNSAFE)', async () => {
  const { rs } = await remoteStore();
  const b = bytes('x');
  await rs.putObjects([{ id: blobId(b), bytes: b }]);
  for (const p of ['../x.md', 'a\\b.md', '/abs.md']) {
    await rejectsCode(rs.createVersion({ expected: null, changes: [{ path: p, id: blobId(b) }], snapshot: EMPTY_SNAPSHOT, author: 't', message: 'm', draft: false }), 'PATH_UNSAFE');
  }
  assert.equal(await rs.versions(), []);
});

remote('a draft moves neither pointer; deploy publishes it and makes it current', async () => {
  const { rs } = await remoteStore();
  const { manifest: m1 } = await pushFiles(rs, null, new Map(), { 'a.md': 'a' });
  const { v: d } = await pushFiles(rs, 1, m1, { 'a.md': 'a2' }, true);
  assert.is(d.id, 2);
  assert.is(d.state, 'draft');
  assert.is(d.publishedAt, undefined);
  assert.equal(await rs.head(), { latestPublished: 1, current: 1, lastId: 2 });
  // the next version still builds on the latest published, and gets the next id
  await rejectsCode(pushFiles(rs, 2, m1, { 'b.md': 'b' }), 'STALE_REMOTE');
  const r = await rs.deploy(2);
  assert.is(r.version.state, 'published');
  assert.type(r.version.publishedAt, 'string');
  assert.equal(r.head, { latestPublished: 2, current: 2, lastId: 2 });
  assert.equal(await rs.head(), r.head);
  assert.is((await rs.version(2)).state, 'published');
});

remote('deploy of a stale draft → DRAFT_STALE; pointers unchanged', async () => {
  const { rs } = await remoteStore();
  const { manifest: m1 } = await pushFiles(rs, null, new Map(), { 'a.md': 'a' });
  await pushFiles(rs, 1, m1, { 'a.md': 'draft' }, true); // v2 draft on v1
  await pushFiles(rs, 1, m1, { 'b.md': 'b' }); // v3 published on v1
  const e = await rejectsCode(rs.deploy(2), 'DRAFT_STALE');
  assert.is(e.exitCode, 1);
  assert.is(e.data.latestPublished, 3);
  assert.equal(await rs.head(), { latestPublished: 3, current: 3, lastId: 3 });
  assert.is((await rs.version(2)).state, 'draft');
  await rejectsCode(rs.deploy(9), 'VERSION_UNKNOWN');
});

remote('rollback moves current only; to a draft → VERSION_DRAFT; unknown → VERSION_UNKNOWN', async () => {
  const { rs } = await remoteStore();
  const { manifest: m1 } = await pushFiles(rs, null, new Map(), { 'a.md': 'a' });
  const { manifest: m2 } = await pushFiles(rs, 1, m1, { 'a.md': 'b' });
  await pushFiles(rs, 2, m2, { 'a.md': 'c' }, true); // v3 draft
  const r = await rs.rollback(1);
  assert.equal(r.head, { latestPublished: 2, current: 1, lastId: 3 });
  assert.equal(await rs.head(), r.head);
  const e = await rejectsCode(rs.rollback(3), 'VERSION_DRAFT');
  assert.is(e.exitCode, 2);
  await rejectsCode(rs.rollback(42), 'VERSION_UNKNOWN');
  assert.equal(await rs.head(), { latestPublished: 2, current: 1, lastId: 3 });
  // deploying a published version makes it current without touching latest published
  const d = await rs.deploy(2);
  assert.equal(d.head, { latestPublished: 2, current: 2, lastId: 3 });
  // after a rollback, new versions still build on the latest published
  await rs.rollback(1);
  const { v } = await pushFiles(rs, 2, m2, { 'z.md': 'z' });
  assert.is(v.parent, 2);
  assert.equal(await rs.head(), { latestPublished: 4, current: 4, lastId: 4 });
});

remote('putObjects rejects an object whose bytes do not hash to its id; nothing stored', async () => {
  const { rs } = await remoteStore();
  const good = bytes('good'), bad = bytes('bad');
  const e = await rejectsCode(rs.putObjects([{ id: blobId(good), bytes: good }, { id: blobId(good), bytes: bad }]), 'REMOTE_PROTOCOL');
  assert.is(e.data.actual, blobId(bad));
  assert.not.ok(await rs.objects.has(blobId(good)));
  assert.not.ok(await rs.objects.has(blobId(bad)));
  await rs.putObjects([{ id: blobId(good), bytes: good }]);
  assert.equal(await rs.objects.missing([blobId(good), blobId(bad)]), [blobId(bad)]);
});

remote('two RemoteStores with prefixes are separate keyspaces', async () => {
  const { db } = await remoteStore();
  const a = new RemoteStore(db, 't!a!'), b = new RemoteStore(db, 't!b!');
  await pushFiles(a, null, new Map(), { 'a.md': 'a' });
  assert.equal(await b.head(), { latestPublished: null, current: null, lastId: 0 });
  assert.equal(await b.versions(), []);
  assert.not.ok(await b.objects.has(blobId(bytes('a'))));
});

remote('state survives close and reopen; a damaged head is STORE_CORRUPT', async () => {
  const { rs, db, dir } = await remoteStore();
  await pushFiles(rs, null, new Map(), { 'a.md': 'a' });
  await db.close();
  const db2 = await openDb(dir);
  dbs.push(db2);
  const rs2 = new RemoteStore(db2);
  assert.equal(await rs2.head(), { latestPublished: 1, current: 1, lastId: 1 });
  await db2.put('h', bytes('{not json'));
  await rejectsCode(rs2.head(), 'STORE_CORRUPT');
});

remote('concurrent createVersion in one process: exactly one wins the CAS', async () => {
  const { rs } = await remoteStore();
  const results = await Promise.allSettled([
    pushFiles(rs, null, new Map(), { 'a.md': 'a' }),
    pushFiles(rs, null, new Map(), { 'b.md': 'b' }),
  ]);
  assert.equal(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const rej = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.is((rej.reason as AgentsyncError).code, 'STALE_REMOTE');
  assert.equal(await rs.head(), { latestPublished: 1, current: 1, lastId: 1 });
});

remote.run();

// ---------------------------------------------------------------- LocalStore

const local = suite('store: LocalStore');
const opened: LocalStore[] = [];
local.after.each(async () => {
  for (const s of opened.splice(0)) if (s.db.status === 'open') await s.close();
});
local.after(cleanup);
async function localStore(): Promise<{ ls: LocalStore; dir: string }> {
  const dir = join(tmp('agentsync-local-'), '.agentsync');
  const ls = await LocalStore.open(dir);
  opened.push(ls);
  return { ls, dir };
}

local('objects: put, get, has, missing, need, ids', async () => {
  const { ls } = await localStore();
  const ids = await ls.objects.put([bytes('one'), bytes('two')]);
  assert.equal(ids, [blobId(bytes('one')), blobId(bytes('two'))]);
  assert.ok(await ls.objects.has(ids[0]!));
  assert.is(hex(await ls.objects.get(ids[1]!)), hex(bytes('two')));
  const absent = blobId(bytes('three'));
  assert.equal(await ls.objects.missing([absent, ids[0]!]), [absent]);
  const e = await rejectsCode(ls.objects.need(absent), 'OBJECT_MISSING');
  assert.is(e.data.id, absent);
  assert.is(e.exitCode, 4);
  const all: string[] = [];
  for await (const id of ls.objects.ids()) all.push(id);
  assert.equal(all.sort(), [...ids].sort());
});

local('base: empty by default; baseOps stores the manifest and the pointer', async () => {
  const { ls } = await localStore();
  assert.is(await ls.baseSnapshot('origin'), EMPTY_SNAPSHOT);
  assert.equal(await ls.manifest(EMPTY_SNAPSHOT), new Map());
  assert.equal(await ls.manifest(null), new Map());
  const m: Manifest = new Map([['agents/a.yaml', blobId(bytes('name: a\n'))], ['content/é.md', blobId(bytes(''))]]);
  const { ops, snapshot } = await ls.baseOps('origin', m);
  assert.is(snapshot, snapshotHash(m));
  await commit(ls.db, ops);
  assert.is(await ls.baseSnapshot('origin'), snapshot);
  assert.is(await ls.baseSnapshot('other'), EMPTY_SNAPSHOT);
  assert.equal(await ls.manifest(snapshot), m);
  // an unknown snapshot is OBJECT_MISSING
  await rejectsCode(ls.manifest('sha256:' + 'f'.repeat(64)), 'OBJECT_MISSING');
  // the empty manifest stores no object but still moves the pointer
  await commit(ls.db, (await ls.baseOps('origin', new Map())).ops);
  assert.is(await ls.baseSnapshot('origin'), EMPTY_SNAPSHOT);
});

local('tracking, refs and forgetRemote', async () => {
  const { ls } = await localStore();
  const t = { url: '/r', fetchedAt: new Date(0).toISOString(), head: { latestPublished: 1, current: 1, lastId: 1 }, latestSnapshot: EMPTY_SNAPSHOT, firstDraft: null };
  await commit(ls.db, [...(await ls.trackingOps('origin', t, [ver(1, 'published')], 0)).ops, ...(await ls.baseOps('origin', new Map())).ops, ...(await ls.baseOps('backup', new Map())).ops]);
  assert.equal(await ls.tracking('origin'), t);
  assert.is(await ls.tracking('backup'), undefined);
  assert.equal((await ls.refs()).map((r) => r.key).sort(), ['base!backup', 'base!origin', 'track!origin']);
  await ls.forgetRemote('origin');
  assert.is(await ls.tracking('origin'), undefined);
  assert.equal(await ls.trackedVersions('origin'), [], 'its versions went with it');
  assert.equal((await ls.refs()).map((r) => r.key), ['base!backup']);
});

const ver = (id: number, state: 'draft' | 'published', snapshot = EMPTY_SNAPSHOT): Version => ({
  id, snapshot, parent: id > 1 ? id - 1 : null, author: 'a', message: `v${id}`, createdAt: `t${id}`, state, changed: 1,
});

local('fetch records: one key per version; trackingOps replaces only what is above `from`; firstDraft follows', async () => {
  const { ls } = await localStore();
  const t = { url: '/r', fetchedAt: 'f', head: { latestPublished: 3, current: 3, lastId: 4 }, latestSnapshot: EMPTY_SNAPSHOT };
  const first = await ls.trackingOps('origin', t, [ver(1, 'published'), ver(2, 'published'), ver(3, 'draft'), ver(4, 'draft')], 0);
  assert.equal(first.tracking, { ...t, firstDraft: 3 });
  await commit(ls.db, first.ops);
  assert.equal((await ls.trackedVersions('origin')).map((v) => v.id), [1, 2, 3, 4]);
  assert.equal((await ls.trackedVersions('origin', 2)).map((v) => v.id), [3, 4]);
  assert.equal(await ls.trackedVersion('origin', 2), ver(2, 'published'));
  assert.is(await ls.trackedVersion('origin', 9), undefined);
  const keys: string[] = [];
  for await (const k of ls.db.keys({ gte: 'track', lt: 'tracl' })) keys.push(k);
  assert.equal(keys, ['track!origin', 'trackv!origin!0000000001', 'trackv!origin!0000000002', 'trackv!origin!0000000003', 'trackv!origin!0000000004']);
  // A later fetch re-read from the oldest draft: 3 is now published, 4 is gone, 5 is new.
  const next = await ls.trackingOps('origin', { ...t, head: { latestPublished: 5, current: 5, lastId: 5 } }, [ver(3, 'published'), ver(5, 'published')], 2);
  assert.ok(next.ops.some((o) => o.type === 'del' && o.key === 'trackv!origin!0000000004'));
  assert.not.ok(next.ops.some((o) => o.key === 'trackv!origin!0000000001' || o.key === 'trackv!origin!0000000002'), 'what is at or below from is not rewritten');
  assert.is(next.tracking.firstDraft, null);
  await commit(ls.db, next.ops);
  assert.equal((await ls.trackedVersions('origin')).map((v) => [v.id, v.state]), [[1, 'published'], [2, 'published'], [3, 'published'], [5, 'published']]);
  // A draft kept below `from` stays the first draft; one above it is found among the new ones.
  await commit(ls.db, (await ls.trackingOps('origin', t, [ver(1, 'published'), ver(2, 'draft')], 0)).ops);
  assert.is((await ls.trackingOps('origin', t, [ver(3, 'draft')], 2)).tracking.firstDraft, 2);
  assert.is((await ls.trackingOps('origin', t, [ver(2, 'published'), ver(3, 'draft')], 1)).tracking.firstDraft, 3);
  // A restamp of a fetch that found nothing new writes the summary alone.
  const touch = await ls.touchTrackingOps('origin', 'later');
  assert.equal(touch.map((o) => o.key), ['track!origin']);
  assert.equal(await ls.touchTrackingOps('nope', 'later'), []);
});

local('fetch records an earlier build wrote (the version list inside) are read, then rewritten one key per version', async () => {
  const { ls } = await localStore();
  const legacy = { url: '/r', fetchedAt: 'f', head: { latestPublished: 1, current: 2, lastId: 2 }, versions: [ver(1, 'published'), ver(2, 'draft')], latestSnapshot: EMPTY_SNAPSHOT };
  await commit(ls.db, [{ type: 'put', key: 'track!origin', value: bytes(JSON.stringify(legacy)) }]);
  assert.equal(await ls.tracking('origin'), { url: '/r', fetchedAt: 'f', head: legacy.head, latestSnapshot: EMPTY_SNAPSHOT, firstDraft: 2 });
  assert.equal(await ls.trackedVersions('origin'), legacy.versions);
  assert.equal(await ls.trackedVersions('origin', 1), [ver(2, 'draft')]);
  assert.equal(await ls.trackedVersion('origin', 2), ver(2, 'draft'));
  await commit(ls.db, await ls.touchTrackingOps('origin', 'later'));
  const stored = JSON.parse(new TextDecoder().decode(await ls.db.get('track!origin')));
  assert.is(stored.versions, undefined, 'the list moved out of the summary');
  assert.is(stored.fetchedAt, 'later');
  assert.equal(await ls.trackedVersions('origin'), legacy.versions);
  assert.is((await ls.tracking('origin'))!.firstDraft, 2);
});

local('undo journal round trip and delete', async () => {
  const { ls } = await localStore();
  assert.is(await ls.undo(), undefined);
  const j = { at: new Date(0).toISOString(), op: 'pull', entries: [{ path: 'a.md', id: blobId(bytes('a')) }, { path: 'b.md', id: null }] };
  await commit(ls.db, [ls.undoOp(j)]);
  assert.equal(await ls.undo(), j);
  await commit(ls.db, [ls.undoOp(null)]);
  assert.is(await ls.undo(), undefined);
});

local('stat cache round trip (including non-ASCII and space in paths); a damaged cache reads as empty', async () => {
  const { ls } = await localStore();
  const empty = await ls.statCache();
  assert.is(empty.writtenAt, 0);
  assert.is(empty.paths.length, 0);
  const entries = new Map([
    ['agents/a.yaml', { id: blobId(bytes('a')), size: 1, mtimeMs: 1699999999999.25, ino: 1234567 }],
    ['content/é x.md', { id: blobId(bytes('')), size: 0, mtimeMs: 1, ino: 2 }],
  ]);
  const c = statCacheOf(1700000000123.5, 'sha256:' + 'ab'.repeat(32), 'agents\tagents/*.yaml', entries);
  const same = (got: StatCache, want: StatCache) => {
    assert.equal({ ...got, entries: [...statEntries(got)], paths: 0, ids: 0, size: 0, mtime: 0, ino: 0 }, { ...want, entries: [...statEntries(want)], paths: 0, ids: 0, size: 0, mtime: 0, ino: 0 });
  };
  await ls.saveStatCache(c);
  same(await ls.statCache(), c);
  assert.equal((await ls.statCache()).paths, ['agents/a.yaml', 'content/é x.md']); // rows keep their order
  // A save that changes few entries writes only the difference; a reload merges it back.
  const e2 = new Map(entries);
  e2.set('agents/a.yaml', { id: blobId(bytes('a2')), size: 2, mtimeMs: 1700000000200, ino: 1234567 });
  e2.delete('content/é x.md');
  e2.set('agents/new.yaml', { id: blobId(bytes('n')), size: 1, mtimeMs: 3, ino: 4 });
  const c2 = statCacheOf(c.writtenAt + 10, 'sha256:' + 'cd'.repeat(32), c.kinds, e2);
  await ls.saveStatCache(c2);
  assert.ok(await ls.db.get('stat+'));
  same(await ls.statCache(), c2);
  // Many changes rewrite the whole cache and drop the difference.
  const e3 = new Map<string, { id: string; size: number; mtimeMs: number; ino: number }>();
  for (let i = 0; i < 600; i++) e3.set(`content/${i}.md`, { id: blobId(bytes(String(i))), size: i, mtimeMs: i + 0.5, ino: i });
  const c3 = statCacheOf(c2.writtenAt + 10, '', '', e3);
  await ls.saveStatCache(c3);
  assert.is(await ls.db.get('stat+'), undefined);
  same(await ls.statCache(), c3);
  // Formats of earlier versions still read: text lines (1) and JSON columns (2).
  const a = { id: blobId(bytes('a')), size: 1, mtimeMs: 2.5, ino: 3 };
  await ls.db.put('stat', bytes(`5 sha256:${'ef'.repeat(32)}\n${a.id}\t1\t2.5\t3\tagents/a.yaml\n`));
  same(await ls.statCache(), statCacheOf(5, `sha256:${'ef'.repeat(32)}`, '', new Map([['agents/a.yaml', a]])));
  await ls.db.put('stat', bytes(JSON.stringify({ v: 2, writtenAt: 7, snapshot: '', paths: ['agents/a.yaml'], ids: [a.id], size: [1], mtime: [2.5], ino: [3] })));
  same(await ls.statCache(), statCacheOf(7, '', '', new Map([['agents/a.yaml', a]])));
  // ... and the next save rewrites them whole in format 3, even for a one-row change.
  await ls.saveStatCache(statCacheOf(8, '', 'k', new Map([['agents/a.yaml', a]])));
  assert.is(new TextDecoder().decode((await ls.db.get('stat'))!.subarray(0, 7)), '{"v":3,');
  assert.is(await ls.db.get('stat+'), undefined);
  // Damaged: truncated JSON, text without tabs, a format 3 value cut short.
  for (const bad of [bytes('{"v":2,'), bytes('123\nno tabs here\n'), encodeStat(c).subarray(0, 200)]) {
    await ls.db.put('stat', bad);
    const damaged = await ls.statCache();
    assert.is(damaged.writtenAt, 0);
    assert.is(damaged.paths.length, 0);
  }
});

local('persisted across close/reopen; a damaged undo journal is STORE_CORRUPT', async () => {
  const { ls, dir } = await localStore();
  await ls.objects.put([bytes('keep')]);
  await ls.close();
  const ls2 = await LocalStore.open(dir);
  opened.push(ls2);
  assert.ok(await ls2.objects.has(blobId(bytes('keep'))));
  await ls2.db.put('undo', bytes('{'));
  await rejectsCode(ls2.undo(), 'STORE_CORRUPT');
});

local.run();

// ---------------------------------------------------------------- locking

const lock = suite('store: lock');
lock.after(cleanup);

lock('a second openDb on a held store waits, then fails with STORE_LOCKED', async () => {
  const dir = join(tmp('agentsync-lock-'), 'db');
  const first = await LocalStore.open(dir);
  try {
    const t0 = Date.now();
    const e = await rejectsCode(openDb(dir, { waitMs: 150 }), 'STORE_LOCKED');
    assert.ok(Date.now() - t0 >= 100, 'it waited for the lock before failing');
    assert.is(e.exitCode, 4);
    assert.is(e.data.dir, dir);
    await rejectsCode(openDb(dir, { waitMs: 0, lockedCode: 'REMOTE_BUSY' }), 'REMOTE_BUSY');
  } finally {
    await first.close();
  }
  // released: opens now
  const again = await openDb(dir, { waitMs: 0 });
  await again.close();
});

lock('a waiter gets the lock when the holder releases it within the wait', async () => {
  const dir = join(tmp('agentsync-lock-'), 'db');
  const first = await openDb(dir);
  const waiting = openDb(dir, { waitMs: 10000 });
  setTimeout(() => { void first.close(); }, 100);
  const second = await waiting;
  assert.is(second.status, 'open');
  await second.close();
});

lock('a store path that is not a LevelDB folder → STORE_CORRUPT', async () => {
  const file = join(tmp('agentsync-notdb-'), 'file');
  writeFileSync(file, 'not a database');
  await rejectsCode(openDb(file, { waitMs: 0 }), 'STORE_CORRUPT');
});

lock('an open error is not mistaken for a lock because the path contains "lock"', async () => {
  // e.g. a workspace under /home/u/blocks/ or /srv/clock/: the error names the path
  const file = join(tmp('agentsync-clock-'), 'file');
  writeFileSync(file, 'not a database');
  await rejectsCode(openDb(file, { waitMs: 0 }), 'STORE_CORRUPT');
});

lock('the CLI takes its lock wait from the environment it is given (in-process run)', async () => {
  const ws = tmp('agentsync-envwait-');
  const io = (env: Record<string, string>) => ({
    cwd: ws, env: { NO_COLOR: '1', AGENTSYNC_AUTHOR: 'tester', ...env }, stdout: () => {}, stderr: () => {}, stdinTTY: false, stdoutTTY: false,
  });
  assert.is(await run(['init'], io({})), 0);
  const held = await LocalStore.open(join(ws, '.agentsync'));
  // the holder lets go after 1.5 s: a CLI told to wait 100 ms must have given up by then
  const release = new Promise<void>((res) => setTimeout(() => { void held.close().then(res); }, 1500));
  const code = await run(['status'], io({ AGENTSYNC_LOCK_TIMEOUT_MS: '100' }));
  await release;
  assert.is(code, 4, 'STORE_LOCKED after the 100 ms wait, not a success after the holder released');
});

lock.run();
