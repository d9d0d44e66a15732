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
import type { ObjectId } from '../model/hash.js';
import {
  applyChanges, decodeManifest, diffManifests, encodeManifest, manifestLookup, manifestObjectId, patchManifest, snapshotHashOf,
  EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash,
} from '../model/manifest.js';
import { checkArtifactPath, compareUtf8 } from '../model/paths.js';
import { EMPTY_HEAD, type Head, type Version } from '../model/version.js';
import { jsonValue, parseJson, type Db } from './db.js';
import { ObjectStore, commit, type BatchOp } from './objects.js';
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

const pad = (n: number) => String(n).padStart(10, '0');

/** Longest parent chain, and most changes, `changesBetween` composes before falling back to a full diff. */
const CHAIN_MAX_VERSIONS = 64;
const CHAIN_MAX_CHANGES = 20000;


export class RemoteStore {
  readonly objects: ObjectStore;
  private readonly mutex = new Mutex();
  private manifestCache = new Map<SnapshotHash, Manifest>();
  /** Bytes of the last manifest created or read by createVersion (the next push's parent). */
  private bytesCache: { snapshot: SnapshotHash; bytes: Uint8Array } | undefined;

  constructor(private readonly db: Db, private readonly prefix = '') {
    this.objects = new ObjectStore(db, prefix);
  }

  async head(): Promise<Head> {
    return parseJson<Head>(await this.db.get(this.prefix + 'h'), 'remote head') ?? { ...EMPTY_HEAD };
  }

  async version(id: number): Promise<Version> {
    const v = parseJson<Version>(await this.db.get(this.prefix + 'v!' + pad(id)), `version ${id}`);
    if (!v) fail('VERSION_UNKNOWN', `version ${id} does not exist on the remote; run \`agentsync versions\` to list them`, { version: id });
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
    const m = decodeManifest(await this.objects.need(manifestObjectId(snapshot), 'snapshot manifest'), { trusted: true });
    this.manifestCache.clear(); // keep one: the latest is what is asked for again
    this.manifestCache.set(snapshot, m);
    return m;
  }

  private async parentBytes(snapshot: SnapshotHash): Promise<Uint8Array> {
    if (snapshot === EMPTY_SNAPSHOT) return new Uint8Array(0);
    if (this.bytesCache?.snapshot === snapshot) return this.bytesCache.bytes;
    const bytes = await this.objects.need(manifestObjectId(snapshot), 'snapshot manifest');
    this.bytesCache = { snapshot, bytes };
    return bytes;
  }

  async manifestBytes(id: number): Promise<Uint8Array> {
    const v = await this.version(id);
    if (v.snapshot === EMPTY_SNAPSHOT) return new Uint8Array(0);
    return this.objects.need(manifestObjectId(v.snapshot), 'snapshot manifest');
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
        const fromBytes = fromSnap === EMPTY_SNAPSHOT ? new Uint8Array(0) : this.bytesCache?.snapshot === fromSnap ? this.bytesCache.bytes : await this.objects.need(manifestObjectId(fromSnap), 'snapshot manifest');
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
   * @throws AgentsyncError STALE_REMOTE (data.latestPublished), OBJECT_MISSING, REMOTE_PROTOCOL
   */
  createVersion(req: CreateVersionRequest): Promise<Version> {
    return this.mutex.run(async () => {
      const head = await this.head();
      if (head.latestPublished !== req.expected) {
        fail('STALE_REMOTE', `the remote moved: latest published is ${head.latestPublished ?? 'none'}, not ${req.expected ?? 'none'}; run \`agentsync fetch\` and try again`, { latestPublished: head.latestPublished, expected: req.expected });
      }
      const parentSnap = req.expected === null ? EMPTY_SNAPSHOT : (await this.version(req.expected)).snapshot;
      for (const c of req.changes) checkArtifactPath(c.path);
      // Sorted changes (what clients send) patch the parent's bytes in place; others take the Map route.
      let next: Manifest | undefined;
      let bytes = patchManifest(await this.parentBytes(parentSnap), req.changes);
      if (!bytes) {
        next = applyChanges(await this.manifestOf(parentSnap), req.changes);
        bytes = encodeManifest(next);
      }
      const snapshot = snapshotHashOf(bytes);
      if (snapshot !== req.snapshot) {
        fail('REMOTE_PROTOCOL', `the pushed changes give snapshot ${snapshot}, not the ${req.snapshot} the client computed; run \`agentsync fetch\` and push again`, { snapshot, expected: req.snapshot });
      }
      const added = [...new Set(req.changes.filter((c) => c.id !== null).map((c) => c.id as string))];
      const missing = await this.objects.missing(added);
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
      if (bytes.length) ops.push(...this.objects.putOps([bytes]).ops);
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
          fail('DRAFT_STALE', `draft ${id} was built on version ${v.parent ?? 'none'} but the latest published is ${head.latestPublished}; publishing it would drop those changes — push the draft's changes again from an up-to-date workspace`, { version: id, parent: v.parent, latestPublished: head.latestPublished });
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
      if (v.state !== 'published') fail('VERSION_DRAFT', `version ${id} is a draft; \`agentsync deploy ${id}\` publishes it`, { version: id });
      const next = { ...head, current: id };
      await commit(this.db, [{ type: 'put', key: this.prefix + 'h', value: jsonValue(next) }]);
      return { version: v, head: next };
    });
  }

  /** Store uploaded objects after checking each against its id. @throws AgentsyncError REMOTE_PROTOCOL */
  async putObjects(objs: readonly { id: ObjectId; bytes: Uint8Array }[]): Promise<void> {
    const { ops, ids } = this.objects.putOps(objs.map((o) => o.bytes));
    ids.forEach((id, i) => {
      if (id !== objs[i]!.id) fail('REMOTE_PROTOCOL', `object ${objs[i]!.id.slice(0, 12)} does not hash to its id (got ${id.slice(0, 12)}); nothing was stored`, { id: objs[i]!.id, actual: id });
    });
    // Unsynced: the synced version batch that names them follows in the same sequential log.
    if (ops.length) await this.db.batch(ops as never);
  }
}
