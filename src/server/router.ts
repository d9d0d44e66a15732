/**
 * A small router over node:http: routes are a method and a path pattern of literal segments
 * and `:params`; request bodies are read with a size cap; JSON bodies are checked against a
 * field list (unknown fields are refused); errors become `{ "error": { code, message, data } }`
 * with the HTTP status that fits the code.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDiskFull } from '../model/diskfull.js';
import { AgentsyncError, fail, isAgentsyncError, type ErrorCode } from '../model/errors.js';

export type Params = Record<string, string>;

export interface Route<C> {
  method: 'GET' | 'POST';
  segs: string[];
  handler: (ctx: C, params: Params) => Promise<void>;
}

export class Router<C> {
  private readonly routes: Route<C>[] = [];

  add(method: 'GET' | 'POST', pattern: string, handler: (ctx: C, params: Params) => Promise<void>): this {
    this.routes.push({ method, segs: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** The route for `method` and `path`; ROUTE_UNKNOWN (404, or 405 for a known path). */
  match(method: string, path: string): { route: Route<C>; params: Params } {
    // Canonical paths only: no empty segment (`//tenant/head`), no trailing slash.
    const segs = path.slice(1).split('/');
    if (!path.startsWith('/') || segs.some((s) => s === '')) throw new AgentsyncError('ROUTE_UNKNOWN', `no endpoint ${method} ${path}: paths have no empty segment and no trailing slash`, { method, path });
    let pathKnown = false;
    for (const r of this.routes) {
      if (r.segs.length !== segs.length) continue;
      const params: Params = {};
      let ok = true;
      for (let i = 0; i < segs.length && ok; i++) {
        const p = r.segs[i]!;
        let s: string;
        try { s = decodeURIComponent(segs[i]!); } catch { ok = false; break; }
        if (p.startsWith(':')) params[p.slice(1)] = s;
        else ok = p === s;
      }
      if (!ok) continue;
      if (r.method === method) return { route: r, params };
      pathKnown = true;
    }
    if (pathKnown) throw new AgentsyncError('ROUTE_UNKNOWN', `${method} is not allowed on ${path}`, { status: 405, method, path });
    throw new AgentsyncError('ROUTE_UNKNOWN', `no endpoint ${method} ${path}; see the protocol in the server README`, { method, path });
  }
}

/** HTTP status for an error code. */
export function statusOf(code: ErrorCode): number {
  switch (code) {
    case 'REQUEST_INVALID': case 'OBJECT_HASH_MISMATCH': case 'HASH_INVALID': case 'PATH_UNSAFE':
    case 'REMOTE_PROTOCOL': case 'USAGE':
      return 400;
    case 'AUTH_REQUIRED': return 401;
    case 'AUTH_FORBIDDEN': return 403;
    case 'VERSION_UNKNOWN': case 'TENANT_UNKNOWN': case 'TOKEN_UNKNOWN': case 'ROUTE_UNKNOWN':
      return 404;
    case 'STALE_REMOTE': case 'DRAFT_STALE': case 'VERSION_DRAFT': case 'OBJECT_MISSING': case 'TENANT_EXISTS':
      return 409;
    case 'REQUEST_TOO_LARGE': return 413;
    case 'REMOTE_BUSY': case 'STORE_LOCKED': return 503;
    case 'DISK_FULL': return 507;
    default: return 500;
  }
}

/** The error a request gets when the server's disk is full (HTTP 507); the path stays in the log. */
export function serverDiskFull(): AgentsyncError {
  return new AgentsyncError('DISK_FULL', "the server's disk is full: nothing was half-written; free space on the server (it needs no restart) and run the command again");
}

export function sendJson(res: ServerResponse, status: number, v: unknown): void {
  const body = Buffer.from(JSON.stringify(v));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

export function sendError(res: ServerResponse, e: unknown, log?: (s: string) => void): void {
  let err: AgentsyncError;
  if (isDiskFull(e)) {
    // (A DISK_FULL from the store names a server path: the client gets the generic message.)
    err = serverDiskFull();
    log?.(`agentsync serve: DISK_FULL: ${(e as Error)?.message ?? String(e)}\n`);
  } else if (isAgentsyncError(e)) err = e;
  else {
    err = new AgentsyncError('INTERNAL', 'internal server error; see the server log');
    log?.(`agentsync serve: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  const { status: forced, ...data } = err.data as { status?: number };
  const status = typeof forced === 'number' ? forced : statusOf(err.code);
  if (status >= 500 && isAgentsyncError(e) && err === e) log?.(`agentsync serve: ${err.code}: ${err.message}\n`);
  if (res.headersSent) { res.destroy(); return; }
  sendJson(res, status, { error: { code: err.code, message: err.message, ...(Object.keys(data).length ? { data } : {}) } });
}

/**
 * Read the whole body, refusing more than `max` bytes with 413 REQUEST_TOO_LARGE. A declared
 * length over the cap is refused before reading; an undeclared one is counted as it arrives.
 */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () => new AgentsyncError('REQUEST_TOO_LARGE', `the request body is larger than the server's limit of ${max} bytes; send smaller batches`, { limit: max, reason: 'body' });
  if (Number.isFinite(declared) && declared > max) {
    req.resume(); // drain, so that the client reads the answer instead of a reset
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let n = 0;
  let over = false;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) over = true;
    if (!over) chunks.push(c);
  }
  if (over) throw tooLarge();
  return Buffer.concat(chunks, n);
}

export type Check = (v: unknown) => boolean;

/**
 * Parse a JSON object body whose fields are exactly among `fields` (with `required` present)
 * and pass their checks. @throws REQUEST_INVALID
 */
export function parseBody(buf: Buffer, fields: Record<string, { check: Check; required?: boolean; what: string }>): Record<string, unknown> {
  let v: unknown;
  try {
    v = buf.length === 0 ? {} : JSON.parse(buf.toString('utf8'));
  } catch (e) {
    return fail('REQUEST_INVALID', `the request body is not valid JSON (${(e as Error).message})`, { reason: 'json' });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('REQUEST_INVALID', 'the request body must be a JSON object', { reason: 'json' });
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!Object.hasOwn(fields, k)) fail('REQUEST_INVALID', `unknown field ${JSON.stringify(k)} in the request body`, { reason: 'unknown-field', field: k });
  }
  for (const [k, f] of Object.entries(fields)) {
    if (!(k in o)) {
      if (f.required !== false) fail('REQUEST_INVALID', `the request body lacks field ${JSON.stringify(k)} (${f.what})`, { reason: 'missing-field', field: k });
      continue;
    }
    if (!f.check(o[k])) fail('REQUEST_INVALID', `field ${JSON.stringify(k)} must be ${f.what}`, { reason: 'bad-field', field: k });
  }
  return o;
}

/** Query parameters, refusing unknown ones. */
export function parseQuery(search: URLSearchParams, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of search) {
    if (!allowed.includes(k)) fail('REQUEST_INVALID', `unknown query parameter ${JSON.stringify(k)}`, { reason: 'unknown-field', field: k });
    if (Object.hasOwn(out, k)) fail('REQUEST_INVALID', `query parameter ${JSON.stringify(k)} is given twice`, { reason: 'repeated-field', field: k });
    out[k] = v;
  }
  return out;
}

/** A version id in a path or query: a positive integer. */
export function versionId(s: string | undefined, what: string): number {
  const n = Number(s);
  if (!s || !/^[1-9][0-9]{0,14}$/.test(s) || !Number.isSafeInteger(n)) fail('REQUEST_INVALID', `${what} must be a version number, not ${JSON.stringify(s ?? '')}`, { reason: 'bad-field', field: what });
  return n;
}
