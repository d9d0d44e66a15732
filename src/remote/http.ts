/**
 * The HTTP remote: `http(s)://host:port/<tenant>`, speaking the wire protocol of
 * src/server/README.md over node:http(s) with kept-alive connections (not the global fetch:
 * loading undici costs a CLI command 30-50 ms). Every request has a timeout
 * (AGENTSYNC_HTTP_TIMEOUT_MS, default 30 s). Idempotent requests (reads, object negotiation,
 * object upload and download — content-addressed) are retried with backoff, 3 tries in all.
 * createVersion is never blindly resent: after a failure that may have reached the server it
 * re-reads the versions to see whether its version landed, so there is never a half-created or
 * duplicated version. Server errors map to the same AgentsyncError codes the directory remote
 * throws.
 * @module
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentsyncError, ERROR_CODES, fail, type ErrorCode } from '../model/errors.js';
import { isObjectId, type ObjectId } from '../model/hash.js';
import type { Change } from '../model/manifest.js';
import type { Head, Version } from '../model/version.js';
import { storedToken } from './credentials.js';
import type { RemoteOptions } from './index.js';
import type { CreateVersionRequest, Remote, StoredObject, TransferStats } from './types.js';

/** Media type of a batch of objects: frames of 32-byte raw id, u32 big-endian length, bytes. */
export const OBJECTS_TYPE = 'application/vnd.agentsync.objects';

/** Encode objects as frames. */
export function encodeObjects(objs: readonly StoredObject[]): Uint8Array {
  let n = 0;
  for (const o of objs) n += 36 + o.bytes.length;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const o of objs) {
    out.set(Buffer.from(o.id, 'hex'), off);
    dv.setUint32(off + 32, o.bytes.length);
    out.set(o.bytes, off + 36);
    off += 36 + o.bytes.length;
  }
  return out;
}

/**
 * Decode frames; null when the framing is broken (truncated or trailing bytes), `{tooLarge}`
 * for a frame over `maxObject` bytes, `{tooMany}` (the frame count) for more than `maxCount`
 * frames. The framing is walked first without building anything, so a hostile batch of a
 * million tiny frames costs no memory before it is refused.
 */
export function decodeObjects(buf: Uint8Array, maxObject = Infinity, maxCount = Infinity): StoredObject[] | null | { tooLarge: number } | { tooMany: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let count = 0;
  for (let off = 0; off < buf.length; count++) {
    if (buf.length - off < 36) return null;
    const len = dv.getUint32(off + 32);
    if (len > maxObject) return { tooLarge: len };
    if (buf.length - off - 36 < len) return null;
    off += 36 + len;
  }
  if (count > maxCount) return { tooMany: count };
  // The ids go through one hex conversion (one native call instead of one per object).
  const raw = Buffer.allocUnsafe(count * 32);
  for (let off = 0, i = 0; i < count; i++) {
    for (let k = 0; k < 32; k++) raw[i * 32 + k] = buf[off + k]!;
    off += 36 + dv.getUint32(off + 32);
  }
  const hex = raw.toString('hex');
  const out: StoredObject[] = new Array(count);
  for (let off = 0, i = 0; i < count; i++) {
    const len = dv.getUint32(off + 32);
    out[i] = { id: hex.slice(i * 64, i * 64 + 64), bytes: buf.subarray(off + 36, off + 36 + len) };
    off += 36 + len;
  }
  return out;
}

const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Codes whose cause means the request never reached the server (safe to resend). */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

const UPLOAD_BATCH_BYTES = 4 * 1024 * 1024;
/** Most objects sent with a create (`objects` of POST /versions; the server refuses more). */
export const MAX_INLINE_COUNT = 1000;
/** Most bytes (decoded, all objects together) sent with a create. */
export const MAX_INLINE_BYTES = 1024 * 1024;
const inlineBytes = (objs: readonly StoredObject[]) => objs.reduce((n, o) => n + o.bytes.length, 0);
const UPLOAD_BATCH_COUNT = 2000;
const GET_BATCH_COUNT = 1000;
const MISSING_BATCH_COUNT = 10000;

type Accept = 'json' | 'binary';

interface Req {
  method: 'GET' | 'POST';
  path: string;
  json?: unknown;
  body?: Uint8Array;
  /** Safe to resend after a failure that may have reached the server. */
  idempotent: boolean;
  /**
   * Not resent after a reset on a reused connection either: that looks like a connection the
   * server had closed as idle, but also like one cut after the server did the work, so the
   * caller checks first whether the request arrived.
   */
  checkFirst?: boolean;
  accept?: Accept;
}

interface Res {
  status: number;
  json?: any;
  body?: Uint8Array;
}

/** A failure of the transport itself (no HTTP answer), with whether the request may have arrived. */
class NetworkError extends Error {
  /** `stale`: a reused connection reset before any answer (closed as idle, or cut after the work). */
  constructor(readonly reason: string, readonly maybeSent: boolean, readonly stale = false) { super(reason); }
}

export class HttpRemote implements Remote {
  /** Bytes on the wire (read off the sockets: headers and bodies) and requests so far. */
  readonly stats: TransferStats = { bytesSent: 0, bytesReceived: 0, requests: 0 };
  private readonly base: string;
  readonly tenant: string;
  private readonly timeoutMs: number;
  private readonly tries: number;
  private readonly backoffMs: number;
  private tokenCache: string | null | undefined;
  private transport: { request: typeof httpRequest; agent: HttpAgent } | undefined;
  /** The server refused objects sent with a create (it predates them): upload them first. */
  private noInline = false;

  constructor(readonly url: string, private readonly opts: RemoteOptions = {}) {
    let u: URL | undefined;
    try { u = new URL(url); } catch { /* below */ }
    if (!u) fail('REMOTE_URL_INVALID', `invalid remote URL ${url}; use http(s)://host:port/<tenant>`, { url });
    const segs = u.pathname.split('/').filter(Boolean);
    const tenant = segs.at(-1) ?? '';
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !TENANT.test(tenant) || u.search || u.hash || u.username) {
      fail('REMOTE_URL_INVALID', `invalid remote URL ${url}; use http(s)://host:port/<tenant> (tenant: lower-case letters, digits, '-')`, { url });
    }
    this.tenant = tenant;
    this.base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
    const env = opts.env ?? {};
    const num = (v: string | undefined, d: number) => { const n = Number(v); return v !== undefined && v !== '' && Number.isFinite(n) && n >= 0 ? n : d; };
    this.timeoutMs = num(env.AGENTSYNC_HTTP_TIMEOUT_MS, 30000);
    this.tries = Math.max(1, Math.floor(num(env.AGENTSYNC_HTTP_TRIES, 3)));
    this.backoffMs = num(env.AGENTSYNC_HTTP_BACKOFF_MS, 100);
  }

  private token(): string | undefined {
    if (this.tokenCache === undefined) this.tokenCache = this.opts.token ?? storedToken(this.opts.env ?? {}, this.url) ?? null;
    return this.tokenCache ?? undefined;
  }

  private async agent(): Promise<{ request: typeof httpRequest; agent: HttpAgent }> {
    if (!this.transport) {
      if (this.base.startsWith('https:')) {
        const https = await import('node:https');
        this.transport = { request: https.request as unknown as typeof httpRequest, agent: new https.Agent({ keepAlive: true, maxSockets: 16 }) };
      } else {
        this.transport = { request: httpRequest, agent: new HttpAgent({ keepAlive: true, maxSockets: 16 }) };
      }
    }
    return this.transport;
  }

  /** One HTTP exchange over a kept-alive connection, no retries. @throws NetworkError, AgentsyncError */
  private async once(r: Req): Promise<Res> {
    const headers: Record<string, string | number> = { accept: r.accept === 'binary' ? OBJECTS_TYPE : 'application/json' };
    let body: Uint8Array | undefined;
    if (r.json !== undefined) { body = Buffer.from(JSON.stringify(r.json)); headers['content-type'] = 'application/json'; }
    else if (r.body) { body = r.body; headers['content-type'] = OBJECTS_TYPE; }
    if (body) headers['content-length'] = body.length;
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const { request, agent } = await this.agent();
    this.stats.requests++;
    const t0 = performance.now();
    const res = await new Promise<{ status: number; type: string; buf: Buffer }>((resolve, reject) => {
      let sock: Socket | undefined;
      let w0 = 0, r0 = 0;
      let counted = false;
      const count = () => {
        if (counted || !sock) return;
        counted = true;
        this.stats.bytesSent += sock.bytesWritten - w0;
        this.stats.bytesReceived += sock.bytesRead - r0;
      };
      const req = request(this.base + r.path, { method: r.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          count();
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), buf: Buffer.concat(chunks) });
        });
        res.on('error', onError);
      });
      const onError = (e: Error & { code?: string }) => {
        clearTimeout(timer);
        count();
        const code = e.code ?? '';
        // A kept-alive connection the server had just closed as idle: the request never arrived
        // (unless it was cut after the work, which looks the same: see `checkFirst`).
        const stale = req.reusedSocket && code === 'ECONNRESET' && sock !== undefined && sock.bytesRead === r0;
        reject(new NetworkError(code === 'AGENTSYNC_TIMEOUT' ? `no answer within ${this.timeoutMs} ms` : code ? `${code}${e.message && !e.message.includes(code) ? ` (${e.message})` : ''}` : e.message, !(NOT_SENT.has(code) || stale), stale));
      };
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'AGENTSYNC_TIMEOUT' })), this.timeoutMs);
      req.on('socket', (s: Socket) => { sock = s; w0 = s.bytesWritten; r0 = s.bytesRead; });
      req.on('error', onError);
      req.end(body);
    });
    if (this.opts.env?.AGENTSYNC_TRACE_HTTP) process.stderr.write(`agentsync: ${r.method} ${this.base}${r.path.slice(0, 60)} → ${res.status} in ${(performance.now() - t0).toFixed(1)} ms (${body?.length ?? 0} B up, ${res.buf.length} B down)\n`);
    const { status, type, buf } = res;
    if (status >= 200 && status < 300) {
      if ((r.accept ?? 'json') === 'binary') {
        if (!type.startsWith(OBJECTS_TYPE)) this.protocol(`answered ${r.method} ${r.path} with ${type || 'no content type'}`);
        return { status, body: buf };
      }
      return { status, json: this.parse(buf, r) };
    }
    let err: { code?: unknown; message?: unknown; data?: unknown } | undefined;
    if (type.startsWith('application/json')) {
      try { err = (JSON.parse(buf.toString('utf8')) as { error?: typeof err }).error; } catch { /* below */ }
    }
    throw this.mapError(status, err);
  }

  private parse(buf: Uint8Array, r: Req): any {
    try {
      return JSON.parse(Buffer.from(buf).toString('utf8'));
    } catch {
      return this.protocol(`sent malformed JSON for ${r.method} ${r.path}`);
    }
  }

  private protocol(what: string): never {
    return fail('REMOTE_PROTOCOL', `the server at ${this.base} ${what}; is it an agentsync server of the same version?`, { url: this.url });
  }

  private mapError(status: number, err: { code?: unknown; message?: unknown; data?: unknown } | undefined): AgentsyncError {
    const code = typeof err?.code === 'string' && err.code in ERROR_CODES ? (err.code as ErrorCode) : undefined;
    const msg = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
    const data: Record<string, unknown> = { ...(err?.data && typeof err.data === 'object' ? err.data as Record<string, unknown> : {}), url: this.url, status };
    // The server's own words, for callers that word their own message (auth login) without nesting this one.
    if (status === 401 || status === 403) data.serverMessage = msg;
    if (status === 401) {
      const has = this.token() !== undefined;
      return new AgentsyncError('AUTH_REQUIRED', has
        ? `${this.url} refused the token (${msg}); run \`agentsync auth login\` with a valid token`
        : `${this.url} needs a token; run \`agentsync auth login\` (or set AGENTSYNC_TOKEN)`, data);
    }
    if (status === 403) return new AgentsyncError('AUTH_FORBIDDEN', `${this.url} forbids this with the current token (${msg}); ask for a token with the right tenant and scope, then run \`agentsync auth login\``, data);
    // The server's disk, not ours: same code as a full local disk (the fix is the same — free
    // space, run again), data.url and data.status 507 tell whose.
    if (status === 507 || code === 'DISK_FULL') return new AgentsyncError('DISK_FULL', `the disk of the server at ${this.url} is full: nothing was half-written there; ask its operator to free space (the server needs no restart), then run the command again`, data);
    if (code) return new AgentsyncError(code, msg, data);
    return new AgentsyncError('REMOTE_PROTOCOL', `unexpected answer HTTP ${status} from ${this.url}: ${msg}`, data);
  }

  private unreachable(e: NetworkError | AgentsyncError): AgentsyncError {
    if (e instanceof AgentsyncError) return e;
    return new AgentsyncError('REMOTE_UNREACHABLE', `cannot reach ${this.url}: ${e.reason}; check the URL and that the server is running`, { url: this.url, reason: e.reason });
  }

  /** A request with retries: network failures (and 502/503/504) are retried when safe. */
  private async call(r: Req): Promise<Res> {
    let last: NetworkError | AgentsyncError | undefined;
    for (let i = 0; i < this.tries; i++) {
      if (i > 0) await sleep(this.backoffMs * 4 ** (i - 1) * (0.5 + Math.random()));
      try {
        return await this.once(r);
      } catch (e) {
        if (e instanceof NetworkError) {
          last = e;
          if (!r.idempotent && (e.maybeSent || (e.stale && r.checkFirst))) throw e;
          continue;
        }
        const a = e as AgentsyncError;
        const status = a.data?.status as number | undefined;
        // 503 with REMOTE_BUSY is the server refusing before doing anything (shutting down).
        if ((status === 503 && (r.idempotent || a.code === 'REMOTE_BUSY')) || ((status === 502 || status === 504) && r.idempotent)) { last = a; continue; }
        throw e;
      }
    }
    throw last!;
  }

  private async get(path: string): Promise<any> {
    try {
      return (await this.call({ method: 'GET', path, idempotent: true })).json;
    } catch (e) {
      throw this.unreachable(e as NetworkError);
    }
  }

  private async post(path: string, json: unknown, idempotent: boolean): Promise<any> {
    try {
      return (await this.call({ method: 'POST', path, json, idempotent })).json;
    } catch (e) {
      throw this.unreachable(e as NetworkError);
    }
  }

  async head(): Promise<Head> {
    return (await this.get('/head')) as Head;
  }

  async versions(after = 0): Promise<Version[]> {
    return (await this.get(`/versions?after=${after}`)).versions as Version[];
  }

  async versionChanges(id: number): Promise<Change[]> {
    return (await this.get(`/versions/${id}/changes`)).changes as Change[];
  }

  async changesBetween(from: number | null, to: number): Promise<Change[]> {
    return (await this.get(`/changes?from=${from ?? 'none'}&to=${to}`)).changes as Change[];
  }

  async missing(ids: readonly ObjectId[]): Promise<ObjectId[]> {
    const out: ObjectId[] = [];
    for (let i = 0; i < ids.length; i += MISSING_BATCH_COUNT) {
      const r = await this.post('/objects/missing', { ids: ids.slice(i, i + MISSING_BATCH_COUNT) }, true);
      out.push(...(r.missing as ObjectId[]));
    }
    return out;
  }

  async putObjects(objs: readonly StoredObject[]): Promise<void> {
    let i = 0;
    while (i < objs.length) {
      let bytes = 0;
      let j = i;
      while (j < objs.length && j - i < UPLOAD_BATCH_COUNT && (j === i || bytes + objs[j]!.bytes.length + 36 <= UPLOAD_BATCH_BYTES)) bytes += objs[j++]!.bytes.length + 36;
      const batch = objs.slice(i, j);
      try {
        await this.call({ method: 'POST', path: '/objects', body: encodeObjects(batch), idempotent: true });
      } catch (e) {
        throw this.unreachable(e as NetworkError);
      }
      i = j;
    }
  }

  async getObjects(ids: readonly ObjectId[]): Promise<StoredObject[]> {
    const got = new Map<ObjectId, StoredObject>();
    const want = [...new Set(ids)];
    let i = 0;
    while (i < want.length) {
      const batch = want.slice(i, i + GET_BATCH_COUNT);
      let res: Res;
      try {
        res = await this.call({ method: 'POST', path: '/objects/get', json: { ids: batch }, idempotent: true, accept: 'binary' });
      } catch (e) {
        throw this.unreachable(e as NetworkError);
      }
      const objs = decodeObjects(res.body!);
      if (!Array.isArray(objs) || objs.length === 0) this.protocol('sent a malformed object batch');
      // The server answers in request order and may stop early (response size cap): ask again for the rest.
      for (let k = 0; k < objs.length; k++) {
        if (objs[k]!.id !== batch[k]) this.protocol('sent objects that were not asked for');
        got.set(objs[k]!.id, { id: objs[k]!.id, bytes: objs[k]!.bytes });
      }
      i += objs.length;
    }
    return ids.map((id) => got.get(id)!);
  }

  async createVersion(req: CreateVersionRequest, objects?: readonly StoredObject[]): Promise<Version> {
    const fields = { expected: req.expected, changes: req.changes, snapshot: req.snapshot, author: req.author, message: req.message, draft: req.draft };
    if (objects?.length && (this.noInline || objects.length > MAX_INLINE_COUNT || inlineBytes(objects) > MAX_INLINE_BYTES)) {
      await this.putObjects(objects);
      objects = undefined;
    }
    let body: object = objects?.length ? { ...fields, objects: objects.map((o) => ({ id: o.id, base64: Buffer.from(o.bytes.buffer, o.bytes.byteOffset, o.bytes.byteLength).toString('base64') })) } : fields;
    let resent = false;
    for (;;) {
      try {
        return (await this.call({ method: 'POST', path: '/versions', json: body, idempotent: false, checkFirst: true })).json.version as Version;
      } catch (e) {
        // A server older than objects sent with a create refuses the field before doing anything:
        // upload them the usual way, then create (and from now on always so).
        if (body !== fields && e instanceof AgentsyncError && e.code === 'REQUEST_INVALID' && e.data.reason === 'unknown-field' && e.data.field === 'objects') {
          this.noInline = true;
          await this.putObjects(objects!);
          body = fields;
          continue;
        }
        const ambiguous = e instanceof NetworkError || (e instanceof AgentsyncError && e.code === 'STALE_REMOTE' && resent);
        if (!ambiguous) throw this.unreachable(e as AgentsyncError);
        // The request may have reached the server: see whether the version landed before saying anything.
        let landed: Version | undefined;
        try {
          landed = await this.findLanded(req);
        } catch (e2) {
          if (e instanceof NetworkError) throw new AgentsyncError('REMOTE_UNREACHABLE', `cannot reach ${this.url} to learn whether the new version was created (${e.reason}); run \`agentsync fetch\` and \`agentsync status\` when it is back — nothing is lost locally`, { url: this.url, reason: e.reason });
          throw e2;
        }
        if (landed) return landed;
        if (e instanceof AgentsyncError) throw e; // stale after a resend, and not ours: the engine refetches and retries
        // It did not land. A published version is protected by the compare-and-swap, so
        // resending cannot duplicate it; a draft has no such guard, so it is resent only when
        // the request cannot have arrived (a reused connection reset before any answer: the
        // server had closed it as idle, since a version it had made would have been found).
        if ((req.draft && (e as NetworkError).maybeSent) || resent) throw this.unreachable(e);
        resent = true;
      }
    }
  }

  /** A version matching `req` created on `req.expected`, if one exists. */
  private async findLanded(req: CreateVersionRequest): Promise<Version | undefined> {
    const vs = await this.versions(req.expected ?? 0);
    return vs.find((v) => v.parent === req.expected && v.snapshot === req.snapshot && v.author === req.author
      && v.message === req.message && (v.state === 'draft') === req.draft);
  }

  async deploy(id: number): Promise<{ version: Version; head: Head }> {
    return (await this.post(`/versions/${id}/deploy`, {}, false)) as { version: Version; head: Head };
  }

  async rollback(id: number): Promise<{ version: Version; head: Head }> {
    return (await this.post(`/versions/${id}/rollback`, {}, false)) as { version: Version; head: Head };
  }

  async close(): Promise<void> {
    this.transport?.agent.destroy();
    this.transport = undefined;
  }
}

/** Check an id list from JSON (server side and client side). */
export function checkIds(v: unknown): v is ObjectId[] {
  return Array.isArray(v) && v.every(isObjectId);
}
