/**
 * Tests written to kill the mutants of the server's limits and auth (`npm run mutate -- server`)
 * that only a real connection can see: each asserts an HTTP status, an error `code` and its
 * exact `data` (or the exact bytes of an answer) over real HTTP — the object upload's content
 * type and framing, TENANT_UNKNOWN and the known-tenant cache, the `changes[]` element checks,
 * the id-list and object-read bounds, `sendError`'s statuses and log, and the raw answer to a
 * request head Node could not parse (431/408/400, or nothing on a reset). test/README.md lists
 * the survivors that remain and why.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentsyncError } from '../src/model/errors.js';
import { blobId } from '../src/model/hash.js';
import { OBJECTS_TYPE, decodeObjects, encodeObjects } from '../src/remote/http.js';
import { createToken } from '../src/server/auth.js';
import { sendError } from '../src/server/router.js';
import { answerClientError, makeHandler, MAX_HEADER_BYTES } from '../src/server/server.js';
import { LevelStorage, type Storage } from '../src/server/storage.js';
import { cleanup, tmp } from './helpers.js';

const t = suite('mutation kills: src/server over HTTP');

const servers: (Server | NetServer)[] = [];
/** Both ends of every raw socket pair, destroyed in `after` even when a test failed midway. */
const sockets: Socket[] = [];
let storage: LevelStorage;
let write = '';
let ghost = '';
/** Lookups of each tenant name through `counted` (the known-tenant cache). */
const lookups = new Map<string, number>();
let counted: Storage;

/** Serve `handler` on an ephemeral port of 127.0.0.1 (closed in `after`). */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<string> {
  const s = createServer((req, res) => {
    // A handler that throws cuts the answer (the test sees it) instead of crashing the run.
    Promise.resolve().then(() => handler(req, res)).catch(() => res.destroy());
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

/** A handler over `st` with the given caps, served. */
const handlerUrl = (st: Storage, maxBodyBytes: number, maxObjectBytes: number) => serve(makeHandler(st, { maxBodyBytes, maxObjectBytes }));

interface Answer { status: number; type: string; body: any }

async function call(url: string, o: { method?: string; token?: string; json?: unknown; raw?: Uint8Array; type?: string | null; chunked?: boolean } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== '') headers.authorization = `Bearer ${o.token ?? write}`;
  let body: Uint8Array | string | ReadableStream<Uint8Array> | undefined;
  if (o.json !== undefined) { body = JSON.stringify(o.json); headers['content-type'] = 'application/json'; }
  if (o.raw !== undefined) {
    body = o.raw;
    if (o.type !== null) headers['content-type'] = o.type ?? OBJECTS_TYPE;
  }
  if (o.chunked && body !== undefined) {
    // No Content-Length: the body arrives in pieces and is counted as it comes.
    const bytes = typeof body === 'string' ? Buffer.from(body) : body as Uint8Array;
    body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.subarray(i, i + 1000));
        c.close();
      },
    });
  }
  const init: RequestInit & { duplex?: string } = { method: o.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body !== undefined ? { body: body as BodyInit } : {}), ...(o.chunked ? { duplex: 'half' } : {}) };
  const res = await fetch(url, init);
  const buf = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, body: type.startsWith('application/json') ? JSON.parse(buf.toString('utf8')) : buf };
}

/** The error part of a JSON answer: [status, code, data] (data undefined when absent). */
const err = (a: Answer) => [a.status, a.body?.error?.code, a.body?.error?.data];

const blob = (s: string | Uint8Array) => {
  const bytes = typeof s === 'string' ? Buffer.from(s) : s;
  return { id: blobId(bytes), bytes: bytes as Uint8Array };
};
const sameList = (a: unknown, b: string[]) => Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
const hexId = (n: number) => n.toString(16).padStart(64, '0');

t.before(async () => {
  storage = await LevelStorage.open(join(tmp('agentsync-mkhttp-'), 'data'), { create: true });
  await storage.createTenant('acme');
  write = (await createToken(storage, { tenant: 'acme', scope: 'write', expiresInMs: null })).token;
  // A valid token for a tenant that does not exist (createToken refuses that: go around it).
  const anyTenant = new Proxy(storage, { get: (s, k) => (k === 'tenant' ? async () => true : typeof Reflect.get(s, k) === 'function' ? (Reflect.get(s, k) as Function).bind(s) : Reflect.get(s, k)) });
  ghost = (await createToken(anyTenant, { tenant: 'ghost', scope: 'write', expiresInMs: null })).token;
  counted = new Proxy(storage, {
    get: (s, k) => {
      if (k === 'tenant') return async (name: string) => { lookups.set(name, (lookups.get(name) ?? 0) + 1); return s.tenant(name); };
      const v = Reflect.get(s, k);
      return typeof v === 'function' ? (v as Function).bind(s) : v;
    },
  });
});

t.after(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    (s as Server).closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await storage?.close();
  cleanup();
});

t('POST objects: only the objects content type (parameters allowed) — else 400 {reason: content-type}; a truncated frame 400 {reason: framing}; an object over the cap 413 {reason: object}; nothing stored', async () => {
  const base = `${await handlerUrl(storage, 64 * 1024, 1024)}/acme`;
  const a = blob('content type\n');
  const missing = async (ids: string[]) => (await call(`${base}/objects/missing`, { json: { ids } })).body.missing;
  for (const type of ['application/json', `x-${OBJECTS_TYPE}`, 'text/plain', null]) {
    const r = await call(`${base}/objects`, { raw: encodeObjects([a]), type });
    assert.equal(err(r), [400, 'REQUEST_INVALID', { reason: 'content-type' }], String(type));
  }
  assert.equal(await missing([a.id]), [a.id]);
  const whole = encodeObjects([a, blob('second\n')]);
  for (const cut of [1, 10, 36 + 13]) {
    const r = await call(`${base}/objects`, { raw: whole.subarray(0, whole.length - cut) });
    assert.equal(err(r), [400, 'REQUEST_INVALID', { reason: 'framing' }], `cut ${cut}`);
  }
  assert.equal(await missing([a.id]), [a.id]);
  const big = blob(new Uint8Array(1025).fill(120));
  assert.equal(err(await call(`${base}/objects`, { raw: encodeObjects([a, big]) })), [413, 'REQUEST_TOO_LARGE', { limit: 1024, reason: 'object', size: 1025 }]);
  assert.equal(await missing([a.id]), [a.id]);
  const fits = blob(new Uint8Array(1024).fill(121));
  const ok = await call(`${base}/objects`, { raw: encodeObjects([a, fits]), type: `${OBJECTS_TYPE}; version=1` });
  assert.equal([ok.status, ok.body], [200, { stored: 2 }]);
  assert.equal(await missing([a.id, fits.id, big.id]), [big.id]);
});

t('a token for a tenant that does not exist: 404 TENANT_UNKNOWN {tenant}; authentication comes first; a known tenant is looked up once', async () => {
  const base = await handlerUrl(counted, 64 * 1024, 1024);
  for (let i = 0; i < 2; i++) assert.equal(err(await call(`${base}/ghost/head`, { token: ghost })), [404, 'TENANT_UNKNOWN', { tenant: 'ghost' }]);
  assert.is(lookups.get('ghost'), 2, 'an unknown tenant is asked again each time');
  assert.equal(err(await call(`${base}/ghost/head`, { token: '' })), [401, 'AUTH_REQUIRED', { reason: 'missing' }]);
  assert.equal(err(await call(`${base}/nosuch/head`)), [403, 'AUTH_FORBIDDEN', { tenant: 'nosuch' }]);
  assert.is(lookups.get('nosuch'), undefined, 'no tenant lookup before the token allows it');
  for (let i = 0; i < 3; i++) {
    const r = await call(`${base}/acme/head`);
    assert.is(r.status, 200);
  }
  assert.is(lookups.get('acme'), 1, 'a tenant found once is not looked up again');
});

t('POST versions: changes is an array of at most 100 000 {path, id}; each element checked (400 bad-field changes, unknown-field changes[i].k); expected is null or a version', async () => {
  const base = `${await handlerUrl(storage, 32 * 1024 * 1024, 1024 * 1024)}/acme`;
  const id = hexId(0xabcdef);
  const req = (changes: unknown, expected: unknown = null) => ({ expected, changes, snapshot: `sha256:${hexId(2)}`, author: 'a', message: 'm', draft: false });
  const bad: unknown[] = ['x', {}, null, 3, [null], [[]], ['a/b.md'], [3], [{ path: 1, id }], [{ id }], [{ path: 'a/b.md' }], [{ path: 'a/b.md', id: 'abc' }], [{ path: 'a/b.md', id: 7 }],
    [{ path: 'a/b.md', id: null }, null], [{ path: 'a/b.md', id }, { path: 'c/d.md', id: id.toUpperCase() }]];
  for (const changes of bad) {
    assert.equal(err(await call(`${base}/versions`, { json: req(changes) })), [400, 'REQUEST_INVALID', { reason: 'bad-field', field: 'changes' }], JSON.stringify(changes));
  }
  assert.equal(err(await call(`${base}/versions`, { json: req([{ path: 'a/b.md', id: null, x: 1 }]) })), [400, 'REQUEST_INVALID', { reason: 'unknown-field', field: 'changes[0].x' }]);
  assert.equal(err(await call(`${base}/versions`, { json: req([{ path: 'a/b.md', id }, { path: 'c/d.md', id: null, mode: 1 }]) })), [400, 'REQUEST_INVALID', { reason: 'unknown-field', field: 'changes[1].mode' }]);
  // author and message: strings only (a list or a number is not text, whatever its length).
  for (const [field, value] of [['author', ['x']], ['author', 5], ['message', []], ['message', null], ['author', { length: 1 }]] as const) {
    const body = { ...req([{ path: 'a/b.md', id }]), [field]: value };
    assert.equal(err(await call(`${base}/versions`, { json: body })), [400, 'REQUEST_INVALID', { reason: 'bad-field', field }], `${field} ${JSON.stringify(value)}`);
  }
  for (const expected of [0, -1, 1.5, '1', true, 2 ** 53]) {
    assert.equal(err(await call(`${base}/versions`, { json: req([{ path: 'a/b.md', id }], expected) })), [400, 'REQUEST_INVALID', { reason: 'bad-field', field: 'expected' }], String(expected));
  }
  // Valid shapes get past the checks to the store, which answers them for other reasons.
  assert.equal(err(await call(`${base}/versions`, { json: req([{ path: 'a/b.md', id }], 1) })), [409, 'STALE_REMOTE', { latestPublished: null, expected: 1 }]);
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ path: `agents/a${i}.yaml`, id: null }));
  const empty = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  assert.equal(err(await call(`${base}/versions`, { json: req(many(100_000)) })), [400, 'REMOTE_PROTOCOL', { snapshot: empty, expected: `sha256:${hexId(2)}` }], '100 000 changes pass the check');
  assert.equal(err(await call(`${base}/versions`, { json: req(many(100_001)) })), [400, 'REQUEST_INVALID', { reason: 'bad-field', field: 'changes' }]);
});

t('POST /_admin/tokens: a label is text of at most 65 536 UTF-8 bytes (400 bad-field label); the control secret is needed', async () => {
  const base = await serve(makeHandler(storage, { maxBodyBytes: 1024 * 1024, maxObjectBytes: 1024, control: 'test-control-secret' }));
  const token = (label: unknown) => call(`${base}/_admin/tokens`, { token: 'test-control-secret', json: { tenant: 'acme', scope: 'read', expiresInMs: null, label } });
  for (const label of ['é'.repeat(32769), 'a'.repeat(65537), 5, ['x']]) {
    assert.equal(err(await token(label)), [400, 'REQUEST_INVALID', { reason: 'bad-field', field: 'label' }], typeof label === 'string' ? `${label.length} characters` : JSON.stringify(label));
  }
  const ok = await token('é'.repeat(32768));
  assert.is(ok.status, 201);
  assert.is(ok.body.record.label, 'é'.repeat(32768));
  assert.equal(err(await call(`${base}/_admin/tokens`, { token: 'wrong', json: { tenant: 'acme', scope: 'read', expiresInMs: null } })), [401, 'AUTH_REQUIRED', undefined]);
});

t('objects/missing: answers every id in order past one LevelDB slice (10 001), takes 100 000 ids and refuses 100 001; a chunked body over the cap is 413 {reason: body}', async () => {
  const base = `${await handlerUrl(storage, 32 * 1024 * 1024, 1024 * 1024)}/acme`;
  const stored = blob('stored once\n');
  await storage.remote('acme').putObjects([stored]);
  const ids = Array.from({ length: 10_001 }, (_, i) => hexId(i + 1000));
  ids[5] = stored.id;
  ids[10_000 - 1] = stored.id;
  const r = await call(`${base}/objects/missing`, { json: { ids } });
  assert.is(r.status, 200);
  const want = ids.filter((x) => x !== stored.id);
  // (Compared as one boolean: a diff of 10 000 ids would print for minutes.)
  assert.ok(sameList(r.body.missing, want), `missing: ${r.body.missing?.length} ids, want ${want.length} in order`);
  const same = Array.from({ length: 100_000 }, () => hexId(7));
  assert.is((await call(`${base}/objects/missing`, { json: { ids: same } })).body.missing?.length, 100_000);
  same.push(hexId(7));
  assert.equal(err(await call(`${base}/objects/missing`, { json: { ids: same } })), [400, 'REQUEST_INVALID', { reason: 'bad-field', field: 'ids' }]);
  const small = `${await handlerUrl(storage, 4096, 1024)}/acme`;
  const body = Buffer.from(JSON.stringify({ ids: Array.from({ length: 70 }, (_, i) => hexId(i)) }));
  assert.ok(body.length > 4096);
  assert.equal(err(await call(`${small}/objects/missing`, { raw: body, type: 'application/json', chunked: true })), [413, 'REQUEST_TOO_LARGE', { limit: 4096, reason: 'body' }]);
  assert.equal(err(await call(`${small}/objects/missing`, { raw: body, type: 'application/json' })), [413, 'REQUEST_TOO_LARGE', { limit: 4096, reason: 'body' }]);
  const fits = Buffer.from(JSON.stringify({ ids: Array.from({ length: 60 }, (_, i) => hexId(i)) }));
  assert.ok(fits.length <= 4096);
  assert.is((await call(`${small}/objects/missing`, { raw: fits, type: 'application/json', chunked: true })).body.missing?.length, 60);
});

t('objects/get: as many objects as fit the body cap exactly (frame 36 bytes each), the first always, in order; an unknown id 404 OBJECT_MISSING {id}', async () => {
  // Objects of 214 bytes take 250 in the answer: four fill a 1 000-byte cap exactly.
  const objs = Array.from({ length: 5 }, (_, i) => blob(new Uint8Array(214).fill(65 + i)));
  const big = blob(new Uint8Array(1500).fill(90));
  await storage.remote('acme').putObjects([...objs, big]);
  const base = `${await handlerUrl(storage, 1000, 2000)}/acme`;
  const get = async (ids: string[]) => {
    const r = await call(`${base}/objects/get`, { json: { ids } });
    if (r.status !== 200) return err(r);
    const got = decodeObjects(r.body as Uint8Array);
    return Array.isArray(got) ? got.map((o) => [o.id, Buffer.from(o.bytes).equals(Buffer.from(objs.concat(big).find((x) => x.id === o.id)!.bytes))]) : got;
  };
  const ids = objs.map((o) => o.id);
  assert.equal(await get(ids), ids.slice(0, 4).map((id) => [id, true]));
  assert.equal(await get(ids.slice(1)), ids.slice(1).map((id) => [id, true]));
  assert.equal(await get([big.id, ...ids]), [[big.id, true]], 'an object larger than the cap alone is still sent, first');
  assert.equal(await get([ids[0]!, big.id]), [[ids[0]!, true]]);
  const unknown = hexId(99);
  assert.equal(await get([ids[0]!, unknown]), [404, 'OBJECT_MISSING', { id: unknown }]);
  assert.equal(await get([unknown]), [404, 'OBJECT_MISSING', { id: unknown }]);
  // With a large cap, a request of 2 500 ids is read in slices and answered whole, in order.
  const wide = `${await handlerUrl(storage, 32 * 1024 * 1024, 1024)}/acme`;
  const order = Array.from({ length: 2500 }, (_, i) => ids[i % 5]!);
  const r = await call(`${wide}/objects/get`, { json: { ids: order } });
  const got = decodeObjects(r.body as Uint8Array);
  assert.ok(Array.isArray(got));
  assert.ok(sameList((got as { id: string }[]).map((o) => o.id), order), `got ${(got as unknown[]).length} objects, want ${order.length} in order`);
});

t('sendError: status from the code (or data.status, then dropped from data), no data key when empty, 5xx and disk-full logged once, a started answer cut', async () => {
  const log: string[] = [];
  const cases: [unknown, number, string, unknown, number][] = [
    // [thrown, status, code, data, log lines]
    [new AgentsyncError('REQUEST_INVALID', 'x', { reason: 'json' }), 400, 'REQUEST_INVALID', { reason: 'json' }, 0],
    [new AgentsyncError('ROUTE_UNKNOWN', 'x', { status: 405, method: 'POST', path: '/a' }), 405, 'ROUTE_UNKNOWN', { method: 'POST', path: '/a' }, 0],
    [new AgentsyncError('VERSION_UNKNOWN', 'x', {}), 404, 'VERSION_UNKNOWN', undefined, 0],
    [new AgentsyncError('STORE_LOCKED', 'x', { path: '/srv/data' }), 503, 'STORE_LOCKED', { path: '/srv/data' }, 1],
    [new AgentsyncError('INTERNAL', 'x'), 500, 'INTERNAL', undefined, 1],
    [new Error('boom at the server'), 500, 'INTERNAL', undefined, 1],
    ['a thrown string', 500, 'INTERNAL', undefined, 1],
    [null, 500, 'INTERNAL', undefined, 1],
    [undefined, 500, 'INTERNAL', undefined, 1],
    [Object.assign(new Error('IO error: /srv/data/000005.log: No space left on device'), { code: 'LEVEL_IO_ERROR' }), 507, 'DISK_FULL', undefined, 1],
    [new AgentsyncError('DISK_FULL', 'x', { path: '/srv/data/x' }), 507, 'DISK_FULL', undefined, 1],
  ];
  let i = 0;
  const withLog = await serve((_req, res) => sendError(res, cases[i]![0], (s) => log.push(s)));
  const noLog = await serve((_req, res) => sendError(res, cases[i]![0]));
  for (i = 0; i < cases.length; i++) {
    const [thrown, status, code, data, lines] = cases[i]!;
    log.length = 0;
    for (const url of [withLog, noLog]) {
      const r = await call(url, { token: '' });
      assert.is(r.status, status, String(thrown));
      assert.is(r.type, 'application/json');
      assert.is(r.body.error.code, code, String(thrown));
      assert.equal(r.body.error.data, data, String(thrown));
      assert.is('data' in r.body.error, data !== undefined);
      assert.not.ok(String(r.body.error.message).includes('/srv/'), 'no server path reaches the client');
    }
    assert.is(log.length, lines, `log lines for ${String(thrown)}`);
    for (const line of log) assert.ok(line.includes(code === 'INTERNAL' && !(thrown instanceof AgentsyncError) ? String((thrown as Error | null)?.message ?? thrown) : code), line);
  }
  // An answer already started is cut, not answered twice.
  let seen: unknown;
  const started = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100 });
    res.flushHeaders();
    try {
      sendError(res, new AgentsyncError('REQUEST_INVALID', 'x', {}));
      seen = res.destroyed;
    } catch (e) {
      seen = e;
      res.destroy(); // (so that a failing sendError does not leave the client waiting)
    }
  });
  let cut = false;
  try {
    await call(started, { token: '' });
  } catch {
    cut = true;
  }
  assert.is(seen, true);
  assert.ok(cut, 'the client sees the answer cut short');
});

/** A connected socket pair over loopback: the server's end and what the client reads until it closes. */
async function socketPair(): Promise<{ server: Socket; received: Promise<string> }> {
  const net = createNetServer();
  servers.push(net);
  const accepted = new Promise<Socket>((r) => net.once('connection', r));
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', () => r()));
  const client = connect((net.address() as { port: number }).port, '127.0.0.1');
  sockets.push(client);
  const received = new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    client.on('data', (d) => chunks.push(d));
    client.on('error', () => { /* a reset ends it too */ });
    client.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  const server = await accepted;
  sockets.push(server);
  return { server, received };
}

t('answerClientError: 431, 408 or 400 with their status texts and JSON data on the raw socket, once; nothing on a reset, an ended socket or an answer under way', async () => {
  const want: [string, string, unknown][] = [
    ['HPE_HEADER_OVERFLOW', '431 Request Header Fields Too Large', { code: 'REQUEST_TOO_LARGE', data: { limit: MAX_HEADER_BYTES, reason: 'headers' } }],
    ['ERR_HTTP_REQUEST_TIMEOUT', '408 Request Timeout', { code: 'REQUEST_INVALID', data: { reason: 'timeout' } }],
    ['HPE_INVALID_METHOD', '400 Bad Request', { code: 'REQUEST_INVALID', data: { reason: 'http' } }],
    ['HPE_INVALID_CONTENT_LENGTH', '400 Bad Request', { code: 'REQUEST_INVALID', data: { reason: 'http' } }],
  ];
  for (const [code, line, error] of want) {
    const { server, received } = await socketPair();
    const e = Object.assign(new Error(code), { code });
    answerClientError(e, server);
    answerClientError(e, server);
    const text = await received;
    const m = /^HTTP\/1\.1 ([^\r\n]*)\r\ncontent-type: application\/json\r\ncontent-length: (\d+)\r\nconnection: close\r\n\r\n([\s\S]*)$/.exec(text);
    assert.ok(m, `${code}: ${JSON.stringify(text.slice(0, 300))}`);
    assert.is(m![1], line);
    assert.is(Number(m![2]), Buffer.byteLength(m![3]!));
    const body = JSON.parse(m![3]!) as { error: { code: string; message: string; data: unknown } };
    assert.equal({ code: body.error.code, data: body.error.data }, error, code);
    assert.is(typeof body.error.message, 'string');
  }
  // A reset connection, one already ended, and one whose answer has begun: closed, nothing written.
  const reset = await socketPair();
  answerClientError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), reset.server);
  assert.is(reset.server.destroyed, true);
  assert.is(await reset.received, '');
  const ended = await socketPair();
  ended.server.end();
  answerClientError(Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), ended.server);
  assert.is(ended.server.destroyed, true, 'destroyed at once');
  assert.is(await ended.received, '');
  const busy = await socketPair();
  (busy.server as Socket & { _httpMessage?: unknown })._httpMessage = { headersSent: true };
  answerClientError(Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), busy.server);
  assert.is(busy.server.destroyed, true);
  assert.is(await busy.received, '');
  const fresh = await socketPair();
  (fresh.server as Socket & { _httpMessage?: unknown })._httpMessage = { headersSent: false };
  answerClientError(Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), fresh.server);
  assert.ok((await fresh.received).startsWith('HTTP/1.1 400 Bad Request\r\n'), 'an answer not yet begun is written');
});

t.run();
