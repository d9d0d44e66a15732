/**
 * Records of merges in progress (`merge!<path>` in the local store), read by status without
 * loading the merge code.
 * @module
 */
import type { ObjectId } from '../model/hash.js';
import { parseJson } from '../store/db.js';
import type { Context } from './context.js';
import type { Entry } from './status.js';

export const MERGE_KEY = 'merge!';
const KEY = MERGE_KEY;

/** A merge in progress, as recorded by `merge <path>`. */
export interface MergeRecord {
  remote: string;
  path: string;
  base: ObjectId | null;
  /** The local content before the markers were written. */
  local: ObjectId | null;
  /** The remote content being merged in. */
  remoteId: ObjectId | null;
}

export async function mergeRecord(ctx: Context, path: string): Promise<MergeRecord | undefined> {
  return parseJson<MergeRecord>(await ctx.store.db.get(KEY + path), `merge record of ${path}`);
}

/** Paths with a merge in progress for `remote`. */
export async function mergesInProgress(ctx: Context, remote: string): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const [k, v] of ctx.store.db.iterator({ gte: KEY, lt: 'merge"' })) {
    const r = parseJson<MergeRecord>(v, 'merge record');
    if (r?.remote === remote) out.add(k.slice(KEY.length));
  }
  return out;
}


/** Whether an entry can be merged at all: changed on both sides, and both still have the file. */
export function mergeable(e: Entry): boolean {
  return e.state === 'conflict' && e.ids.local !== null && e.ids.remote !== null;
}
