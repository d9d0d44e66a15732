/**
 * Administration of a server data folder (tenants, tokens, fsck), for `agentsync admin`.
 * When no server runs, the commands open the folder's LevelDB directly. When `serve` runs it
 * holds the LevelDB lock; it also leaves `<data>/server.json` (mode 0600) with its URL and a
 * control secret, and the commands send the same operations to its `/_admin/…` endpoints.
 * Either way the operation is the same code (auth.ts over a Storage).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentsyncError, ERROR_CODES, fail, isAgentsyncError, type ErrorCode } from '../model/errors.js';
import { createToken, publicToken, revokeToken } from './auth.js';
import { SERVER_INFO, type ServerInfo } from './server.js';
import { LevelStorage, checkTenantName, type Scope, type ServerFsckResult, type ServerGcResult, type Storage, type TenantRecord } from './storage.js';

export type PublicToken = ReturnType<typeof publicToken>;

export interface Admin {
  /** How the commands reach the data: the store directly, or the running server. */
  readonly via: 'store' | 'server';
  /** The running server's base URL (from server.json) when `via` is `server`. */
  readonly url?: string;
  tenants(): Promise<TenantRecord[]>;
  createTenant(name: string): Promise<TenantRecord>;
  tokens(): Promise<PublicToken[]>;
  createToken(o: { tenant: string; scope: Scope; expiresInMs: number | null; label?: string }): Promise<{ token: string; record: PublicToken }>;
  revokeToken(id: string): Promise<PublicToken>;
  fsck(): Promise<ServerFsckResult>;
  gc(): Promise<ServerGcResult>;
  close(): Promise<void>;
}

class StoreAdmin implements Admin {
  readonly via = 'store' as const;
  constructor(private readonly s: Storage) {}
  tenants() { return this.s.tenants(); }
  createTenant(name: string) { return this.s.createTenant(name); }
  async tokens() { return (await this.s.tokens()).map((t) => publicToken(t)); }
  async createToken(o: { tenant: string; scope: Scope; expiresInMs: number | null; label?: string }) {
    const t = await createToken(this.s, o);
    return { token: t.token, record: publicToken(t.record) };
  }
  async revokeToken(id: string) { return publicToken(await revokeToken(this.s, id)); }
  fsck() { return this.s.fsck(); }
  gc() { return this.s.gc(); }
  close() { return this.s.close(); }
}

class ServerAdmin implements Admin {
  readonly via = 'server' as const;
  constructor(private readonly info: ServerInfo) {}
  get url(): string { return this.info.url; }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
    let res: Response;
    try {
      res = await fetch(this.info.url + path, {
        method, headers: { authorization: `Bearer ${this.info.control}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(30000),
      });
    } catch (e) {
      return fail('REMOTE_UNREACHABLE', `the server running on this data folder (${this.info.url}, pid ${this.info.pid}) does not answer: ${(e as Error).message}; stop it and run the command again`, { url: this.info.url });
    }
    const v = await res.json().catch(() => undefined) as any;
    if (!res.ok) {
      const code = v?.error?.code;
      throw new AgentsyncError(typeof code === 'string' && code in ERROR_CODES ? code as ErrorCode : 'INTERNAL', v?.error?.message ?? `HTTP ${res.status}`, v?.error?.data ?? {});
    }
    return v;
  }

  async tenants() { return (await this.call('GET', '/_admin/tenants')).tenants as TenantRecord[]; }
  async createTenant(name: string) { checkTenantName(name); return (await this.call('POST', '/_admin/tenants', { name })).tenant as TenantRecord; }
  async tokens() { return (await this.call('GET', '/_admin/tokens')).tokens as PublicToken[]; }
  async createToken(o: { tenant: string; scope: Scope; expiresInMs: number | null; label?: string }) {
    return (await this.call('POST', '/_admin/tokens', o)) as { token: string; record: PublicToken };
  }
  async revokeToken(id: string) { return (await this.call('POST', `/_admin/tokens/${encodeURIComponent(id)}/revoke`, {})).token as PublicToken; }
  async fsck() { return (await this.call('POST', '/_admin/fsck', {})) as ServerFsckResult; }
  async gc() { return (await this.call('POST', '/_admin/gc', {})) as ServerGcResult; }
  async close() {}
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running server's record, if the file exists and its process is alive. */
export function runningServer(dataDir: string): ServerInfo | undefined {
  const p = join(dataDir, SERVER_INFO);
  if (!existsSync(p)) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as ServerInfo;
    if (typeof v.url === 'string' && typeof v.control === 'string' && Number.isInteger(v.pid) && alive(v.pid)) return v;
  } catch { /* a torn or stale file: ignore */ }
  return undefined;
}

async function answers(info: ServerInfo): Promise<boolean> {
  try {
    const r = await fetch(info.url + '/_health', { signal: AbortSignal.timeout(3000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

/**
 * Administration of `dataDir`: through the running server when there is one, else directly.
 * `create` makes the data folder when it does not exist (tenant create).
 */
export async function openAdmin(dataDir: string, opts: { create?: boolean; waitMs?: number } = {}): Promise<Admin> {
  const info = runningServer(dataDir);
  if (info && await answers(info)) return new ServerAdmin(info);
  try {
    return new StoreAdmin(await LevelStorage.open(dataDir, { create: !!opts.create, waitMs: opts.waitMs ?? 3000 }));
  } catch (e) {
    if (!isAgentsyncError(e) || e.code !== 'STORE_LOCKED') throw e;
    const again = runningServer(dataDir);
    if (again) return new ServerAdmin(again);
    return fail('STORE_LOCKED', `the server data at ${dataDir} is locked by another process that is not a running \`agentsync serve\` (no ${SERVER_INFO}); wait for it to finish, or stop it, and try again`, { dir: dataDir });
  }
}

/** Administration of the PostgreSQL database at `url` (always directly: servers share it). */
export async function openDbAdmin(url: string): Promise<Admin> {
  const { PgStorage } = await import('./pg-storage.js');
  return new StoreAdmin(await PgStorage.open(url, { pool: 2 }));
}
