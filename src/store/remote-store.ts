/**
 * The remote side's storage: versions, the two pointers, per-version change lists and
 * content-addressed objects, in one LevelDB keyspace (a prefix per tenant on the server).
 * The directory remote and the HTTP server both use this class.
 *
 * Keys (below `prefix`): `h` head JSON; `v!<id:10>` version JSON; `c!<id:10>` changes JSON
 * relative to the parent; `o!<hex>` objects (blobs and manifests).
 * @module
 */
import { fail } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import {
  applyChanges, decodeManifest, diffManifests, encodeManifest, findClash, findClashAt, manifestLookup, patchManifest, snapshotHashOf,
  EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash,
} from '../model/manifest.js';
import { checkArtifactPath, compareUtf8, utf8Length } from '../model/paths.js';
import { hasControl } from '../model/text.js';
import { EMPTY_HEAD, type Head, type Version } from '../model/version.js';
import { STORE_FORMAT, dec, enc, jsonValue, pad, parseJson, type Db } from './db.js';

export { STORE_FORMAT, pad };
import { ObjectStore, commit, type BatchOp } from './objects.js';
import { ManifestStore, convertLegacy, type ManifestStoreOptions } from './manifests.js';
import { Mutex } from './mutex.js';

export interface CreateVersionRequest {
  /** The latest published version id the client built on (null: none yet). Compare-and-swap. */
  expected: number | null;
  /** Changes relative to the manifest of `expected`. */
  changes: Change[];
  /** The snapshot hash the client computed for the result; must match. */
  snapshot: SnapshotHash;
  author: string;
  message: string;
  draft: boolean;
}

/** Longest author or message, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 64 * 1024;
/** Bytes hashed between two turns of the event loop when checking uploaded objects (a few ms). */
const HASH_SLICE_BYTES = 4 * 1024 * 1024;
/** Most objects written in one LevelDB batch by putObjects. */
const WRITE_SLICE_OPS = 1000;


/**
 * Check a version's author or message: a string of at most {@link MAX_TEXT_BYTES} UTF-8 bytes
 * without control characters (C0, DEL, C1) or lone surrogates; a message may hold `\n` and `\t`.
 * Whatever a remote stores is printed by every clone, so nothing that could drive a terminal
 * is let in. @throws AgentsyncError REQUEST_INVALID (`data.field`, `data.reason`)
 */
export function checkVersionText(field: 'author' | 'message', v: unknown): string {
  if (typeof v !== 'string' || (v.length > MAX_TEXT_BYTES / 3 && utf8Length(v) > MAX_TEXT_BYTES)) {
    fail('REQUEST_INVALID', `the version's ${field} must be a string of at most ${MAX_TEXT_BYTES} bytes`, { field, reason: 'bad-field' });
  }
  if (hasControl(v, field === 'message' ? '\n\t' : '')) {
    fail('REQUEST_INVALID', `the version's ${field} contains a control character${field === 'message' ? ' (only newlines and tabs are allowed)' : ''}; remove it and push again`, { field, reason: 'control-character' });
  }
  return v;
}

/** Longest parent chain, and most changes, `changesBetween` composes before falling back to a full diff. */
const CHAIN_MAX_VERSIONS = 512;
const CHAIN_MAX_CHANGES = 20000;



/**
 * The checks of a create that need nothing stored: author and message, every path (§1.3), no
 * path named twice. Returns the request with its changes sorted by path bytes (how they are stored).
 * @throws AgentsyncError REQUEST_INVALID, PATH_UNSAFE
 */
export function checkCreateRequest(req: CreateVersionRequest): CreateVersionRequest {
  checkVersionText('author', req.author);
  checkVersionText('message', req.message);
  const seen = new Set<string>();
  for (const c of req.changes) {
    checkArtifactPath(c.path);
    if (seen.has(c.path)) fail('REQUEST_INVALID', `the changes name ${JSON.stringify(c.path)} twice; send each path once`, { field: 'changes', reason: 'duplicate-path', path: c.path });
    seen.add(c.path);
  }
  // Stored (and answered by versions/<id>/changes) in path order, whatever order was sent.
  let sorted = true;
  for (let i = 1; i < req.changes.length && sorted; i++) if (compareUtf8(req.changes[i - 1]!.path, req.changes[i]!.path) > 0) sorted = false;
  if (!sorted) req = { ...req, changes: [...req.changes].sort((a, b) => compareUtf8(a.path, b.path)) };
  return req;
}

/**
 * An object's id, checked against its bytes: every store and the server check what arrives with
 * this. @throws AgentsyncError `code` (REMOTE_PROTOCOL by default; the server answers
 * OBJECT_HASH_MISMATCH) with `data: {id, actual}`
 */
export function checkedObjectId(o: { id: ObjectId; bytes: Uint8Array }, code: 'REMOTE_PROTOCOL' | 'OBJECT_HASH_MISMATCH' = 'REMOTE_PROTOCOL'): ObjectId {
  const actual = blobId(o.bytes);
  if (actual !== o.id) fail(code, `object ${o.id.slice(0, 12)} does not hash to its id (got ${actual.slice(0, 12)}); nothing was stored`, { id: o.id, actual });
  return actual;
}

/** The STALE_REMOTE refusal of a create whose `expected` is not the latest published. */
export function staleRemote(head: Head, req: Pick<CreateVersionRequest, 'expected'>): never {
  return fail('STALE_REMOTE', `the remote moved: latest published is ${head.latestPublished ?? 'none'}, not ${req.expected ?? 'none'}; run \`agentsync fetch\` and try again`, { latestPublished: head.latestPublished, expected: req.expected });
}

/**
 * The new manifest of a create (a request from {@link checkCreateRequest}) on its parent's
 * manifest bytes, with the checks that need them: no file that is also a folder, the snapshot
 * the client named, no change that changes nothing. Pure; every backend runs it.
 * @throws AgentsyncError PATH_UNSAFE (data.clash), REMOTE_PROTOCOL, REQUEST_INVALID (no-op-change)
 */
export function buildVersionManifest(req: CreateVersionRequest, parentBytes: Uint8Array, parent?: Manifest): { bytes: Uint8Array; snapshot: SnapshotHash; next?: Manifest } {
  // Sorted changes (what clients send) patch the parent's bytes in place; others take the Map route.
  let next: Manifest | undefined;
  let bytes = patchManifest(parentBytes, req.changes);
  if (!bytes) {
    next = applyChanges(parent ?? decodeManifest(parentBytes, { trusted: true }), req.changes);
    bytes = encodeManifest(next);
  }
  // A path that is a file and also a folder of another cannot be checked out anywhere.
  const addedPaths = new Set(req.changes.filter((c) => c.id !== null).map((c) => c.path));
  // A few added paths: binary searches in the bytes; many (an initial push): one pass over the paths.
  const clash = addedPaths.size <= 100 || addedPaths.size * 3000 < bytes.length
    ? findClashAt(bytes, addedPaths)
    : findClash(next ?? decodeManifest(bytes, { trusted: true }), addedPaths);
  if (clash) {
    const path = addedPaths.has(clash.under) ? clash.under : clash.file;
    fail('PATH_UNSAFE', `refusing artifact path ${JSON.stringify(path)}: ${JSON.stringify(clash.file)} would be both a file and the folder of ${JSON.stringify(clash.under)}; rename one of them`, { path, reason: 'is a file and also the folder of another path', clash });
  }
  const snapshot = snapshotHashOf(bytes);
  if (snapshot !== req.snapshot) {
    fail('REMOTE_PROTOCOL', `the pushed changes give snapshot ${snapshot}, not the ${req.snapshot} the client computed; run \`agentsync fetch\` and push again`, { snapshot, expected: req.snapshot });
  }
  // A change that changes nothing would make `log` show a false added/modified/deleted entry.
  for (const c of req.changes) {
    const had = manifestLookup(parentBytes, c.path);
    if (c.id === null ? had === undefined : had === c.id) {
      fail('REQUEST_INVALID', `the change of ${JSON.stringify(c.path)} changes nothing (${c.id === null ? 'it is not in' : 'it already has that content in'} version ${req.expected ?? 'none'}); send only real changes`, { field: 'changes', reason: 'no-op-change', path: c.path });
    }
  }
  return next ? { bytes, snapshot, next } : { bytes, snapshot };
}

/**
 * Bring a format-1 store (whole manifests) to format 2, once: convert every manifest of
 * `stores` into chunk trees (synced; the old objects stay, so a crash here leaves a store the
 * old release still reads, and a rerun goes on), call `marked` (the caller bumps its marker
 * file: from then on an old release refuses the folder instead of missing manifests), then in
 * one batch delete the old whole manifests and write `key` = 2. Returns whether it converted.
 * @throws AgentsyncError STORE_CORRUPT when `key` holds a format this code does not know (newer)
 */
export async function upgradeStore(db: Db, key: string, stores: () => Promise<RemoteStore[]>, marked?: () => void): Promise<boolean> {
  const f = await db.get(key);
  if (f !== undefined) {
    if (dec.decode(f) === STORE_FORMAT) return false;
    fail('STORE_CORRUPT', `the store was written by a newer agentsync (format ${JSON.stringify(dec.decode(f))}, this one knows ${STORE_FORMAT}); upgrade agentsync`, { format: dec.decode(f) });
  }
  const dels: BatchOp[] = [];
  for (const s of await stores()) for (const id of await s.convertManifests()) dels.push({ type: 'del', key: s.keyPrefix + 'o!' + id });
  marked?.();
  await commit(db, [...dels, { type: 'put', key, value: enc.encode(STORE_FORMAT) }]);
  return true;
}

export class RemoteStore {
  readonly objects: ObjectStore;
  /** Manifests as chunk trees (SPEC §3.1); the chunks are objects too. */
  readonly manifests: ManifestStore;
  /** The keyspace's prefix (`t!<tenant>!` on the server, '' in a directory remote). */
  readonly keyPrefix: string;
  private readonly mutex = new Mutex();
  private manifestCache = new Map<SnapshotHash, Manifest>();
  /** Bytes of the last manifest created or read by createVersion (the next push's parent). */
  private bytesCache: { snapshot: SnapshotHash; bytes: Uint8Array } | undefined;

  constructor(private readonly db: Db, private readonly prefix = '', manifestOpts: ManifestStoreOptions = {}) {
    this.keyPrefix = prefix;
    this.objects = new ObjectStore(db, prefix);
    this.manifests = new ManifestStore(db, prefix, manifestOpts);
  }

  async head(): Promise<Head> {
    return parseJson<Head>(await this.db.get(this.prefix + 'h'), 'remote head') ?? { ...EMPTY_HEAD };
  }

  async version(id: number): Promise<Version> {
    const v = parseJson<Version>(await this.db.get(this.prefix + 'v!' + pad(id)), `version ${id}`);
    if (!v) fail('VERSION_UNKNOWN', `version ${id} does not exist on the remote; run \`agentsync versions\` to list them`, { version: id, hint: 'agentsync versions' });
    return v;
  }

  /** Versions with id > `after`, oldest first. */
  async versions(after = 0): Promise<Version[]> {
    const out: Version[] = [];
    for await (const v of this.db.values({ gt: this.prefix + 'v!' + pad(after), lt: this.prefix + 'v"' })) {
      out.push(parseJson<Version>(v, 'version')!);
    }
    return out;
  }

  /** Changes of version `id` relative to its parent. */
  async versionChanges(id: number): Promise<Change[]> {
    return parseJson<Change[]>(await this.db.get(this.prefix + 'c!' + pad(id)), `changes of version ${id}`) ?? [];
  }

  async manifestOf(snapshot: SnapshotHash): Promise<Manifest> {
    if (snapshot === EMPTY_SNAPSHOT) return new Map();
    const hit = this.manifestCache.get(snapshot);
    if (hit) return hit;
    // Stored manifests were validated and hashed when their version was created.
    const m = decodeManifest(await this.manifests.bytes(snapshot), { trusted: true });
    this.manifestCache.clear(); // keep one: the latest is what is asked for again
    this.manifestCache.set(snapshot, m);
    return m;
  }

  private async parentBytes(snapshot: SnapshotHash): Promise<Uint8Array> {
    if (snapshot === EMPTY_SNAPSHOT) return new Uint8Array(0);
    if (this.bytesCache?.snapshot === snapshot) return this.bytesCache.bytes;
    const bytes = await this.manifests.bytes(snapshot);
    this.bytesCache = { snapshot, bytes };
    return bytes;
  }

  async manifestBytes(id: number): Promise<Uint8Array> {
    const v = await this.version(id);
    if (v.snapshot === EMPTY_SNAPSHOT) return new Uint8Array(0);
    return this.manifests.bytes(v.snapshot);
  }

  /**
   * Changes turning version `from` (null: empty) into version `to`, sorted by path (what
   * `diffManifests` gives). When `from` is a near ancestor of `to` (the usual incremental fetch:
   * published versions chain through `parent`), the stored change lists along the chain are
   * composed and checked against `from`'s manifest bytes, without decoding either manifest.
   */
  async changesBetween(from: number | null, to: number): Promise<Change[]> {
    const target = await this.version(to);
    if (from !== null) {
      const composed = await this.composeChain(from, target);
      if (composed) {
        const fromSnap = (await this.version(from)).snapshot;
        const fromBytes = fromSnap === EMPTY_SNAPSHOT ? new Uint8Array(0) : this.bytesCache?.snapshot === fromSnap ? this.bytesCache.bytes : await this.manifests.bytes(fromSnap);
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
   * The change lists of the versions from `to` back to (not including) `from` through `parent`,
   * composed (the latest change of each path wins) and sorted by path; undefined when `from` is
   * not reached within a few versions or the lists grow large (then a full diff is cheaper).
   */
  private async composeChain(from: number, to: Version): Promise<Change[] | undefined> {
    const lists: Change[][] = [];
    let total = 0;
    let v = to;
    while (v.id !== from) {
      if (v.parent === null || v.parent < from || lists.length >= CHAIN_MAX_VERSIONS) return undefined;
      const c = parseJson<Change[]>(await this.db.get(this.prefix + 'c!' + pad(v.id)), `changes of version ${v.id}`);
      if (!c) return undefined;
      total += c.length;
      if (total > CHAIN_MAX_CHANGES) return undefined;
      lists.push(c);
      v = await this.version(v.parent);
    }
    const byPath = new Map<string, ObjectId | null>();
    for (let i = lists.length - 1; i >= 0; i--) for (const c of lists[i]!) byPath.set(c.path, c.id);
    return [...byPath].map(([path, id]) => ({ path, id })).sort((a, b) => compareUtf8(a.path, b.path));
  }

  /**
   * Create a version with compare-and-swap on the latest published version.
   * Refused before anything is written: an author or message that is too long or holds a
   * control character; a path no clone could write (PATH_UNSAFE), including a result where one
   * path is a file and also a folder of another.
   * @throws AgentsyncError REQUEST_INVALID, PATH_UNSAFE (data.path, data.reason, data.clash),
   * STALE_REMOTE (data.latestPublished), OBJECT_MISSING, REMOTE_PROTOCOL
   */
  async createVersion(req: CreateVersionRequest, objects: readonly { id: ObjectId; bytes: Uint8Array }[] = []): Promise<Version> {
    req = checkCreateRequest(req);
    // Objects sent with the create: checked against their ids, then written in the version's batch.
    const sent = new Map<ObjectId, Uint8Array>();
    for (const o of objects) sent.set(checkedObjectId(o), o.bytes);
    return this.mutex.run(async () => {
      const head = await this.head();
      if (head.latestPublished !== req.expected) staleRemote(head, req);
      const parentSnap = req.expected === null ? EMPTY_SNAPSHOT : (await this.version(req.expected)).snapshot;
      const parentBytes = await this.parentBytes(parentSnap);
      const { bytes, snapshot, next } = buildVersionManifest(req, parentBytes, this.manifestCache.get(parentSnap));
      const added = [...new Set(req.changes.filter((c) => c.id !== null).map((c) => c.id as string))];
      const missing = await this.objects.missing(added.filter((x) => !sent.has(x)));
      if (missing.length) fail('OBJECT_MISSING', `${missing.length} object(s) of the new version were not uploaded (first ${missing[0]!.slice(0, 12)}); push again`, { missing });
      const id = head.lastId + 1;
      const now = new Date().toISOString();
      const v: Version = {
        id, snapshot, parent: req.expected, author: req.author, message: req.message, createdAt: now,
        state: req.draft ? 'draft' : 'published', changed: req.changes.length,
        ...(req.draft ? {} : { publishedAt: now }),
      };
      const nextHead: Head = req.draft ? { ...head, lastId: id } : { latestPublished: id, current: id, lastId: id };
      const ops: BatchOp[] = [];
      // The manifest's chunks this store lacks (one leaf and the nodes above it, for a small
      // change), and its root; objects first in the same synced batch.
      ops.push(...(await this.manifests.putOps(bytes, snapshot)).ops);
      for (const [oid, b] of sent) ops.push({ type: 'put', key: this.prefix + 'o!' + oid, value: b });
      ops.push({ type: 'put', key: this.prefix + 'v!' + pad(id), value: jsonValue(v) });
      ops.push({ type: 'put', key: this.prefix + 'c!' + pad(id), value: jsonValue(req.changes) });
      ops.push({ type: 'put', key: this.prefix + 'h', value: jsonValue(nextHead) });
      await commit(this.db, ops);
      if (next) this.manifestCache.set(snapshot, next);
      this.bytesCache = { snapshot, bytes };
      return v;
    });
  }

  /**
   * Publish version `id` (if a draft) and make it current. A draft built on an older latest
   * published version is refused: publishing it would drop the changes made since.
   * @throws AgentsyncError VERSION_UNKNOWN, DRAFT_STALE
   */
  deploy(id: number): Promise<{ version: Version; head: Head }> {
    return this.mutex.run(async () => {
      const head = await this.head();
      let v = await this.version(id);
      const ops: BatchOp[] = [];
      let next: Head;
      if (v.state === 'draft') {
        if (v.parent !== head.latestPublished) {
          fail('DRAFT_STALE', `draft ${id} was built on version ${v.parent ?? 'none'} but the latest published is ${head.latestPublished}; publishing it would drop those changes — push the draft's changes again from an up-to-date workspace (\`agentsync pull\`, then \`agentsync push --draft\`)`, { version: id, parent: v.parent, latestPublished: head.latestPublished, hint: 'agentsync pull' });
        }
        v = { ...v, state: 'published', publishedAt: new Date().toISOString() };
        ops.push({ type: 'put', key: this.prefix + 'v!' + pad(id), value: jsonValue(v) });
        next = { ...head, latestPublished: id, current: id };
      } else {
        next = { ...head, current: id };
      }
      ops.push({ type: 'put', key: this.prefix + 'h', value: jsonValue(next) });
      await commit(this.db, ops);
      return { version: v, head: next };
    });
  }

  /**
   * Make published version `id` current; latest published stays.
   * @throws AgentsyncError VERSION_UNKNOWN, VERSION_DRAFT
   */
  rollback(id: number): Promise<{ version: Version; head: Head }> {
    return this.mutex.run(async () => {
      const head = await this.head();
      const v = await this.version(id);
      if (v.state !== 'published') fail('VERSION_DRAFT', `version ${id} is a draft; \`agentsync deploy ${id}\` publishes it`, { version: id, hint: `agentsync deploy ${id}` });
      const next = { ...head, current: id };
      await commit(this.db, [{ type: 'put', key: this.prefix + 'h', value: jsonValue(next) }]);
      return { version: v, head: next };
    });
  }

  /**
   * Objects by id, in order (undefined: not stored). An id that is a snapshot hash's hex digits
   * answers that manifest's bytes (protocol §6 "Reading": a manifest reads like an object),
   * assembled from its chunks.
   */
  async getObjects(ids: readonly ObjectId[]): Promise<(Uint8Array | undefined)[]> {
    const vals = await this.objects.getMany(ids);
    for (let i = 0; i < vals.length; i++) {
      if (vals[i] === undefined) vals[i] = await this.manifests.get('sha256:' + ids[i]);
    }
    return vals;
  }

  /**
   * Convert a format-1 store (whole manifests) into chunk trees (SPEC §3.1). Returns the old
   * whole-manifest objects that nothing reaches any more, to delete once the store is marked
   * converted. Idempotent.
   */
  async convertManifests(): Promise<ObjectId[]> {
    const legacy = await convertLegacy(this.db, this.prefix, (await this.versions()).map((v) => v.snapshot));
    if (!legacy.length) return [];
    const reach = await this.reachable();
    return legacy.filter((id) => !reach.has(id));
  }

  /** Every object some version reaches (its manifest's chunks and blobs). */
  async reachable(): Promise<Set<ObjectId>> {
    const into = new Set<ObjectId>();
    for (const v of await this.versions()) await this.manifests.reach(v.snapshot, into);
    return into;
  }

  /**
   * Drop what no version reaches: objects (uploads whose version never came, old whole
   * manifests) and `m!` keys of no version's snapshot. `keep`: objects to keep anyway (uploads
   * in flight on a running server). Runs under the store's mutex (no version is created meanwhile).
   */
  gc(keep: ReadonlySet<ObjectId> = new Set()): Promise<{ objects: number; bytes: number; manifests: number; kept: number }> {
    return this.mutex.run(async () => {
      const versions = await this.versions();
      const snaps = new Set(versions.map((v) => v.snapshot));
      const reach = new Set<ObjectId>();
      for (const s of snaps) await this.manifests.reach(s, reach);
      const ops: BatchOp[] = [];
      let objects = 0, bytes = 0, manifests = 0, kept = 0;
      for await (const { snapshot } of this.manifests.snapshots()) {
        if (!snaps.has(snapshot)) { ops.push(this.manifests.forgetOp(snapshot)); manifests++; }
      }
      const p = this.prefix + 'o!';
      for await (const [k, v] of this.db.iterator({ gte: p, lt: p.slice(0, -1) + '"' })) {
        const id = k.slice(p.length);
        if (reach.has(id)) continue;
        if (keep.has(id)) { kept++; continue; }
        ops.push({ type: 'del', key: k });
        objects++;
        bytes += v.length;
      }
      for (let i = 0; i < ops.length; i += 10000) await commit(this.db, ops.slice(i, i + 10000));
      return { objects, bytes, manifests, kept };
    });
  }

  /**
   * Store uploaded objects after checking each against its id; nothing is stored when one does
   * not match. Hashing runs in slices of about 4 MiB (an object counting at least 1 KiB) with a
   * turn of the event loop between them, so a large batch never holds up the other requests of a server.
   * An id repeated within the batch is written once. The writes, after every object matched,
   * are split the same way.
   * @throws AgentsyncError REMOTE_PROTOCOL
   */
  async putObjects(objs: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<void> {
    const ops: BatchOp[] = [];
    const seen = new Set<ObjectId>();
    let slice = 0;
    for (let i = 0; i < objs.length; i++) {
      const o = objs[i]!;
      const actual = checkedObjectId(o);
      if (!seen.has(actual)) {
        seen.add(actual);
        ops.push({ type: 'put', key: this.prefix + 'o!' + actual, value: o.bytes });
      }
      slice += o.bytes.length + 1024;
      if (slice >= HASH_SLICE_BYTES && i + 1 < objs.length) {
        slice = 0;
        await new Promise<void>((r) => setImmediate(r));
      }
    }
    // Every object matched: write them in slices too (LevelDB copies a batch into its write batch
    // on the calling thread). Unsynced: the synced version batch that names them follows in the
    // same sequential log.
    for (let i = 0; i < ops.length;) {
      let j = i, bytes = 0;
      while (j < ops.length && j - i < WRITE_SLICE_OPS && (j === i || bytes < HASH_SLICE_BYTES)) bytes += (ops[j++] as { value: Uint8Array }).value.length + 1024;
      await this.db.batch(ops.slice(i, j) as never);
      i = j;
    }
  }
}
