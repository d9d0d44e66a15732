/**
 * The directory remote: a folder holding a remote store (the embedded default). Layout:
 * `<dir>/AGENTSYNC_REMOTE` marker, `<dir>/store/` LevelDB. The LevelDB lock serialises
 * processes; a busy remote is waited on with a bounded retry.
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../model/errors.js';
import type { ObjectId } from '../model/hash.js';
import { openDb, type Db } from '../store/db.js';
import { RemoteStore, upgradeStore } from '../store/remote-store.js';
import { HOT_FILE } from '../store/manifests.js';
import { atomicWrite } from '../workspace/fsio.js';
import type { CreateVersionRequest, Remote, StoredObject } from './types.js';

export const MARKER = 'AGENTSYNC_REMOTE';
/** Format 2: manifests as chunk trees (SPEC §3.1). A format-1 folder is upgraded on first open. */
const MARKER_TEXT = 'agentsync remote store, format 2\n';
const MARKER_V1 = 'agentsync remote store, format 1\n';

export class DirectoryRemote implements Remote {
  private db: Db | undefined;
  private store: RemoteStore | undefined;

  constructor(readonly url: string, private readonly dir: string, private readonly waitMs?: number) {}

  /** Open the store; `create` makes the folder a remote when it does not exist or is empty. */
  private async open(create: boolean): Promise<RemoteStore> {
    if (this.store) return this.store;
    const marker = join(this.dir, MARKER);
    const st = statSync(this.dir, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) fail('NOT_A_REMOTE', `${this.dir} is a file, not an agentsync remote folder; point the remote at a folder`, { dir: this.dir });
    if (!existsSync(marker)) {
      const exists = st !== undefined;
      if (exists && readdirSync(this.dir).length > 0) {
        fail('NOT_A_REMOTE', `${this.dir} is a non-empty folder that is not an agentsync remote; choose an empty or new folder`, { dir: this.dir });
      }
      if (!create) {
        fail('REMOTE_UNREACHABLE', `no agentsync remote at ${this.dir}; \`agentsync push\` creates one in a new folder, or check the remote URL`, { dir: this.dir, missing: true });
      }
      mkdirSync(this.dir, { recursive: true });
      atomicWrite(marker, MARKER_TEXT);
    } else {
      const text = readFileSync(marker, 'utf8');
      if (text !== MARKER_TEXT && text !== MARKER_V1) fail('NOT_A_REMOTE', `${this.dir} has an unknown remote format; upgrade agentsync`, { dir: this.dir });
    }
    const db = await openDb(join(this.dir, 'store'), { lockedCode: 'REMOTE_BUSY', what: 'the remote', ...(this.waitMs !== undefined ? { waitMs: this.waitMs } : {}) });
    const store = new RemoteStore(db, '', { hot: join(this.dir, 'store', HOT_FILE) });
    try {
      // Under the lock: a format-1 remote is converted once (SPEC §3.1, "Upgrade").
      await upgradeStore(db, 'format', async () => [store], () => {
        if (readFileSync(marker, 'utf8') !== MARKER_TEXT) atomicWrite(marker, MARKER_TEXT);
      });
    } catch (e) {
      await db.close().catch(() => {});
      throw e;
    }
    this.db = db;
    this.store = store;
    return this.store;
  }

  async head() {
    return (await this.open(false)).head();
  }
  async versions(after = 0) { return (await this.open(false)).versions(after); }
  async versionChanges(id: number) { return (await this.open(false)).versionChanges(id); }
  async changesBetween(from: number | null, to: number) { return (await this.open(false)).changesBetween(from, to); }
  async missing(ids: readonly ObjectId[]) { return (await this.open(true)).objects.missing(ids); }
  async putObjects(objs: readonly StoredObject[]) { return (await this.open(true)).putObjects(objs); }
  async getObjects(ids: readonly ObjectId[]): Promise<StoredObject[]> {
    const s = await this.open(false);
    const vals = await s.getObjects(ids);
    return ids.map((id, i) => {
      const bytes = vals[i];
      if (!bytes) fail('OBJECT_MISSING', `the remote lacks object ${id.slice(0, 12)}; its store is damaged — run \`agentsync fsck\` on it`, { id });
      return { id, bytes };
    });
  }
  async createVersion(req: CreateVersionRequest, objects?: readonly StoredObject[]) { return (await this.open(true)).createVersion(req, objects); }
  async deploy(id: number) { return (await this.open(false)).deploy(id); }
  async rollback(id: number) { return (await this.open(false)).rollback(id); }
  async close() {
    const db = this.db, store = this.store;
    this.db = undefined;
    this.store = undefined;
    if (store) await store.manifests.persist();
    if (db) await db.close();
  }
}
