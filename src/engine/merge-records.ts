/**
 * Records of merges in progress (`merge!<path>` in the local store), read by status without
 * loading the merge code.
 * @module
 */
import type { ObjectId } from '../model/hash.js';
import { jsonValue, parseJson } from '../store/db.js';
import type { BatchOp } from '../store/objects.js';
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

/** The index of merges in progress: a JSON array of their paths (every remote). */
export const MERGES_KEY = 'merges';

/** Paths of every merge in progress. Stores written before the index existed get it here. */
async function mergePaths(ctx: Context): Promise<string[]> {
  const index = parseJson<string[]>(await ctx.store.db.get(MERGES_KEY), 'index of merges in progress');
  if (index) return index;
  const paths: string[] = [];
  for await (const k of ctx.store.db.keys({ gte: KEY, lt: 'merge"' })) paths.push(k.slice(KEY.length));
  await ctx.store.db.put(MERGES_KEY, jsonValue(paths));
  return paths;
}

/** The op that records a merge of `path` starting (`add`) or ending, for the same batch as its record. */
export async function mergeIndexOp(ctx: Context, path: string, add: boolean): Promise<BatchOp> {
  const paths = new Set(await mergePaths(ctx));
  if (add) paths.add(path);
  else paths.delete(path);
  return { type: 'put', key: MERGES_KEY, value: jsonValue([...paths]) };
}

/** Paths with a merge in progress for `remote`. */
export async function mergesInProgress(ctx: Context, remote: string): Promise<Set<string>> {
  const out = new Set<string>();
  const paths = await mergePaths(ctx);
  if (paths.length === 0) return out;
  const values = await ctx.store.db.getMany(paths.map((p) => KEY + p));
  for (let i = 0; i < paths.length; i++) {
    const r = parseJson<MergeRecord>(values[i], 'merge record');
    if (r?.remote === remote) out.add(paths[i]!);
  }
  return out;
}

/** Whether an entry can be merged at all: changed on both sides, and both still have the file. */
export function mergeable(e: Entry): boolean {
  return e.state === 'conflict' && e.ids.local !== null && e.ids.remote !== null;
}

/** A path as one shell word (quoted when it holds anything but safe characters). */
export function shellWord(p: string): string {
  return /^[A-Za-z0-9._\/@%+=:,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that resolves a conflict, for a refusal's `data.hint`: `agentsync merge <path>`
 * when both sides still have the file, else `agentsync diff <path>` (one side deleted it: look,
 * then keep a side with `pull --force <path>` or `push --force <path>`). Never the refused
 * command itself, which would be refused again.
 */
export function conflictHint(e: Entry): string {
  return mergeable(e) ? `agentsync merge ${shellWord(e.path)}` : `agentsync diff ${shellWord(e.path)}`;
}
