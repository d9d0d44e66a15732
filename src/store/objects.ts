/**
 * Content-addressed objects in a LevelDB keyspace: key `o!<id>`, value the raw bytes.
 * Used by the local store and by every remote store.
 * @module
 */
import { blobId, type ObjectId } from '../model/hash.js';
import { diskFullError, isDiskFull } from '../model/diskfull.js';
import { fail } from '../model/errors.js';
import type { Db } from './db.js';

export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/**
 * Write a batch durably (fsync) so that refs written after it never point at lost data.
 * @throws AgentsyncError DISK_FULL when the disk is full (the batch is atomic: nothing of it is written)
 */
export async function commit(db: Db, ops: BatchOp[]): Promise<void> {
  if (!ops.length) return;
  try {
    await db.batch(ops as never, { sync: true } as never);
  } catch (e) {
    throw isDiskFull(e) ? diskFullError(e) : e;
  }
}

export class ObjectStore {
  private readonly p: string;
  /** @param prefix key prefix of this keyspace (a tenant on the server; '' locally). */
  constructor(private readonly db: Db, prefix = '') {
    this.p = prefix + 'o!';
  }

  async has(id: ObjectId): Promise<boolean> {
    return this.db.has(this.p + id);
  }

  /** Ids among `ids` that are not stored. */
  async missing(ids: readonly ObjectId[]): Promise<ObjectId[]> {
    if (ids.length === 0) return [];
    // hasMany checks presence without copying the values out of LevelDB.
    const have = await this.db.hasMany(ids.map((id) => this.p + id));
    return ids.filter((_, i) => !have[i]);
  }

  async get(id: ObjectId): Promise<Uint8Array | undefined> {
    return this.db.get(this.p + id);
  }

  /** @throws AgentsyncError OBJECT_MISSING */
  async need(id: ObjectId, what = 'object'): Promise<Uint8Array> {
    const v = await this.db.get(this.p + id);
    if (v === undefined) fail('OBJECT_MISSING', `${what} ${id.slice(0, 12)} is missing from the store; run \`agentsync fetch\`, then \`agentsync fsck\``, { id });
    return v;
  }

  async getMany(ids: readonly ObjectId[]): Promise<(Uint8Array | undefined)[]> {
    if (ids.length === 0) return [];
    return this.db.getMany(ids.map((id) => this.p + id));
  }

  /** Batch operations that store `bytes` (ids computed here). */
  putOps(blobs: readonly Uint8Array[]): { ops: BatchOp[]; ids: ObjectId[] } {
    const ids = blobs.map((b) => blobId(b));
    return { ops: blobs.map((b, i) => ({ type: 'put' as const, key: this.p + ids[i], value: b })), ids };
  }

  /**
   * Store blobs; returns their ids. Not fsynced by itself: LevelDB's log is sequential, so the
   * synced batch that later writes a ref naming these objects makes them durable first.
   */
  async put(blobs: readonly Uint8Array[]): Promise<ObjectId[]> {
    const { ops, ids } = this.putOps(blobs);
    if (ops.length) await this.db.batch(ops as never);
    return ids;
  }

  /** Every stored object id, for fsck. */
  async *ids(): AsyncGenerator<ObjectId> {
    for await (const k of this.db.keys({ gte: this.p, lt: this.p.slice(0, -1) + '"' })) yield k.slice(this.p.length);
  }
}
