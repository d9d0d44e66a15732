/**
 * The dashboard: the server's web page at `/`, on the same port, process, storage and
 * authorisation rules as the HTTP API. Every read and write goes through the tenant's
 * {@link TenantStore} — the functions the API endpoints call — never a second path to the data.
 *
 * Sessions: `POST /_dashboard/api/session {token}` checks the token exactly as the API does
 * (`authenticate`) and answers with a session cookie (`agentsync_session`, HttpOnly,
 * SameSite=Strict, Path=/, Max-Age, Secure behind https). The token itself is never stored,
 * echoed, or put in a URL or page; the session holds only the token's id, and every request
 * re-reads that token's record, so revoking or expiring the token ends its sessions at once.
 * State-changing requests also need the session's CSRF token in the `X-Agentsync-Csrf` header
 * (a cross-site form cannot set a header), a JSON content type, and — when the browser sends
 * one — an `Origin` equal to the page's. Sign-in attempts are limited per client address.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fail, isAgentsyncError } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { DEFAULT_KINDS, compileKind, formatOf, kindOf } from '../model/kinds.js';
import { applyChanges, snapshotHash, type Change, type Manifest } from '../model/manifest.js';
import { artifactPathProblem } from '../model/paths.js';
import type { Version } from '../model/version.js';
import { validateArtifact, type Problem } from '../engine/validate.js';
import { hasConflictMarkers, mergeArtifact } from '../merge/index.js';
import { displayDiff } from '../merge/display.js';
import { authenticate, createToken, publicToken, revokeToken } from './auth.js';
import { parseBody, parseQuery, readBody, sendError, sendJson, versionId } from './router.js';
import { scopeAllows, type Scope, type Storage, type TenantStore } from './storage.js';

export const SESSION_COOKIE = 'agentsync_session';
export const CSRF_HEADER = 'x-agentsync-csrf';
/** How long a session lives (never longer than its token). */
export const SESSION_TTL_MS = 8 * 3600 * 1000;
/** Sign-in attempts allowed per client address per window. */
export const SIGNIN_LIMIT = 10;
export const SIGNIN_WINDOW_MS = 60 * 1000;
/** Client addresses whose sign-in attempts are remembered before old ones are swept. */
const MAX_ADDRESSES = 10000;
/** Largest artifact text the editor saves (the server's object cap applies too). */
const MAX_BODY = 4 * 1024 * 1024;

interface Session {
  tokenId: string;
  tenant: string;
  csrf: string;
  expiresAt: number;
}

interface Authed {
  sid: string;
  session: Session;
  tenant: string;
  scope: Scope;
  label: string;
  store: TenantStore;
}

export interface DashboardOptions {
  maxObjectBytes: number;
  /** Where the built page assets are (default: found next to the code). */
  assetsDir?: string;
  /** Clock for sessions and the sign-in limit (tests). */
  now?: () => number;
  log?: (s: string) => void;
}

const KINDS = DEFAULT_KINDS.map((k) => compileKind(k));
const dec = new TextDecoder('utf-8', { fatal: true });
const enc = new TextEncoder();

/** The built assets: dist/bundle/dashboard (next to dist/src/server or next to the bundle's chunks). */
export function findAssets(): string | undefined {
  for (const rel of ['../../bundle/dashboard/', './dashboard/', '../bundle/dashboard/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}app.js`)) return dir;
  }
  return undefined;
}

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

function csp(nonce: string): string {
  // Scripts only from this origin (no inline script, no eval); CodeMirror's generated styles
  // carry the page's nonce.
  return [
    "default-src 'none'", "script-src 'self'", `style-src 'self' 'nonce-${nonce}'`, "img-src 'self' data:",
    "connect-src 'self'", "font-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
  ].join('; ');
}

function securityHeaders(res: ServerResponse, nonce: string): void {
  res.setHeader('content-security-policy', csp(nonce));
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('cache-control', 'no-store');
}

function shell(nonce: string): string {
  // No data and no token in the page: the script asks the API once it runs.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csp-nonce" content="${nonce}">
<title>agentsync</title>
<link rel="stylesheet" href="/_dashboard/app.css">
<script type="module" src="/_dashboard/app.js"></script>
</head>
<body>
<noscript>The agentsync dashboard needs JavaScript.</noscript>
<main id="app" aria-live="polite"></main>
</body>
</html>
`;
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

function isHttps(req: IncomingMessage): boolean {
  return !!(req.socket as { encrypted?: boolean }).encrypted || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim() === 'https';
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A version's manifest, through the store's own change lists (from the empty snapshot). */
async function manifestOf(store: TenantStore, id: number): Promise<Manifest> {
  return applyChanges(new Map(), await store.changesBetween(null, id));
}

async function readText(store: TenantStore, id: ObjectId): Promise<string> {
  const [bytes] = await store.getMany([id]);
  if (!bytes) fail('OBJECT_MISSING', `the server lacks object ${id}; run \`agentsync admin fsck\``, { id, status: 500 });
  try {
    return dec.decode(bytes);
  } catch {
    return fail('REQUEST_INVALID', 'this artifact is not UTF-8 text; the dashboard shows text only', { reason: 'binary' });
  }
}

function schemaOf(path: string) {
  return kindOf(KINDS, path)?.schema ?? 'none';
}

/** What `agentsync validate` says of `text` at `path` (default kinds). */
export function problemsOf(path: string, text: string): Problem[] {
  return validateArtifact(path, enc.encode(text), schemaOf(path));
}

const isPath = (v: unknown) => typeof v === 'string' && artifactPathProblem(v) === null;
const isBase = (v: unknown) => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1);

/** The dashboard's request handler; answers `false` for a path that is not the dashboard's. */
export function makeDashboard(storage: Storage, o: DashboardOptions) {
  const now = o.now ?? Date.now;
  // Sessions live in the storage (shared by every server on it), keyed by the hash of the id.
  const keyOf = (sid: string) => createHash('sha256').update(sid).digest('hex');
  const sessions = {
    get: (sid: string) => storage.sessions.get(keyOf(sid)),
    set: (sid: string, s: Session) => storage.sessions.put(keyOf(sid), s),
    delete: (sid: string) => storage.sessions.delete(keyOf(sid)),
  };
  const attempts = new Map<string, number[]>();
  const assetsDir = o.assetsDir ?? findAssets();
  const assetCache = new Map<string, Buffer>();

  const clearCookie = (req: IncomingMessage) => `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${isHttps(req) ? '; Secure' : ''}`;

  /** The session of the request, its token still valid and with at least `need`. */
  async function session(req: IncomingMessage, need: Scope): Promise<Authed> {
    const sid = cookies(req).get(SESSION_COOKIE);
    const s = sid ? await sessions.get(sid) : undefined;
    if (!sid || !s) fail('AUTH_REQUIRED', 'sign in to the dashboard with a token', { reason: 'session' });
    if (s.expiresAt <= now()) {
      await sessions.delete(sid);
      fail('AUTH_REQUIRED', 'the session expired; sign in again', { reason: 'expired' });
    }
    const rec = await storage.token(s.tokenId);
    if (!rec || rec.tenant !== s.tenant) { await sessions.delete(sid); fail('AUTH_REQUIRED', 'the token of this session no longer exists; sign in again', { reason: 'invalid' }); }
    if (rec.revokedAt) { await sessions.delete(sid); fail('AUTH_REQUIRED', 'the token of this session was revoked; sign in again', { reason: 'revoked' }); }
    if (rec.expiresAt !== null && Date.parse(rec.expiresAt) <= now()) { await sessions.delete(sid); fail('AUTH_REQUIRED', 'the token of this session expired', { reason: 'expired' }); }
    if (!scopeAllows(rec.scope, need)) fail('AUTH_FORBIDDEN', `the token's scope is ${rec.scope}; this needs ${need}`, { scope: rec.scope, need });
    if (!(await storage.tenant(rec.tenant))) fail('TENANT_UNKNOWN', `no tenant ${rec.tenant} on this server`, { tenant: rec.tenant });
    return { sid, session: s, tenant: rec.tenant, scope: rec.scope, label: rec.label ?? `token ${rec.id}`, store: storage.remote(rec.tenant) };
  }

  /** A state-changing request: JSON, same origin, the session's CSRF token. */
  function checkWrite(req: IncomingMessage, s?: Session): void {
    const type = String(req.headers['content-type'] ?? '');
    if (!type.startsWith('application/json')) fail('REQUEST_INVALID', 'dashboard requests are JSON', { reason: 'content-type', status: 415 });
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const want = `${isHttps(req) ? 'https' : 'http'}://${req.headers.host ?? ''}`;
      if (origin !== want) fail('AUTH_FORBIDDEN', 'a request from another site was refused', { reason: 'origin' });
    }
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') fail('AUTH_FORBIDDEN', 'a request from another site was refused', { reason: 'origin' });
    if (s) {
      const given = String(req.headers[CSRF_HEADER] ?? '');
      if (!sameText(given, s.csrf)) fail('AUTH_FORBIDDEN', 'the request lacks the page\'s CSRF token; reload the page', { reason: 'csrf' });
    }
  }

  /** Refuse sign-in from an address with SIGNIN_LIMIT failed attempts in the last window. */
  function limitSignIn(req: IncomingMessage, res: ServerResponse): void {
    const t = now();
    const recent = (attempts.get(req.socket.remoteAddress ?? '?') ?? []).filter((x) => x > t - SIGNIN_WINDOW_MS);
    if (recent.length >= SIGNIN_LIMIT) {
      const retry = Math.max(1, Math.ceil((recent[0]! + SIGNIN_WINDOW_MS - t) / 1000));
      res.setHeader('retry-after', String(retry));
      fail('AUTH_REQUIRED', `too many failed sign-in attempts from this address; try again in ${retry} s`, { reason: 'rate-limited', retryAfter: retry, status: 429 });
    }
  }

  function failedSignIn(req: IncomingMessage): void {
    const who = req.socket.remoteAddress ?? '?';
    const t = now();
    const recent = (attempts.get(who) ?? []).filter((x) => x > t - SIGNIN_WINDOW_MS);
    recent.push(t);
    attempts.set(who, recent);
    if (attempts.size > MAX_ADDRESSES) for (const [k, v] of attempts) if (!v.some((x) => x > t - SIGNIN_WINDOW_MS)) attempts.delete(k);
  }

  const json = async (req: IncomingMessage, fields: Parameters<typeof parseBody>[1]) => parseBody(await readBody(req, MAX_BODY), fields);

  function versionView(v: Version, head: { latestPublished: number | null; current: number | null }) {
    return { ...v, changes: v.changed, latest: v.id === head.latestPublished, current: v.id === head.current };
  }

  /** Save one artifact's edit as a new version: compare-and-swap on `base`. */
  async function save(a: Authed, b: { base: number | null; path: string; text: string | null; message: string; draft: boolean }) {
    if (b.text !== null) {
      if (hasConflictMarkers(b.text)) fail('CONFLICT_MARKERS', `${b.path} still holds conflict markers; resolve them before saving`, { path: b.path, status: 422 });
      const problems = problemsOf(b.path, b.text);
      if (problems.length) fail('VALIDATION_FAILED', `${b.path} is not valid: ${problems[0]!.message}`, { problems, status: 422 });
      if (enc.encode(b.text).length > o.maxObjectBytes) fail('REQUEST_TOO_LARGE', `the artifact is larger than the server's limit of ${o.maxObjectBytes} bytes`, { limit: o.maxObjectBytes, reason: 'object' });
    }
    const head = await a.store.head();
    const baseManifest = b.base === null ? new Map<string, ObjectId>() : await manifestOf(a.store, b.base);
    const startedWith = baseManifest.get(b.path) ?? null;
    let expected = b.base;
    let parent = baseManifest;
    if (head.latestPublished !== b.base) {
      // Someone published since the editor opened. Only when this artifact is as it was may
      // the edit go on top of what is there now; otherwise the page shows the conflict.
      const latest = head.latestPublished === null ? new Map<string, ObjectId>() : await manifestOf(a.store, head.latestPublished);
      const nowId = latest.get(b.path) ?? null;
      if (nowId !== startedWith) {
        fail('STALE_REMOTE', `${b.path} changed since the editor opened (version ${head.latestPublished ?? 'none'} is the latest published); review the difference, then reapply or discard your edit`, {
          latestPublished: head.latestPublished, expected: b.base, path: b.path,
        });
      }
      expected = head.latestPublished;
      parent = latest;
    }
    let id: ObjectId | null = null;
    if (b.text !== null) {
      const bytes = enc.encode(b.text);
      id = blobId(bytes);
      await a.store.putObjects([{ id, bytes }]);
    } else if (!parent.has(b.path)) fail('REQUEST_INVALID', `there is no ${b.path} to delete`, { reason: 'bad-field', field: 'path' });
    if ((parent.get(b.path) ?? null) === id) fail('REQUEST_INVALID', 'nothing changed: the artifact is the same as in its version', { reason: 'unchanged', field: 'text' });
    const changes: Change[] = [{ path: b.path, id }];
    const snapshot = snapshotHash(applyChanges(parent, changes));
    return a.store.createVersion({ expected, changes, snapshot, author: `${a.label} (dashboard)`, message: b.message, draft: b.draft });
  }

  const api: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL, rest: string[]) => Promise<void>> = {
    async 'GET session'(req, res) {
      const a = await session(req, 'read');
      sendJson(res, 200, { tenant: a.tenant, scope: a.scope, label: a.label, csrf: a.session.csrf, expiresAt: new Date(a.session.expiresAt).toISOString() });
    },
    async 'POST session'(req, res) {
      checkWrite(req);
      limitSignIn(req, res);
      const b = await json(req, { token: { check: (v) => typeof v === 'string' && v.length < 200, what: 'a token' } });
      let rec;
      try {
        rec = await authenticate(storage, `Bearer ${b.token as string}`, null, 'read', now());
        if (!(await storage.tenant(rec.tenant))) fail('TENANT_UNKNOWN', `no tenant ${rec.tenant} on this server`, { tenant: rec.tenant });
      } catch (e) {
        failedSignIn(req);
        throw e;
      }
      const sid = randomBytes(32).toString('base64url');
      const t = now();
      const expiresAt = Math.min(t + SESSION_TTL_MS, rec.expiresAt === null ? Infinity : Date.parse(rec.expiresAt));
      const s: Session = { tokenId: rec.id, tenant: rec.tenant, csrf: randomBytes(32).toString('base64url'), expiresAt };
      await sessions.set(sid, s);
      const maxAge = Math.max(1, Math.floor((expiresAt - t) / 1000));
      res.setHeader('set-cookie', `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${isHttps(req) ? '; Secure' : ''}`);
      sendJson(res, 200, { tenant: rec.tenant, scope: rec.scope, label: rec.label ?? `token ${rec.id}`, csrf: s.csrf, expiresAt: new Date(expiresAt).toISOString() });
    },
    async 'POST signout'(req, res) {
      const sid = cookies(req).get(SESSION_COOKIE);
      const s = sid ? await sessions.get(sid) : undefined;
      if (!sid || !s) fail('AUTH_REQUIRED', 'not signed in', { reason: 'session' });
      checkWrite(req, s);
      await json(req, {});
      await sessions.delete(sid);
      res.setHeader('set-cookie', clearCookie(req));
      sendJson(res, 200, { ok: true });
    },
    async 'GET versions'(req, res, url) {
      parseQuery(url.searchParams, []);
      const a = await session(req, 'read');
      const head = await a.store.head();
      const versions = (await a.store.versions(0)).reverse().map((v) => versionView(v, head));
      sendJson(res, 200, { head, versions });
    },
    async 'GET changes'(req, res, url) {
      const q = parseQuery(url.searchParams, ['version']);
      const a = await session(req, 'read');
      const id = versionId(q.version, 'version');
      const head = await a.store.head();
      const version = versionView(await a.store.version(id), head);
      const changes = await a.store.versionChanges(id);
      const parent = version.parent === null ? new Map<string, ObjectId>() : await manifestOf(a.store, version.parent);
      sendJson(res, 200, { version, changes: changes.map((c) => ({ ...c, change: c.id === null ? 'deleted' : parent.has(c.path) ? 'modified' : 'added' })) });
    },
    async 'GET artifacts'(req, res, url) {
      const q = parseQuery(url.searchParams, ['version']);
      const a = await session(req, 'read');
      const head = await a.store.head();
      const id = q.version === undefined ? head.latestPublished : versionId(q.version, 'version');
      if (id === null) { sendJson(res, 200, { version: null, artifacts: [] }); return; }
      const version = versionView(await a.store.version(id), head);
      const m = await manifestOf(a.store, id);
      const artifacts = [...m].map(([path, blob]) => ({ path, id: blob, kind: kindOf(KINDS, path)?.name ?? 'other', format: formatOf(path) }));
      sendJson(res, 200, { version, artifacts });
    },
    async 'GET artifact'(req, res, url) {
      const q = parseQuery(url.searchParams, ['version', 'path']);
      const a = await session(req, 'read');
      const head = await a.store.head();
      const id = q.version === undefined ? head.latestPublished : versionId(q.version, 'version');
      const path = q.path ?? '';
      if (id === null) fail('VERSION_UNKNOWN', 'nothing was published yet', { status: 404 });
      const m = await manifestOf(a.store, id);
      const blob = m.get(path);
      if (!blob) fail('REQUEST_INVALID', `version ${id} has no ${path}`, { reason: 'not-found', status: 404, path });
      const text = await readText(a.store, blob);
      // History: the versions whose own changes name this path, newest first.
      const history: ReturnType<typeof versionView>[] = [];
      for (const v of (await a.store.versions(0)).reverse()) {
        if ((await a.store.versionChanges(v.id)).some((c) => c.path === path)) history.push(versionView(v, head));
      }
      sendJson(res, 200, { version: versionView(await a.store.version(id), head), path, id: blob, kind: kindOf(KINDS, path)?.name ?? 'other', format: formatOf(path), text, history });
    },
    async 'GET diff'(req, res, url) {
      const q = parseQuery(url.searchParams, ['from', 'to', 'path']);
      const a = await session(req, 'read');
      const from = q.from === undefined || q.from === 'none' ? null : versionId(q.from, 'from');
      const to = versionId(q.to, 'to');
      const changes = (await a.store.changesBetween(from, to)).filter((c) => q.path === undefined || c.path === q.path);
      const before = from === null ? new Map<string, ObjectId>() : await manifestOf(a.store, from);
      const files = [];
      for (const c of changes) {
        const old = before.get(c.path);
        const oldText = old ? await readText(a.store, old) : '';
        const newText = c.id ? await readText(a.store, c.id) : '';
        files.push({ path: c.path, change: c.id === null ? 'deleted' : old ? 'modified' : 'added', lines: displayDiff(oldText, newText) });
      }
      sendJson(res, 200, { from, to, files });
    },
    async 'POST validate'(req, res) {
      const a = await session(req, 'read');
      checkWrite(req, a.session);
      const b = await json(req, { path: { check: isPath, what: 'an artifact path' }, text: { check: (v) => typeof v === 'string', what: 'the text' } });
      sendJson(res, 200, { problems: problemsOf(b.path as string, b.text as string) });
    },
    async 'POST save'(req, res) {
      const a = await session(req, 'write');
      checkWrite(req, a.session);
      const b = await json(req, {
        base: { check: isBase, what: 'null or the version the editor started from' },
        path: { check: isPath, what: 'a safe artifact path' },
        text: { check: (v) => v === null || typeof v === 'string', what: 'the new text, or null to delete' },
        message: { check: (v) => typeof v === 'string', what: 'a message' },
        draft: { check: (v) => typeof v === 'boolean', what: 'true or false' },
      });
      const version = await save(a, b as never);
      sendJson(res, 201, { version });
    },
    async 'POST merge'(req, res) {
      // The three-way merge of `agentsync merge`: base = what the editor started from, ours =
      // the edit, theirs = the artifact as the latest published version has it now.
      const a = await session(req, 'write');
      checkWrite(req, a.session);
      const b = await json(req, {
        base: { check: isBase, what: 'null or the version the editor started from' },
        path: { check: isPath, what: 'an artifact path' },
        text: { check: (v) => typeof v === 'string', what: 'the edited text' },
      });
      const path = b.path as string;
      const head = await a.store.head();
      const baseM = b.base === null ? new Map<string, ObjectId>() : await manifestOf(a.store, b.base as number);
      const latestM = head.latestPublished === null ? new Map<string, ObjectId>() : await manifestOf(a.store, head.latestPublished);
      const baseId = baseM.get(path), theirsId = latestM.get(path);
      const baseText = baseId ? await readText(a.store, baseId) : '';
      const theirs = theirsId ? await readText(a.store, theirsId) : '';
      const r = mergeArtifact(path, baseText, b.text as string, theirs);
      sendJson(res, 200, { latestPublished: head.latestPublished, clean: r.clean, text: r.text, theirs, diff: displayDiff(baseText, theirs) });
    },
    async 'POST deploy'(req, res, _url, rest) {
      const a = await session(req, 'write');
      checkWrite(req, a.session);
      await json(req, {});
      sendJson(res, 200, await a.store.deploy(versionId(rest[0], 'version')));
    },
    async 'POST rollback'(req, res, _url, rest) {
      const a = await session(req, 'write');
      checkWrite(req, a.session);
      await json(req, {});
      sendJson(res, 200, await a.store.rollback(versionId(rest[0], 'version')));
    },
    async 'GET tokens'(req, res, url) {
      parseQuery(url.searchParams, []);
      const a = await session(req, 'admin');
      const t = await storage.tenant(a.tenant);
      sendJson(res, 200, { tenant: t, tokens: (await storage.tokens()).filter((x) => x.tenant === a.tenant).map((x) => publicToken(x, now())) });
    },
    async 'POST tokens'(req, res, _url, rest) {
      const a = await session(req, 'admin');
      checkWrite(req, a.session);
      if (rest[0] !== undefined) {
        // POST tokens/<id>/revoke: only a token of the session's own tenant.
        if (rest[1] !== 'revoke' || rest.length !== 2) fail('ROUTE_UNKNOWN', 'no such dashboard endpoint', { status: 404 });
        await json(req, {});
        const t = await storage.token(rest[0]);
        if (!t || t.tenant !== a.tenant) fail('TOKEN_UNKNOWN', `no token ${rest[0]} on this tenant`, { id: rest[0] });
        sendJson(res, 200, { token: publicToken(await revokeToken(storage, t.id), now()) });
        return;
      }
      const b = await json(req, {
        scope: { check: (v) => v === 'read' || v === 'write' || v === 'admin', what: 'read, write or admin' },
        label: { check: (v) => typeof v === 'string' && v.length <= 200, what: 'a label', required: false },
        expiresInDays: { check: (v) => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 3650), what: 'null or 1–3650 days', required: false },
      });
      const days = (b.expiresInDays ?? null) as number | null;
      const t = await createToken(storage, { tenant: a.tenant, scope: b.scope as Scope, expiresInMs: days === null ? null : days * 86400e3, ...(b.label ? { label: b.label as string } : {}) });
      // The secret is shown once, in this answer; only its hash is kept.
      sendJson(res, 201, { token: t.token, record: publicToken(t.record, now()) });
    },
  };

  return async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (path !== '/' && !path.startsWith('/_dashboard/')) return false;
    const nonce = randomBytes(16).toString('base64');
    securityHeaders(res, nonce);
    try {
      if (path === '/') {
        if (req.method !== 'GET' && req.method !== 'HEAD') fail('ROUTE_UNKNOWN', `${req.method} is not allowed on /`, { status: 405 });
        parseQuery(url.searchParams, []);
        const body = Buffer.from(shell(nonce));
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
        return true;
      }
      const rest = path.slice('/_dashboard/'.length).split('/');
      if (rest.length === 1 && Object.hasOwn(ASSETS, rest[0]!)) {
        if (req.method !== 'GET') fail('ROUTE_UNKNOWN', `${req.method} is not allowed here`, { status: 405 });
        if (!assetsDir) fail('INTERNAL', 'the dashboard assets were not built; run `npm run build`');
        let body = assetCache.get(rest[0]!);
        if (!body) { body = readFileSync(assetsDir + rest[0]!); assetCache.set(rest[0]!, body); }
        res.setHeader('cache-control', 'no-cache');
        res.writeHead(200, { 'content-type': ASSETS[rest[0]!]!, 'content-length': body.length });
        res.end(body);
        return true;
      }
      if (rest[0] !== 'api' || rest.length < 2) fail('ROUTE_UNKNOWN', `no dashboard page ${path}`, { method: req.method, path });
      const handler = api[`${req.method} ${rest[1]}`];
      const tail = rest.slice(2);
      const takesTail = req.method === 'POST' && (rest[1] === 'deploy' || rest[1] === 'rollback' || rest[1] === 'tokens');
      if (!handler || (tail.length > 0 && !takesTail)) fail('ROUTE_UNKNOWN', `no dashboard endpoint ${req.method} ${path}`, { method: req.method, path });
      await handler(req, res, url, tail);
    } catch (e) {
      if (isAgentsyncError(e) && e.code === 'AUTH_REQUIRED' && (e.data as { reason?: string }).reason !== 'rate-limited' && cookies(req).has(SESSION_COOKIE)) {
        res.setHeader('set-cookie', clearCookie(req));
      }
      if (!res.headersSent) req.resume();
      sendError(res, e, o.log);
    }
    return true;
  };
}
