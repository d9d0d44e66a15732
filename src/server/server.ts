/**
 * The HTTP sync server: node:http with the small router of ./router.ts, one Storage holding
 * many tenants. Endpoints mirror the Remote interface (see README.md beside this file).
 *
 * While it runs the server writes `<data>/server.json` (mode 0600): its pid, URL and a random
 * control secret. `agentsync admin …` finds the store locked by the server and sends its
 * command to the `/_admin/…` endpoints with that secret instead, so tenants and tokens can be
 * managed while the server runs. The file is removed on shutdown.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentsyncError, fail, isAgentsyncError } from '../model/errors.js';
import { isObjectId, type ObjectId } from '../model/hash.js';
import { isSnapshotHash } from '../model/manifest.js';
import { MAX_INLINE_BYTES, MAX_INLINE_COUNT, OBJECTS_TYPE, checkIds, decodeObjects, encodeObjects } from '../remote/http.js';
import { atomicWrite } from '../workspace/fsio.js';
import { authenticate, checkScope, createToken, publicToken, revokeToken } from './auth.js';
import { Router, parseBody, parseQuery, readBody, sendError, sendJson, versionId, type Params } from './router.js';
import { LevelStorage, type Scope, type Storage, type TenantStore } from './storage.js';
import { MAX_TEXT_BYTES, checkedObjectId } from '../store/remote-store.js';
import { makeDashboard } from './dashboard.js';
import { utf8Length } from '../model/paths.js';

import { DEFAULT_PORT, DEFAULT_MAX_BODY, DEFAULT_MAX_OBJECT, MAX_BATCH_OBJECTS, MAX_HEADER_BYTES } from './defaults.js';

export { DEFAULT_PORT, DEFAULT_MAX_BODY, DEFAULT_MAX_OBJECT, MAX_BATCH_OBJECTS, MAX_HEADER_BYTES };
const MAX_IDS = 100000;
/** Ids per LevelDB presence check in `objects/missing` (the loop turns between them). */
const MISSING_SLICE = 10000;
/** Most ids per LevelDB read in `objects/get`. */
const GET_SLICE = 1000;

export interface ServerOptions {
  host?: string;
  /** 0: an ephemeral port. */
  port?: number;
  /** Request body cap in bytes (413 above it). */
  maxBodyBytes?: number;
  /** Object size cap in bytes (413 above it); the client's maxFileSize default is the same. */
  maxObjectBytes?: number;
  /** How long shutdown waits for requests in flight (default 30 s). */
  graceMs?: number;
  /** Error log (5xx only); default none. */
  log?: (s: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  host: string;
  storage: Storage;
  /** Bytes read from and written to client sockets (headers included), for the bench. */
  wire: { bytesRead: number; bytesWritten: number };
  /** Stop accepting, finish in-flight requests, close the storage. Idempotent. */
  close(): Promise<void>;
}

/** The record `serve` leaves in the data folder while it runs. */
export interface ServerInfo {
  pid: number;
  url: string;
  control: string;
  startedAt: string;
}

export const SERVER_INFO = 'server.json';

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}

interface TenantCtx extends Ctx {
  tenant: string;
  store: TenantStore;
}

const isInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
const isText = (v: unknown) => typeof v === 'string' && (v.length <= MAX_TEXT_BYTES / 3 || utf8Length(v) <= MAX_TEXT_BYTES);
const textWhat = `a string of at most ${MAX_TEXT_BYTES} bytes`;
const isChanges = (v: unknown) => Array.isArray(v) && v.length <= MAX_IDS && v.every((c, i) => {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return false;
  // An unknown field inside a change is named as such, like one at the top level.
  for (const k of Object.keys(c)) if (k !== 'path' && k !== 'id') fail('REQUEST_INVALID', `unknown field ${JSON.stringify(k)} in changes[${i}]`, { reason: 'unknown-field', field: `changes[${i}].${k}` });
  return typeof (c as { path?: unknown }).path === 'string' && ((c as { id?: unknown }).id === null || isObjectId((c as { id?: unknown }).id));
});
/** `objects` of a create: [{id, base64}], at most MAX_INLINE_COUNT (more: 413 before any is looked at). */
const isInlineObjects = (v: unknown) => {
  if (!Array.isArray(v)) return false;
  if (v.length > MAX_INLINE_COUNT) fail('REQUEST_TOO_LARGE', `the create carries ${v.length} objects, more than the limit of ${MAX_INLINE_COUNT}; upload them first (POST objects) — nothing was stored`, { limit: MAX_INLINE_COUNT, reason: 'inline', count: v.length });
  return v.every((x, i) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
    for (const k of Object.keys(x)) if (k !== 'id' && k !== 'base64') fail('REQUEST_INVALID', `unknown field ${JSON.stringify(k)} in objects[${i}]`, { reason: 'unknown-field', field: `objects[${i}].${k}` });
    return isObjectId((x as { id?: unknown }).id) && typeof (x as { base64?: unknown }).base64 === 'string';
  });
};
/**
 * Decode and check the objects of a create: canonical base64, each at most `maxObject` bytes,
 * MAX_INLINE_BYTES in all, each hashing to its id (a repeated id kept once). Nothing is stored
 * unless all pass. @throws REQUEST_INVALID, REQUEST_TOO_LARGE, OBJECT_HASH_MISMATCH
 */
function inlineObjects(list: readonly { id: ObjectId; base64: string }[], maxObject: number): { id: ObjectId; bytes: Uint8Array }[] {
  const out = new Map<ObjectId, { id: ObjectId; bytes: Uint8Array }>();
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const { id, base64 } = list[i]!;
    // Decoded size before decoding: a string of n base64 characters holds at most 3n/4 bytes.
    if (Math.floor(base64.length / 4) * 3 > maxObject + 2) fail('REQUEST_TOO_LARGE', `objects[${i}] is larger than the server's limit of ${maxObject} bytes; nothing was stored`, { limit: maxObject, reason: 'object', size: Math.floor(base64.length / 4) * 3 });
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.toString('base64') !== base64) fail('REQUEST_INVALID', `objects[${i}].base64 is not canonical base64; nothing was stored`, { reason: 'bad-field', field: `objects[${i}].base64` });
    if (bytes.length > maxObject) fail('REQUEST_TOO_LARGE', `objects[${i}] (${bytes.length} bytes) is larger than the server's limit of ${maxObject} bytes; nothing was stored`, { limit: maxObject, reason: 'object', size: bytes.length });
    total += bytes.length;
    if (total > MAX_INLINE_BYTES) fail('REQUEST_TOO_LARGE', `the objects of the create hold more than ${MAX_INLINE_BYTES} bytes; upload them first (POST objects) — nothing was stored`, { limit: MAX_INLINE_BYTES, reason: 'inline' });
    const o = { id, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
    checkedObjectId(o, 'OBJECT_HASH_MISMATCH');
    out.set(id, o);
  }
  return [...out.values()];
}
const idList = { check: (v: unknown) => checkIds(v) && (v as unknown[]).length <= MAX_IDS, what: `an array of at most ${MAX_IDS} object ids (64 hex digits)` };

/** Build the request handler over `storage`. */
export function makeHandler(storage: Storage, o: Required<Pick<ServerOptions, 'maxBodyBytes' | 'maxObjectBytes'>> & { log?: (s: string) => void; control?: string }) {
  const router = new Router<Ctx>();
  const known = new Set<string>();

  /** Authenticate for `tenant` with `scope`, then run `fn` with the tenant's store. */
  const tenantRoute = (scope: Scope, fn: (c: TenantCtx, p: Params) => Promise<void>) => async (c: Ctx, p: Params) => {
    const tenant = p.tenant!;
    await authenticate(storage, c.req.headers.authorization, tenant, scope);
    if (!known.has(tenant)) {
      if (!(await storage.tenant(tenant))) fail('TENANT_UNKNOWN', `no tenant ${tenant} on this server`, { tenant });
      known.add(tenant);
    }
    await fn({ ...c, tenant, store: storage.remote(tenant) }, p);
  };
  const noQuery = (c: Ctx) => parseQuery(c.url.searchParams, []);
  const json = async (c: Ctx, fields: Parameters<typeof parseBody>[1]) => parseBody(await readBody(c.req, o.maxBodyBytes), fields);

  router.add('GET', '/_health', async (c) => { noQuery(c); sendJson(c.res, 200, { ok: true }); });
  // For load balancers: 200 only when the storage answers (a database down: 503 REMOTE_BUSY).
  router.add('GET', '/healthz', async (c) => { noQuery(c); await storage.ping?.(); sendJson(c.res, 200, { ok: true }); });

  router.add('GET', '/:tenant/head', tenantRoute('read', async (c) => {
    noQuery(c);
    sendJson(c.res, 200, await c.store.head());
  }));
  router.add('GET', '/:tenant/versions', tenantRoute('read', async (c) => {
    const q = parseQuery(c.url.searchParams, ['after']);
    const after = q.after === undefined || q.after === '0' ? 0 : versionId(q.after, 'after');
    sendJson(c.res, 200, { versions: await c.store.versions(after) });
  }));
  router.add('GET', '/:tenant/versions/:id/changes', tenantRoute('read', async (c, p) => {
    noQuery(c);
    const id = versionId(p.id, 'version');
    await c.store.version(id);
    sendJson(c.res, 200, { changes: await c.store.versionChanges(id) });
  }));
  router.add('GET', '/:tenant/changes', tenantRoute('read', async (c) => {
    const q = parseQuery(c.url.searchParams, ['from', 'to']);
    const from = q.from === undefined || q.from === 'none' ? null : versionId(q.from, 'from');
    const to = versionId(q.to, 'to');
    sendJson(c.res, 200, { changes: await c.store.changesBetween(from, to) });
  }));
  router.add('POST', '/:tenant/objects/missing', tenantRoute('read', async (c) => {
    noQuery(c);
    const ids = (await json(c, { ids: idList })).ids as string[];
    const missing: string[] = [];
    for (let i = 0; i < ids.length; i += MISSING_SLICE) {
      if (i) await new Promise<void>((r) => setImmediate(r));
      missing.push(...await c.store.missing(ids.slice(i, i + MISSING_SLICE)));
    }
    sendJson(c.res, 200, { missing });
  }));
  router.add('POST', '/:tenant/objects', tenantRoute('write', async (c) => {
    noQuery(c);
    const type = c.req.headers['content-type'] ?? '';
    if (!type.startsWith(OBJECTS_TYPE)) { c.req.resume(); fail('REQUEST_INVALID', `upload objects as ${OBJECTS_TYPE}, not ${type || 'no content type'}`, { reason: 'content-type' }); }
    const buf = await readBody(c.req, o.maxBodyBytes);
    // The frames are counted before any is decoded: a batch of a million empty objects costs nothing.
    const objs = decodeObjects(buf, o.maxObjectBytes, MAX_BATCH_OBJECTS);
    if (objs === null) fail('REQUEST_INVALID', 'the object batch is malformed (truncated frame); nothing was stored', { reason: 'framing' });
    if ('tooMany' in objs) fail('REQUEST_TOO_LARGE', `the batch holds ${objs.tooMany} objects, more than the server's limit of ${MAX_BATCH_OBJECTS} per request; send smaller batches — nothing was stored`, { limit: MAX_BATCH_OBJECTS, reason: 'objects', count: objs.tooMany });
    if ('tooLarge' in objs) fail('REQUEST_TOO_LARGE', `an object of ${objs.tooLarge} bytes is larger than the server's limit of ${o.maxObjectBytes} bytes; nothing was stored`, { limit: o.maxObjectBytes, reason: 'object', size: objs.tooLarge });
    try {
      await c.store.putObjects(objs);
    } catch (e) {
      if (isAgentsyncError(e) && e.code === 'REMOTE_PROTOCOL') throw new AgentsyncError('OBJECT_HASH_MISMATCH', e.message, e.data);
      throw e;
    }
    sendJson(c.res, 200, { stored: objs.length });
  }));
  router.add('POST', '/:tenant/objects/get', tenantRoute('read', async (c) => {
    noQuery(c);
    const b = await json(c, { ids: idList });
    const ids = b.ids as string[];
    const out: { id: string; bytes: Uint8Array }[] = [];
    let size = 0;
    // Read in slices the room left in the answer could hold even if every object were as large
    // as allowed, so a request for 100 000 ids never loads more than about one answer's worth.
    fill: for (let i = 0; i < ids.length;) {
      const n = Math.max(1, Math.min(GET_SLICE, Math.floor((o.maxBodyBytes - size) / (o.maxObjectBytes + 36))));
      const slice = ids.slice(i, i + n);
      const vals = await c.store.getMany(slice);
      for (let k = 0; k < slice.length; k++) {
        const bytes = vals[k];
        if (!bytes) fail('OBJECT_MISSING', `no object ${slice[k]!} on this tenant; ask only for ids a version's manifest names (or a manifest's own id, its snapshot hash without "sha256:")`, { id: slice[k], status: 404 });
        // Stop early at the body cap; the client asks again for the rest.
        if (out.length && size + bytes.length + 36 > o.maxBodyBytes) break fill;
        size += bytes.length + 36;
        out.push({ id: slice[k]!, bytes });
      }
      i += slice.length;
    }
    const body = encodeObjects(out);
    c.res.writeHead(200, { 'content-type': OBJECTS_TYPE, 'content-length': body.length });
    c.res.end(body);
  }));
  router.add('POST', '/:tenant/versions', tenantRoute('write', async (c) => {
    noQuery(c);
    const b = await json(c, {
      expected: { check: (v) => v === null || isInt(v), what: 'null or a version number' },
      changes: { check: isChanges, what: `an array of at most ${MAX_IDS} {path, id} (id: 64 hex digits or null)` },
      snapshot: { check: isSnapshotHash, what: 'a snapshot hash sha256:<64 hex>' },
      author: { check: isText, what: textWhat },
      message: { check: isText, what: textWhat },
      draft: { check: (v) => typeof v === 'boolean', what: 'true or false' },
      objects: { check: isInlineObjects, required: false, what: `an array of at most ${MAX_INLINE_COUNT} {id, base64} (id: 64 hex digits, base64: the bytes, canonical base64)` },
    });
    const { objects: sent, ...req } = b;
    const objects = sent === undefined ? undefined : inlineObjects(sent as { id: ObjectId; base64: string }[], o.maxObjectBytes);
    const version = await c.store.createVersion(req as never, objects);
    sendJson(c.res, 201, { version });
  }));
  for (const op of ['deploy', 'rollback'] as const) {
    router.add('POST', `/:tenant/versions/:id/${op}`, tenantRoute('write', async (c, p) => {
      noQuery(c);
      const id = versionId(p.id, 'version');
      await json(c, {});
      sendJson(c.res, 200, await c.store[op](id));
    }));
  }

  /** Whether the Authorization header carries the control secret (constant-time compare). */
  const hasControlSecret = (header: string | undefined): boolean => {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    const given = Buffer.from(m?.[1] ?? ''), want = Buffer.from(o.control ?? '');
    return !!o.control && given.length === want.length && timingSafeEqual(given, want);
  };
  // Control endpoints, for `agentsync admin` while the server runs (secret from server.json).
  const control = (fn: (c: Ctx, p: Params) => Promise<void>) => async (c: Ctx, p: Params) => {
    if (!hasControlSecret(c.req.headers.authorization)) fail('AUTH_REQUIRED', 'the control endpoints need the secret in the data folder\'s server.json', {});
    await fn(c, p);
  };
  router.add('GET', '/_admin/tenants', control(async (c) => { noQuery(c); sendJson(c.res, 200, { tenants: await storage.tenants() }); }));
  router.add('POST', '/_admin/tenants', control(async (c) => {
    const b = await json(c, { name: { check: (v) => typeof v === 'string', what: 'a tenant name' } });
    sendJson(c.res, 201, { tenant: await storage.createTenant(b.name as string) });
  }));
  router.add('GET', '/_admin/tokens', control(async (c) => { noQuery(c); sendJson(c.res, 200, { tokens: (await storage.tokens()).map((t) => publicToken(t)) }); }));
  router.add('POST', '/_admin/tokens', control(async (c) => {
    const b = await json(c, {
      tenant: { check: (v) => typeof v === 'string', what: 'a tenant name' },
      scope: { check: (v) => v === 'read' || v === 'write' || v === 'admin', what: 'read, write or admin' },
      expiresInMs: { check: (v) => v === null || isInt(v), what: 'null or a positive number of ms' },
      label: { check: isText, what: textWhat, required: false },
    });
    const t = await createToken(storage, { tenant: b.tenant as string, scope: checkScope(b.scope), expiresInMs: b.expiresInMs as number | null, ...(b.label ? { label: b.label as string } : {}) });
    sendJson(c.res, 201, { token: t.token, record: publicToken(t.record) });
  }));
  router.add('POST', '/_admin/tokens/:id/revoke', control(async (c, p) => {
    await json(c, {});
    sendJson(c.res, 200, { token: publicToken(await revokeToken(storage, p.id!)) });
  }));
  router.add('POST', '/_admin/fsck', control(async (c) => { await json(c, {}); sendJson(c.res, 200, await storage.fsck()); }));
  router.add('POST', '/_admin/gc', control(async (c) => { await json(c, {}); sendJson(c.res, 200, await storage.gc()); }));

  // The web page at `/` and its session API under `/_dashboard/` (see dashboard.ts).
  const dashboard = makeDashboard(storage, { maxObjectBytes: o.maxObjectBytes, ...(o.log ? { log: o.log } : {}) });

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (await dashboard(req, res, url)) return;
      let matched: ReturnType<typeof router.match>;
      try {
        matched = router.match(req.method ?? 'GET', url.pathname);
      } catch (e) {
        // Every route needs a token even to learn whether it exists (the control secret counts
        // for /_admin/): without one, 401, not 404.
        if (isAgentsyncError(e) && e.code === 'ROUTE_UNKNOWN') {
          if (!hasControlSecret(req.headers.authorization)) await authenticate(storage, req.headers.authorization, null, 'read');
        }
        throw e;
      }
      await matched.route.handler({ req, res, url }, matched.params);
    } catch (e) {
      sendError(res, e, o.log);
    }
  };
}

/**
 * Start a server on `storage`. With `dataDir`, also writes `<dataDir>/server.json` for the
 * admin commands and removes it on close.
 */
export async function startServer(storage: Storage, opts: ServerOptions & { dataDir?: string } = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const control = randomBytes(32).toString('base64url');
  const handler = makeHandler(storage, {
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY, maxObjectBytes: opts.maxObjectBytes ?? DEFAULT_MAX_OBJECT, control,
    ...(opts.log ? { log: opts.log } : {}),
  });
  let closing = false;
  let inflight = 0;
  let drained: (() => void) | undefined;
  const sockets = new Set<Socket>();
  const wire = { bytesRead: 0, bytesWritten: 0 };
  const server: Server = createServer({ keepAliveTimeout: 5000, maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    inflight++;
    if (closing) res.setHeader('connection', 'close');
    res.on('close', () => {
      inflight--;
      if (closing) {
        server.closeIdleConnections();
        if (inflight === 0) drained?.();
      }
    });
    void handler(req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => { wire.bytesRead += s.bytesRead; wire.bytesWritten += s.bytesWritten; sockets.delete(s); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const infoPath = opts.dataDir ? join(opts.dataDir, SERVER_INFO) : undefined;
  if (infoPath) {
    const info: ServerInfo = { pid: process.pid, url, control, startedAt: new Date().toISOString() };
    atomicWrite(infoPath, JSON.stringify(info, null, 2) + '\n', 0o600);
  }
  let closed: Promise<void> | undefined;
  const wireNow = () => {
    let r = wire.bytesRead, w = wire.bytesWritten;
    for (const s of sockets) { r += s.bytesRead; w += s.bytesWritten; }
    return { bytesRead: r, bytesWritten: w };
  };
  return {
    url, port, host, storage,
    get wire() { return wireNow(); },
    close() {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        // Requests in flight are answered; one that takes longer than the grace period is cut.
        if (inflight > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([new Promise<void>((r) => { drained = r; }), new Promise<void>((r) => { timer = setTimeout(r, opts.graceMs ?? 30000); })]);
          clearTimeout(timer);
        }
        server.closeIdleConnections();
        // Connections that stay open without a request are closed after the in-flight ones finish.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
        await stopped;
        if (infoPath) rmSync(infoPath, { force: true });
        await storage.close();
      })();
      return closed;
    },
  };
}

/**
 * Answer a request Node could not parse (no request object exists): a head over
 * {@link MAX_HEADER_BYTES} gets 431 REQUEST_TOO_LARGE (`data.reason: 'headers'`), anything else
 * malformed 400 REQUEST_INVALID (`data.reason: 'http'`), as a raw JSON response on the socket
 * unless an answer is already under way there. The connection is then closed; what the client
 * still sends is read and dropped until then, so that it reads the answer instead of a reset.
 */
const answered = new WeakSet<Socket>();
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // The parser reports the same error again for every later chunk: answer once.
  if (answered.has(socket)) return;
  answered.add(socket);
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) { socket.destroy(); return; }
  const headers = err.code === 'HPE_HEADER_OVERFLOW';
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const [status, text] = headers ? [431, 'Request Header Fields Too Large'] : timeout ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  const error = headers
    ? { code: 'REQUEST_TOO_LARGE', message: `the request headers are larger than the server's limit of ${MAX_HEADER_BYTES} bytes; check the Authorization header`, data: { limit: MAX_HEADER_BYTES, reason: 'headers' } }
    : timeout
      ? { code: 'REQUEST_INVALID', message: 'the request did not arrive in time', data: { reason: 'timeout' } }
      : { code: 'REQUEST_INVALID', message: 'the request is not valid HTTP/1.1', data: { reason: 'http' } };
  const body = JSON.stringify({ error });
  socket.on('error', () => socket.destroy());
  socket.on('data', () => { /* drop */ });
  socket.on('end', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  // A client that never closes its side is cut off after a while.
  setTimeout(() => socket.destroy(), 5000).unref();
}

/** Open the LevelDB storage at `dataDir` (creating it) and start serving it. */
export async function serveDataDir(dataDir: string, opts: ServerOptions = {}): Promise<RunningServer> {
  let storage: LevelStorage;
  try {
    storage = await LevelStorage.open(dataDir, { create: true, waitMs: 2000 });
  } catch (e) {
    // Locked by a running `serve`: say which one (its server.json) rather than "wait for it".
    const { runningServer } = await import('./admin.js');
    const info = isAgentsyncError(e) && e.code === 'STORE_LOCKED' ? runningServer(dataDir) : undefined;
    if (info) fail('STORE_LOCKED', `the server data at ${dataDir} is already served by \`agentsync serve\` (pid ${info.pid}) at ${info.url}; use that server, or stop it first (kill ${info.pid})`, { dir: dataDir, pid: info.pid, url: info.url, hint: `kill ${info.pid}` });
    throw e;
  }
  return serveStorage(storage, opts, dataDir);
}

/**
 * Start serving `storage` (closing it when the server cannot start): a port in use or not
 * allowed is a USAGE error. With `dataDir`, see {@link startServer}.
 */
export async function serveStorage(storage: Storage, opts: ServerOptions = {}, dataDir?: string): Promise<RunningServer> {
  try {
    return await startServer(storage, { ...opts, ...(dataDir !== undefined ? { dataDir } : {}) });
  } catch (e) {
    await storage.close();
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') fail('USAGE', `port ${opts.port ?? DEFAULT_PORT} on ${opts.host ?? '127.0.0.1'} is in use; choose another with --port (0: any free port)`, { port: opts.port });
    if ((e as NodeJS.ErrnoException).code === 'EACCES') fail('USAGE', `not allowed to listen on port ${opts.port ?? DEFAULT_PORT}; choose a port above 1023 with --port`, { port: opts.port });
    throw e;
  }
}
