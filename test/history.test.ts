/**
 * History that costs what changed (SPEC §3.1): manifests as chunk trees. Known-answer vectors;
 * the tree against a reference (whole manifests) over random histories of adds, edits, deletes
 * and renames; per-version cost; the upgrade of stores written by the previous release
 * (fixtures/upgrade-v1) and a crash during it; gc keeps everything reachable.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkManifest, decodeNode, encodeNode, isNode, lineHash, rechunkManifest, CHUNK_MAX } from '../src/model/chunks.js';
import { AgentsyncError } from '../src/model/errors.js';
import { blobId } from '../src/model/hash.js';
import { applyChanges, diffManifests, encodeManifest, manifestObjectId, snapshotHash, snapshotHashOf, type Change, type Manifest } from '../src/model/manifest.js';
import { compareUtf8 } from '../src/model/paths.js';
import { dec, enc, openDb, type Db } from '../src/store/db.js';
import { LocalStore } from '../src/store/local.js';
import { HOT_FILE_MAX, ManifestStore, convertLegacy } from '../src/store/manifests.js';
import { commit } from '../src/store/objects.js';
import { RemoteStore } from '../src/store/remote-store.js';
import { LevelStorage } from '../src/server/storage.js';
import { startServer } from '../src/server/server.js';
import { ROOT, cleanup, cli, pair, read, tmp, workspace, write } from './helpers.js';
import { prng } from '../fixtures/generate.js';

const bytes = (s: string) => enc.encode(s);

/** A seeded generator, so every run draws the same histories. */
const rng = prng;

function generated(n: number): Manifest {
  const m: Manifest = new Map();
  for (let i = 0; i < n; i++) m.set(`agents/a${String(i).padStart(5, '0')}.yaml`, blobId(bytes(`name: a${i}\n`)));
  return m;
}

async function rejectsCode<T>(p: Promise<T>, code: string): Promise<void> {
  try { await p; } catch (e) {
    assert.instance(e, AgentsyncError, String(e));
    assert.is((e as AgentsyncError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

// ------------------------------------------------------------------ model

const model = suite('history: chunk trees (model)');

model('known-answer vectors of SPEC §3.1', () => {
  const h = (s: string) => lineHash(bytes(s), 0, bytes(s).length).toString(16).padStart(8, '0');
  assert.is(h(''), 'ab3e7c0b');
  assert.is(h('a'), '1a80b1b3');
  assert.is(h('name: welcome\n'), 'f89db523');
  const small = encodeManifest(generated(3));
  const t3 = chunkManifest(small);
  assert.is(t3.root, manifestObjectId(snapshotHashOf(small)), 'a one-leaf manifest: the root is the snapshot hash');
  assert.is(t3.chunks.length, 1);
  const t1k = chunkManifest(encodeManifest(generated(1000)));
  assert.is(snapshotHash(generated(1000)), 'sha256:e142d8cff7660df462ae3c0d98aadc4347ac24ea89ea931851d82f42b91ce74b');
  assert.is(t1k.root, 'b85c7adfc058cadf7ca7d52bdf9bc78f7b2f463e839e3a07ed48f478a62735fe');
  assert.equal([t1k.height, t1k.chunks.length, t1k.chunks.filter((c) => !isNode(c.bytes)).length], [2, 67, 63]);
  const t10k = chunkManifest(encodeManifest(generated(10000)));
  assert.is(t10k.root, 'd8dc9878fc32b622eaa7713afac644b4d2f933cc1407889a00f0ef0ca81b0661');
  assert.equal([t10k.height, t10k.chunks.length], [4, 657]);
  assert.equal(chunkManifest(new Uint8Array(0)), { root: null, height: 0, chunks: [], leaves: [] });
});

model('leaves concatenate to the manifest; nodes decode to what was encoded; a leaf never exceeds CHUNK_MAX lines', () => {
  const b = encodeManifest(generated(5000));
  const t = chunkManifest(b);
  const leaves = t.chunks.filter((c) => !isNode(c.bytes));
  assert.equal(Buffer.concat(leaves.map((l) => l.bytes)), Buffer.from(b));
  for (const l of leaves) assert.ok(l.bytes.filter((x) => x === 10).length <= CHUNK_MAX);
  for (const c of t.chunks) assert.is(blobId(c.bytes), c.id);
  const node = t.chunks.find((c) => isNode(c.bytes))!;
  const d = decodeNode(node.bytes);
  assert.equal(encodeNode(d.level, d.children), node.bytes);
  for (const bad of ['tree 1\n', 'tree 0\n' + 'a'.repeat(64) + ' 1 2\n', 'tree 1\n' + 'A'.repeat(64) + ' 1 2\n', 'tree 1\n' + 'a'.repeat(64) + ' 01 2\n', 'tree 1\n' + 'a'.repeat(64) + ' 1 2']) {
    assert.throws(() => decodeNode(bytes(bad)), undefined, bad);
  }
  // Forced boundaries: lines that are never boundaries still make leaves of at most CHUNK_MAX lines.
  const m: Manifest = new Map();
  for (let i = 0; m.size < 600; i++) {
    const line = `${blobId(bytes(String(i)))}  content/x${i}.md\n`;
    if (lineHash(bytes(line), 0, bytes(line).length) >= 0x1_0000_0000 / 16) m.set(`content/x${i}.md`, blobId(bytes(String(i))));
  }
  const forced = chunkManifest(encodeManifest(m)).chunks.filter((c) => !isNode(c.bytes));
  assert.equal(forced.map((c) => c.bytes.filter((x) => x === 10).length), [128, 128, 128, 128, 88]);
});

model('rechunkManifest equals chunkManifest over 400 random edits from the previous leaves (adds, edits, deletes, everything deleted; natural and forced boundaries)', () => {
  const r = rng(23);
  // Lines that are never a boundary: every leaf is cut at CHUNK_MAX lines (an added line moves
  // every boundary after it, so nothing after the change can be reused).
  const flat: Manifest = new Map();
  for (let i = 0; flat.size < 700; i++) {
    const line = `${blobId(bytes(String(i)))}  content/x${String(i).padStart(5, '0')}.md\n`;
    if (lineHash(bytes(line), 0, bytes(line).length) >= 0x1_0000_0000 / 16) flat.set(`content/x${String(i).padStart(5, '0')}.md`, blobId(bytes(String(i))));
  }
  let trials = 0, leaves = 0, hashedLeaves = 0;
  for (const start of [generated(3000), flat, generated(1), new Map() as Manifest]) {
    let m: Manifest = new Map(start);
    let prevBytes = encodeManifest(m);
    let prev = chunkManifest(prevBytes);
    for (let step = 0; step < 100; step++) {
      const changes = step % 37 === 36 ? [...m.keys()].map((path) => ({ path, id: null })) : randomChanges(m, r, 1 + Math.floor(r() * 5), step);
      m = applyChanges(m, changes);
      const next = encodeManifest(m);
      const full = chunkManifest(next);
      const inc = rechunkManifest({ bytes: prevBytes, leaves: prev.leaves }, next, (b) => { if (!isNode(b)) hashedLeaves++; return blobId(b); });
      assert.is(inc.root, full.root, `step ${step}`);
      assert.equal(inc.leaves, full.leaves);
      assert.equal(inc.chunks.map((c) => c.id), full.chunks.map((c) => c.id));
      for (let i = 0; i < full.chunks.length; i++) assert.ok(Buffer.from(inc.chunks[i]!.bytes).equals(Buffer.from(full.chunks[i]!.bytes)));
      leaves += full.leaves.length;
      trials++;
      prevBytes = next;
      prev = step % 2 ? full : inc;
    }
  }
  assert.is(trials, 400);
  // Only the changed part is cut again: about a leaf per change at 3k lines; everything after
  // a change where every boundary is forced (`flat`).
  assert.ok(hashedLeaves < leaves / 5, `${hashedLeaves} of ${leaves} leaves hashed again`);
  const p300 = encodeManifest(generated(300));
  assert.throws(() => rechunkManifest({ bytes: p300, leaves: chunkManifest(p300).leaves }, bytes('no newline at the end')), /newline/);
});

model('an edit costs one leaf and the nodes above it: 200 one-line edits at 10k add at most 16 KB of chunks each', () => {
  const m = generated(10000);
  const keys = [...m.keys()];
  const have = new Set(chunkManifest(encodeManifest(m)).chunks.map((c) => c.id));
  const r = rng(7);
  let total = 0;
  for (let i = 0; i < 200; i++) {
    m.set(keys[Math.floor(r() * keys.length)]!, blobId(bytes(`edit ${i}`)));
    let added = 0;
    for (const c of chunkManifest(encodeManifest(m)).chunks) if (!have.has(c.id)) { have.add(c.id); added += c.bytes.length; }
    total += added;
  }
  assert.ok(total / 200 <= 16 * 1024, `average ${total / 200} bytes per edit`);
});

model.run();

// ------------------------------------------------------------------ stores

const dbs: Db[] = [];
async function db(): Promise<Db> {
  const d = await openDb(join(tmp('agentsync-history-'), 'db'));
  dbs.push(d);
  return d;
}

const stores = suite('history: stores against a reference');
stores.after(async () => { for (const d of dbs.splice(0)) await d.close().catch(() => {}); });

/** Random changes to `m`: adds, edits, deletes and renames (a delete plus an add of the same blob). */
function randomChanges(m: Manifest, r: () => number, n: number, step: number): Change[] {
  const out = new Map<string, string | null>();
  const keys = [...m.keys()];
  for (let i = 0; i < n; i++) {
    const k = keys.length ? keys[Math.floor(r() * keys.length)]! : undefined;
    const op = r();
    if (!k || op < 0.3) out.set(`content/s${Math.floor(r() * 40)}/n${step}-${i}.md`, blobId(bytes(`new ${step} ${i}`)));
    else if (op < 0.6) out.set(k, blobId(bytes(`edit ${step} ${i}`)));
    else if (op < 0.8) out.set(k, null);
    else { out.set(k, null); out.set(k.replace(/(\.\w+)$/, `-moved${step}$1`), m.get(k)!); }
  }
  return [...out].map(([path, id]) => ({ path, id })).filter((c) => (c.id === null ? m.has(c.path) : m.get(c.path) !== c.id)).sort((a, b) => compareUtf8(a.path, b.path));
}

stores('ManifestStore: 150 random versions read back byte for byte; stored bytes grow by what changed', async () => {
  const d = await db();
  const ms = new ManifestStore(d);
  const r = rng(11);
  let m: Manifest = new Map();
  for (let i = 0; i < 3000; i++) m.set(`content/s${i % 40}/p${i}.md`, blobId(bytes(`p${i}`)));
  const history: { snap: string; bytes: Uint8Array }[] = [];
  for (let step = 0; step < 150; step++) {
    if (step) m = applyChanges(m, randomChanges(m, r, 1 + Math.floor(r() * 4), step));
    const b = encodeManifest(m);
    const { ops, snapshot } = await ms.putOps(b);
    assert.is(snapshot, snapshotHashOf(b));
    await commit(d, ops);
    if (step) assert.ok(ops.reduce((n, o) => n + (o.type === 'put' ? o.value.length : 0), 0) < 40 * 1024, `step ${step} wrote a whole manifest`);
    history.push({ snap: snapshot, bytes: b });
  }
  for (const h of history) assert.equal(await ms.bytes(h.snap), h.bytes);
  // Storing a manifest again writes nothing.
  assert.equal((await ms.putOps(history[40]!.bytes)).ops, []);
  await rejectsCode(ms.bytes('sha256:' + 'f'.repeat(64)), 'OBJECT_MISSING');
});

stores('RemoteStore: every version\'s manifest, snapshot and changesBetween equal the reference over 120 random versions', async () => {
  const d = await db();
  const rs = new RemoteStore(d);
  const r = rng(5);
  const refs: Manifest[] = [];
  let m: Manifest = new Map();
  let expected: number | null = null;
  for (let step = 0; step < 120; step++) {
    const changes = step === 0 ? [...generated(2500)].map(([path, id]) => ({ path, id })) : randomChanges(m, r, 1 + Math.floor(r() * 5), step);
    if (!changes.length) continue;
    const next = applyChanges(m, changes);
    // Blobs must be stored: store a stand-in object under each id through the raw keyspace.
    await commit(d, changes.filter((c) => c.id !== null).map((c) => ({ type: 'put' as const, key: 'o!' + c.id, value: bytes('x') })));
    const v = await rs.createVersion({ expected, changes, snapshot: snapshotHash(next), author: 'a', message: 'm', draft: false });
    expected = v.id;
    m = next;
    refs[v.id] = next;
  }
  for (let id = 1; id < refs.length; id++) {
    if (!refs[id]) continue;
    assert.equal(await rs.manifestBytes(id), encodeManifest(refs[id]!), `version ${id}`);
    assert.is((await rs.version(id)).snapshot, snapshotHash(refs[id]!));
  }
  for (const [a, b] of [[1, 60], [59, 60], [30, 90], [100, refs.length - 1]] as const) {
    assert.equal(await rs.changesBetween(a, b), diffManifests(refs[a]!, refs[b]!), `${a}..${b}`);
  }
  // A manifest reads like an object (protocol §6): its snapshot hex answers its bytes.
  const [got] = await rs.getObjects([manifestObjectId(snapshotHash(refs[60]!))]);
  assert.ok(Buffer.from(got!).equals(encodeManifest(refs[60]!)));
});

stores('hot manifest: a store that keeps one, persisted and reopened at every step, writes and reads exactly what one without it does', async () => {
  // Two databases fed the same random history: one plain, one whose ManifestStore keeps a hot
  // file and is re-created (a new process) after every version, as the CLI does.
  const plain = await db(), hotDb = await db();
  const file = join(tmp('agentsync-hot-'), 'hot');
  const ref = new ManifestStore(plain);
  let ms = new ManifestStore(hotDb, '', { hot: file });
  const r = rng(17);
  let m: Manifest = new Map();
  for (let i = 0; i < 3000; i++) m.set(`content/s${i % 40}/p${i}.md`, blobId(bytes(`p${i}`)));
  let prev: string | undefined;
  for (let step = 0; step < 60; step++) {
    if (step) m = applyChanges(m, randomChanges(m, r, 1 + Math.floor(r() * 4), step));
    const b = encodeManifest(m);
    // The parent read first (as push and fetch do), then the new manifest stored.
    if (prev) assert.equal(await ms.get(prev), await ref.get(prev));
    const a = await ref.putOps(b), h = await ms.putOps(b);
    assert.equal(h.ops.map((o) => o.key), a.ops.map((o) => o.key), `step ${step}: the same chunks written`);
    await commit(plain, a.ops);
    await commit(hotDb, h.ops);
    await ms.persist();
    ms = new ManifestStore(hotDb, '', { hot: file });
    prev = a.snapshot;
  }
  assert.equal(await dumpKeys(hotDb), await dumpKeys(plain));
});

/** The offset just after the first `n` line feeds of `b` (the hot file's header lines: 2, then 6 per entry). */
function afterLines(b: Uint8Array, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at = b.indexOf(0x0a, at) + 1;
  return at;
}

stores('hot manifests: the file keeps the two last used (a fetch reads one and stores the next; the pull after it reads the first)', async () => {
  const d = await db();
  const file = join(tmp('agentsync-hot-'), 'hot');
  const m1 = generated(2000);
  const b1 = encodeManifest(m1);
  const first = new ManifestStore(d);
  const p1 = await first.putOps(b1);
  await commit(d, p1.ops);
  // A "fetch": reads the last fetched manifest, stores the new one.
  const m2 = new Map(m1);
  m2.set('agents/a01500.yaml', blobId(bytes('edited')));
  const b2 = encodeManifest(m2);
  const fetchStore = new ManifestStore(d, '', { hot: file });
  assert.equal(await fetchStore.get(p1.snapshot), b1);
  const p2 = await fetchStore.putOps(b2);
  assert.is(p2.ops.length, 1 + chunkManifest(b2).chunks.filter((c) => !chunkManifest(b1).chunks.some((x) => x.id === c.id)).length, 'only the new chunks');
  await commit(d, p2.ops);
  await fetchStore.persist();
  // A leaf both trees share goes: only the file can answer for either manifest now.
  const shared = chunkManifest(b1).chunks[2]!.id;
  assert.ok(chunkManifest(b2).chunks.some((c) => c.id === shared));
  await d.del('o!' + shared);
  const pullStore = new ManifestStore(d, '', { hot: file });
  assert.equal(await pullStore.get(p1.snapshot), b1, 'the base, for the pull');
  assert.equal(await pullStore.get(p2.snapshot), b2, 'the remote, for the next push');
  await rejectsCode(new ManifestStore(d).get(p2.snapshot), 'OBJECT_MISSING');
  // Nothing new used: the file is not rewritten.
  const before = readFileSync(file);
  await pullStore.persist();
  assert.ok(readFileSync(file).equals(before));
  // A third manifest stored: the file keeps it and the one used last before it.
  const m3 = new Map(m2);
  m3.set('agents/a00100.yaml', blobId(bytes('edited 3')));
  const b3 = encodeManifest(m3);
  const p3 = await pullStore.putOps(b3);
  assert.is(p3.ops.some((o) => o.key === 'o!' + shared), false, 'the shared leaf is taken as present (the file says so, and m! names both roots)');
  await commit(d, p3.ops);
  await pullStore.persist();
  assert.equal(hotSnapshots(readFileSync(file)), [p3.snapshot, p2.snapshot], 'the one stored last first, then the one used last before it');
});

/** The snapshots a hot file lists, in order (its layout: SPEC §3.1). */
function hotSnapshots(b: Uint8Array): string[] {
  const lines = (at: number, n: number) => dec.decode(b.subarray(at, afterLines(b.subarray(at), n) + at)).split('\n').slice(0, n);
  const [, k] = lines(0, 2);
  const out: string[] = [];
  let at = afterLines(b, 2);
  for (let i = 0; i < Number(k); i++) {
    const [snap, , leaves, nodes, len] = lines(at, 6);
    out.push(snap!);
    at += afterLines(b.subarray(at), 6 + Number(leaves) + Number(nodes)) + Number(len);
  }
  assert.is(at, b.length);
  return out;
}

async function dumpKeys(d: Db): Promise<string[]> {
  const out: string[] = [];
  for await (const k of d.keys()) out.push(k);
  return out;
}

stores('hot manifest: read from the file only while its m! key names its root; a damaged or stale file is never trusted; fsck reads the tree', async () => {
  const d = await db();
  const file = join(tmp('agentsync-hot-'), 'hot');
  const b1 = encodeManifest(generated(2000));
  const s1 = new ManifestStore(d, '', { hot: file });
  const put = await s1.putOps(b1);
  await commit(d, put.ops);
  await s1.persist();
  const snap = put.snapshot;
  const tree = chunkManifest(b1);
  assert.ok(existsSync(file));
  // Take one leaf away: only the hot file can answer now.
  const leaf = tree.chunks[3]!.id;
  await d.del('o!' + leaf);
  const fresh = () => new ManifestStore(d, '', { hot: file });
  assert.equal(await fresh().get(snap), b1, 'read from the hot file');
  await rejectsCode(fresh().stored(snap), 'OBJECT_MISSING');
  // Each damage makes the file unusable: the read goes to the tree (and finds the leaf missing).
  const good = readFileSync(file);
  const damaged = (f: (b: Buffer) => Buffer) => { writeFileSync(file, f(Buffer.from(good))); return fresh(); };
  for (const [what, f] of [
    ['a manifest byte', (b: Buffer) => { b[b.length - 10] ^= 1; return b; }],
    ['a chunk id', (b: Buffer) => { const at = afterLines(b, 8) + 5; b[at] = b[at] === 0x61 ? 0x62 : 0x61; return b; }],
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 1)],
    ['the magic line', (b: Buffer) => { b[0] = 0x41; return b; }],
    ['empty', () => Buffer.alloc(0)],
  ] as const) {
    await rejectsCode(damaged(f).get(snap), 'OBJECT_MISSING').catch((e) => { throw new Error(`${what}: ${e}`); });
  }
  // Oversize: a whole, good file one byte over the cap is ignored unread (the default cap is
  // 256 MiB: two manifests of 100k artifacts are 22 MB).
  writeFileSync(file, good);
  assert.equal(await new ManifestStore(d, '', { hot: file, hotMax: good.length }).get(snap), b1, 'at the cap: read');
  await rejectsCode(new ManifestStore(d, '', { hot: file, hotMax: good.length - 1 }).get(snap), 'OBJECT_MISSING');
  assert.ok(HOT_FILE_MAX >= 64 * 1024 * 1024);
  writeFileSync(file, good);
  assert.equal(await fresh().get(snap), b1);
  // A manifest no longer stored (its m! key forgotten, as gc does): the file is not trusted,
  // neither for its bytes nor for which chunks are present.
  await d.del('m!' + manifestObjectId(snap));
  assert.is(await fresh().get(snap), undefined);
  const m2 = generated(2000);
  m2.set('agents/a01000.yaml', blobId(bytes('edited')));
  const b2 = encodeManifest(m2);
  const s2 = fresh();
  const put2 = await s2.putOps(b2);
  assert.ok(chunkManifest(b2).chunks.some((c) => c.id === leaf), 'the edit is in another leaf');
  assert.ok(put2.ops.some((o) => o.key === 'o!' + leaf), 'the missing leaf is written again');
  await commit(d, put2.ops);
  assert.equal(await fresh().stored(put2.snapshot), b2, 'the new tree is whole');
  // forgetOp in the same instance: its hot manifest is dropped with it.
  const s3 = fresh();
  assert.equal(await s3.get(put2.snapshot), b2);
  await commit(d, [s3.forgetOp(put2.snapshot)]);
  assert.is(await s3.get(put2.snapshot), undefined);
});

stores.run();

// ------------------------------------------------------------------ upgrade

const FIX = join(ROOT, 'fixtures', 'upgrade-v1');
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8'));

/** A copy of the fixture stores; the workspace's store back at `.agentsync`. */
function fixture(): string {
  const dir = tmp('agentsync-upgrade-');
  cpSync(FIX, dir, { recursive: true });
  renameSync(join(dir, 'workspace-store'), join(dir, 'workspace', '.agentsync'));
  return dir;
}

const upgrade = suite('history: stores of the previous release upgrade themselves');

upgrade('workspace + directory remote of format 1: status, versions and fsck as before; converted once; markers bumped', async () => {
  const dir = fixture();
  const ws = join(dir, 'workspace');
  assert.is(readFileSync(join(dir, 'remote', 'AGENTSYNC_REMOTE'), 'utf8'), 'agentsync remote store, format 1\n');
  const st = await cli(ws, '--json', 'status');
  assert.is(st.code, 0, st.err);
  assert.equal([st.json.base, st.json.local, st.json.latestPublished], [expected.workspace.base, expected.workspace.local, expected.workspace.latestPublished]);
  assert.equal(st.json.entries.map((e: { path: string; state: string }) => ({ path: e.path, state: e.state })), expected.workspace.entries);
  const vs = await cli(ws, '--json', 'versions');
  assert.is(vs.code, 0, vs.err);
  assert.equal(vs.json.versions.map((v: Record<string, unknown>) => ({ id: v.id, state: v.state, snapshot: v.snapshot, changed: v.changed })).sort((a: { id: number }, b: { id: number }) => a.id - b.id), expected.remote);
  assert.is(readFileSync(join(dir, 'remote', 'AGENTSYNC_REMOTE'), 'utf8'), 'agentsync remote store, format 2\n');
  const f = await cli(ws, '--json', 'fsck');
  assert.is(f.code, 0, JSON.stringify(f.json));
  assert.equal(f.json.problems, []);
  // The format key is written, and the whole-manifest objects are gone or are a one-leaf tree's root.
  const ls = await LocalStore.open(join(ws, '.agentsync'));
  try {
    assert.is(dec.decode((await ls.db.get('format'))!), '2');
    for (const s of [expected.workspace.base]) {
      const root = await ls.manifests.root(s);
      assert.equal(root?.legacy, false);
    }
  } finally { await ls.close(); }
  // And it still syncs: push the local addition, on the upgraded remote.
  const p = await cli(ws, '--json', 'push', '-m', 'after upgrade');
  assert.is(p.code, 0, p.err);
  assert.is(p.json.version.id, 4);
  const f2 = await cli(ws, '--json', 'fsck');
  assert.equal(f2.json.problems, []);
});

upgrade('server data of format 1: versions, manifests and fsck as before over HTTP; the marker says format 2', async () => {
  const dir = fixture();
  const data = join(dir, 'server');
  const token = readFileSync(join(dir, 'server-token.txt'), 'utf8').trim();
  const storage = await LevelStorage.open(data);
  const srv = await startServer(storage, { host: '127.0.0.1', port: 0 });
  try {
    assert.is(readFileSync(join(data, 'AGENTSYNC_SERVER'), 'utf8'), 'agentsync server data, format 2\n');
    const res = await fetch(`${srv.url}/acme/versions`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json() as { versions: Record<string, unknown>[] };
    assert.equal(body.versions.map((v) => ({ id: v.id, state: v.state, snapshot: v.snapshot, changed: v.changed })), expected.server.versions);
    // Each version's manifest still reads as an object by its snapshot hex, and hashes to it.
    for (const v of expected.server.versions as { snapshot: string }[]) {
      const r = await fetch(`${srv.url}/acme/objects/get`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ ids: [manifestObjectId(v.snapshot)] }) });
      assert.is(r.status, 200);
      const frame = new Uint8Array(await r.arrayBuffer());
      assert.is(snapshotHashOf(frame.subarray(36)), v.snapshot);
    }
    const f = await storage.fsck();
    assert.equal(f.problems, []);
    assert.is(f.versions, 2);
  } finally {
    await srv.close();
  }
});

upgrade('a crash during the conversion leaves a store the old release reads; the next open finishes it', async () => {
  // A format-1 workspace store by hand: a 3000-artifact manifest stored whole, named by base and fetch record.
  const dir = tmp('agentsync-upgrade-crash-');
  const d = await openDb(join(dir, 'store'));
  const m = generated(3000);
  const b = encodeManifest(m);
  const snap = snapshotHashOf(b);
  const track = { url: '/r', fetchedAt: new Date(0).toISOString(), head: { latestPublished: 1, current: 1, lastId: 1 }, versions: [], latestSnapshot: snap };
  await commit(d, [
    { type: 'put', key: 'o!' + manifestObjectId(snap), value: b },
    ...[...new Set(m.values())].map((id) => ({ type: 'put' as const, key: 'o!' + id, value: bytes('blob') })),
    { type: 'put', key: 'base!origin', value: bytes(snap) },
    { type: 'put', key: 'track!origin', value: bytes(JSON.stringify(track)) },
  ]);
  // The conversion's first step ran, then the process died before the batch that ends it.
  const legacy = await convertLegacy(d, '', [snap]);
  assert.equal(legacy, [manifestObjectId(snap)]);
  // What the old release reads is all still there, byte for byte, and no format key claims otherwise.
  assert.ok(Buffer.from((await d.get('o!' + manifestObjectId(snap)))!).equals(b));
  assert.is(await d.get('format'), undefined);
  await d.close();
  // The new release opens it: finishes the conversion, drops the whole object, reads the manifest from its tree.
  const ls = await LocalStore.open(join(dir, 'store'));
  try {
    assert.is(dec.decode((await ls.db.get('format'))!), '2');
    assert.is(await ls.db.get('o!' + manifestObjectId(snap)), undefined);
    assert.equal(await ls.manifest(snap), m);
    assert.equal((await ls.manifests.root(snap))?.legacy, false);
    // A second open converts nothing again.
    assert.equal(await convertLegacy(ls.db, '', [snap]), []);
  } finally { await ls.close(); }
});

/**
 * A format-1 directory remote with large manifests: versions made by this release, then turned
 * back into the old layout (whole manifests at `o!<snapshot hex>`, no `m!` keys, no `format`).
 */
async function legacyRemote(n: number): Promise<{ remote: string; snaps: string[] }> {
  const remote = join(tmp('agentsync-legacy-remote-'), 'remote');
  const d = await openDb(join(remote, 'store'));
  const rs = new RemoteStore(d);
  let m = generated(n);
  const snaps: string[] = [];
  let expectedId: number | null = null;
  for (let step = 0; step < 3; step++) {
    const texts = step === 0 ? [...Array(n).keys()].map((i) => `name: a${i}\n`) : [`step ${step}\n`];
    const changes: Change[] = step === 0 ? [...m].map(([path, id]) => ({ path, id })) : [{ path: `agents/a${String(step).padStart(5, '0')}.yaml`, id: blobId(bytes(texts[0]!)) }];
    await commit(d, texts.map((t) => ({ type: 'put' as const, key: 'o!' + blobId(bytes(t)), value: bytes(t) })));
    m = applyChanges(m, changes);
    const v = await rs.createVersion({ expected: expectedId, changes, snapshot: snapshotHash(m), author: 'a', message: 'm', draft: false });
    expectedId = v.id;
    snaps.push(v.snapshot);
  }
  const ops: { type: 'put' | 'del'; key: string; value?: Uint8Array }[] = [];
  for (const s of snaps) ops.push({ type: 'put', key: 'o!' + manifestObjectId(s), value: await rs.manifests.bytes(s) });
  for await (const k of d.keys({ gte: 'm!', lt: 'm"' })) ops.push({ type: 'del', key: k });
  ops.push({ type: 'del', key: 'format' });
  await commit(d, ops as never);
  await d.close();
  writeFileSync(join(remote, 'AGENTSYNC_REMOTE'), 'agentsync remote store, format 1\n');
  return { remote, snaps };
}

upgrade('a directory remote whose conversion died after its marker was bumped: the next open finishes it', async () => {
  const { remote, snaps } = await legacyRemote(2000);
  const d = await openDb(join(remote, 'store'));
  const legacy = await convertLegacy(d, '', snaps);
  assert.is(legacy.length, 3, 'each 2000-artifact manifest was a whole object, not a one-leaf tree');
  await d.close();
  // Step 2 done (an old release now refuses the folder: it compares the marker's whole text), step 3 not.
  writeFileSync(join(remote, 'AGENTSYNC_REMOTE'), 'agentsync remote store, format 2\n');
  const ws = tmp('agentsync-ws-');
  const init = await cli(ws, 'init', '--remote', remote);
  assert.is(init.code, 0, init.err);
  const vs = await cli(ws, '--json', 'versions');
  assert.is(vs.code, 0, vs.err);
  assert.equal(vs.json.versions.map((v: { snapshot: string }) => v.snapshot).sort(), [...snaps].sort());
  const d2 = await openDb(join(remote, 'store'));
  try {
    assert.is(dec.decode((await d2.get('format'))!), '2');
    for (const id of legacy) assert.is(await d2.get('o!' + id), undefined, `whole manifest ${id} left behind`);
    const rs = new RemoteStore(d2);
    for (const s of snaps) assert.is(snapshotHashOf(await rs.manifests.bytes(s)), s);
  } finally { await d2.close(); }
  // The whole history pulls into the workspace from the tree form.
  const p = await cli(ws, '--json', 'pull');
  assert.is(p.code, 0, p.err);
  assert.is((await cli(ws, '--json', 'status')).json.base, snaps[2]);
});

upgrade('a format-1 directory remote with large manifests upgrades on first use, in one go', async () => {
  const { remote, snaps } = await legacyRemote(2000);
  const ws = tmp('agentsync-ws-');
  const init = await cli(ws, 'init', '--remote', remote);
  assert.is(init.code, 0, init.err);
  assert.is((await cli(ws, '--json', 'fetch')).code, 0);
  assert.is(readFileSync(join(remote, 'AGENTSYNC_REMOTE'), 'utf8'), 'agentsync remote store, format 2\n');
  const d = await openDb(join(remote, 'store'));
  try {
    for (const s of snaps) assert.is(await d.get('o!' + manifestObjectId(s)), undefined);
    assert.is(dec.decode((await d.get('format'))!), '2');
  } finally { await d.close(); }
});

upgrade('a store of a newer format is refused with one line, not misread', async () => {
  const dir = tmp('agentsync-upgrade-newer-');
  const d = await openDb(join(dir, 'store'));
  await commit(d, [{ type: 'put', key: 'format', value: bytes('3') }]);
  await d.close();
  await rejectsCode(LocalStore.open(join(dir, 'store')), 'STORE_CORRUPT');
});

upgrade.after(() => cleanup());
upgrade.run();

// ------------------------------------------------------------------ fetch reads only what changed

const incr = suite('history: fetch reads the versions that may have changed, and stays exact');
incr.after(() => cleanup());

incr('a draft deployed after it was fetched shows published at the next fetch; a gap left by a push is filled', async () => {
  const { remote, a, b } = await pair();
  write(b, 'agents/welcome.yaml', read(b, 'agents/welcome.yaml') + '# draft\n');
  assert.is((await cli(b, '--json', 'push', '--draft', '-m', 'draft')).code, 0);
  assert.is((await cli(a, '--json', 'fetch')).code, 0);
  const seen = (await cli(a, '--json', 'versions')).json.versions as { id: number; state: string }[];
  assert.equal(seen.map((v) => [v.id, v.state]), [[1, 'published'], [2, 'draft']]);
  assert.is((await cli(b, '--json', 'deploy', '2')).code, 0);
  // Another writer's version (3), then A pushes (4): A's record had a gap at 3.
  write(b, 'mcp/github.yaml', read(b, 'mcp/github.yaml') + '# b\n');
  assert.is((await cli(b, '--json', 'push', '-m', 'b')).code, 0);
  write(a, 'skills/blog-writer.yaml', read(a, 'skills/blog-writer.yaml') + '# a\n');
  const p = await cli(a, '--json', 'push', '-m', 'a');
  assert.is(p.code, 0, p.err);
  const after = (await cli(a, '--json', 'versions')).json.versions as { id: number; state: string }[];
  const truth = (await cli(b, '--json', 'versions')).json.versions as { id: number; state: string }[];
  assert.equal(after.map((v) => [v.id, v.state]), [[1, 'published'], [2, 'published'], [3, 'published'], [4, 'published']]);
  assert.equal(after, truth);
  assert.ok(remote);
});

incr('a fetch record with a gap (a push that went on top of an unseen version) gets the missing version', async () => {
  const { a, b } = await pair();
  for (const [i, f] of ['mcp/github.yaml', 'skills/blog-writer.yaml', 'agents/welcome.yaml'].entries()) {
    write(b, f, read(b, f) + `# ${i}\n`);
    assert.is((await cli(b, '--json', 'push', '-m', `b${i}`)).code, 0);
  }
  assert.is((await cli(a, '--json', 'fetch')).code, 0);
  // What a push leaves after its compare-and-swap retry went on top of version 3, unseen: the
  // record knows 1, 2 and its own 4, and keeps lastId 2 so that the next fetch reads again.
  const ls = await LocalStore.open(join(a, '.agentsync'));
  try {
    const t = (await ls.tracking('origin'))!;
    assert.equal((await ls.trackedVersions('origin')).map((v) => v.id), [1, 2, 3, 4]);
    const kept = (await ls.trackedVersions('origin')).filter((v) => v.id !== 3);
    await commit(ls.db, (await ls.trackingOps('origin', { ...t, head: { ...t.head, lastId: 2 } }, kept, 0)).ops);
    assert.equal((await ls.trackedVersions('origin')).map((v) => v.id), [1, 2, 4]);
  } finally { await ls.close(); }
  const seen = (await cli(a, '--json', 'versions')).json.versions;
  const truth = (await cli(b, '--json', 'versions')).json.versions;
  assert.equal(seen.map((v: { id: number }) => v.id), [1, 2, 3, 4]);
  assert.equal(seen, truth);
});

incr('a remote recreated at the same URL is read whole again, not mixed with the old one', async () => {
  const { remote, a } = await pair();
  write(a, 'agents/welcome.yaml', read(a, 'agents/welcome.yaml') + '# two\n');
  assert.is((await cli(a, '--json', 'push', '-m', 'two')).code, 0);
  assert.is((await cli(a, '--json', 'fetch')).code, 0);
  // The remote is replaced by another with more versions, at the same path.
  rmSync(remote, { recursive: true, force: true });
  const other = await workspace(remote);
  for (let i = 0; i < 3; i++) {
    write(other, 'agents/welcome.yaml', read(other, 'agents/welcome.yaml') + `# other ${i}\n`);
    assert.is((await cli(other, '--json', 'push', '-m', `other ${i}`)).code, 0);
  }
  const truth = (await cli(other, '--json', 'versions')).json.versions;
  const seen = (await cli(a, '--json', 'versions')).json.versions;
  assert.equal(seen, truth);
});

// ------------------------------------------------------------------ gc

const gc = suite('history: gc drops only what nothing reaches');

gc('workspace: orphan objects and manifests go; every reachable object stays; fsck and status unchanged', async () => {
  const dir = fixture();
  const ws = join(dir, 'workspace');
  const before = await cli(ws, '--json', 'status');
  // The fixture's own garbage: the whole manifests of versions 1 and 2 (no ref names them since
  // version 3) and the two blobs versions 2 and 3 replaced (welcome.yaml's first text, the deleted page).
  const first = await cli(ws, '--json', 'gc');
  assert.is(first.code, 0, first.err);
  assert.equal([first.json.objects, first.json.manifests], [4, 0]);
  assert.equal((await cli(ws, '--json', 'fsck')).json.problems, []);
  // Orphans: two blobs and a manifest tree nothing names.
  const ls = await LocalStore.open(join(ws, '.agentsync'));
  const orphanBlobs = [bytes('orphan one\n'), bytes('orphan two\n')];
  const orphanManifest = encodeManifest(generated(400));
  let reach: Set<string>;
  try {
    await ls.objects.put(orphanBlobs);
    const { ops } = await ls.manifests.putOps(orphanManifest);
    await commit(ls.db, ops);
    reach = await ls.reachable();
  } finally { await ls.close(); }
  const dry = await cli(ws, '--json', 'gc', '--dry-run');
  assert.is(dry.code, 0, dry.err);
  const orphanChunks = chunkManifest(orphanManifest).chunks.length;
  assert.equal([dry.json.objects, dry.json.manifests, dry.json.dryRun], [2 + orphanChunks, 1, true]);
  const r = await cli(ws, '--json', 'gc');
  assert.is(r.code, 0, r.err);
  assert.equal([r.json.objects, r.json.manifests], [2 + orphanChunks, 1]);
  assert.is(r.json.bytes, orphanBlobs.reduce((n, x) => n + x.length, 0) + chunkManifest(orphanManifest).chunks.reduce((n, c) => n + c.bytes.length, 0));
  const ls2 = await LocalStore.open(join(ws, '.agentsync'));
  try {
    assert.equal(await ls2.objects.missing([...reach]), []);
    assert.equal(await ls2.objects.missing(orphanBlobs.map((x) => blobId(x))), orphanBlobs.map((x) => blobId(x)));
  } finally { await ls2.close(); }
  const again = await cli(ws, '--json', 'gc');
  assert.equal([again.json.objects, again.json.manifests], [0, 0]);
  const f = await cli(ws, '--json', 'fsck');
  assert.equal(f.json.problems, []);
  assert.equal((await cli(ws, '--json', 'status')).json.entries, before.json.entries);
});

gc('server: admin gc drops an upload no version names, keeps a recent one through the running server, and every version stays whole', async () => {
  const dir = fixture();
  const data = join(dir, 'server');
  const token = readFileSync(join(dir, 'server-token.txt'), 'utf8').trim();
  const storage = await LevelStorage.open(data);
  const store = storage.remote('acme');
  const stale = bytes('uploaded, never named\n');
  await store.putObjects([{ id: blobId(stale), bytes: stale }]);
  const fresh = bytes('uploaded a moment ago\n');
  // The stale one: written as if by an earlier process (no memory of the upload).
  await storage.close();
  const s2 = await LevelStorage.open(data);
  await s2.remote('acme').putObjects([{ id: blobId(fresh), bytes: fresh }]);
  const srv = await startServer(s2, { host: '127.0.0.1', port: 0 });
  try {
    const r = await s2.gc();
    assert.equal([r.objects, r.kept], [1, 1]);
    assert.equal(await s2.remote('acme').missing([blobId(stale), blobId(fresh)]), [blobId(stale)]);
    const f = await s2.fsck();
    assert.equal(f.problems, []);
    const res = await fetch(`${srv.url}/acme/versions`, { headers: { authorization: `Bearer ${token}` } });
    assert.is(((await res.json()) as { versions: unknown[] }).versions.length, 2);
  } finally {
    await srv.close();
  }
  assert.ok(existsSync(join(data, 'store')));
});

gc.after(() => cleanup());
incr.run();
gc.run();
