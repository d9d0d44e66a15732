/**
 * fsck: every object hashes to its id; every base and fetch record points at a manifest whose
 * chunk tree is whole and well formed (SPEC §3.1), whose bytes hash to the snapshot and decode;
 * every blob those manifests name is present.
 * @module
 */
import { blobId } from '../model/hash.js';
import { decodeManifest, isSnapshotHash, snapshotHashOf, EMPTY_SNAPSHOT } from '../model/manifest.js';
import type { ManifestStore } from '../store/manifests.js';
import type { Tracking } from '../store/local.js';
import type { ObjectStore } from '../store/objects.js';
import type { Context } from './context.js';

export interface FsckProblem {
  what: string;
  message: string;
}

export interface FsckResult {
  objects: number;
  refs: number;
  problems: FsckProblem[];
}

/** Check every object of a store against its id. */
export async function checkObjects(objects: ObjectStore, problems: FsckProblem[]): Promise<number> {
  let n = 0;
  for await (const id of objects.ids()) {
    n++;
    const bytes = await objects.get(id);
    if (!bytes || blobId(bytes) !== id) problems.push({ what: `object ${id}`, message: 'content does not hash to its id' });
  }
  return n;
}

/**
 * Check that a snapshot's manifest is stored whole (every chunk of its tree present and well
 * formed), hashes to the snapshot, decodes, and that every blob it names is present.
 */
export async function checkSnapshot(objects: Pick<ObjectStore, 'missing'>, manifests: Pick<ManifestStore, 'stored'>, snap: string, what: string, problems: FsckProblem[]): Promise<void> {
  if (!isSnapshotHash(snap)) { problems.push({ what, message: `${JSON.stringify(snap)} is not a snapshot hash` }); return; }
  if (snap === EMPTY_SNAPSHOT) return;
  try {
    const bytes = await manifests.stored(snap);
    if (!bytes) { problems.push({ what, message: `manifest ${snap} is missing` }); return; }
    if (snapshotHashOf(bytes) !== snap) { problems.push({ what, message: `manifest ${snap} does not hash to its snapshot` }); return; }
    const m = decodeManifest(bytes);
    const ids = [...new Set(m.values())];
    const missing = await objects.missing(ids);
    for (const id of missing) problems.push({ what, message: `blob ${id} named by ${snap} is missing` });
  } catch (e) {
    problems.push({ what, message: (e as Error).message });
  }
}

export async function fsck(ctx: Context): Promise<FsckResult> {
  const problems: FsckProblem[] = [];
  const objects = await checkObjects(ctx.store.objects, problems);
  const refs = await ctx.store.refs();
  for (const r of refs) {
    if (r.key.startsWith('base!')) await checkSnapshot(ctx.store.objects, ctx.store.manifests, r.value, r.key, problems);
    else {
      let t: Tracking;
      try { t = JSON.parse(r.value) as Tracking; } catch { problems.push({ what: r.key, message: 'is not valid JSON' }); continue; }
      if (t.latestSnapshot) await checkSnapshot(ctx.store.objects, ctx.store.manifests, t.latestSnapshot, r.key, problems);
      // The versions it recorded, one per key: each readable.
      await ctx.store.trackedVersions(r.key.slice('track!'.length)).catch((e: Error) => problems.push({ what: r.key, message: `a recorded version is unreadable: ${e.message}` }));
    }
  }
  const undo = await ctx.store.undo().catch(() => { problems.push({ what: 'undo', message: 'journal is not valid JSON' }); return undefined; });
  if (undo) {
    const ids = undo.entries.map((e) => e.id).filter((x): x is string => x !== null);
    for (const id of await ctx.store.objects.missing(ids)) problems.push({ what: 'undo', message: `blob ${id} is missing` });
  }
  // The mark of an unfinished overwrite; an interrupted undo keeps there the journal it restores.
  const mark = await ctx.store.undoPendingMark().catch(() => { problems.push({ what: 'undo-pending', message: 'is not valid JSON' }); return undefined; });
  if (mark?.undoing) {
    const ids = mark.undoing.entries.map((e) => e.id).filter((x): x is string => x !== null);
    for (const id of await ctx.store.objects.missing(ids)) problems.push({ what: 'undo-pending', message: `blob ${id} is missing` });
  }
  return { objects, refs: refs.length, problems };
}
