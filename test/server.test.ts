/**
 * The HTTP sync server's protocol, against a real server on an ephemeral loopback port:
 * compare-and-swap, object checks, size caps, strict bodies, auth boundaries, deploy and
 * rollback, 50 concurrent pushers, and the `serve` process (SIGTERM, kill -9 then fsck).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobId } from '../src/model/hash.js';
import { applyChanges, diffManifests, encodeManifest, snapshotHashOf, EMPTY_SNAPSHOT, type Change, type Manifest } from '../src/model/manifest.js';
import { openDb } from '../src/store/db.js';
import { RemoteStore } from '../src/store/remote-store.js';
import { OBJECTS_TYPE, encodeObjects, HttpRemote } from '../src/remote/http.js';
import { createToken } from '../src/server/auth.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { LevelStorage } from '../src/server/storage.js';
import { BIN, cleanup, cli, read, tmp, workspace, write } from './helpers.js';
import { httpRemote, httpTenant } from './remotes.js';

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

let srv: RunningServer;
let dir: string;
let tokA: string;
let tokRead: string;
let tokInline: string;
let base: string;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentsync-srvtest-'));
  const storage = await LevelStorage.open(join(dir, 'data'), { create: true });
  srv = await startServer(storage, { port: 0, maxBodyBytes: 256 * 1024, maxObjectBytes: 64 * 1024 });
  base = srv.url;
  await storage.createTenant('acme');
  await storage.createTenant('other');
  tokA = (await createToken(storage, { tenant: 'acme', scope: 'write', expiresInMs: null })).token;
  tokRead = (await createToken(storage, { tenant: 'acme', scope: 'read', expiresInMs: null })).token;
  await storage.createTenant('inline');
  tokInline = (await createToken(storage, { tenant: 'inline', scope: 'write', expiresInMs: null })).token;
});

test.after(async () => {
  await srv.close();
  await httpRemote.stop();
  rmSync(dir, { recursive: true, force: true });
  cleanup();
});

interface Answer { status: number; body: any }

async function call(method: string, path: string, o: { token?: string | null; json?: unknown; raw?: Uint8Array | string; type?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = o.token === undefined ? tokA : o.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: Uint8Array | string | undefined;
  if (o.json !== undefined) { body = JSON.stringify(o.json); headers['content-type'] = 'application/json'; }
  if (o.raw !== undefined) { body = o.raw; headers['content-type'] = o.type ?? 'application/json'; }
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: body as string } : {}) });
  const text = Buffer.from(await res.arrayBuffer());
  let parsed: any = text;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) parsed = JSON.parse(text.toString('utf8'));
  return { status: res.status, body: parsed };
}

function versionBody(expected: number | null, files: Record<string, string>, prev: Map<string, string> = new Map(), extra: Record<string, unknown> = {}) {
  const next = new Map(prev);
  const changes = Object.entries(files).map(([path, text]) => { next.set(path, blobId(bytes(text))); return { path, id: blobId(bytes(text)) }; });
  return { body: { expected, changes, snapshot: snapshotHashOf(encodeManifest(next)), author: 'tester', message: 'm', draft: false, ...extra }, manifest: next };
}

async function upload(files: Record<string, string>, token = tokA): Promise<Answer> {
  const objs = Object.values(files).map((t) => ({ id: blobId(bytes(t)), bytes: bytes(t) }));
  return call('POST', '/acme/objects', { token, raw: encodeObjects(objs), type: OBJECTS_TYPE });
}

test('changesBetween composes the parent chain change lists into exactly the manifest diff', async () => {
  const db = await openDb(join(tmp('chain'), 'store'));
  try {
    const rs = new RemoteStore(db, 't!x!');
    const names = ['a.md', 'agents/x.yaml', 'content/Zeta.md', 'content/z.md', 'content/é.md', 'skills/b.yaml'];
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const blobs = [0, 1, 2].map((i) => bytes(`# ${i}\n`));
    await rs.putObjects(blobs.map((b) => ({ id: blobId(b), bytes: b })));
    const manifests = new Map<number, Manifest>();
    let m: Manifest = new Map();
    let expected: number | null = null;
    for (let i = 0; i < 14; i++) {
      // Unsorted changes too (stored sorted); no-op and repeated ones are refused (contract.test.ts).
      const changes: Change[] = names.filter(() => rnd() < 0.4).map((path) => ({ path, id: rnd() < 0.3 ? null : blobId(blobs[Math.floor(rnd() * 3)]!) }))
        .filter((c) => (c.id === null ? m.has(c.path) : m.get(c.path) !== c.id));
      if (i % 4 === 1) changes.reverse();
      const next = applyChanges(m, changes);
      const draft = i % 6 === 3;
      const v = await rs.createVersion({ expected, changes, snapshot: snapshotHashOf(encodeManifest(next)), author: 'a', message: 'm', draft });
      manifests.set(v.id, next);
      if (!draft) { m = next; expected = v.id; }
    }
    for (const [from, a] of [[null, new Map()] as const, ...manifests]) {
      for (const [to, b] of manifests) {
        if (from !== null && from >= to) continue;
        assert.equal(await rs.changesBetween(from, to), diffManifests(a, b), `${from} → ${to}`);
      }
    }
  } finally {
    await db.close();
  }
});

test('create a version with compare-and-swap; 409 STALE_REMOTE names the latest published', async () => {
  const files = { 'agents/a.yaml': 'name: a\n' };
  assert.is((await upload(files)).status, 200);
  const v1 = versionBody(null, files);
  let r = await call('POST', '/acme/versions', { json: v1.body });
  assert.is(r.status, 201);
  assert.is(r.body.version.id, 1);
  assert.is(r.body.version.state, 'published');
  r = await call('POST', '/acme/versions', { json: v1.body });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'STALE_REMOTE');
  assert.is(r.body.error.data.latestPublished, 1);
  r = await call('GET', '/acme/head');
  assert.equal(r.body, { latestPublished: 1, current: 1, lastId: 1 });
  r = await call('GET', '/acme/versions?after=0');
  assert.is(r.body.versions.length, 1);
  r = await call('GET', '/acme/versions/1/changes');
  assert.equal(r.body.changes, v1.body.changes);
  r = await call('GET', '/acme/changes?from=none&to=1');
  assert.equal(r.body.changes, v1.body.changes);
});

test('a version whose objects were not uploaded is refused (409 OBJECT_MISSING), nothing stored', async () => {
  const head = (await call('GET', '/acme/head')).body;
  const prev = new Map([['agents/a.yaml', blobId(bytes('name: a\n'))]]);
  const v = versionBody(head.latestPublished, { 'agents/never-uploaded.yaml': 'name: ghost\n' }, prev);
  const r = await call('POST', '/acme/versions', { json: v.body });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'OBJECT_MISSING');
  assert.equal((await call('GET', '/acme/head')).body, head);
});

test('a snapshot that does not match the changes is refused with 400', async () => {
  const head = (await call('GET', '/acme/head')).body;
  const v = versionBody(head.latestPublished, { 'agents/a.yaml': 'name: a\n' }, new Map(), { snapshot: EMPTY_SNAPSHOT });
  const r = await call('POST', '/acme/versions', { json: v.body });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'REMOTE_PROTOCOL');
});

test('objects sent with a create are stored with the version; a bad hash, bad base64, unknown field, too many or too large objects: refused, nothing stored', async () => {
  // Tenant `inline`, so that the other tests' versions of acme stay as they expect.
  const head = (await call('GET', '/inline/head', { token: tokInline })).body;
  assert.equal(head, { latestPublished: null, current: null, lastId: 0 });
  const prev = new Map<string, string>();
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  const stored = async (...texts: string[]) => texts.length - (await call('POST', '/inline/objects/missing', { token: tokInline, json: { ids: texts.map((t) => blobId(bytes(t))) } })).body.missing.length;
  const refused = async (extra: Record<string, unknown>, status: number, code: string, data: Record<string, unknown>) => {
    const v = versionBody(head.latestPublished, { 'content/inline.md': '# inline!\n' }, prev, extra);
    const r = await call('POST', '/inline/versions', { token: tokInline, json: v.body });
    assert.equal([r.status, r.body.error.code], [status, code], JSON.stringify(r.body));
    for (const [k, x] of Object.entries(data)) assert.equal(r.body.error.data[k], x, k);
    assert.equal((await call('GET', '/inline/head', { token: tokInline })).body, head, 'head unchanged');
  };
  const id = blobId(bytes('# inline!\n')); // 10 bytes: base64 with padding
  await refused({ objects: [{ id, base64: b64('# not it\n') }] }, 400, 'OBJECT_HASH_MISMATCH', { id });
  await refused({ objects: [{ id, base64: b64('# inline!\n').replace(/=*$/, '') }] }, 400, 'REQUEST_INVALID', { field: 'objects[0].base64' });
  await refused({ objects: [{ id, base64: b64('# inline!\n'), size: 9 }] }, 400, 'REQUEST_INVALID', { reason: 'unknown-field', field: 'objects[0].size' });
  await refused({ objects: [{ id: 'x', base64: '' }] }, 400, 'REQUEST_INVALID', { field: 'objects' });
  await refused({ objects: [1] }, 400, 'REQUEST_INVALID', { field: 'objects', reason: 'bad-field' });
  await refused({ objects: ['ab'] }, 400, 'REQUEST_INVALID', { field: 'objects', reason: 'bad-field' });
  await refused({ objects: [{ id, base64: b64('# inline!\n') }, 1] }, 400, 'REQUEST_INVALID', { field: 'objects', reason: 'bad-field' });
  await refused({ objects: [{ id, base64: 5 }] }, 400, 'REQUEST_INVALID', { field: 'objects', reason: 'bad-field' });
  await refused({ objects: { id } }, 400, 'REQUEST_INVALID', { field: 'objects', reason: 'bad-field' });
  // One byte over the limit: its base64 passes the size estimate, the decoded bytes do not.
  const over = 'y'.repeat(64 * 1024 + 1);
  await refused({ objects: [{ id: blobId(bytes(over)), base64: b64(over) }] }, 413, 'REQUEST_TOO_LARGE', { reason: 'object', size: 64 * 1024 + 1 });
  await refused({ objects: Array.from({ length: 1001 }, () => ({ id, base64: b64('# inline!\n') })) }, 413, 'REQUEST_TOO_LARGE', { reason: 'inline', limit: 1000 });
  const big = 'x'.repeat(65 * 1024); // over this server's 64 KiB per object
  await refused({ objects: [{ id: blobId(bytes(big)), base64: b64(big) }, { id, base64: b64('# inline!\n') }] }, 413, 'REQUEST_TOO_LARGE', { reason: 'object', limit: 64 * 1024 });
  // Objects of the create that the changes do not name are stored too; an added blob neither sent nor uploaded is still missing.
  await refused({ objects: [{ id: blobId(bytes('# other\n')), base64: b64('# other\n') }] }, 409, 'OBJECT_MISSING', { missing: [id] });
  assert.is(await stored('# inline!\n', '# not it\n', '# other\n'), 0, 'a refused create stored none of its objects');
  const v = versionBody(head.latestPublished, { 'content/inline.md': '# inline!\n' }, prev, { objects: [{ id, base64: b64('# inline!\n') }, { id, base64: b64('# inline!\n') }] });
  const r = await call('POST', '/inline/versions', { token: tokInline, json: v.body });
  assert.is(r.status, 201, JSON.stringify(r.body));
  assert.is(r.body.version.id, head.lastId + 1);
  assert.is(await stored('# inline!\n'), 1);
  r.body = (await call('POST', '/inline/objects/get', { token: tokInline, json: { ids: [id] } })).body;
  assert.equal(Buffer.from(r.body as Buffer).subarray(36).toString(), '# inline!\n');
});

test('objects sent with a create: at most 1 MiB in all (413 before anything is stored)', async () => {
  const d = mkdtempSync(join(tmpdir(), 'agentsync-srvtest-inline-'));
  const storage = await LevelStorage.open(join(d, 'data'), { create: true });
  const big = await startServer(storage, { port: 0 });
  try {
    await storage.createTenant('acme');
    const token = (await createToken(storage, { tenant: 'acme', scope: 'write', expiresInMs: null })).token;
    const texts = [0, 1, 2].map((i) => String(i).repeat(400 * 1024));
    const v = versionBody(null, Object.fromEntries(texts.map((t, i) => [`content/${i}.md`, t])), new Map(), { objects: texts.map((t) => ({ id: blobId(bytes(t)), base64: Buffer.from(t).toString('base64') })) });
    const res = await fetch(`${big.url}/acme/versions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(v.body) });
    const j = await res.json() as { error: { code: string; data: { reason: string; limit: number } } };
    assert.equal([res.status, j.error.code, j.error.data.reason, j.error.data.limit], [413, 'REQUEST_TOO_LARGE', 'inline', 1024 * 1024]);
    const m = await fetch(`${big.url}/acme/objects/missing`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ ids: texts.map((t) => blobId(bytes(t))) }) });
    assert.is(((await m.json()) as { missing: string[] }).missing.length, 3);
    // Two of them (800 KiB) go.
    const ok = versionBody(null, { 'content/0.md': texts[0]!, 'content/1.md': texts[1]! }, new Map(), { objects: texts.slice(0, 2).map((t) => ({ id: blobId(bytes(t)), base64: Buffer.from(t).toString('base64') })) });
    const res2 = await fetch(`${big.url}/acme/versions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(ok.body) });
    assert.is(res2.status, 201);
  } finally {
    await big.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('object negotiation and batch download', async () => {
  const have = blobId(bytes('name: a\n'));
  const lack = blobId(bytes('not here'));
  let r = await call('POST', '/acme/objects/missing', { json: { ids: [have, lack] } });
  assert.equal(r.body, { missing: [lack] });
  r = await call('POST', '/acme/objects/get', { json: { ids: [have] } });
  assert.is(r.status, 200);
  assert.equal([...r.body as Buffer].slice(0, 32), [...Buffer.from(have, 'hex')]);
  r = await call('POST', '/acme/objects/get', { json: { ids: [have, lack] } });
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'OBJECT_MISSING');
});

test('an upload with an object that does not hash to its id: 400, nothing of the batch stored', async () => {
  const good = bytes('good object\n');
  const bad = bytes('bad object\n');
  const body = encodeObjects([{ id: blobId(good), bytes: good }, { id: blobId(bytes('something else')), bytes: bad }]);
  let r = await call('POST', '/acme/objects', { raw: body, type: OBJECTS_TYPE });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'OBJECT_HASH_MISMATCH');
  r = await call('POST', '/acme/objects/missing', { json: { ids: [blobId(good), blobId(bad), blobId(bytes('something else'))] } });
  assert.is(r.body.missing.length, 3);
  // A truncated frame is malformed.
  r = await call('POST', '/acme/objects', { raw: body.subarray(0, body.length - 3), type: OBJECTS_TYPE });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'REQUEST_INVALID');
});

test('oversized body and oversized object: 413 REQUEST_TOO_LARGE', async () => {
  const big = new Uint8Array(300 * 1024).fill(65);
  let r = await call('POST', '/acme/objects', { raw: encodeObjects([{ id: blobId(big), bytes: big }]), type: OBJECTS_TYPE });
  assert.is(r.status, 413);
  assert.is(r.body.error.code, 'REQUEST_TOO_LARGE');
  r = await call('POST', '/acme/objects/missing', { raw: JSON.stringify({ ids: [] }) + ' '.repeat(300 * 1024) });
  assert.is(r.status, 413);
  const obj = new Uint8Array(100 * 1024).fill(66);
  r = await call('POST', '/acme/objects', { raw: encodeObjects([{ id: blobId(obj), bytes: obj }]), type: OBJECTS_TYPE });
  assert.is(r.status, 413);
  assert.is(r.body.error.code, 'REQUEST_TOO_LARGE');
  assert.is((await call('POST', '/acme/objects/missing', { json: { ids: [blobId(obj)] } })).body.missing.length, 1);
  // The connection is still usable afterwards.
  assert.is((await call('GET', '/acme/head')).status, 200);
});

test('malformed JSON, unknown fields, bad ids and bad query: 400 REQUEST_INVALID', async () => {
  let r = await call('POST', '/acme/objects/missing', { raw: '{"ids": [' });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'REQUEST_INVALID');
  r = await call('POST', '/acme/objects/missing', { json: { ids: [], extra: 1 } });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'REQUEST_INVALID');
  assert.is(r.body.error.data.field, 'extra');
  const v = versionBody(1, { 'agents/a.yaml': 'name: a\n' });
  r = await call('POST', '/acme/versions', { json: { ...v.body, force: true } });
  assert.is(r.status, 400);
  assert.is(r.body.error.data.field, 'force');
  r = await call('POST', '/acme/versions', { json: { ...v.body, changes: [{ path: 'a', id: 'xyz' }] } });
  assert.is(r.status, 400);
  assert.is(r.body.error.data.field, 'changes');
  r = await call('POST', '/acme/versions', { json: { ...v.body, changes: [{ path: '../etc/passwd', id: null }] } });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'PATH_UNSAFE');
  r = await call('POST', '/acme/objects/missing', { json: { ids: ['not-an-id'] } });
  assert.is(r.status, 400);
  r = await call('GET', '/acme/versions?after=abc');
  assert.is(r.status, 400);
  r = await call('GET', '/acme/head?x=1');
  assert.is(r.status, 400);
  assert.is(r.body.error.data.field, 'x');
  r = await call('POST', '/acme/objects', { raw: 'hello', type: 'text/plain' });
  assert.is(r.status, 400);
});

test('unknown routes, versions and tenants', async () => {
  let r = await call('GET', '/acme/nothing');
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'ROUTE_UNKNOWN');
  r = await call('DELETE', '/acme/head');
  assert.is(r.status, 405);
  r = await call('GET', '/acme/versions/99/changes');
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'VERSION_UNKNOWN');
  r = await call('POST', '/acme/versions/99/deploy', { json: {} });
  assert.is(r.status, 404);
  // Another tenant, existing or not: the token is for acme only, and the answer is the same.
  for (const t of ['other', 'nosuch']) {
    r = await call('GET', `/${t}/head`);
    assert.is(r.status, 403);
    assert.is(r.body.error.code, 'AUTH_FORBIDDEN');
    r = await call('GET', `/${t}/head`, { token: null });
    assert.is(r.status, 401);
    assert.is(r.body.error.code, 'AUTH_REQUIRED');
  }
  r = await call('GET', '/_health', { token: null });
  assert.is(r.status, 200);
  r = await call('GET', '/_admin/tokens');
  assert.is(r.status, 401);
});

test('a read token reads but cannot upload, create, deploy or roll back', async () => {
  assert.is((await call('GET', '/acme/head', { token: tokRead })).status, 200);
  assert.is((await call('POST', '/acme/objects/missing', { token: tokRead, json: { ids: [] } })).status, 200);
  const r = await upload({ x: 'read-only attempt' }, tokRead);
  assert.is(r.status, 403);
  assert.is(r.body.error.code, 'AUTH_FORBIDDEN');
  assert.is((await call('POST', '/acme/versions', { token: tokRead, json: versionBody(1, {}).body })).status, 403);
  assert.is((await call('POST', '/acme/versions/1/deploy', { token: tokRead, json: {} })).status, 403);
  assert.is((await call('POST', '/acme/versions/1/rollback', { token: tokRead, json: {} })).status, 403);
});

test('drafts, deploy and rollback', async () => {
  const head = (await call('GET', '/acme/head')).body;
  const prev = new Map([['agents/a.yaml', blobId(bytes('name: a\n'))]]);
  const files = { 'agents/b.yaml': 'name: b\n' };
  await upload(files);
  const d = versionBody(head.latestPublished, files, prev, { draft: true });
  let r = await call('POST', '/acme/versions', { json: d.body });
  assert.is(r.status, 201, JSON.stringify(r.body));
  const draft = r.body.version.id;
  assert.is(r.body.version.state, 'draft');
  assert.equal((await call('GET', '/acme/head')).body.latestPublished, head.latestPublished);
  r = await call('POST', `/acme/versions/${draft}/rollback`, { json: {} });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'VERSION_DRAFT');
  r = await call('POST', `/acme/versions/${draft}/deploy`, { json: {} });
  assert.is(r.status, 200);
  assert.is(r.body.version.state, 'published');
  assert.equal(r.body.head, { latestPublished: draft, current: draft, lastId: draft });
  r = await call('POST', `/acme/versions/${head.latestPublished}/rollback`, { json: {} });
  assert.is(r.status, 200);
  assert.equal(r.body.head, { latestPublished: draft, current: head.latestPublished, lastId: draft });
  // A draft built on an older latest published version cannot be deployed.
  const prev2 = new Map([...prev, ['agents/b.yaml', blobId(bytes('name: b\n'))]]);
  r = await call('POST', '/acme/versions', { json: versionBody(draft, { 'agents/c.yaml': 'name: b\n' }, prev2, { draft: true }).body });
  assert.is(r.status, 201);
  const staleDraft = r.body.version.id;
  r = await call('POST', '/acme/versions', { json: versionBody(draft, { 'agents/d.yaml': 'name: b\n' }, prev2).body });
  assert.is(r.status, 201);
  r = await call('POST', `/acme/versions/${staleDraft}/deploy`, { json: {} });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'DRAFT_STALE');
});

test('50 concurrent pushers on one tenant, each a different artifact: no update lost', async () => {
  const { url } = await httpTenant('write');
  const seed = await workspace(url);
  assert.is((await cli(seed, 'push')).code, 0);
  const N = 50;
  const wss: string[] = [];
  for (let i = 0; i < N; i++) {
    const ws = await workspace(url, { sample: false });
    assert.is((await cli(ws, 'pull')).code, 0);
    write(ws, `content/pushers/p${i}.md`, `# pusher ${i}\n`);
    wss.push(ws);
  }
  await Promise.all(wss.map(async (ws, i) => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const r = await cli(ws, 'push', `content/pushers/p${i}.md`, '--json');
      if (r.code === 0) return;
      assert.is(r.json?.error?.code, 'STALE_REMOTE', r.err);
    }
    throw new Error('a pusher never got its version in');
  }));
  const check = await workspace(url, { sample: false });
  assert.is((await cli(check, 'pull')).code, 0);
  for (let i = 0; i < N; i++) assert.is(read(check, `content/pushers/p${i}.md`), `# pusher ${i}\n`);
  const vs = await cli(check, 'versions', '--json');
  assert.is(vs.json.versions.length, N + 1);
  assert.is(vs.json.latestPublished, N + 1);
});

// ---------------------------------------------------------------- the serve process

function serve(data: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string; err: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENTSYNC_LOCK_TIMEOUT_MS: '5000' } });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) resolve({ child, url: m[1]!, err: () => err });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

const exited = (c: ChildProcess) => new Promise<{ code: number | null; signal: string | null }>((r) => c.on('exit', (code, signal) => r({ code, signal })));

async function adminToken(data: string, tenant: string): Promise<string> {
  const r = await cli(tmp(), 'admin', 'token', 'create', '--tenant', tenant, '--scope', 'write', '--data', data);
  assert.is(r.code, 0, r.err);
  return r.out.trim();
}

test('admin gc through the running server keeps an upload of the last hour; run on the stopped server\'s data it drops it', async () => {
  const data = join(tmp(), 'data');
  assert.is((await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data)).code, 0);
  const s = await serve(data);
  let stopped = false;
  try {
    const token = await adminToken(data, 'acme');
    const remote = new HttpRemote(`${s.url}/acme`, { token, env: {} });
    const orphan = bytes('uploaded; its version never came\n');
    await remote.putObjects([{ id: blobId(orphan), bytes: orphan }]);
    const live = await cli(tmp(), '--json', 'admin', 'gc', '--data', data);
    assert.is(live.code, 0, live.err);
    assert.equal([live.json.objects, live.json.kept], [0, 1]);
    assert.equal(await remote.missing([blobId(orphan)]), []);
    const done = exited(s.child);
    s.child.kill('SIGTERM');
    await done;
    stopped = true;
    // A new server knows no upload; a client told the object is present (so it will not upload
    // it) makes gc spare it too.
    const s2 = await serve(data);
    try {
      const remote2 = new HttpRemote(`${s2.url}/acme`, { token, env: {} });
      assert.equal(await remote2.missing([blobId(orphan)]), []);
      const told = await cli(tmp(), '--json', 'admin', 'gc', '--data', data);
      assert.equal([told.json.objects, told.json.kept], [0, 1], JSON.stringify(told.json) + told.err);
    } finally {
      const d2 = exited(s2.child);
      s2.child.kill('SIGTERM');
      await d2;
    }
    const offline = await cli(tmp(), '--json', 'admin', 'gc', '--data', data);
    assert.is(offline.code, 0, offline.err);
    assert.equal([offline.json.objects, offline.json.bytes, offline.json.kept], [1, orphan.length, 0]);
  } finally {
    if (!stopped) s.child.kill('SIGKILL');
  }
});

test('serve: admin commands work while it runs; SIGTERM finishes in-flight requests and exits 0', async () => {
  const data = join(tmp(), 'data');
  assert.is((await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data)).code, 0);
  const s = await serve(data);
  assert.ok(existsSync(join(data, 'server.json')));
  const token = await adminToken(data, 'acme'); // through the running server
  const remote = new HttpRemote(`${s.url}/acme`, { token, env: {} });
  assert.equal(await remote.head(), { latestPublished: null, current: null, lastId: 0 });
  // Requests in flight when the signal arrives still get their answers; what was acknowledged is kept.
  const objs = Array.from({ length: 300 }, (_, i) => bytes(`object ${i}\n`.repeat(50)));
  const acked: string[] = [];
  const pending = Promise.all(objs.map((b) => remote.putObjects([{ id: blobId(b), bytes: b }]).then(() => { acked.push(blobId(b)); }, (e) => {
    assert.is(e.code, 'REMOTE_UNREACHABLE');
  })));
  const done = exited(s.child);
  s.child.kill('SIGTERM');
  await pending;
  const ex = await done;
  assert.is(ex.code, 0, s.err());
  assert.not.ok(existsSync(join(data, 'server.json')));
  const storage = await LevelStorage.open(data);
  try {
    assert.equal(await storage.remote('acme').missing(acked), []);
  } finally {
    await storage.close();
  }
  const f = await cli(tmp(), 'admin', 'fsck', '--data', data, '--json');
  assert.is(f.code, 0, f.err);
  assert.equal(f.json.problems, []);
});

test('admin fsck counts in words: one tenant, one token, no versions', async () => {
  const data = join(tmp('agentsync-fsck-words-'), 'data');
  assert.is((await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data)).code, 0);
  assert.is((await cli(tmp(), 'admin', 'token', 'create', '--tenant', 'acme', '--scope', 'read', '--data', data)).code, 0);
  const f = await cli(tmp(), 'admin', 'fsck', '--data', data);
  assert.is(f.code, 0, f.err);
  assert.is(f.out, 'OK: 1 tenant, 1 token, 0 versions and 0 objects check out.\n');
});

test('serve: kill -9 while clients push leaves a store that opens and passes fsck', async () => {
  const data = join(tmp(), 'data');
  assert.is((await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data)).code, 0);
  const s = await serve(data);
  const token = await adminToken(data, 'acme');
  const url = `${s.url}/acme`;
  const env = { AGENTSYNC_HTTP_TRIES: '1' };
  let running = 4;
  const pushers = Array.from({ length: running }, async (_, k) => {
    const remote = new HttpRemote(url, { token, env });
    try {
      for (let i = 0; ; i++) {
        const head = await remote.head();
        const prev = head.latestPublished === null ? new Map<string, string>() : new Map((await remote.changesBetween(null, head.latestPublished)).map((c) => [c.path, c.id!]));
        const text = `push ${k}-${i}\n`.repeat(20);
        await remote.putObjects([{ id: blobId(bytes(text)), bytes: bytes(text) }]);
        const v = versionBody(head.latestPublished, { [`content/k${k}/${i}.md`]: text }, prev);
        try { await remote.createVersion(v.body as never); } catch (e) { if ((e as { code?: string }).code !== 'STALE_REMOTE') throw e; }
      }
    } catch { /* the server died */ } finally { running--; }
  });
  const probe = new HttpRemote(url, { token, env });
  while (running > 0 && (await probe.head()).lastId < 5) await new Promise((r) => setImmediate(r));
  assert.is(running, 4, 'the pushers stopped before the kill');
  const done = exited(s.child);
  s.child.kill('SIGKILL');
  assert.is((await done).signal, 'SIGKILL');
  await Promise.all(pushers);
  const f = await cli(tmp(), 'admin', 'fsck', '--data', data, '--json');
  assert.is(f.code, 0, f.err);
  assert.equal(f.json.problems, []);
  assert.ok(f.json.versions >= 5);
  // And it serves again, with the versions it had.
  const s2 = await serve(data);
  const head = await new HttpRemote(`${s2.url}/acme`, { token, env }).head();
  assert.ok(head.lastId >= 5);
  const d2 = exited(s2.child);
  s2.child.kill('SIGTERM');
  assert.is((await d2).code, 0);
});

/** A raw request with the path exactly as given (no URL normalisation). */
function rawGet(path: string, token: string | null = tokA): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'GET', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body: t ? JSON.parse(t) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('protocol corners: unknown field inside changes[], repeated query, empty segments, unknown routes need a token, unknown object ids', async () => {
  const head = (await call('GET', '/acme/head')).body;
  const v = versionBody(head.latestPublished, { 'agents/corner.yaml': 'name: corner\n' });
  (v.body.changes[0] as Record<string, unknown>).extra = 1;
  let r = await call('POST', '/acme/versions', { json: v.body });
  assert.is(r.status, 400);
  assert.equal(r.body.error.data, { reason: 'unknown-field', field: 'changes[0].extra' });
  r = await call('GET', '/acme/versions?after=1&after=2');
  assert.is(r.status, 400);
  assert.equal(r.body.error.data, { reason: 'repeated-field', field: 'after' });
  for (const p of ['//acme/head', '/acme/head/', '/acme//head']) {
    const a = await rawGet(p);
    assert.is(a.status, 404, p);
    assert.is(a.body.error.code, 'ROUTE_UNKNOWN', p);
    const b = await rawGet(p, null);
    assert.is(b.status, 401, p);
    assert.is(b.body.error.code, 'AUTH_REQUIRED', p);
  }
  assert.is((await rawGet('/acme/nothing-here', null)).status, 401);
  assert.is((await rawGet('/acme/nothing-here')).status, 404);
  assert.is((await rawGet('/%61cme/head')).status, 200); // path segments are percent-decoded
  const lack = blobId(bytes('never uploaded'));
  r = await call('POST', '/acme/objects/get', { json: { ids: [lack] } });
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'OBJECT_MISSING');
  assert.equal(r.body.error.data, { id: lack });
});

test.run();
