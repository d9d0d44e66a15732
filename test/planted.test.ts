/**
 * Tests that catch the bugs we fear: each one was written against a bug planted by hand that no
 * other test saw (see test/README.md), and fails with that bug in place. One test per bug; the
 * test's name says which.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { mergeArtifact } from '../src/merge/index.js';
import { mergeYaml } from '../src/merge/yaml.js';
import { blobId } from '../src/model/hash.js';
import { snapshotHash } from '../src/model/manifest.js';
import { HttpRemote } from '../src/remote/http.js';
import { authenticate, createToken, publicToken } from '../src/server/auth.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { LevelStorage } from '../src/server/storage.js';
import { LocalStore } from '../src/store/local.js';
import { emptyStatCache, statEntries, type StatCache } from '../src/store/stat-cache.js';
import { loadWorkspace } from '../src/workspace/config.js';
import { scan } from '../src/workspace/scan.js';
import { cleanup, cli, read, workspace, write } from './helpers.js';
import { dirRemote } from './remotes.js';

const t = suite('planted');

/** A server with small caps: 3 KiB bodies, 1 KiB objects; one tenant and a write token. */
const BODY_CAP = 3072;
const OBJECT_CAP = 1024;
let srv: RunningServer | undefined;
let dataDir = '';
let token = '';
const TENANT = 'acme';

t.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'agentsync-planted-'));
  const storage = await LevelStorage.open(join(dataDir, 'data'), { create: true });
  try {
    srv = await startServer(storage, { port: 0, maxBodyBytes: BODY_CAP, maxObjectBytes: OBJECT_CAP });
  } catch (e) {
    await storage.close();
    throw e;
  }
  await storage.createTenant(TENANT);
  token = (await createToken(storage, { tenant: TENANT, scope: 'write', expiresInMs: null })).token;
});

t.after(async () => {
  await srv?.close();
  rmSync(dataDir, { recursive: true, force: true });
  cleanup();
});

// ------------------------------------------------------------------ merge

t('YAML merge: a key or a named list item deleted in theirs but changed in ours is a conflict, never a clean merge (planted: the deleted-key/deleted-item branch drops it anyway)', () => {
  const base = 'name: helper\nsettings:\n  timeout: 30\n  retries: 2\ntools:\n  - name: search\n    enabled: true\n  - name: fetch\n    enabled: false\n';
  // map key: ours changed settings.timeout, theirs deleted it
  const oursKey = base.replace('timeout: 30', 'timeout: 60');
  const theirsKey = base.replace('  timeout: 30\n', '');
  assert.equal(mergeYaml(base, oursKey, theirsKey), { clean: false, conflicts: [{ path: ['settings', 'timeout'], reason: 'changed in ours but deleted in theirs' }] });
  const key = mergeArtifact('agents/helper.yaml', base, oursKey, theirsKey);
  assert.is(key.clean, false);
  // named list item: ours changed the `fetch` tool, theirs deleted it
  const oursItem = base.replace('  - name: fetch\n    enabled: false', '  - name: fetch\n    enabled: true');
  const theirsItem = base.replace('  - name: fetch\n    enabled: false\n', '');
  assert.equal(mergeYaml(base, oursItem, theirsItem), { clean: false, conflicts: [{ path: ['tools', 1], reason: 'changed in ours but deleted in theirs' }] });
  const item = mergeArtifact('agents/helper.yaml', base, oursItem, theirsItem);
  assert.is(item.clean, false);
  // control: the same deletions against an ours that left them alone (another key changed) merge cleanly
  const oursOther = base.replace('retries: 2', 'retries: 3');
  const k = mergeYaml(base, oursOther, theirsKey);
  assert.ok(k.clean, JSON.stringify(k));
  if (k.clean) assert.equal(parse(k.text), { ...parse(base), settings: { retries: 3 } });
  const i = mergeYaml(base, oursOther, theirsItem);
  assert.ok(i.clean, JSON.stringify(i));
  if (i.clean) assert.equal(parse(i.text), { ...parse(base), settings: { timeout: 30, retries: 3 }, tools: [{ name: 'search', enabled: true }] });
});

// ------------------------------------------------------------------ server and HTTP remote

/** POST `parts` as a chunked body (no Content-Length) to the tenant's objects/missing. */
function chunkedPost(parts: string[]): Promise<{ status: number; body: any; chunked: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${srv!.url}/${TENANT}/objects/missing`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), chunked: req.getHeader('content-length') === undefined });
        } catch (e) { reject(e); }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const p of parts) req.write(p);
    req.end();
  });
}

/** A JSON body `{"ids": [...n ids]}` cut into pieces of about 500 bytes. */
function idsBody(n: number): { parts: string[]; size: number; ids: string[] } {
  const ids = Array.from({ length: n }, (_, i) => blobId(new TextEncoder().encode(`absent ${i}`)));
  const text = JSON.stringify({ ids });
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 500) parts.push(text.slice(i, i + 500));
  return { parts, size: Buffer.byteLength(text), ids };
}

t('server: a chunked body (no Content-Length) over maxBodyBytes is refused with 413 REQUEST_TOO_LARGE (planted: the streaming body cap removed)', async () => {
  const small = idsBody(10);
  assert.ok(small.size < BODY_CAP && small.parts.length > 1);
  const ok = await chunkedPost(small.parts);
  assert.ok(ok.chunked);
  assert.equal([ok.status, ok.body], [200, { missing: small.ids }]); // a chunked body is read whole under the cap
  const big = idsBody(80);
  assert.ok(big.size > BODY_CAP && big.parts.length > 5, `${big.size} bytes in ${big.parts.length} chunks`);
  const r = await chunkedPost(big.parts);
  assert.ok(r.chunked);
  assert.is(r.status, 413);
  assert.is(r.body.error.code, 'REQUEST_TOO_LARGE');
  assert.equal(r.body.error.data, { limit: BODY_CAP, reason: 'body' });
});

t('HttpRemote.getObjects: every object comes back, with its bytes, when the server stops each answer early at its body cap (planted: the batch loop advances by the batch asked, not by what came back)', async () => {
  // 7 objects of 1000 bytes: an answer of the 3 KiB cap holds 2 of them.
  const objs = Array.from({ length: 7 }, (_, i) => {
    const bytes = new TextEncoder().encode(`${i}`.padEnd(1000, String.fromCharCode(97 + i)));
    return { id: blobId(bytes), bytes };
  });
  await srv!.storage.remote(TENANT).putObjects(objs);
  const remote = new HttpRemote(`${srv!.url}/${TENANT}`, { token });
  try {
    const ids = [...objs.map((o) => o.id)].reverse();
    const got = await remote.getObjects(ids);
    assert.equal(got.map((o) => o?.id), ids);
    for (const o of objs) {
      const g = got.find((x) => x?.id === o.id);
      assert.ok(g, `object ${o.id} came back`);
      assert.is(Buffer.from(g!.bytes).toString('hex'), Buffer.from(o.bytes).toString('hex'));
    }
    assert.ok(remote.stats.requests > 1, 'the server answered in several parts');
  } finally {
    await remote.close();
  }
});

// ------------------------------------------------------------------ stat cache

/** A stat cache equal to `c` except the row of `rel`, set to `id` with the file's current stat. */
function withRow(c: StatCache, rel: string, abs: string, id: string): StatCache {
  const st = statSync(abs);
  const e = statEntries(c);
  e.set(rel, { id, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
  const out: StatCache = { ...emptyStatCache(), writtenAt: c.writtenAt, snapshot: c.snapshot, kinds: c.kinds };
  for (const [p, r] of e) { out.paths.push(p); out.ids.push(r.id); (out.size as number[]).push(r.size); (out.mtime as number[]).push(r.mtimeMs); (out.ino as number[]).push(r.ino); }
  return out;
}

t('scan: a file whose mtime is within the racy margin (2 ms) before the cache write is re-read, and its new bytes seen (planted: racy margin 5 ms -> 0)', async () => {
  const ws = await workspace(await dirRemote.make());
  const w = await loadWorkspace(ws);
  const rel = 'agents/welcome.yaml';
  const abs = join(ws, 'services', rel);
  const first = scan(w, emptyStatCache());
  const oldId = first.manifest.get(rel)!;
  // The cache was written 2 ms after the file's mtime, recording the bytes it had then; the file
  // was then edited in the same timestamp tick, same size: its stat matches the row exactly.
  const old = readFileSync(abs);
  const edited = Buffer.from(old);
  edited[edited.length - 2] = edited[edited.length - 2] === 0x41 ? 0x42 : 0x41;
  writeFileSync(abs, edited);
  const racy = withRow(first.cache, rel, abs, oldId);
  racy.writtenAt = statSync(abs).mtimeMs + 2;
  racy.snapshot = snapshotHash(new Map([...first.manifest]));
  const r = scan(w, racy);
  assert.is(r.manifest.get(rel), blobId(edited));
  assert.is.not(blobId(edited), oldId);
  assert.is(r.snapshot, snapshotHash(scan(w, emptyStatCache()).manifest));
  // The same cache through the store and the CLI: `hash` gives the snapshot of the new bytes.
  const store = await LocalStore.open(join(ws, '.agentsync'));
  try { await store.saveStatCache(racy); } finally { await store.close(); }
  const h = await cli(ws, 'hash', '--json');
  assert.is(h.code, 0, h.err);
  assert.is(h.json.snapshot, r.snapshot);
});

t('stat cache: a stat+ delta written against another stat (its `of` is not the stat\'s writtenAt) is ignored, and the scan re-hashes (planted: such a delta applied)', async () => {
  const ws = await workspace(await dirRemote.make());
  const w = await loadWorkspace(ws);
  const rel = 'agents/welcome.yaml';
  const abs = join(ws, 'services', rel);
  const first = scan(w, emptyStatCache());
  const oldId = first.manifest.get(rel)!;
  const store = await LocalStore.open(join(ws, '.agentsync'));
  try {
    await store.saveStatCache(first.cache); // a fresh store: the whole cache, as `stat`
    assert.is(await store.db.get('stat+'), undefined);
    // The file changes; a delta from some other `stat` claims its new stat still holds the old id.
    write(ws, rel, read(ws, rel) + '# edited\n');
    const st = statSync(abs);
    const foreign = {
      v: 3, of: first.cache.writtenAt - 1000, writtenAt: Date.now() + 60_000, snapshot: '', kinds: first.cache.kinds,
      set: [[rel, oldId, st.size, st.mtimeMs, st.ino]], del: [],
    };
    await store.db.put('stat+', new TextEncoder().encode(JSON.stringify(foreign)));
    const loaded = await store.statCache();
    assert.is(loaded.writtenAt, first.cache.writtenAt);
    assert.equal([...statEntries(loaded)], [...statEntries(first.cache)]);
    // A delta written against this very `stat` is applied (the test can tell the two apart).
    await store.db.put('stat+', new TextEncoder().encode(JSON.stringify({ ...foreign, of: first.cache.writtenAt })));
    assert.equal(statEntries(await store.statCache()).get(rel), { id: oldId, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    await store.db.put('stat+', new TextEncoder().encode(JSON.stringify(foreign)));
  } finally {
    await store.close();
  }
  const want = snapshotHash(scan(w, emptyStatCache()).manifest);
  assert.is.not(want, first.snapshot);
  const h = await cli(ws, 'hash', '--json');
  assert.is(h.code, 0, h.err);
  assert.is(h.json.snapshot, want);
});

// ------------------------------------------------------------------ tokens

t('auth: a token is refused (401, reason expired) at exactly its expiresAt and accepted 1 ms before (planted: expiry `<=` -> `<`)', async () => {
  const storage = srv!.storage;
  const T0 = Date.parse('2030-01-01T00:00:00.000Z');
  const { token: tok, record } = await createToken(storage, { tenant: TENANT, scope: 'read', expiresInMs: 60_000, now: T0 });
  const T = T0 + 60_000;
  assert.is(record.expiresAt, new Date(T).toISOString());
  const header = `Bearer ${tok}`;
  const rec = await authenticate(storage, header, TENANT, 'read', T - 1);
  assert.is(rec.id, record.id);
  for (const now of [T, T + 1]) {
    const refused = await authenticate(storage, header, TENANT, 'read', now).then(() => 'accepted', (e: { code?: string; data?: unknown }) => [e.code, e.data]);
    assert.equal(refused, ['AUTH_REQUIRED', { reason: 'expired' }], `at expiresAt + ${now - T} ms`);
  }
  assert.equal([publicToken(record, T - 1).expired, publicToken(record, T).expired], [false, true]);
});

t.run();
