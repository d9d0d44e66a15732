/**
 * The server's storage in PostgreSQL (`agentsync serve --db postgres://…`), so that any number
 * of stateless `serve` processes share one database. Same {@link Storage} contract as the
 * embedded LevelDB backend; the checks of a create are the same code
 * (`checkCreateRequest`, `buildVersionManifest` in store/remote-store.ts).
 *
 * Guarantees that do not depend on the backend (SPEC.md §6 "PostgreSQL"):
 * - compare-and-swap: a create is one call of `agentsync_create_version()` (migration 4), its
 *   own transaction: it locks the head row, compares `latest_published` with `expected`, and
 *   only then checks the added objects and inserts the chunks, the version, its change list and
 *   root, and moves the head; a second create on the same `expected` waits for the lock and is
 *   refused (STALE_REMOTE). Two servers can never both accept a push built on the same version;
 * - a version, its change list, its manifest and the head commit together or not at all.
 *
 * The database unreachable (down, restarting, the pool exhausted for 10 s): the request gets
 * 503 REMOTE_BUSY (`data.reason: 'database'`) — nothing was written, the client may resend —
 * and the pool reconnects by itself. Only when the connection is lost while a create's call (or
 * a COMMIT) is under way is the outcome unknown: the server looks for the version, and if it cannot tell answers
 * 503 REMOTE_UNREACHABLE (the client does not resend; `agentsync fetch` shows what happened).
 * @module
 */
import pg from 'pg';
import { AgentsyncError, fail, isAgentsyncError } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { chunkManifest, rechunkManifest, type ChildRef } from '../model/chunks.js';
import { decodeManifest, diffManifests, manifestLookup, manifestObjectId, snapshotHashOf, EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash } from '../model/manifest.js';
import { compareUtf8 } from '../model/paths.js';
import type { Head, Version } from '../model/version.js';
import type { Db } from '../store/db.js';
import { ManifestStore } from '../store/manifests.js';
import { buildVersionManifest, checkCreateRequest, checkedObjectId, staleRemote, type CreateVersionRequest } from '../store/remote-store.js';
import { checkSnapshot, type FsckProblem } from '../engine/fsck.js';
import { checkTenantName, isTenantName, type ServerFsckResult, type ServerGcResult, type SessionRecord, type SessionStore, type Storage, type TenantRecord, type TenantStore, type TokenRecord } from './storage.js';

/** Default bound of the connection pool (`--db-pool`). */
export const DEFAULT_DB_POOL = 10;

/**
 * The schema, as a versioned list: `agentsync admin migrate --db` applies the ones the database
 * lacks, in order, each in the transaction that records it in `agentsync_schema`.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** A step in code after the SQL, in the same transaction (data conversion). */
  run?: (q: Q) => Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tenants, tokens, heads, versions, change lists, objects, manifests',
    sql: `
CREATE TABLE tenants (
  name text PRIMARY KEY COLLATE "C",
  created_at timestamptz NOT NULL
);
CREATE TABLE tokens (
  id text PRIMARY KEY COLLATE "C",
  tenant text NOT NULL REFERENCES tenants (name),
  scope text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
  hash text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  label text
);
CREATE TABLE heads (
  tenant text PRIMARY KEY REFERENCES tenants (name),
  latest_published bigint,
  current bigint,
  last_id bigint NOT NULL DEFAULT 0
);
CREATE TABLE versions (
  tenant text NOT NULL REFERENCES tenants (name),
  id bigint NOT NULL CHECK (id >= 1),
  snapshot text NOT NULL,
  parent bigint,
  author text NOT NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL,
  state text NOT NULL CHECK (state IN ('draft', 'published')),
  published_at timestamptz,
  changed integer NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE changes (
  tenant text NOT NULL,
  version bigint NOT NULL,
  list json NOT NULL,
  PRIMARY KEY (tenant, version),
  FOREIGN KEY (tenant, version) REFERENCES versions (tenant, id)
);
CREATE TABLE objects (
  tenant text NOT NULL REFERENCES tenants (name),
  id bytea NOT NULL,
  bytes bytea NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE manifests (
  tenant text NOT NULL REFERENCES tenants (name),
  snapshot bytea NOT NULL,
  bytes bytea NOT NULL,
  PRIMARY KEY (tenant, snapshot)
);
`,
  },
  {
    // SPEC §3.1: a manifest is a tree of content-defined chunks; the chunks are ordinary
    // objects, and `roots` names each stored manifest's root chunk. Every whole manifest is
    // converted (re-hashed against its snapshot first), then the old table goes.
    version: 2,
    name: 'manifests as chunk trees (roots; chunks in objects); objects.stored_at for gc',
    sql: `
CREATE TABLE roots (
  tenant text NOT NULL REFERENCES tenants (name),
  snapshot bytea NOT NULL,
  root bytea NOT NULL,
  PRIMARY KEY (tenant, snapshot)
);
ALTER TABLE objects ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
`,
    async run(q) {
      let after: [string, Buffer] = ['', Buffer.alloc(0)];
      for (;;) {
        const r = await q('SELECT tenant, snapshot, bytes FROM manifests WHERE (tenant, snapshot) > ($1, $2) ORDER BY tenant, snapshot LIMIT 50', after);
        if (!r.rows.length) break;
        for (const row of r.rows as { tenant: string; snapshot: Buffer; bytes: Buffer }[]) {
          const snapshot = 'sha256:' + row.snapshot.toString('hex');
          const bytes = new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength);
          if (snapshotHashOf(bytes) !== snapshot) fail('STORE_CORRUPT', `the stored manifest of ${snapshot} (tenant ${row.tenant}) does not hash to it; nothing was migrated — run \`agentsync admin fsck --db …\` with the previous release`, { tenant: row.tenant, snapshot });
          const t = chunkManifest(bytes);
          await insertObjects(q, row.tenant, t.chunks);
          if (t.root) await q('INSERT INTO roots (tenant, snapshot, root) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [row.tenant, row.snapshot, hex(t.root)]);
        }
        const last = r.rows.at(-1) as { tenant: string; snapshot: Buffer };
        after = [last.tenant, last.snapshot];
      }
      await q('DROP TABLE manifests');
    },
  },
  {
    version: 3,
    name: 'dashboard sessions',
    sql: `
CREATE TABLE sessions (
  key text PRIMARY KEY COLLATE "C",
  token_id text NOT NULL,
  tenant text NOT NULL,
  csrf text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
`,
  },
  {
    // A create in one round trip (it took seven: BEGIN, the UPDATE, the object check, the chunk
    // and version inserts, COMMIT), with the same order of work as the transaction it replaces:
    // the head row is locked first, then (each statement of a VOLATILE function sees what was
    // committed before it, under READ COMMITTED) the added objects are looked up, so that gc,
    // which holds the same row, cannot drop them meanwhile. A refusal writes nothing.
    version: 4,
    name: 'agentsync_create_version(): a create (compare-and-swap, object check, inserts) in one call',
    sql: `
CREATE FUNCTION agentsync_create_version(
  p_tenant text, p_expected bigint, p_draft boolean, p_added bytea[], p_chunk_ids bytea[], p_chunk_bytes bytea[],
  p_snapshot text, p_author text, p_message text, p_now timestamptz, p_changed integer, p_list json,
  p_snap_key bytea, p_root bytea)
RETURNS TABLE (status text, latest_published bigint, current bigint, last_id bigint, missing text[])
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  h heads%ROWTYPE;
  v_missing text[];
  v_id bigint;
BEGIN
  SELECT * INTO h FROM heads WHERE heads.tenant = p_tenant FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'stale'::text, NULL::bigint, NULL::bigint, 0::bigint, NULL::text[];
    RETURN;
  END IF;
  IF h.latest_published IS DISTINCT FROM p_expected THEN
    RETURN QUERY SELECT 'stale'::text, h.latest_published, h.current, h.last_id, NULL::text[];
    RETURN;
  END IF;
  SELECT array_agg(encode(a.id, 'hex') ORDER BY a.n) INTO v_missing FROM unnest(p_added) WITH ORDINALITY AS a(id, n)
    WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.tenant = p_tenant AND o.id = a.id);
  IF v_missing IS NOT NULL THEN
    RETURN QUERY SELECT 'missing'::text, h.latest_published, h.current, h.last_id, v_missing;
    RETURN;
  END IF;
  v_id := h.last_id + 1;
  UPDATE heads SET last_id = v_id,
    latest_published = CASE WHEN p_draft THEN heads.latest_published ELSE v_id END,
    current = CASE WHEN p_draft THEN heads.current ELSE v_id END
  WHERE heads.tenant = p_tenant;
  INSERT INTO objects (tenant, id, bytes) SELECT p_tenant, c.id, c.bytes FROM unnest(p_chunk_ids, p_chunk_bytes) AS c(id, bytes)
    ON CONFLICT (tenant, id) DO UPDATE SET stored_at = now() WHERE objects.stored_at < now() - interval '10 minutes';
  INSERT INTO versions (tenant, id, snapshot, parent, author, message, created_at, state, published_at, changed)
    VALUES (p_tenant, v_id, p_snapshot, p_expected, p_author, p_message, p_now,
      CASE WHEN p_draft THEN 'draft' ELSE 'published' END, CASE WHEN p_draft THEN NULL ELSE p_now END, p_changed);
  INSERT INTO changes (tenant, version, list) VALUES (p_tenant, v_id, p_list);
  IF p_root IS NOT NULL THEN
    INSERT INTO roots (tenant, snapshot, root) VALUES (p_tenant, p_snap_key, p_root) ON CONFLICT DO NOTHING;
  END IF;
  RETURN QUERY SELECT 'created'::text, CASE WHEN p_draft THEN h.latest_published ELSE v_id END,
    CASE WHEN p_draft THEN h.current ELSE v_id END, v_id, NULL::text[];
END
$fn$;
`,
  },
  {
    // A server keeps the tokens it has seen (one lookup fewer per request) only while it listens
    // on this channel; every change of a token row, however made — `admin token revoke` from any
    // process, or SQL by hand — tells every listening server at commit (SPEC §6, "Tokens").
    version: 5,
    name: 'NOTIFY agentsync_tokens on every change of a token row',
    sql: `
CREATE FUNCTION agentsync_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('agentsync_tokens', CASE WHEN TG_LEVEL = 'ROW' THEN COALESCE(NEW.id, OLD.id) ELSE '' END);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER agentsync_tokens_changed AFTER UPDATE OR DELETE ON tokens FOR EACH ROW EXECUTE FUNCTION agentsync_tokens_changed();
CREATE TRIGGER agentsync_tokens_truncated AFTER TRUNCATE ON tokens FOR EACH STATEMENT EXECUTE FUNCTION agentsync_tokens_changed();
`,
  },
];

/** The schema version this code knows (the last migration). */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Longest parent chain, and most changes, `changesBetween` composes before a full diff (as RemoteStore). */
const CHAIN_MAX_VERSIONS = 512;
const CHAIN_MAX_CHANGES = 20000;
/** How long gc spares an unreachable object after it was stored (a push may be on its way). */
const GC_GRACE_MS = 60 * 60 * 1000;
/** Rows per INSERT of objects (3 parameters each; PostgreSQL allows 65 535). */
const INSERT_ROWS = 1000;
/** Uploads up to this size go through the batcher ({@link PgStorage.upload}); larger ones alone. */
const UPLOAD_BATCH_BYTES = 1024 * 1024;
/** Upload statements one server runs at once before later small uploads wait to go together. */
const UPLOADS_IN_FLIGHT = 2;
/** Bytes per INSERT of objects, and hashed between two turns of the event loop. */
const SLICE_BYTES = 4 * 1024 * 1024;

/** `url` without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** Whether `s` looks like a PostgreSQL connection URL. */
export function isDbUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//.test(s);
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * True when `e` says the database cannot be reached or is going away (connection refused or
 * lost, shutting down, starting up, too many connections, no pooled connection in time), as
 * opposed to a bug or a constraint.
 */
export function isUnavailable(e: unknown): boolean {
  if (isAgentsyncError(e)) return false;
  const code = (e as { code?: unknown })?.code;
  // (Node's error names first: EPIPE also has the shape of an SQLSTATE.)
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ENOENT|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND)$/.test(code)) return true;
  if (typeof code === 'string' && SQLSTATE.test(code)) return code.startsWith('08') || code.startsWith('57P') || code === '53300' || code === '53000';
  const msg = (e as Error)?.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|not queryable|Connection ended|connection error|Client was closed/i.test(msg);
}

/** The 503 a request gets while the database cannot be reached (nothing was written). */
export function unavailable(e: unknown): AgentsyncError {
  return new AgentsyncError('REMOTE_BUSY', `the server's database does not answer (${(e as Error)?.message ?? String(e)}); nothing was written — try again in a moment`, { status: 503, reason: 'database' });
}

/** The 503 of a write whose connection was lost while it committed: it may or may not have landed. */
function outcomeUnknown(e: unknown): AgentsyncError {
  return new AgentsyncError('REMOTE_UNREACHABLE', `the server lost its database while committing (${(e as Error)?.message ?? String(e)}); whether the change was made is unknown — run \`agentsync fetch\` and \`agentsync status\` in a moment to see`, { status: 503, reason: 'database-commit' });
}

const hex = (id: string) => Buffer.from(id, 'hex');
const iso = (d: Date | string | null): string | null => d === null ? null : (d instanceof Date ? d : new Date(d)).toISOString();
const num = (v: unknown): number | null => v === null || v === undefined ? null : Number(v);

interface VersionRow {
  id: string; snapshot: string; parent: string | null; author: string; message: string;
  created_at: Date; state: 'draft' | 'published'; published_at: Date | null; changed: number;
}

const VERSION_COLS = 'id, snapshot, parent, author, message, created_at, state, published_at, changed';

function versionOf(r: VersionRow): Version {
  return {
    id: Number(r.id), snapshot: r.snapshot, parent: num(r.parent), author: r.author, message: r.message,
    createdAt: iso(r.created_at)!, state: r.state, changed: Number(r.changed),
    ...(r.published_at ? { publishedAt: iso(r.published_at)! } : {}),
  };
}

function headOf(r: { latest_published: string | null; current: string | null; last_id: string } | undefined): Head {
  return r ? { latestPublished: num(r.latest_published), current: num(r.current), lastId: Number(r.last_id) } : { latestPublished: null, current: null, lastId: 0 };
}

/** A statement prepared once per connection (a named statement): parsed and planned once. */
export interface Prepared { name: string; text: string }
const prepared = (name: string, text: string): Prepared => ({ name: `agentsync_${name}`, text });
const withValues = (text: string | Prepared, values?: unknown[]) => typeof text === 'string' ? { text, values } : { ...text, values };

export type Q = (text: string | Prepared, values?: unknown[]) => Promise<pg.QueryResult<any>>;

/** An object already stored is kept; its `stored_at` refreshed when old, so gc spares it. */
const OBJECTS_ON_CONFLICT = `ON CONFLICT (tenant, id) DO UPDATE SET stored_at = now() WHERE objects.stored_at < now() - interval '10 minutes'`;
/** Objects ($2 ids, $3 bytes) of tenant $1, several rows per statement. */
const INSERT_OBJECTS = prepared('insert_objects', `INSERT INTO objects (tenant, id, bytes) SELECT $1, v.id, v.bytes FROM unnest($2::bytea[], $3::bytea[]) AS v (id, bytes)
  ${OBJECTS_ON_CONFLICT}`);
/**
 * Uploads: objects of any tenants ($1 tenants, $2 ids, $3 bytes, one per row), the statement
 * its own transaction, committed without waiting for the WAL flush (set_config(…, true) lasts
 * to the end of that transaction, its commit included).
 */
const UPLOAD_OBJECTS = prepared('insert_objects_upload', `WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS off)
  INSERT INTO objects (tenant, id, bytes) SELECT v.tenant, v.id, v.bytes FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS v (tenant, id, bytes), cfg
  ${OBJECTS_ON_CONFLICT}`);
const TOKEN_COLS = 'id, tenant, scope, hash, created_at, expires_at, revoked_at, label';
const TOKEN_BY_ID = prepared('token', `SELECT ${TOKEN_COLS} FROM tokens WHERE id = $1`);
const HEAD = prepared('head', 'SELECT latest_published, current, last_id FROM heads WHERE tenant = $1');
/** The head and the latest published version's snapshot, in one round trip. */
const HEAD_AND_SNAPSHOT = prepared('head_snapshot', `SELECT h.latest_published, h.current, h.last_id, v.snapshot FROM heads h
  LEFT JOIN versions v ON v.tenant = h.tenant AND v.id = h.latest_published WHERE h.tenant = $1`);
const CREATE_VERSION = prepared('create_version', 'SELECT status, latest_published, current, last_id, missing FROM agentsync_create_version($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)');
/** Which of the ids are stored; those not touched in the last 10 minutes are touched (one statement). */
const PRESENT_TOUCH = prepared('present_touch', `WITH ask AS (SELECT decode(x, 'hex') AS id FROM unnest($2::text[]) x),
  touch AS (UPDATE objects SET stored_at = now() WHERE tenant = $1 AND id IN (SELECT id FROM ask) AND stored_at < now() - interval '10 minutes')
  SELECT encode(id, 'hex') AS id FROM objects WHERE tenant = $1 AND id IN (SELECT id FROM ask)`);

/**
 * Insert objects (already hash-checked) of `tenant`, several rows per statement; one already
 * there is kept (its `stored_at` refreshed when old, so gc spares an object uploaded again).
 */
export async function insertObjects(q: Q, tenant: string, rows: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<void> {
  for (const slice of slices(rows)) await q(INSERT_OBJECTS, [tenant, slice.map((r) => hex(r.id)), slice.map((r) => bufferOf(r.bytes))]);
}

/** `rows` in runs of at most {@link INSERT_ROWS} rows and about {@link SLICE_BYTES} bytes (one statement each). */
function* slices<T extends { bytes: Uint8Array }>(rows: readonly T[]): Generator<readonly T[]> {
  for (let i = 0; i < rows.length;) {
    let j = i, bytes = 0;
    while (j < rows.length && j - i < INSERT_ROWS && (j === i || bytes < SLICE_BYTES)) bytes += rows[j++]!.bytes.length + 64;
    yield rows.slice(i, j);
    i = j;
  }
}

const bufferOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * The few key-value reads {@link ManifestStore} makes (`o!<id>` objects, `m!<hex>` roots),
 * answered from the tables, so that trees are read and checked by the same code as in LevelDB.
 */
class TableKv {
  constructor(private readonly q: Q, private readonly tenant: string) {}
  async get(key: string): Promise<Uint8Array | undefined> {
    if (key.startsWith('m!')) {
      const r = await this.q("SELECT encode(root, 'hex') AS root FROM roots WHERE tenant = $1 AND snapshot = $2", [this.tenant, hex(key.slice(2))]);
      return r.rows[0] ? new TextEncoder().encode(r.rows[0].root) : undefined;
    }
    return (await this.getMany([key]))[0];
  }
  async has(key: string): Promise<boolean> {
    if (key.startsWith('m!')) return (await this.get(key)) !== undefined;
    return (await this.hasMany([key]))[0]!;
  }
  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const ids = keys.map((k) => k.slice(2));
    const r = await this.q(`SELECT encode(id, 'hex') AS id, bytes FROM objects WHERE tenant = $1 AND id = ANY (SELECT decode(x, 'hex') FROM unnest($2::text[]) x)`, [this.tenant, ids]);
    const got = new Map<string, Buffer>(r.rows.map((x: { id: string; bytes: Buffer }) => [x.id, x.bytes]));
    return ids.map((id) => {
      const b = got.get(id);
      return b ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : undefined;
    });
  }
  async hasMany(keys: readonly string[]): Promise<boolean[]> {
    const ids = keys.map((k) => k.slice(2));
    const r = await this.q(`SELECT encode(id, 'hex') AS id FROM objects WHERE tenant = $1 AND id = ANY (SELECT decode(x, 'hex') FROM unnest($2::text[]) x)`, [this.tenant, ids]);
    const have = new Set(r.rows.map((x: { id: string }) => x.id));
    return ids.map((id) => have.has(id));
  }
}

/** A tenant's manifests (chunk trees in the tables), read with {@link ManifestStore}'s checks. */
function manifestStore(q: Q, tenant: string): ManifestStore {
  return new ManifestStore(new TableKv(q, tenant) as unknown as Db, '');
}

/** A stored manifest: its bytes, its chunks, and its leaves in order (the next one is cut from them). */
interface StoredManifest { bytes: Uint8Array; chunks: ReadonlySet<ObjectId>; leaves: readonly ChildRef[] }

/** The most recently used `limit` values of immutable things (a manifest by snapshot, a version's snapshot). */
class Recent<V> {
  private m = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) { this.m.delete(k); this.m.set(k, v); }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    while (this.m.size > this.limit) this.m.delete(this.m.keys().next().value!);
  }
}

export class PgTenantStore implements TenantStore {
  private decoded: { snapshot: SnapshotHash; m: Manifest } | undefined;
  constructor(private readonly st: PgStorage, private readonly tenant: string) {
    this.manifests = manifestStore(this.q, tenant);
  }

  private q: Q = (text, values) => this.st.query(text, values);

  async head(): Promise<Head> {
    const r = await this.q(HEAD, [this.tenant]);
    return headOf(r.rows[0]);
  }

  async version(id: number): Promise<Version> {
    const r = await this.q(`SELECT ${VERSION_COLS} FROM versions WHERE tenant = $1 AND id = $2`, [this.tenant, id]);
    if (!r.rows[0]) fail('VERSION_UNKNOWN', `version ${id} does not exist on the remote; run \`agentsync versions\` to list them`, { version: id, hint: 'agentsync versions' });
    return versionOf(r.rows[0]);
  }

  async versions(after = 0): Promise<Version[]> {
    const r = await this.q(`SELECT ${VERSION_COLS} FROM versions WHERE tenant = $1 AND id > $2 ORDER BY id`, [this.tenant, after]);
    return r.rows.map(versionOf);
  }

  async versionChanges(id: number): Promise<Change[]> {
    const r = await this.q('SELECT list FROM changes WHERE tenant = $1 AND version = $2', [this.tenant, id]);
    return (r.rows[0]?.list as Change[] | undefined) ?? [];
  }

  /** The tenant's manifests, read through this storage's pool. */
  readonly manifests: ManifestStore;

  /**
   * The stored manifest of `snapshot` (its chunk tree read level by level and checked).
   * @throws OBJECT_MISSING, STORE_CORRUPT
   */
  async manifest(snapshot: SnapshotHash): Promise<StoredManifest> {
    if (snapshot === EMPTY_SNAPSHOT) return { bytes: new Uint8Array(0), chunks: new Set(), leaves: [] };
    const key = this.tenant + '\0' + snapshot;
    const hit = this.st.manifests.get(key);
    if (hit) return hit;
    const r = await this.manifests.root(snapshot);
    if (!r) fail('OBJECT_MISSING', `snapshot manifest ${manifestObjectId(snapshot).slice(0, 12)} is missing from the store; run \`agentsync admin fsck\``, { id: manifestObjectId(snapshot) });
    let m: StoredManifest;
    if (r.root === null) m = { bytes: new Uint8Array(0), chunks: new Set(), leaves: [] };
    else {
      const w = await this.manifests.walk(snapshot, r.root);
      m = { bytes: w.bytes, chunks: new Set(w.chunks), leaves: w.leaves };
    }
    this.st.manifests.set(key, m);
    return m;
  }

  async manifestBytes(snapshot: SnapshotHash): Promise<Uint8Array> {
    return (await this.manifest(snapshot)).bytes;
  }

  async manifestOf(snapshot: SnapshotHash): Promise<Manifest> {
    if (this.decoded?.snapshot === snapshot) return this.decoded.m;
    const m = snapshot === EMPTY_SNAPSHOT ? new Map<string, ObjectId>() : decodeManifest(await this.manifestBytes(snapshot), { trusted: true });
    this.decoded = { snapshot, m };
    return m;
  }

  async changesBetween(from: number | null, to: number): Promise<Change[]> {
    const target = await this.version(to);
    if (from !== null) {
      const composed = await this.composeChain(from, target);
      if (composed) {
        const fromBytes = await this.manifestBytes((await this.version(from)).snapshot);
        return composed.filter((c) => {
          const had = manifestLookup(fromBytes, c.path);
          return c.id === null ? had !== undefined : had !== c.id;
        });
      }
    }
    const a = from === null ? new Map<string, ObjectId>() : await this.manifestOf((await this.version(from)).snapshot);
    const b = await this.manifestOf(target.snapshot);
    return diffManifests(a, b);
  }

  /**
   * The change lists from `to` back to (not including) `from` through `parent`, composed (as
   * RemoteStore's): one query walks the chain summing the lists' lengths (stopping past the
   * bounds), a second reads the lists when the chain reaches `from` within them.
   */
  private async composeChain(from: number, to: Version): Promise<Change[] | undefined> {
    if (to.id === from) return [];
    if (to.parent === null || to.parent < from) return undefined;
    const r = await this.q(`
      WITH RECURSIVE chain(id, parent, depth, total) AS (
        SELECT v.id, v.parent, 1, json_array_length(ch.list) FROM versions v JOIN changes ch ON ch.tenant = v.tenant AND ch.version = v.id
        WHERE v.tenant = $1 AND v.id = $2
        UNION ALL
        SELECT v.id, v.parent, c.depth + 1, c.total + json_array_length(ch.list)
        FROM chain c JOIN versions v ON v.tenant = $1 AND v.id = c.parent JOIN changes ch ON ch.tenant = $1 AND ch.version = v.id
        WHERE c.parent > $3 AND c.depth < $4 AND c.total <= $5
      )
      SELECT id, parent, total FROM chain ORDER BY depth`,
    [this.tenant, to.id, from, CHAIN_MAX_VERSIONS, CHAIN_MAX_CHANGES]);
    const rows = r.rows as { id: string; parent: string | null; total: number }[];
    const last = rows.at(-1);
    if (!last || num(last.parent) !== from || Number(last.total) > CHAIN_MAX_CHANGES) return undefined;
    const lists = await this.q('SELECT version, list FROM changes WHERE tenant = $1 AND version = ANY ($2::bigint[])', [this.tenant, rows.map((x) => x.id)]);
    const byVersion = new Map<number, Change[]>(lists.rows.map((x: { version: string; list: Change[] }) => [Number(x.version), x.list]));
    const byPath = new Map<string, ObjectId | null>();
    for (let i = rows.length - 1; i >= 0; i--) {
      const list = byVersion.get(Number(rows[i]!.id));
      if (!list) return undefined;
      for (const c of list) byPath.set(c.path, c.id);
    }
    return [...byPath].map(([path, id]) => ({ path, id })).sort((a, b) => compareUtf8(a.path, b.path));
  }

  async missing(ids: readonly ObjectId[]): Promise<ObjectId[]> {
    if (ids.length === 0) return [];
    // Present objects are touched (as a re-upload is): a client told "present" will not upload
    // them, so gc's grace hour must cover them until its version names them.
    // (Only rows not touched in the last 10 minutes are written.)
    const r = await this.q(PRESENT_TOUCH, [this.tenant, ids]);
    const have = new Set(r.rows.map((x: { id: string }) => x.id));
    return ids.filter((id) => !have.has(id));
  }

  async getMany(ids: readonly ObjectId[]): Promise<(Uint8Array | undefined)[]> {
    if (ids.length === 0) return [];
    const got = new Map<string, Uint8Array>();
    const r = await this.q(`SELECT encode(id, 'hex') AS id, bytes FROM objects WHERE tenant = $1 AND id = ANY (SELECT decode(x, 'hex') FROM unnest($2::text[]) x)`, [this.tenant, ids]);
    for (const row of r.rows as { id: string; bytes: Buffer }[]) got.set(row.id, row.bytes);
    // A manifest is read by its own id (its snapshot hash without "sha256:"), assembled from its chunks.
    for (const id of ids) {
      if (got.has(id) || !(await this.manifests.root('sha256:' + id))) continue;
      const b = await this.manifestBytes('sha256:' + id);
      got.set(id, Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    }
    return ids.map((id) => {
      const b = got.get(id);
      return b ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : undefined;
    });
  }

  async putObjects(objs: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<void> {
    const seen = new Set<ObjectId>();
    const rows: { id: ObjectId; bytes: Uint8Array }[] = [];
    let slice = 0;
    for (let i = 0; i < objs.length; i++) {
      const o = objs[i]!;
      const actual = checkedObjectId(o);
      if (!seen.has(actual)) { seen.add(actual); rows.push(o); }
      slice += o.bytes.length + 1024;
      if (slice >= SLICE_BYTES && i + 1 < objs.length) { slice = 0; await new Promise<void>((r) => setImmediate(r)); }
    }
    // Every object matched. Objects are immutable and named by their hash: a batch that stops
    // half-way leaves only objects no version names yet, and the client sends them again.
    // Committed without waiting for the WAL flush (as the LevelDB store writes objects without
    // fsync): no version names them yet, the version that will is committed synchronously later
    // in the same WAL, and PostgreSQL flushes the WAL in order, so that commit makes them
    // durable too; one lost in a crash before it is reported missing to the create
    // (OBJECT_MISSING) and uploaded again. Saves one fsync per push.
    if (!rows.length) return;
    await this.st.upload(this.tenant, rows);
  }

  async createVersion(req: CreateVersionRequest, objects?: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<Version> {
    req = checkCreateRequest(req);
    // The parent's snapshot: versions never change it, so this server remembers the ones it has
    // seen (the next push of a client builds on the version its last one made). Otherwise the
    // head and the latest published version's snapshot in one round trip, and a stale
    // `expected` is refused before any work.
    let parentSnap = req.expected === null ? EMPTY_SNAPSHOT : this.st.snapshots.get(this.tenant + '\0' + req.expected);
    const readHead = async (): Promise<SnapshotHash> => {
      const hr = (await this.q(HEAD_AND_SNAPSHOT, [this.tenant])).rows[0];
      const head = headOf(hr);
      if (head.latestPublished !== req.expected) staleRemote(head, req);
      if (req.expected === null) return EMPTY_SNAPSHOT;
      this.st.snapshots.set(this.tenant + '\0' + req.expected, hr.snapshot);
      return hr.snapshot as SnapshotHash;
    };
    const checked = parentSnap === undefined;
    parentSnap ??= await readHead();
    const parent = await this.manifest(parentSnap);
    let built: { bytes: Uint8Array; snapshot: SnapshotHash };
    try {
      built = buildVersionManifest(req, parent.bytes);
    } catch (e) {
      // Refused against a parent that may no longer be the latest: a stale push is told so first.
      if (!checked) await readHead();
      throw e;
    }
    const { bytes, snapshot } = built;
    // Cut from the parent's leaves: only the leaves around the changes are hashed (SPEC §3.1).
    const tree = rechunkManifest(parent, bytes);
    // The parent's chunks are there (its version reaches them: gc keeps them); the others are
    // sent with the create (stored unless there), and the added blobs are looked up in its call,
    // under the head row's lock, where gc cannot run meanwhile.
    // Blobs sent with the create go in with them, in the same transaction (and need no lookup).
    const freshMap = new Map<ObjectId, { id: ObjectId; bytes: Uint8Array }>();
    for (const c of tree.chunks) if (!parent.chunks.has(c.id)) freshMap.set(c.id, c);
    for (const o of objects ?? []) freshMap.set(o.id, o);
    const fresh = [...freshMap.values()];
    const added = [...new Set(req.changes.filter((c) => c.id !== null && !freshMap.has(c.id)).map((c) => c.id as string))];
    const now = new Date().toISOString();
    // One call (migration 4): lock the head, compare, look up the added blobs, insert the new
    // chunks (those already there are kept), the version, its change list and root, move the head.
    const r = await this.st.statement(CREATE_VERSION,
    [this.tenant, req.expected, req.draft, added.map(hex), fresh.map((c) => hex(c.id)), fresh.map((c) => Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength)),
      snapshot, req.author, req.message, now, req.changes.length, JSON.stringify(req.changes), hex(manifestObjectId(snapshot)), tree.root ? hex(tree.root) : null],
    async () => {
      // The connection was lost while the call was under way: did it land? (A version made by
      // this call has its snapshot and creation time, and an id above the version it builds on.)
      const q = await this.st.query(`SELECT ${VERSION_COLS} FROM versions WHERE tenant = $1 AND id > $2 AND snapshot = $3 AND created_at = $4`, [this.tenant, req.expected ?? 0, snapshot, now]);
      const row = q.rows[0] as VersionRow | undefined;
      return row ? versionOf(row) : undefined;
    });
    if ('landed' in r) return r.landed;
    const x = r.rows[0] as { status: string; latest_published: string | null; current: string | null; last_id: string; missing: string[] | null };
    if (x.status === 'stale') staleRemote(headOf(x), req);
    if (x.status === 'missing') {
      const missing = x.missing as string[];
      fail('OBJECT_MISSING', `${missing.length} object(s) of the new version were not uploaded (first ${missing[0]!.slice(0, 12)}); push again`, { missing });
    }
    const id = Number(x.last_id);
    const v: Version = {
      id, snapshot, parent: req.expected, author: req.author, message: req.message, createdAt: now,
      state: req.draft ? 'draft' : 'published', changed: req.changes.length,
      ...(req.draft ? {} : { publishedAt: now }),
    };
    this.st.manifests.set(this.tenant + '\0' + snapshot, { bytes, chunks: new Set(tree.chunks.map((c) => c.id)), leaves: tree.leaves });
    this.st.snapshots.set(this.tenant + '\0' + id, snapshot);
    return v;
  }

  deploy(id: number): Promise<{ version: Version; head: Head }> {
    return this.st.transaction(async (q) => {
      const head = headOf((await q('SELECT latest_published, current, last_id FROM heads WHERE tenant = $1 FOR UPDATE', [this.tenant])).rows[0]);
      const row = (await q(`SELECT ${VERSION_COLS} FROM versions WHERE tenant = $1 AND id = $2`, [this.tenant, id])).rows[0] as VersionRow | undefined;
      if (!row) fail('VERSION_UNKNOWN', `version ${id} does not exist on the remote; run \`agentsync versions\` to list them`, { version: id, hint: 'agentsync versions' });
      let v = versionOf(row);
      let next: Head;
      if (v.state === 'draft') {
        if (v.parent !== head.latestPublished) {
          fail('DRAFT_STALE', `draft ${id} was built on version ${v.parent ?? 'none'} but the latest published is ${head.latestPublished}; publishing it would drop those changes — push the draft's changes again from an up-to-date workspace (\`agentsync pull\`, then \`agentsync push --draft\`)`, { version: id, parent: v.parent, latestPublished: head.latestPublished, hint: 'agentsync pull' });
        }
        v = { ...v, state: 'published', publishedAt: new Date().toISOString() };
        await q("UPDATE versions SET state = 'published', published_at = $3 WHERE tenant = $1 AND id = $2", [this.tenant, id, v.publishedAt]);
        next = { ...head, latestPublished: id, current: id };
      } else {
        next = { ...head, current: id };
      }
      await q('UPDATE heads SET latest_published = $2, current = $3 WHERE tenant = $1', [this.tenant, next.latestPublished, next.current]);
      return { version: v, head: next };
    });
  }

  rollback(id: number): Promise<{ version: Version; head: Head }> {
    return this.st.transaction(async (q) => {
      const head = headOf((await q('SELECT latest_published, current, last_id FROM heads WHERE tenant = $1 FOR UPDATE', [this.tenant])).rows[0]);
      const row = (await q(`SELECT ${VERSION_COLS} FROM versions WHERE tenant = $1 AND id = $2`, [this.tenant, id])).rows[0] as VersionRow | undefined;
      if (!row) fail('VERSION_UNKNOWN', `version ${id} does not exist on the remote; run \`agentsync versions\` to list them`, { version: id, hint: 'agentsync versions' });
      const v = versionOf(row);
      if (v.state !== 'published') fail('VERSION_DRAFT', `version ${id} is a draft; \`agentsync deploy ${id}\` publishes it`, { version: id, hint: `agentsync deploy ${id}` });
      const next = { ...head, current: id };
      await q('UPDATE heads SET current = $2 WHERE tenant = $1', [this.tenant, id]);
      return { version: v, head: next };
    });
  }

  /** Every object id with its bytes, a page at a time (fsck). */
  async *objectPages(): AsyncGenerator<{ id: string; bytes: Buffer }[]> {
    let after = Buffer.alloc(0);
    for (;;) {
      const r = await this.q(`SELECT id, bytes FROM objects WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT 500`, [this.tenant, after]);
      if (!r.rows.length) return;
      yield r.rows.map((x: { id: Buffer; bytes: Buffer }) => ({ id: x.id.toString('hex'), bytes: x.bytes }));
      after = r.rows.at(-1).id;
    }
  }

  /**
   * Drop what no version reaches: objects (uploads whose version never came, chunks of no
   * version's tree) older than `graceMs`, and roots of no version's snapshot. One transaction
   * holding the head row, so no version is created meanwhile (creates wait).
   */
  gc(graceMs: number): Promise<ServerGcResult> {
    return this.st.transaction(async (q) => {
      await q('SELECT last_id FROM heads WHERE tenant = $1 FOR UPDATE', [this.tenant]);
      const snaps = [...new Set((await q('SELECT snapshot FROM versions WHERE tenant = $1', [this.tenant])).rows.map((r: { snapshot: string }) => r.snapshot))];
      const ms = manifestStore(q, this.tenant);
      const reach = new Set<ObjectId>();
      for (const snap of snaps) await ms.reach(snap, reach);
      const roots = await q(`DELETE FROM roots WHERE tenant = $1 AND NOT (snapshot = ANY (SELECT decode(substr(x, 8), 'hex') FROM unnest($2::text[]) x))`, [this.tenant, snaps]);
      await q('CREATE TEMP TABLE reach (id bytea PRIMARY KEY) ON COMMIT DROP');
      const ids = [...reach];
      for (let i = 0; i < ids.length; i += 10000) await q(`INSERT INTO reach SELECT decode(x, 'hex') FROM unnest($1::text[]) x ON CONFLICT DO NOTHING`, [ids.slice(i, i + 10000)]);
      const cutoff = new Date(Date.now() - graceMs).toISOString();
      const del = await q(`DELETE FROM objects o WHERE o.tenant = $1 AND o.stored_at < $2 AND NOT EXISTS (SELECT 1 FROM reach r WHERE r.id = o.id) RETURNING length(o.bytes) AS n`, [this.tenant, cutoff]);
      const kept = await q(`SELECT count(*) AS n FROM objects o WHERE o.tenant = $1 AND NOT EXISTS (SELECT 1 FROM reach r WHERE r.id = o.id)`, [this.tenant]);
      return {
        objects: del.rows.length, bytes: del.rows.reduce((n: number, r: { n: number }) => n + Number(r.n), 0),
        manifests: roots.rowCount ?? 0, kept: Number(kept.rows[0].n),
      };
    });
  }
}

/**
 * Dashboard sessions in the database, so that every server on it knows every session. Expired
 * ones are deleted now and then as new ones are made.
 */
class PgSessions implements SessionStore {
  private puts = 0;
  constructor(private readonly st: PgStorage) {}
  async get(key: string): Promise<SessionRecord | undefined> {
    const r = await this.st.query('SELECT token_id, tenant, csrf, expires_at FROM sessions WHERE key = $1', [key]);
    const x = r.rows[0];
    return x ? { tokenId: x.token_id, tenant: x.tenant, csrf: x.csrf, expiresAt: Number(x.expires_at) } : undefined;
  }
  async put(key: string, s: SessionRecord): Promise<void> {
    await this.st.query(`INSERT INTO sessions (key, token_id, tenant, csrf, expires_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (key) DO UPDATE SET token_id = $2, tenant = $3, csrf = $4, expires_at = $5`, [key, s.tokenId, s.tenant, s.csrf, s.expiresAt]);
    if (++this.puts % 100 === 1) await this.st.query('DELETE FROM sessions WHERE expires_at < $1', [Date.now()]);
  }
  async delete(key: string): Promise<void> {
    await this.st.query('DELETE FROM sessions WHERE key = $1', [key]);
  }
}

/** Open options of {@link PgStorage}. */
export interface PgOptions {
  /** Most connections (default {@link DEFAULT_DB_POOL}). */
  pool?: number;
  /** Server log (pool errors). */
  log?: (s: string) => void;
  /** Skip the schema check (migrate itself). */
  noSchemaCheck?: boolean;
  /**
   * Keep the token records looked up, while a connection listens for their changes (`serve`):
   * a request then costs no token lookup. Off for short-lived `admin` commands.
   */
  cacheTokens?: boolean;
}

/** Token records kept by a listening server at most this long (a bound should a notification be lost unseen). */
export const TOKEN_CACHE_MS = 10_000;
/** Token records a server keeps at most (then it forgets them all and looks up again). */
const TOKEN_CACHE_MAX = 10_000;
/** Wait before listening again after the listening connection is lost. */
const RELISTEN_MS = 1000;

/** Read the schema version of the database (0: none yet). */
async function schemaOf(query: Q): Promise<number> {
  const t = await query("SELECT to_regclass('agentsync_schema') AS t");
  if (!t.rows[0].t) return 0;
  const r = await query('SELECT max(version) AS v FROM agentsync_schema');
  return Number(r.rows[0].v ?? 0);
}

/**
 * The PostgreSQL storage: a bounded pool; every query maps an unreachable database to 503
 * REMOTE_BUSY; every write that moves a pointer is one transaction.
 */
export class PgStorage implements Storage {
  /** Manifests by tenant and snapshot, a few (the parent of the next push is the latest). */
  readonly manifests = new Recent<StoredManifest>(8);
  /** Snapshots by tenant and version id (a version never changes its snapshot). */
  readonly snapshots = new Recent<SnapshotHash>(4096);
  readonly sessions: SessionStore = new PgSessions(this);
  private readonly apis = new Map<string, PgTenantStore>();
  private closed = false;
  /** Token records by id and when they were read; used only while {@link listener} listens. */
  private readonly tokenCache = new Map<string, { rec: TokenRecord; at: number }>();
  /** Bumped by every notification and every change of the listening state. */
  private tokenEpoch = 0;
  private listener: pg.Client | undefined;
  private relisten: NodeJS.Timeout | undefined;
  /** Small uploads waiting for the next statement, and how many upload statements are under way. */
  private uploads: { tenant: string; rows: readonly { id: ObjectId; bytes: Uint8Array }[]; bytes: number; done: (e?: unknown) => void }[] = [];
  private uploading = 0;

  private constructor(private readonly pool: pg.Pool, readonly url: string) {}

  /**
   * Listen on `agentsync_tokens` on a connection of its own; on any notification forget every
   * kept token record. Losing the connection forgets them too and stops keeping any until a new
   * connection listens (retried every second). Never throws.
   */
  private async listen(): Promise<void> {
    if (this.closed || this.listener) return;
    const c = new pg.Client({ connectionString: this.url, application_name: 'agentsync-listen' });
    let lost = false;
    const drop = () => {
      if (lost) return;
      lost = true;
      if (this.listener === c) this.listener = undefined;
      this.forgetTokens();
      c.end().catch(() => {});
      if (!this.closed && !this.relisten) {
        this.relisten = setTimeout(() => { this.relisten = undefined; void this.listen(); }, RELISTEN_MS);
        this.relisten.unref();
      }
    };
    c.on('error', drop);
    c.on('end', drop);
    c.on('notification', () => this.forgetTokens());
    try {
      await c.connect();
      await c.query('LISTEN agentsync_tokens');
    } catch {
      drop();
      return;
    }
    if (lost) return;
    if (this.closed) { lost = true; await c.end().catch(() => {}); return; }
    this.forgetTokens();
    this.listener = c;
  }

  /**
   * Store the uploaded (hash-checked) objects of `tenant`. A small upload made while
   * {@link UPLOADS_IN_FLIGHT} statements are under way waits for one of them to finish and goes
   * with the others that waited, in one statement (group commit: under load a request costs a
   * share of a round trip, and alone it goes at once). Every waiting request gets that
   * statement's outcome.
   */
  async upload(tenant: string, rows: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<void> {
    const bytes = rows.reduce((n, r) => n + r.bytes.length + 64, 0);
    if (bytes >= UPLOAD_BATCH_BYTES || rows.length >= INSERT_ROWS) {
      for (const slice of slices(rows)) await this.query(UPLOAD_OBJECTS, [slice.map(() => tenant), slice.map((r) => hex(r.id)), slice.map((r) => bufferOf(r.bytes))]);
      return;
    }
    return new Promise<void>((resolve, reject) => {
      this.uploads.push({ tenant, rows, bytes, done: (e) => (e === undefined ? resolve() : reject(e)) });
      this.flushUploads();
    });
  }

  private flushUploads(): void {
    while (this.uploads.length && this.uploading < UPLOADS_IN_FLIGHT) {
      const batch: typeof this.uploads = [];
      let bytes = 0, n = 0;
      while (this.uploads.length && (batch.length === 0 || (bytes + this.uploads[0]!.bytes <= UPLOAD_BATCH_BYTES && n + this.uploads[0]!.rows.length <= INSERT_ROWS))) {
        const u = this.uploads.shift()!;
        batch.push(u);
        bytes += u.bytes;
        n += u.rows.length;
      }
      const tenants: string[] = [], ids: Buffer[] = [], blobs: Buffer[] = [];
      for (const u of batch) {
        for (const r of u.rows) { tenants.push(u.tenant); ids.push(hex(r.id)); blobs.push(bufferOf(r.bytes)); }
      }
      this.uploading++;
      this.query(UPLOAD_OBJECTS, [tenants, ids, blobs]).then(
        () => { for (const u of batch) u.done(); },
        (e: unknown) => { for (const u of batch) u.done(e ?? new Error('upload failed')); },
      ).finally(() => { this.uploading--; this.flushUploads(); });
    }
  }

  private forgetTokens(): void {
    this.tokenEpoch++;
    this.tokenCache.clear();
  }

  /**
   * Connect to `url` and check the schema. @throws REMOTE_UNREACHABLE (no database there),
   * NOT_A_REMOTE (`data.reason`: `no-schema`, `schema-older`, `schema-newer`)
   */
  static async open(url: string, opts: PgOptions = {}): Promise<PgStorage> {
    if (!isDbUrl(url)) fail('USAGE', `--db must be a PostgreSQL URL (postgres://user@host:port/dbname), not ${JSON.stringify(redactUrl(url))}`);
    const pool = new pg.Pool({
      connectionString: url, max: opts.pool ?? DEFAULT_DB_POOL, connectionTimeoutMillis: 10000, idleTimeoutMillis: 30000,
      application_name: 'agentsync',
    });
    // An idle connection the database closed (a restart) must not take the process down.
    pool.on('error', (e) => opts.log?.(`agentsync serve: database connection lost: ${e.message}\n`));
    // Nor one between two owners: the pool hands a released connection to the next waiter while
    // the driver may still be reading the rest of the same packet from the database, which during
    // a shutdown holds a FATAL error; the waiter adds its listener only a microtask later, and an
    // 'error' event with no listener ends the process. So every connection always has one; the
    // pool and the code holding the connection see the failure as usual.
    pool.on('connect', (client) => client.on('error', () => {}));
    const s = new PgStorage(pool, url);
    try {
      let have: number;
      try {
        have = await schemaOf((t, v) => pool.query(t, v));
      } catch (e) {
        fail('REMOTE_UNREACHABLE', `cannot reach the database at ${redactUrl(url)}: ${(e as Error).message}; check the URL and that PostgreSQL is running`, { db: redactUrl(url), reason: (e as Error).message });
      }
      if (!opts.noSchemaCheck) checkSchema(url, have);
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    if (opts.cacheTokens) await s.listen();
    return s;
  }

  /** Run `text` on a pooled connection; an unreachable database is 503 REMOTE_BUSY. */
  async query(text: string | Prepared, values?: unknown[]): Promise<pg.QueryResult<any>> {
    if (this.closed) fail('REMOTE_BUSY', 'the server is shutting down; try again', { status: 503 });
    try {
      return await this.pool.query(withValues(text, values));
    } catch (e) {
      if (isUnavailable(e)) throw unavailable(e);
      throw e;
    }
  }

  /**
   * Run `fn` in one transaction (READ COMMITTED; the pointer rows are locked by the statements).
   * A failure before COMMIT rolls back (an unreachable database: 503 REMOTE_BUSY, nothing
   * written). The connection lost during COMMIT: 503 REMOTE_UNREACHABLE — the outcome is
   * unknown (a create, whose outcome can be looked up, is one {@link statement} instead).
   */
  async transaction<T>(fn: (q: Q) => Promise<T>): Promise<T> {
    const c = await this.checkout();
    try {
      const q: Q = (t, v) => c.client.query(withValues(t, v));
      let result: T;
      try {
        await q('BEGIN');
        result = await fn(q);
      } catch (e) {
        if (isUnavailable(e)) { c.broken(); throw unavailable(e); }
        await q('ROLLBACK').catch(() => c.broken());
        throw e;
      }
      try {
        await q('COMMIT');
      } catch (e) {
        if (!isUnavailable(e)) throw e;
        c.broken();
        throw outcomeUnknown(e);
      }
      return result;
    } finally {
      c.release();
    }
  }

  /**
   * A pooled connection (none within the pool's timeout: 503 REMOTE_BUSY). A failure of it while
   * held is noted (it is not given back for reuse); `release` gives it back, once.
   */
  private async checkout(): Promise<{ client: pg.PoolClient; broken(): void; release(): void }> {
    if (this.closed) fail('REMOTE_BUSY', 'the server is shutting down; try again', { status: 503 });
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw isUnavailable(e) ? unavailable(e) : e;
    }
    let broken = false, released = false;
    const onError = () => { broken = true; };
    client.on('error', onError);
    return {
      client,
      broken: () => { broken = true; },
      release: () => {
        if (released) return;
        released = true;
        client.off('error', onError);
        client.release(broken);
      },
    };
  }

  /**
   * Run one statement that writes (its own transaction) on a pooled connection. No connection:
   * 503 REMOTE_BUSY, nothing written. The connection lost while the statement is under way: it
   * may have committed, so `landed()` is asked whether it took effect (`{landed}`); if it cannot
   * tell, 503 REMOTE_UNREACHABLE — the outcome is unknown.
   */
  async statement<T>(text: string | Prepared, values: unknown[], landed: () => Promise<T | undefined>): Promise<pg.QueryResult<any> | { landed: T }> {
    const c = await this.checkout();
    try {
      return await c.client.query(withValues(text, values));
    } catch (e) {
      if (!isUnavailable(e)) throw e;
      c.broken();
      // Give the dead connection back first: the question below needs a pooled one.
      c.release();
      // The database may be restarting: ask a few times over about three seconds.
      let found: T | undefined;
      for (let i = 0; i < 6; i++) {
        try {
          found = await landed();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      if (found !== undefined) return { landed: found };
      throw outcomeUnknown(e);
    } finally {
      c.release();
    }
  }

  /** Throws REMOTE_BUSY when the database does not answer (GET /healthz). */
  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async tenants(): Promise<TenantRecord[]> {
    const r = await this.query('SELECT name, created_at FROM tenants ORDER BY name');
    return r.rows.map((x: { name: string; created_at: Date }) => ({ name: x.name, createdAt: iso(x.created_at)! }));
  }

  async tenant(name: string): Promise<TenantRecord | undefined> {
    if (!isTenantName(name)) return undefined;
    const r = await this.query('SELECT name, created_at FROM tenants WHERE name = $1', [name]);
    return r.rows[0] ? { name: r.rows[0].name, createdAt: iso(r.rows[0].created_at)! } : undefined;
  }

  async createTenant(name: string): Promise<TenantRecord> {
    checkTenantName(name);
    const t: TenantRecord = { name, createdAt: new Date().toISOString() };
    try {
      await this.transaction(async (q) => {
        await q('INSERT INTO tenants (name, created_at) VALUES ($1, $2)', [name, t.createdAt]);
        await q('INSERT INTO heads (tenant) VALUES ($1)', [name]);
      });
    } catch (e) {
      if ((e as { code?: string }).code === '23505') fail('TENANT_EXISTS', `tenant ${name} already exists; \`agentsync admin tenant list\` shows them`, { tenant: name });
      throw e;
    }
    return t;
  }

  async tokens(): Promise<TokenRecord[]> {
    const r = await this.query(`SELECT ${TOKEN_COLS} FROM tokens ORDER BY id`);
    return r.rows.map(tokenOf);
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    if (!/^[0-9a-f]{16}$/.test(id)) return undefined;
    if (this.listener) {
      const hit = this.tokenCache.get(id);
      if (hit && Date.now() - hit.at < TOKEN_CACHE_MS) return { ...hit.rec };
    }
    // Kept only if nothing changed since before the read (a notification, the listener lost).
    const epoch = this.tokenEpoch, listened = this.listener !== undefined, at = Date.now();
    const r = await this.query(TOKEN_BY_ID, [id]);
    const rec = r.rows[0] ? tokenOf(r.rows[0]) : undefined;
    if (rec && listened && this.listener && epoch === this.tokenEpoch) {
      if (this.tokenCache.size >= TOKEN_CACHE_MAX) this.tokenCache.clear();
      this.tokenCache.set(id, { rec: { ...rec }, at });
    }
    return rec;
  }

  async putToken(t: TokenRecord): Promise<void> {
    // This server forgets it at once; the others when the trigger's notification reaches them.
    this.forgetTokens();
    await this.query(`INSERT INTO tokens (id, tenant, scope, hash, created_at, expires_at, revoked_at, label) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (id) DO UPDATE SET tenant = $2, scope = $3, hash = $4, created_at = $5, expires_at = $6, revoked_at = $7, label = $8`,
    [t.id, t.tenant, t.scope, t.hash, t.createdAt, t.expiresAt, t.revokedAt, t.label ?? null]);
    this.forgetTokens(); // and a read that raced the write is not kept
  }

  remote(tenant: string): PgTenantStore {
    let api = this.apis.get(tenant);
    if (!api) {
      api = new PgTenantStore(this, tenant);
      this.apis.set(tenant, api);
    }
    return api;
  }

  async fsck(): Promise<ServerFsckResult> {
    const problems: FsckProblem[] = [];
    const res: ServerFsckResult = { tenants: 0, tokens: 0, objects: 0, versions: 0, problems };
    const tenants = await this.tenants();
    const tokens = await this.tokens();
    res.tenants = tenants.length;
    res.tokens = tokens.length;
    for (const t of tokens) if (!/^[0-9a-f]{64}$/.test(t.hash ?? '')) problems.push({ what: `token ${t.id}`, message: 'has no valid secret hash' });
    const orphans = await this.query('SELECT tenant FROM versions WHERE tenant NOT IN (SELECT tenant FROM heads) GROUP BY tenant');
    for (const o of orphans.rows) problems.push({ what: `tenant ${o.tenant}`, message: 'has versions but no head' });
    for (const t of tenants) {
      const store = this.remote(t.name);
      const what = `tenant ${t.name}`;
      for await (const page of store.objectPages()) {
        for (const o of page) {
          res.objects++;
          if (blobId(o.bytes) !== o.id) problems.push({ what: `${what} object ${o.id}`, message: 'content does not hash to its id' });
        }
      }
      const head = await store.head();
      const versions = await store.versions(0);
      res.versions += versions.length;
      const ids = new Set(versions.map((v) => v.id));
      const reader = { missing: (list: readonly ObjectId[]) => store.missing(list) };
      const listed = new Set((await this.query('SELECT version FROM changes WHERE tenant = $1', [t.name])).rows.map((x: { version: string }) => Number(x.version)));
      for (const v of versions) {
        await checkSnapshot(reader, store.manifests, v.snapshot, `${what} version ${v.id}`, problems);
        if (v.parent !== null && !ids.has(v.parent)) problems.push({ what: `${what} version ${v.id}`, message: `parent ${v.parent} does not exist` });
        if (v.id > head.lastId) problems.push({ what: `${what} version ${v.id}`, message: `is above the head's last id ${head.lastId}` });
        if (!listed.has(v.id)) problems.push({ what: `${what} version ${v.id}`, message: 'has no change list' });
      }
      for (const p of ['latestPublished', 'current'] as const) {
        const id = head[p];
        if (id !== null && !ids.has(id)) problems.push({ what: `${what} head`, message: `${p} names version ${id}, which does not exist` });
      }
      if (head.lastId !== (versions.at(-1)?.id ?? 0)) problems.push({ what: `${what} head`, message: `last id ${head.lastId} does not match the newest version ${versions.at(-1)?.id ?? 0}` });
    }
    return res;
  }

  /**
   * Drop, in every tenant, what no version reaches; objects stored in the last hour are kept
   * (their version may be on its way, through any server).
   */
  async gc(): Promise<ServerGcResult> {
    const res: ServerGcResult = { objects: 0, bytes: 0, manifests: 0, kept: 0 };
    for (const t of await this.tenants()) {
      const r = await this.remote(t.name).gc(GC_GRACE_MS);
      res.objects += r.objects;
      res.bytes += r.bytes;
      res.manifests += r.manifests;
      res.kept += r.kept;
    }
    return res;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.relisten) clearTimeout(this.relisten);
    const l = this.listener;
    this.listener = undefined;
    this.forgetTokens();
    await l?.end().catch(() => {});
    await this.pool.end();
  }
}

function tokenOf(r: Record<string, any>): TokenRecord {
  return {
    id: r.id, tenant: r.tenant, scope: r.scope, hash: r.hash, createdAt: iso(r.created_at)!,
    expiresAt: iso(r.expires_at), revokedAt: iso(r.revoked_at), ...(r.label !== null ? { label: r.label } : {}),
  };
}

/** Refuse a database whose schema is not the one this code knows. */
function checkSchema(url: string, have: number): void {
  const db = redactUrl(url);
  if (have === 0) fail('NOT_A_REMOTE', `the database at ${db} holds no agentsync schema; run \`agentsync admin migrate --db ${db}\` first`, { db, schema: 0, known: SCHEMA_VERSION, reason: 'no-schema', hint: 'agentsync admin migrate --db <url>' });
  if (have < SCHEMA_VERSION) fail('NOT_A_REMOTE', `the database at ${db} has schema version ${have}, older than this agentsync's ${SCHEMA_VERSION}; run \`agentsync admin migrate --db ${db}\` (stop older servers first)`, { db, schema: have, known: SCHEMA_VERSION, reason: 'schema-older', hint: 'agentsync admin migrate --db <url>' });
  if (have > SCHEMA_VERSION) fail('NOT_A_REMOTE', `the database at ${db} has schema version ${have}, newer than this agentsync knows (${SCHEMA_VERSION}); upgrade agentsync`, { db, schema: have, known: SCHEMA_VERSION, reason: 'schema-newer' });
}

/**
 * Bring the database at `url` to {@link SCHEMA_VERSION}: each missing migration in order, in one
 * transaction under an advisory lock (two migrates at once: the second finds nothing to do).
 * A newer database is refused. Returns the versions before and after. `to`: stop at that
 * version (tests; a stepwise upgrade).
 */
export async function migrate(url: string, opts: { to?: number } = {}): Promise<{ from: number; to: number; applied: number[] }> {
  const target = opts.to ?? SCHEMA_VERSION;
  const s = await PgStorage.open(url, { pool: 1, noSchemaCheck: true });
  try {
    return await s.transaction(async (q) => {
      await q("SELECT pg_advisory_xact_lock(hashtext('agentsync migrate'))");
      await q('CREATE TABLE IF NOT EXISTS agentsync_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      const from = await schemaOf(q);
      if (from > SCHEMA_VERSION) checkSchema(url, from);
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (m.version <= from || m.version > target) continue;
        try {
          await q(m.sql);
        } catch (e) {
          if ((e as { code?: string }).code === '42P07') fail('NOT_A_REMOTE', `the database at ${redactUrl(url)} already holds a table that is not agentsync's (${(e as Error).message}); give agentsync a database of its own`, { db: redactUrl(url), reason: 'foreign-table' });
          throw e;
        }
        await m.run?.(q);
        await q('INSERT INTO agentsync_schema (version, name) VALUES ($1, $2)', [m.version, m.name]);
        applied.push(m.version);
      }
      return { from, to: Math.max(from, target), applied };
    });
  } finally {
    await s.close();
  }
}
