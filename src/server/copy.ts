/**
 * `agentsync admin copy --from <data dir> --to postgres://…`: move a LevelDB server's data into
 * PostgreSQL. Restartable and verifiable:
 * - objects (blobs and manifest chunks) and manifest roots are inserted first, idempotently
 *   (an object already there is kept: it is named by its hash);
 * - then, per tenant, one transaction adds the versions and change lists the database lacks and
 *   sets the head — so a copy cut short leaves each tenant either as it was or whole;
 * - a tenant whose versions in the database are not a prefix of the folder's (someone pushed
 *   to the database meanwhile) is refused, nothing of it changed;
 * - afterwards every version's manifest is read back from the database, re-hashed against its
 *   snapshot hash, and every blob it names looked up (fsck's check).
 * The folder must not be served meanwhile (its LevelDB lock: STORE_LOCKED, stop the server).
 * @module
 */
import { fail } from '../model/errors.js';
import type { ObjectId } from '../model/hash.js';
import type { Version } from '../model/version.js';
import { checkSnapshot, type FsckProblem } from '../engine/fsck.js';
import { LevelStorage } from './storage.js';
import { PgStorage, insertObjects, redactUrl } from './pg-storage.js';

export interface CopyResult {
  tenants: number;
  tokens: number;
  /** Versions added to the database by this run (a rerun adds only what is missing). */
  versions: number;
  /** Objects read from the folder and offered to the database (those already there are kept). */
  objects: number;
  /** Versions whose snapshot was re-checked in the database (all of them). */
  checked: number;
  problems: FsckProblem[];
}

const BATCH = 500;

export async function copyToDb(from: string, to: string, log: (s: string) => void = () => {}): Promise<CopyResult> {
  const src = await LevelStorage.open(from, { waitMs: 3000 });
  let dst: PgStorage | undefined;
  try {
    dst = await PgStorage.open(to, { pool: 2 });
    const res: CopyResult = { tenants: 0, tokens: 0, versions: 0, objects: 0, checked: 0, problems: [] };
    const tenants = await src.tenants();
    for (const t of tenants) {
      if (!(await dst.tenant(t.name))) {
        await dst.transaction(async (q) => {
          await q('INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [t.name, t.createdAt]);
          await q('INSERT INTO heads (tenant) VALUES ($1) ON CONFLICT DO NOTHING', [t.name]);
        });
      }
      res.tenants++;
    }
    for (const tok of await src.tokens()) {
      await dst.putToken(tok);
      res.tokens++;
    }
    for (const t of tenants) {
      const db = dst;
      await src.withTenant(t.name, async (s) => {
        // Objects (blobs and chunks), a batch at a time.
        let ids: ObjectId[] = [];
        const flush = async () => {
          const vals = await s.objects.getMany(ids);
          await db.transaction(async (q) => insertObjects(q, t.name, ids.map((id, i) => ({ id, bytes: vals[i]! })).filter((o) => o.bytes)));
          res.objects += ids.length;
          ids = [];
        };
        for await (const id of s.objects.ids()) {
          ids.push(id);
          if (ids.length >= BATCH) await flush();
        }
        if (ids.length) await flush();
        for await (const { snapshot, root } of s.manifests.snapshots()) {
          if (!root) continue;
          await db.query('INSERT INTO roots (tenant, snapshot, root) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [t.name, Buffer.from(snapshot.slice(7), 'hex'), Buffer.from(root, 'hex')]);
        }
        // Versions, change lists and the head: one transaction.
        const versions = await s.versions(0);
        const head = await s.head();
        const changes = new Map<number, unknown>();
        for (const v of versions) changes.set(v.id, await s.versionChanges(v.id));
        res.versions += await db.transaction(async (q) => {
          await q('SELECT last_id FROM heads WHERE tenant = $1 FOR UPDATE', [t.name]);
          const have = (await q('SELECT id, snapshot FROM versions WHERE tenant = $1 ORDER BY id', [t.name])).rows as { id: string; snapshot: string }[];
          for (const h of have) {
            const v = versions[Number(h.id) - 1];
            if (!v || v.id !== Number(h.id) || v.snapshot !== h.snapshot) {
              fail('STORE_CORRUPT', `tenant ${t.name} in ${redactUrl(to)} has version ${h.id} that ${from} does not have (or another one); the database was written to since — nothing of this tenant was copied`, { tenant: t.name, version: Number(h.id) });
            }
          }
          let added = 0;
          for (const v of versions.slice(have.length)) {
            await insertVersion(q, t.name, v, changes.get(v.id));
            added++;
          }
          await q('UPDATE heads SET latest_published = $2, current = $3, last_id = $4 WHERE tenant = $1', [t.name, head.latestPublished, head.current, head.lastId]);
          return added;
        });
      }, false);
      log(`copied tenant ${t.name}\n`);
    }
    // Verify from the database's side.
    for (const t of tenants) {
      const store = dst.remote(t.name);
      const reader = { missing: (list: readonly ObjectId[]) => store.missing(list) };
      for (const v of await store.versions(0)) {
        await checkSnapshot(reader, store.manifests, v.snapshot, `tenant ${t.name} version ${v.id}`, res.problems);
        res.checked++;
      }
    }
    return res;
  } finally {
    await dst?.close();
    await src.close();
  }
}

async function insertVersion(q: (t: string, v?: unknown[]) => Promise<unknown>, tenant: string, v: Version, changes: unknown): Promise<void> {
  await q(`INSERT INTO versions (tenant, id, snapshot, parent, author, message, created_at, state, published_at, changed)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
  [tenant, v.id, v.snapshot, v.parent, v.author, v.message, v.createdAt, v.state, v.publishedAt ?? null, v.changed]);
  await q('INSERT INTO changes (tenant, version, list) VALUES ($1, $2, $3)', [tenant, v.id, JSON.stringify(changes ?? [])]);
}
