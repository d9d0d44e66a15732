/**
 * Tokens: `as_<id>_<secret>`, id 16 hex digits (public, the lookup key), secret 32 random
 * bytes in base64url (43 characters). Only SHA-256(secret) is stored; a presented token is
 * looked up by id and its secret's hash compared with crypto.timingSafeEqual. Each token names
 * one tenant and one scope (read ⊂ write ⊂ admin), and may expire or be revoked.
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AgentsyncError, fail } from '../model/errors.js';
import { SCOPES, scopeAllows, type Scope, type Storage, type TokenRecord } from './storage.js';

const TOKEN = /^as_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function isTokenFormat(s: string): boolean {
  return TOKEN.test(s);
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Parse `30d`, `12h`, `90m`, `3600s` or `never` to milliseconds (null: never). */
export function parseDuration(s: string): number | null {
  if (s === 'never') return null;
  const m = /^(\d+)\s*([smhdwy])$/.exec(s.trim());
  if (!m) fail('USAGE', `--expires-in ${JSON.stringify(s)}: use a number with s, m, h, d, w or y (e.g. 30d), or "never"`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3, y: 365 * 86400e3 }[m[2] as 's'];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) fail('USAGE', `--expires-in ${JSON.stringify(s)} must be positive`);
  return ms;
}

export function checkScope(s: unknown): Scope {
  if (typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s)) fail('USAGE', `--scope must be one of ${SCOPES.join(', ')}`);
  return s as Scope;
}

export interface CreatedToken {
  token: string;
  record: TokenRecord;
}

/** Make a token for an existing tenant. The secret exists only in the returned string. */
export async function createToken(storage: Storage, o: { tenant: string; scope: Scope; expiresInMs: number | null; label?: string; now?: number }): Promise<CreatedToken> {
  if (!(await storage.tenant(o.tenant))) fail('TENANT_UNKNOWN', `no tenant ${o.tenant}; \`agentsync admin tenant create ${o.tenant}\` creates it`, { tenant: o.tenant });
  const now = o.now ?? Date.now();
  let id: string;
  do id = randomBytes(8).toString('hex'); while (await storage.token(id));
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id, tenant: o.tenant, scope: o.scope, hash: hashSecret(secret).toString('hex'),
    createdAt: new Date(now).toISOString(), expiresAt: o.expiresInMs === null ? null : new Date(now + o.expiresInMs).toISOString(),
    revokedAt: null, ...(o.label ? { label: o.label } : {}),
  };
  await storage.putToken(record);
  return { token: `as_${id}_${secret}`, record };
}

export async function revokeToken(storage: Storage, id: string): Promise<TokenRecord> {
  const t = await storage.token(id);
  if (!t) fail('TOKEN_UNKNOWN', `no token ${id}; \`agentsync admin token list\` shows them`, { id });
  if (t.revokedAt) return t;
  const r = { ...t, revokedAt: new Date().toISOString() };
  await storage.putToken(r);
  return r;
}

/** The public view of a token record (no hash). */
export function publicToken(t: TokenRecord, now = Date.now()) {
  return {
    id: t.id, tenant: t.tenant, scope: t.scope, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt,
    expired: t.expiresAt !== null && Date.parse(t.expiresAt) <= now, ...(t.label ? { label: t.label } : {}),
  };
}

/**
 * Authenticate `Authorization: Bearer <token>` for `tenant` needing `scope`.
 * 401 AUTH_REQUIRED: no token, malformed, unknown, wrong secret, expired, revoked.
 * 403 AUTH_FORBIDDEN: a valid token for another tenant (whether or not that tenant exists:
 * the answer does not reveal it), or a scope too small.
 */
export async function authenticate(storage: Storage, header: string | undefined, tenant: string | null, need: Scope, now = Date.now()): Promise<TokenRecord> {
  const deny = (reason: string, why: string): never => { throw new AgentsyncError('AUTH_REQUIRED', why, { reason }); };
  if (!header) deny('missing', 'this request needs a token (Authorization: Bearer as_…)');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header!);
  const parsed = m ? TOKEN.exec(m[1]!) : null;
  if (!parsed) return deny('malformed', 'the token is not an agentsync token');
  const rec = await storage.token(parsed[1]!);
  const given = hashSecret(parsed[2]!);
  // Compare even for unknown ids, so that timing does not tell which ids exist.
  const want = rec && /^[0-9a-f]{64}$/.test(rec.hash) ? Buffer.from(rec.hash, 'hex') : Buffer.alloc(32);
  const ok = timingSafeEqual(given, want) && !!rec;
  if (!ok || !rec) return deny('invalid', 'the token is not valid');
  if (rec.revokedAt) deny('revoked', 'the token was revoked');
  if (rec.expiresAt !== null && Date.parse(rec.expiresAt) <= now) deny('expired', `the token expired at ${rec.expiresAt}`);
  if (tenant === null) return rec; // any valid token (what an unknown route needs to be told so)
  if (rec.tenant !== tenant) fail('AUTH_FORBIDDEN', `the token is not valid for tenant ${tenant}`, { tenant });
  if (!scopeAllows(rec.scope, need)) fail('AUTH_FORBIDDEN', `the token's scope is ${rec.scope}; this needs ${need}`, { scope: rec.scope, need });
  return rec;
}
