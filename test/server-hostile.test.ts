/**
 * Hostile input at the remote's boundary: paths no clone could write, control characters and
 * byte-counted limits in author/message (both remote kinds: the server and a directory remote
 * share RemoteStore), the objects-per-upload cap, a server that keeps answering while it checks
 * a large upload, reads bounded by one answer, and huge or malformed request heads (431/400).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isAgentsyncError } from '../src/model/errors.js';
import { blobId } from '../src/model/hash.js';
import { applyChanges, encodeManifest, snapshotHashOf, type Change, type Manifest } from '../src/model/manifest.js';
import { DirectoryRemote } from '../src/remote/dir.js';
import { OBJECTS_TYPE, encodeObjects } from '../src/remote/http.js';
import { createToken } from '../src/server/auth.js';
import { startServer, MAX_BATCH_OBJECTS, MAX_HEADER_BYTES, type RunningServer } from '../src/server/server.js';
import { LevelStorage, type TenantStore } from '../src/server/storage.js';
import { cleanup, tmp } from './helpers.js';

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

let srv: RunningServer;
let storage: LevelStorage;
let small: RunningServer;
let smallStorage: LevelStorage;
let tok: string;
let tokOther: string;
let tokSmall: string;
let tenants = 0;

test.before(async () => {
  storage = await LevelStorage.open(join(tmp('agentsync-hostile-'), 'data'), { create: true });
  srv = await startServer(storage, { port: 0 });
  await storage.createTenant('other');
  tokOther = (await createToken(storage, { tenant: 'other', scope: 'read', expiresInMs: null })).token;
  smallStorage = await LevelStorage.open(join(tmp('agentsync-hostile-small-'), 'data'), { create: true });
  small = await startServer(smallStorage, { port: 0, maxBodyBytes: 256 * 1024, maxObjectBytes: 64 * 1024 });
  await smallStorage.createTenant('acme');
  tokSmall = (await createToken(smallStorage, { tenant: 'acme', scope: 'write', expiresInMs: null })).token;
});

test.after(async () => {
  await srv?.close();
  await small?.close();
  cleanup();
});

/** A fresh tenant on the main server with a write token (each test starts empty). */
async function tenant(): Promise<string> {
  const t = `t${++tenants}`;
  await storage.createTenant(t);
  tok = (await createToken(storage, { tenant: t, scope: 'write', expiresInMs: null })).token;
  return t;
}

interface Answer { status: number; body: any }

async function call(method: string, url: string, o: { token?: string; json?: unknown; raw?: Uint8Array; type?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${o.token ?? tok}` };
  let body: Uint8Array | string | undefined;
  if (o.json !== undefined) { body = JSON.stringify(o.json); headers['content-type'] = 'application/json'; }
  if (o.raw !== undefined) { body = o.raw; headers['content-type'] = o.type ?? OBJECTS_TYPE; }
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body: body as string } : {}) });
  const text = Buffer.from(await res.arrayBuffer());
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: res.status, body: json ? JSON.parse(text.toString('utf8')) : text };
}

/** A version request: `changes` relative to `prev`, with the snapshot they give. */
function versionReq(expected: number | null, changes: Change[], prev: Manifest = new Map(), extra: Record<string, unknown> = {}) {
  const next = applyChanges(prev, changes);
  return { req: { expected, changes, snapshot: snapshotHashOf(encodeManifest(next)), author: 'tester', message: 'm', draft: false, ...extra }, next };
}

/**
 * The two remote kinds behind one face: `put` stores objects, `create` asks for a version and
 * gives `{code, data}` on refusal (`status` too over HTTP), `state` is what a refusal must leave
 * untouched (head and versions).
 */
interface Kind {
  name: string;
  put(files: string[]): Promise<void>;
  create(req: Record<string, unknown>): Promise<{ status?: number; code?: string; data?: any; version?: any }>;
  state(): Promise<unknown>;
  close(): Promise<void>;
}

async function httpKind(): Promise<Kind> {
  const base = `${srv.url}/${await tenant()}`;
  return {
    name: 'http',
    async put(files) {
      const r = await call('POST', base + '/objects', { raw: encodeObjects(files.map((t) => ({ id: blobId(bytes(t)), bytes: bytes(t) }))) });
      assert.is(r.status, 200);
    },
    async create(req) {
      const r = await call('POST', base + '/versions', { json: req });
      return r.status === 201 ? { status: 201, version: r.body.version } : { status: r.status, code: r.body.error.code, data: r.body.error.data };
    },
    async state() {
      return { head: (await call('GET', base + '/head')).body, versions: (await call('GET', base + '/versions')).body };
    },
    async close() {},
  };
}

function dirKind(): Kind {
  const remote = new DirectoryRemote('dir', join(tmp('agentsync-hostile-dir-'), 'remote'));
  return {
    name: 'directory',
    async put(files) { await remote.putObjects(files.map((t) => ({ id: blobId(bytes(t)), bytes: bytes(t) }))); },
    async create(req) {
      try {
        return { version: await remote.createVersion(req as never) };
      } catch (e) {
        if (!isAgentsyncError(e)) throw e;
        return { code: e.code, data: e.data };
      }
    },
    async state() { return { head: await remote.head(), versions: await remote.versions(0) }; },
    async close() { await remote.close(); },
  };
}

const KINDS: [string, () => Promise<Kind>][] = [['http', httpKind], ['directory', async () => dirKind()]];

for (const [name, make] of KINDS) {
  test(`[${name}] a 256-byte name or a 1025-byte path is refused (PATH_UNSAFE), nothing written; 255 and 1024 are taken`, async () => {
    const k = await make();
    try {
      await k.put(['x\n']);
      const id = blobId(bytes('x\n'));
      const name255 = 'agents/' + 'a'.repeat(250) + '.yaml';
      // agents/ (7) + 4 × 200 'b' and '/' (804) + 208 'c' + .yaml (5) = 1024 bytes.
      const path1024 = 'agents/' + ('b'.repeat(200) + '/').repeat(4) + 'c'.repeat(208) + '.yaml';
      assert.is(Buffer.byteLength(name255.slice(7)), 255);
      assert.is(Buffer.byteLength(path1024), 1024);
      const before = await k.state();
      for (const path of ['agents/' + 'a'.repeat(251) + '.yaml', 'agents/' + ('b'.repeat(200) + '/').repeat(4) + 'c'.repeat(209) + '.yaml', 'agents/' + 'é'.repeat(126) + '.yaml']) {
        const r = await k.create(versionReq(null, [{ path, id }]).req);
        if (k.name === 'http') assert.is(r.status, 400);
        assert.is(r.code, 'PATH_UNSAFE', path.length + ' chars');
        assert.is(r.data.path, path);
      }
      assert.equal(await k.state(), before);
      const r = await k.create(versionReq(null, [{ path: name255, id }, { path: path1024, id }]).req);
      assert.is(r.version?.id, 1);
    } finally {
      await k.close();
    }
  });

  test(`[${name}] a file that is also a folder is refused (PATH_UNSAFE, data.clash), in one version or across versions; nothing written`, async () => {
    const k = await make();
    try {
      await k.put(['a\n', 'b\n']);
      const a = blobId(bytes('a\n')), b = blobId(bytes('b\n'));
      const before = await k.state();
      // Both in one version, in either order.
      for (const changes of [[{ path: 'agents/a.yaml', id: a }, { path: 'agents/a.yaml/b.yaml', id: b }], [{ path: 'agents/a.yaml/b.yaml', id: b }, { path: 'agents/a.yaml', id: a }]]) {
        const r = await k.create(versionReq(null, changes).req);
        if (k.name === 'http') assert.is(r.status, 400);
        assert.is(r.code, 'PATH_UNSAFE');
        assert.equal(r.data.clash, { file: 'agents/a.yaml', under: 'agents/a.yaml/b.yaml' });
        assert.ok(r.data.path === 'agents/a.yaml' || r.data.path === 'agents/a.yaml/b.yaml');
      }
      // Many paths at once (an initial push takes a one-pass check), sorted and not.
      const many = Array.from({ length: 150 }, (_, i) => ({ path: `content/n${i}.md`, id: a }));
      for (const changes of [[...many, { path: 'content/n7.md/x.md', id: b }], [{ path: 'content/n7.md/x.md', id: b }, ...many].reverse()]) {
        const r = await k.create(versionReq(null, changes).req);
        assert.is(r.code, 'PATH_UNSAFE');
        assert.equal(r.data.clash, { file: 'content/n7.md', under: 'content/n7.md/x.md' });
      }
      assert.equal(await k.state(), before);
      // Across versions: a file under an existing file, and a file where a folder exists.
      const v1 = versionReq(null, [{ path: 'agents/a.yaml', id: a }, { path: 'skills/x/y.yaml', id: b }]);
      assert.is((await k.create(v1.req)).version?.id, 1);
      const mid = await k.state();
      let r = await k.create(versionReq(1, [{ path: 'agents/a.yaml/b.yaml', id: b }], v1.next).req);
      assert.is(r.code, 'PATH_UNSAFE');
      assert.equal(r.data.clash, { file: 'agents/a.yaml', under: 'agents/a.yaml/b.yaml' });
      assert.is(r.data.path, 'agents/a.yaml/b.yaml');
      r = await k.create(versionReq(1, [{ path: 'skills/x', id: a }], v1.next).req);
      assert.is(r.code, 'PATH_UNSAFE');
      assert.equal(r.data.clash, { file: 'skills/x', under: 'skills/x/y.yaml' });
      assert.is(r.data.path, 'skills/x');
      assert.equal(await k.state(), mid);
      // Replacing the file by a folder in one version is fine.
      r = await k.create(versionReq(1, [{ path: 'agents/a.yaml', id: null }, { path: 'agents/a.yaml/b.yaml', id: b }], v1.next).req);
      assert.is(r.version?.id, 2);
    } finally {
      await k.close();
    }
  });

  test(`[${name}] control characters in author or message are refused (REQUEST_INVALID, control-character); newlines and tabs in a message are fine`, async () => {
    const k = await make();
    try {
      await k.put(['c\n']);
      const change = [{ path: 'agents/c.yaml', id: blobId(bytes('c\n')) }];
      const before = await k.state();
      const bad: [string, string][] = [
        ['author', 'eve\x1b[2J'], ['author', 'a\tb'], ['author', 'a\nb'], ['author', 'x\x7f'], ['author', 'x\u0085'], ['author', 'x\u009b31m'], ['author', 'x\ud800'],
        ['message', 'fix\r\nthings'], ['message', 'say \x1b]0;pwned\x07'], ['message', 'nul\x00'], ['message', 'csi\u009b2J'], ['message', 'half \udc00 a pair'],
      ];
      for (const [field, value] of bad) {
        const r = await k.create(versionReq(null, change, new Map(), { [field]: value }).req);
        if (k.name === 'http') assert.is(r.status, 400);
        assert.is(r.code, 'REQUEST_INVALID', `${field} ${JSON.stringify(value)}`);
        assert.equal(r.data, { field, reason: 'control-character' }, `${field} ${JSON.stringify(value)}`);
      }
      assert.equal(await k.state(), before);
      const r = await k.create(versionReq(null, change, new Map(), { author: 'Zoë 🚀', message: 'subject\n\n\tdetail ✓' }).req);
      assert.is(r.version?.author, 'Zoë 🚀');
      assert.is(r.version?.message, 'subject\n\n\tdetail ✓');
    } finally {
      await k.close();
    }
  });

  test(`[${name}] author and message are limited to 65536 UTF-8 bytes, not UTF-16 units`, async () => {
    const k = await make();
    try {
      await k.put(['d\n']);
      const change = [{ path: 'agents/d.yaml', id: blobId(bytes('d\n')) }];
      const before = await k.state();
      // 32 769 'é' are 32 769 UTF-16 units but 65 538 bytes; 16 385 '🚀' are 65 540 bytes.
      for (const [field, value] of [['message', 'é'.repeat(32769)], ['author', '🚀'.repeat(16385)], ['author', 'a'.repeat(65537)]] as const) {
        const r = await k.create(versionReq(null, change, new Map(), { [field]: value }).req);
        if (k.name === 'http') assert.is(r.status, 400);
        assert.is(r.code, 'REQUEST_INVALID');
        assert.equal(r.data, { field, reason: 'bad-field' });
      }
      assert.equal(await k.state(), before);
      const r = await k.create(versionReq(null, change, new Map(), { author: '🚀'.repeat(16384), message: 'é'.repeat(32768) }).req);
      assert.is(r.version?.id, 1);
      assert.is(Buffer.byteLength(r.version.message), 65536);
    } finally {
      await k.close();
    }
  });
}

test('an upload of more than 10 000 objects is refused (413 REQUEST_TOO_LARGE, reason objects), nothing stored; 10 000 are taken', async () => {
  const base = `${srv.url}/${await tenant()}`;
  assert.is(MAX_BATCH_OBJECTS, 10000);
  const objs = (tag: string, n: number) => Array.from({ length: n }, (_, i) => { const b = bytes(`${tag} ${i}\n`); return { id: blobId(b), bytes: b }; });
  const over = objs('over', MAX_BATCH_OBJECTS + 1);
  let r = await call('POST', base + '/objects', { raw: encodeObjects(over) });
  assert.is(r.status, 413);
  assert.is(r.body.error.code, 'REQUEST_TOO_LARGE');
  assert.equal(r.body.error.data, { limit: MAX_BATCH_OBJECTS, reason: 'objects', count: MAX_BATCH_OBJECTS + 1 });
  r = await call('POST', base + '/objects/missing', { json: { ids: over.map((o) => o.id) } });
  assert.is(r.body.missing.length, MAX_BATCH_OBJECTS + 1);
  // 900 000 empty frames (32.4 MB of framing) is refused the same way, before decoding any.
  const empty = blobId(new Uint8Array(0));
  const frames = Buffer.alloc(900_000 * 36);
  for (let i = 0; i < 900_000; i++) frames.write(empty, i * 36, 'hex');
  r = await call('POST', base + '/objects', { raw: frames });
  assert.is(r.status, 413);
  assert.equal(r.body.error.data, { limit: MAX_BATCH_OBJECTS, reason: 'objects', count: 900_000 });
  assert.equal((await call('POST', base + '/objects/missing', { json: { ids: [empty] } })).body.missing, [empty]);
  const fits = objs('fits', MAX_BATCH_OBJECTS);
  r = await call('POST', base + '/objects', { raw: encodeObjects(fits) });
  assert.is(r.status, 200);
  assert.equal((await call('POST', base + '/objects/missing', { json: { ids: fits.map((o) => o.id) } })).body.missing, []);
});

/** Count turns of the event loop (one per setImmediate round) until stopped. */
function loopTicks(): { readonly n: number; stop(): void } {
  let n = 0;
  let on = true;
  const tick = () => { n++; if (on) setImmediate(tick); };
  setImmediate(tick);
  return { get n() { return n; }, stop() { on = false; } };
}

type Batch = (ops: { type: string; key: string; value?: Uint8Array }[], o?: unknown) => Promise<void>;

test('checking a 16 MiB upload lets the event loop turn while it hashes; an object repeated in a batch is written once', async () => {
  const t = await tenant();
  const base = `${srv.url}/${t}`;
  const objs = Array.from({ length: 16 }, () => { const b = randomBytes(1024 * 1024); return { id: blobId(b), bytes: b as Uint8Array }; });
  const dup = bytes('twice\n');
  objs.push({ id: blobId(dup), bytes: dup }, { id: blobId(dup), bytes: dup });
  const body = encodeObjects(objs);
  // Mark the turn at which the server starts checking the batch and the turn of its first write.
  const ticks = loopTicks();
  let startTick = -1;
  let writeTick = -1;
  const written: string[] = [];
  const db = (storage as unknown as { db: unknown }).db as unknown as { batch: Batch };
  const realBatch = db.batch;
  const realRemote = storage.remote;
  db.batch = function (this: unknown, ops, o) {
    if (startTick >= 0 && writeTick < 0) writeTick = ticks.n;
    for (const op of ops) if (op.key.startsWith(`t!${t}!o!`)) written.push(op.key);
    return realBatch.call(this, ops, o);
  } as Batch;
  storage.remote = function (this: LevelStorage, name: string): TenantStore {
    const s = realRemote.call(this, name);
    const w = Object.create(s) as TenantStore;
    w.putObjects = (o) => { startTick = ticks.n; return s.putObjects(o); };
    return w;
  };
  try {
    const r = await call('POST', base + '/objects', { raw: body });
    assert.is(r.status, 200);
  } finally {
    ticks.stop();
    db.batch = realBatch;
    storage.remote = realRemote;
  }
  assert.ok(startTick >= 0 && writeTick >= 0);
  // 16 MiB hashed in slices of 4 MiB: at least three turns of the loop between start and write.
  assert.ok(writeTick - startTick >= 3, `loop turned ${writeTick - startTick} times while 16 MiB were hashed`);
  assert.equal(written.sort(), [...new Set(objs.map((o) => `t!${t}!o!${o.id}`))].sort());
  assert.is(written.length, 17);
});

test('objects/missing over 100 000 ids checks them in slices with the loop turning between', async () => {
  const base = `${srv.url}/${await tenant()}`;
  const ids = Array.from({ length: 100_000 }, (_, i) => blobId(bytes(`id ${i}`)));
  const ticks = loopTicks();
  const calls: { n: number; tick: number }[] = [];
  const db = (storage as unknown as { db: unknown }).db as unknown as { hasMany: (keys: string[]) => Promise<boolean[]> };
  const real = db.hasMany;
  db.hasMany = function (this: unknown, keys: string[]) { calls.push({ n: keys.length, tick: ticks.n }); return real.call(this, keys); };
  let r: Answer;
  try {
    r = await call('POST', base + '/objects/missing', { json: { ids } });
  } finally {
    ticks.stop();
    db.hasMany = real;
  }
  assert.is(r.status, 200);
  assert.equal(r.body.missing, ids);
  assert.equal(calls.map((c) => c.n), Array(10).fill(10_000));
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i]!.tick > calls[i - 1]!.tick);
});

test('objects/get reads no more from the store than one answer and one object, whatever the ids asked', async () => {
  const base = `${small.url}/acme`;
  // 20 objects of 60 KiB against a 256 KiB answer cap (64 KiB objects at most): 4 fit an answer.
  const objs = Array.from({ length: 20 }, () => { const b = randomBytes(60 * 1024); return { id: blobId(b), bytes: b as Uint8Array }; });
  for (let i = 0; i < objs.length; i += 4) assert.is((await call('POST', base + '/objects', { token: tokSmall, raw: encodeObjects(objs.slice(i, i + 4)) })).status, 200);
  let read = 0;
  const db = (smallStorage as unknown as { db: unknown }).db as unknown as { getMany: (keys: string[]) => Promise<(Uint8Array | undefined)[]> };
  const real = db.getMany;
  db.getMany = async function (this: unknown, keys: string[]) {
    const vals = await real.call(this, keys);
    for (const v of vals) read += v?.length ?? 0;
    return vals;
  };
  let r: Answer;
  try {
    r = await call('POST', base + '/objects/get', { token: tokSmall, json: { ids: objs.map((o) => o.id) } });
  } finally {
    db.getMany = real;
  }
  assert.is(r.status, 200);
  assert.is(r.body.length, 4 * (36 + 60 * 1024));
  assert.equal(Buffer.from(r.body.subarray(36 * 3 + 3 * 60 * 1024, 36 * 3 + 3 * 60 * 1024 + 32)).toString('hex'), objs[3]!.id);
  assert.ok(read <= 256 * 1024 + 64 * 1024, `read ${read} bytes from the store for a 256 KiB answer`);
});

/** Send a raw request head; resolves with the status line's code and the parsed JSON body. */
function rawRequest(port: number, head: string, chunk = 8192): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(got).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) { reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`)); return; }
      resolve({ status: Number(m[1]), body: JSON.parse(m[3]!) });
    });
    s.on('connect', () => {
      let i = 0;
      const next = () => { if (i < head.length && s.writable) { s.write(head.slice(i, i += chunk), next); } };
      next();
    });
  });
}

test('a 100 KB Authorization header gets 431 REQUEST_TOO_LARGE (reason headers) as JSON; a malformed request 400; the server goes on', async () => {
  const auth = `Bearer ${'x'.repeat(100_000)}`;
  // node:http client.
  const r = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(`${srv.url}/other/head`, { headers: { authorization: auth } }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (d) => c.push(d));
      res.on('end', () => { try { resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(c).toString('utf8')) }); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.end();
  });
  assert.is(r.status, 431);
  assert.equal(r.body.error.code, 'REQUEST_TOO_LARGE');
  assert.equal(r.body.error.data, { limit: MAX_HEADER_BYTES, reason: 'headers' });
  // A raw socket sending the head in pieces reads the same answer, not a reset.
  const port = new URL(srv.url).port;
  const big = await rawRequest(Number(port), `GET /other/head HTTP/1.1\r\nhost: x\r\nauthorization: ${auth}\r\n\r\n`);
  assert.is(big.status, 431);
  assert.equal(big.body.error.data, { limit: MAX_HEADER_BYTES, reason: 'headers' });
  for (const head of ['NOT HTTP AT ALL\r\n\r\n', 'GET /other/head HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n']) {
    const bad = await rawRequest(Number(port), head);
    assert.is(bad.status, 400);
    assert.is(bad.body.error.code, 'REQUEST_INVALID');
    assert.equal(bad.body.error.data, { reason: 'http' });
  }
  const ok = await call('GET', `${srv.url}/other/head`, { token: tokOther });
  assert.is(ok.status, 200);
});

test.run();
