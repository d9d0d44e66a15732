/**
 * The server's storage, behind an interface so that a PostgreSQL backend can follow the
 * embedded LevelDB one. A Storage holds tenants, tokens and one remote store per tenant.
 *
 * LevelDB layout (one database at `<data>/store`): `a!tenant!<name>` tenant JSON;
 * `a!token!<id>` token JSON (the secret's SHA-256, never the secret); `t!<tenant>!…` the
 * tenant's {@link RemoteStore} keyspace (head, versions, change lists, objects).
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDiskFull } from '../model/diskfull.js';
import { fail } from '../model/errors.js';
import type { ObjectId } from '../model/hash.js';
import type { Change } from '../model/manifest.js';
import type { Head, Version } from '../model/version.js';
import { compactAll, jsonValue, openDb, parseJson, type Db } from '../store/db.js';
import { commit } from '../store/objects.js';
import { RemoteStore, upgradeStore, type CreateVersionRequest } from '../store/remote-store.js';
import { checkObjects, checkSnapshot, type FsckProblem } from '../engine/fsck.js';
import { atomicWrite } from '../workspace/fsio.js';
import { Mutex } from '../store/mutex.js';

export type Scope = 'read' | 'write' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

/** admin ⊇ write ⊇ read. */
export function scopeAllows(have: Scope, need: Scope): boolean {
  return SCOPES.indexOf(have) >= SCOPES.indexOf(need);
}

export interface TenantRecord {
  name: string;
  createdAt: string;
}

export interface TokenRecord {
  /** Public id (16 hex digits), the part of the token the server looks up by. */
  id: string;
  tenant: string;
  scope: Scope;
  /** SHA-256 (hex) of the secret part. */
  hash: string;
  createdAt: string;
  /** ISO 8601, or null: never expires. */
  expiresAt: string | null;
  /** ISO 8601, or null: not revoked. */
  revokedAt: string | null;
  label?: string;
}

/** One tenant's versioned store: what {@link RemoteStore} offers, without LevelDB types. */
export interface TenantStore {
  head(): Promise<Head>;
  versions(after?: number): Promise<Version[]>;
  versionChanges(id: number): Promise<Change[]>;
  /** @throws VERSION_UNKNOWN when `id` does not exist. */
  version(id: number): Promise<Version>;
  changesBetween(from: number | null, to: number): Promise<Change[]>;
  missing(ids: readonly ObjectId[]): Promise<ObjectId[]>;
  getMany(ids: readonly ObjectId[]): Promise<(Uint8Array | undefined)[]>;
  /** @throws REMOTE_PROTOCOL when an object does not hash to its id (nothing stored). */
  putObjects(objs: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<void>;
  /**
   * `objects`: blobs sent with the create (checked against their ids by the caller, the server
   * route); stored with the version, in the same batch or transaction: a refusal stores none.
   */
  createVersion(req: CreateVersionRequest, objects?: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<Version>;
  deploy(id: number): Promise<{ version: Version; head: Head }>;
  rollback(id: number): Promise<{ version: Version; head: Head }>;
}

export interface ServerFsckResult {
  tenants: number;
  tokens: number;
  objects: number;
  versions: number;
  problems: FsckProblem[];
}

export interface ServerGcResult {
  /** Objects dropped (no version reaches them), their bytes, and `m!` keys of no version. */
  objects: number;
  bytes: number;
  manifests: number;
  /** Unreachable objects kept because they were uploaded within the last hour (a push in flight). */
  kept: number;
}

/** A dashboard session: the token it was opened with, its CSRF token, when it ends (ms). */
export interface SessionRecord {
  tokenId: string;
  tenant: string;
  csrf: string;
  expiresAt: number;
}

/**
 * Dashboard sessions, keyed by the SHA-256 (hex) of the session id — the store never holds a
 * live cookie. Kept by the storage so that every `serve` process on it knows every session.
 */
export interface SessionStore {
  get(key: string): Promise<SessionRecord | undefined>;
  put(key: string, s: SessionRecord): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Sessions in this process's memory (one `serve` per LevelDB data folder): at most `max`, oldest dropped first. */
export class MemorySessions implements SessionStore {
  private readonly map = new Map<string, SessionRecord>();
  constructor(private readonly max = 10000) {}
  async get(key: string) { return this.map.get(key); }
  async put(key: string, s: SessionRecord) {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, s);
  }
  async delete(key: string) { this.map.delete(key); }
}

export interface Storage {
  /** Dashboard sessions (shared by every server process on this storage). */
  readonly sessions: SessionStore;
  tenants(): Promise<TenantRecord[]>;
  tenant(name: string): Promise<TenantRecord | undefined>;
  /** @throws TENANT_EXISTS, USAGE (bad name) */
  createTenant(name: string): Promise<TenantRecord>;
  tokens(): Promise<TokenRecord[]>;
  token(id: string): Promise<TokenRecord | undefined>;
  putToken(t: TokenRecord): Promise<void>;
  /** The tenant's store (the tenant must exist; callers check). */
  remote(tenant: string): TenantStore;
  /** Check every tenant's objects, versions and pointers. */
  fsck(): Promise<ServerFsckResult>;
  /** Throws (503 REMOTE_BUSY) when the storage does not answer; for `GET /healthz`. Absent: always answers. */
  ping?(): Promise<void>;
  /**
   * Drop, in every tenant, what no version reaches; objects uploaded in the last hour are kept
   * (their version may be on its way).
   */
  gc(): Promise<ServerGcResult>;
  close(): Promise<void>;
}

const TENANT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkTenantName(name: string): void {
  if (!TENANT_NAME.test(name)) {
    fail('USAGE', `tenant name ${JSON.stringify(name)} must be 1-63 lower-case letters, digits or '-', starting with a letter or digit`, { tenant: name });
  }
}

export function isTenantName(s: string): boolean {
  return TENANT_NAME.test(s);
}


/** The server data folder: `<data>/AGENTSYNC_SERVER` marker, `<data>/store/` LevelDB. */
export const SERVER_MARKER = 'AGENTSYNC_SERVER';
/** Format 2: manifests as chunk trees (SPEC §3.1). A format-1 folder is upgraded on first open. */
const MARKER_TEXT = 'agentsync server data, format 2\n';
const MARKER_V1 = 'agentsync server data, format 1\n';

/**
 * Check (and with `create`, make) the data folder.
 * @throws NOT_A_REMOTE when the folder is something else, or missing without `create`.
 */
export function prepareDataDir(dir: string, create: boolean): void {
  const marker = join(dir, SERVER_MARKER);
  if (existsSync(marker)) {
    const text = readFileSync(marker, 'utf8');
    if (text !== MARKER_TEXT && text !== MARKER_V1) fail('NOT_A_REMOTE', `${dir} has an unknown server data format; upgrade agentsync`, { dir });
    return;
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    fail('NOT_A_REMOTE', `${dir} is a non-empty folder that is not agentsync server data; choose an empty or new folder for --data`, { dir });
  }
  if (!create) fail('NOT_A_REMOTE', `no agentsync server data at ${dir}; \`agentsync admin tenant create <name> --data ${dir}\` or \`agentsync serve --data ${dir}\` creates it`, { dir });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  atomicWrite(marker, MARKER_TEXT);
}

/** How long gc spares an object uploaded by a push whose version may still come. */
const GC_GRACE_MS = 60 * 60 * 1000;
/** Most recent uploads remembered for gc (about 100 bytes each). */
const RECENT_MAX = 1_000_000;

/** A tenant's store whose every call goes through the storage's gate (see {@link LevelStorage}). */
class LevelTenantStore implements TenantStore {
  constructor(private readonly st: LevelStorage, private readonly tenant: string) {}
  private read<T>(fn: (s: RemoteStore) => Promise<T>): Promise<T> { return this.st.withTenant(this.tenant, fn, false); }
  private write<T>(fn: (s: RemoteStore) => Promise<T>): Promise<T> { return this.st.withTenant(this.tenant, fn, true); }
  head() { return this.read((s) => s.head()); }
  versions(after?: number) { return this.read((s) => s.versions(after)); }
  versionChanges(id: number) { return this.read((s) => s.versionChanges(id)); }
  version(id: number) { return this.read((s) => s.version(id)); }
  changesBetween(from: number | null, to: number) { return this.read((s) => s.changesBetween(from, to)); }
  async missing(ids: readonly ObjectId[]) {
    const lacking = await this.read((s) => s.objects.missing(ids));
    // A client told "present" will not upload it: gc spares it like an upload of the last hour.
    const lack = new Set(lacking);
    this.st.uploaded(this.tenant, ids.filter((id) => !lack.has(id)).map((id) => ({ id })));
    return lacking;
  }
  getMany(ids: readonly ObjectId[]) { return this.read((s) => s.getObjects(ids)); }
  async putObjects(objs: readonly { id: ObjectId; bytes: Uint8Array }[]) {
    await this.write((s) => s.putObjects(objs));
    this.st.uploaded(this.tenant, objs);
  }
  createVersion(req: CreateVersionRequest, objects?: readonly { id: ObjectId; bytes: Uint8Array }[]) { return this.write((s) => s.createVersion(req, objects)); }
  deploy(id: number) { return this.write((s) => s.deploy(id)); }
  rollback(id: number) { return this.write((s) => s.rollback(id)); }
}

/**
 * True when `e` leaves the LevelDB handle unfit for further writes: a failed write (full disk,
 * I/O error) may leave a torn record in LevelDB's log, after which LevelDB either refuses every
 * write until reopened (a failed compaction or sync is sticky) or, worse, accepts writes whose
 * records follow the torn one and are dropped when the log is next replayed.
 */
function needsReopen(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code ?? (e as { cause?: { code?: unknown } })?.cause?.code;
  return isDiskFull(e) || code === 'LEVEL_IO_ERROR';
}

/**
 * The embedded storage: one LevelDB holding every tenant, under per-tenant prefixes.
 *
 * Every operation runs through a gate. When one fails with an I/O error (a full disk), the
 * handle is marked broken; the next operation waits for those in flight to finish, closes the
 * database and opens it again (LevelDB replays its log, dropping the torn record), then runs.
 * While the disk stays full that reopen fails and the operation gets DISK_FULL; once space is
 * freed, the next request succeeds — no restart. A write that LevelDB acknowledged while
 * another write failed on the same handle is reported failed too (it may not survive the
 * replay). Operations otherwise run concurrently; only the reopen is exclusive.
 */
export class LevelStorage implements Storage {
  private db: Db | undefined;
  private readonly stores = new Map<string, RemoteStore>();
  private readonly apis = new Map<string, LevelTenantStore>();
  private readonly adminMutex = new Mutex();
  /** One process serves a LevelDB data folder, so its memory is where sessions live (a restart signs everyone out). */
  readonly sessions: SessionStore = new MemorySessions();
  /** Operations in flight, and the reopen waiting for them to finish. */
  private active = 0;
  private drained: (() => void) | undefined;
  /** A reopen in progress: operations wait for it. */
  private reopening: Promise<void> | undefined;
  /** The failure that made the handle unfit (undefined: it is fine). */
  private broken: unknown;
  /** Failures seen on this handle, so that a write can tell whether one happened meanwhile. */
  private faults = 0;
  private closed = false;

  private constructor(db: Db, readonly dir: string) {
    this.db = db;
  }

  /**
   * Open `<dir>/store` (creating the data folder with `create`). Waits a bounded time for the
   * LevelDB lock; a running server holds it (STORE_LOCKED).
   */
  static async open(dir: string, opts: { create?: boolean; waitMs?: number } = {}): Promise<LevelStorage> {
    prepareDataDir(dir, !!opts.create);
    const db = await openDb(join(dir, 'store'), { what: 'the server data', ...(opts.waitMs !== undefined ? { waitMs: opts.waitMs } : {}) });
    const s = new LevelStorage(db, dir);
    try {
      // Under the lock: format-1 data is converted once, every tenant (SPEC §3.1, "Upgrade").
      const marker = join(dir, SERVER_MARKER);
      await upgradeStore(db, 'a!format', async () => (await s.listTenants(db)).map((t) => s.raw(t.name)), () => {
        if (readFileSync(marker, 'utf8') !== MARKER_TEXT) atomicWrite(marker, MARKER_TEXT);
      });
    } catch (e) {
      await db.close().catch(() => {});
      throw e;
    }
    return s;
  }

  /** Run `fn` on a sound handle (reopening a broken one first); see the class comment. */
  private async use<T>(fn: (db: Db) => Promise<T>, write: boolean): Promise<T> {
    for (;;) {
      while (this.reopening) await this.reopening;
      if (this.closed) fail('REMOTE_BUSY', 'the server is shutting down; try again', { status: 503 });
      if (this.broken === undefined && this.db) break;
      await this.reopen();
    }
    const db = this.db;
    const faults = this.faults;
    this.active++;
    try {
      const r = await fn(db);
      if (write && this.faults !== faults) throw this.broken;
      return r;
    } catch (e) {
      if (needsReopen(e) && this.db === db) {
        this.faults++;
        this.broken ??= e;
      }
      throw e;
    } finally {
      if (--this.active === 0) this.drained?.();
    }
  }

  /** Close and reopen the database once the operations in flight are done (one reopen at a time). */
  private reopen(): Promise<void> {
    // (`finally` runs after the assignment: promise callbacks never run synchronously.)
    this.reopening ??= this.closeAndOpen().finally(() => { this.reopening = undefined; });
    return this.reopening;
  }

  private async closeAndOpen(): Promise<void> {
    if (this.active > 0) await new Promise<void>((r) => { this.drained = r; });
    this.drained = undefined;
    const old = this.db;
    this.db = undefined;
    this.stores.clear();
    if (old) await old.close().catch(() => {}); // a handle in LevelDB's error state still closes
    // Throws DISK_FULL while the disk is still full; the next operation tries again.
    this.db = await openDb(join(this.dir, 'store'), { what: 'the server data', waitMs: 2000 });
    this.broken = undefined;
  }

  /** Run `fn` with the tenant's RemoteStore on a sound handle. */
  withTenant<T>(tenant: string, fn: (s: RemoteStore) => Promise<T>, write: boolean): Promise<T> {
    return this.use(async () => fn(this.raw(tenant)), write);
  }

  private async listTenants(db: Db): Promise<TenantRecord[]> {
    const out: TenantRecord[] = [];
    for await (const v of db.values({ gt: 'a!tenant!', lt: 'a!tenant"' })) out.push(parseJson<TenantRecord>(v, 'tenant')!);
    return out;
  }

  private async listTokens(db: Db): Promise<TokenRecord[]> {
    const out: TokenRecord[] = [];
    for await (const v of db.values({ gt: 'a!token!', lt: 'a!token"' })) out.push(parseJson<TokenRecord>(v, 'token')!);
    return out;
  }

  tenants(): Promise<TenantRecord[]> {
    return this.use((db) => this.listTenants(db), false);
  }

  async tenant(name: string): Promise<TenantRecord | undefined> {
    if (!isTenantName(name)) return undefined;
    return this.use(async (db) => parseJson<TenantRecord>(await db.get('a!tenant!' + name), `tenant ${name}`), false);
  }

  createTenant(name: string): Promise<TenantRecord> {
    checkTenantName(name);
    return this.adminMutex.run(async () => {
      if (await this.tenant(name)) fail('TENANT_EXISTS', `tenant ${name} already exists; \`agentsync admin tenant list\` shows them`, { tenant: name });
      const t: TenantRecord = { name, createdAt: new Date().toISOString() };
      await this.use((db) => commit(db, [{ type: 'put', key: 'a!tenant!' + name, value: jsonValue(t) }]), true);
      return t;
    });
  }

  tokens(): Promise<TokenRecord[]> {
    return this.use((db) => this.listTokens(db), false);
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    if (!/^[0-9a-f]{16}$/.test(id)) return undefined;
    return this.use(async (db) => parseJson<TokenRecord>(await db.get('a!token!' + id), `token ${id}`), false);
  }

  async putToken(t: TokenRecord): Promise<void> {
    await this.use((db) => commit(db, [{ type: 'put', key: 'a!token!' + t.id, value: jsonValue(t) }]), true);
  }

  /** The tenant's RemoteStore on the current handle (call inside {@link use}). */
  private raw(tenant: string): RemoteStore {
    let s = this.stores.get(tenant);
    if (!s) {
      s = new RemoteStore(this.db!, `t!${tenant}!`);
      this.stores.set(tenant, s);
    }
    return s;
  }

  remote(tenant: string): TenantStore {
    let api = this.apis.get(tenant);
    if (!api) {
      api = new LevelTenantStore(this, tenant);
      this.apis.set(tenant, api);
    }
    return api;
  }

  fsck(): Promise<ServerFsckResult> {
    return this.use((db) => this.check(db), false);
  }

  /** Recent uploads per `<tenant>!<id>` → time, so that gc spares a push in flight. */
  private readonly recent = new Map<string, number>();

  /** Note uploaded objects (bounded: entries older than {@link GC_GRACE_MS} are dropped first). */
  uploaded(tenant: string, objs: readonly { id: ObjectId }[]): void {
    const now = Date.now();
    for (const o of objs) {
      const k = `${tenant}!${o.id}`;
      this.recent.delete(k); // re-inserted last: the map stays in time order
      this.recent.set(k, now);
    }
    for (const [k, t] of this.recent) {
      if (now - t < GC_GRACE_MS && this.recent.size <= RECENT_MAX) break;
      this.recent.delete(k);
    }
  }

  gc(): Promise<ServerGcResult> {
    return this.use(async (db) => {
      const res: ServerGcResult = { objects: 0, bytes: 0, manifests: 0, kept: 0 };
      const now = Date.now();
      for (const t of await this.listTenants(db)) {
        const keep = new Set<ObjectId>();
        for (const [k, at] of this.recent) if (now - at < GC_GRACE_MS && k.startsWith(t.name + '!')) keep.add(k.slice(t.name.length + 1));
        const r = await this.raw(t.name).gc(keep);
        res.objects += r.objects;
        res.bytes += r.bytes;
        res.manifests += r.manifests;
        res.kept += r.kept;
      }
      await compactAll(db);
      return res;
    }, true);
  }

  private async check(db: Db): Promise<ServerFsckResult> {
    const problems: FsckProblem[] = [];
    const res: ServerFsckResult = { tenants: 0, tokens: 0, objects: 0, versions: 0, problems };
    let tenants: TenantRecord[] = [];
    try { tenants = await this.listTenants(db); } catch (e) { problems.push({ what: 'tenants', message: (e as Error).message }); }
    try {
      const tokens = await this.listTokens(db);
      res.tokens = tokens.length;
      const names = new Set(tenants.map((t) => t.name));
      for (const t of tokens) {
        if (!names.has(t.tenant)) problems.push({ what: `token ${t.id}`, message: `names unknown tenant ${t.tenant}` });
        if (!/^[0-9a-f]{64}$/.test(t.hash ?? '')) problems.push({ what: `token ${t.id}`, message: 'has no valid secret hash' });
      }
    } catch (e) { problems.push({ what: 'tokens', message: (e as Error).message }); }
    res.tenants = tenants.length;
    for (const t of tenants) {
      const raw = this.raw(t.name);
      const what = `tenant ${t.name}`;
      res.objects += await checkObjects(raw.objects, problems);
      let versions: Version[] = [];
      let head: Head | undefined;
      try {
        head = await raw.head();
        versions = await raw.versions(0);
      } catch (e) { problems.push({ what, message: (e as Error).message }); continue; }
      res.versions += versions.length;
      const ids = new Set(versions.map((v) => v.id));
      for (const v of versions) {
        await checkSnapshot(raw.objects, raw.manifests, v.snapshot, `${what} version ${v.id}`, problems);
        if (v.parent !== null && !ids.has(v.parent)) problems.push({ what: `${what} version ${v.id}`, message: `parent ${v.parent} does not exist` });
        if (v.id > head.lastId) problems.push({ what: `${what} version ${v.id}`, message: `is above the head's last id ${head.lastId}` });
      }
      for (const p of ['latestPublished', 'current'] as const) {
        const id = head[p];
        if (id !== null && !ids.has(id)) problems.push({ what: `${what} head`, message: `${p} names version ${id}, which does not exist` });
      }
      if (head.lastId !== (versions.at(-1)?.id ?? 0)) problems.push({ what: `${what} head`, message: `last id ${head.lastId} does not match the newest version ${versions.at(-1)?.id ?? 0}` });
    }
    return res;
  }

  async close(): Promise<void> {
    while (this.reopening) await this.reopening.catch(() => {});
    this.closed = true;
    const db = this.db;
    this.db = undefined;
    if (db) await db.close();
  }
}
