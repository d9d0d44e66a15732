/**
 * Versions and pointers: list, deploy, rollback, log; and snapshot hashes: hash, verify.
 * @module
 */
import { fail } from '../model/errors.js';
import { isSnapshotHash, snapshotHash, type SnapshotHash } from '../model/manifest.js';
import type { Head, Version } from '../model/version.js';
import { remoteName, type Context } from './context.js';
import { fetchRemote, remoteHead } from './fetch.js';
import { computeStatus, scanLocal } from './status.js';
import { commit } from '../store/objects.js';

export interface VersionsResult {
  remote: string;
  head: Head;
  versions: Version[];
}

export async function listVersions(ctx: Context): Promise<VersionsResult> {
  const f = await fetchRemote(ctx);
  return { remote: f.remote, head: f.tracking.head, versions: await ctx.store.trackedVersions(f.remote) };
}

function parseVersion(v: string | number): number {
  const n = typeof v === 'number' ? v : Number(String(v).replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1) fail('USAGE', `${JSON.stringify(v)} is not a version number; \`agentsync versions\` lists them`);
  return n;
}

export async function deploy(ctx: Context, v: string | number) {
  const name = remoteName(ctx);
  const r = await ctx.remote().deploy(parseVersion(v));
  await fetchRemote(ctx);
  // Publishing our own draft makes its artifacts equal on both sides: record that as the base,
  // as a push would have, rather than leave them `converged`.
  const st = await computeStatus(ctx);
  const same = st.entries.filter((e) => e.state === 'converged');
  if (same.length) {
    await commit(ctx.store.db, await ctx.store.moveBaseOps(name, same.map((e) => ({ path: e.path, id: e.ids.local })), st.manifests.base));
  }
  return r;
}

export async function rollback(ctx: Context, v: string | number) {
  remoteName(ctx);
  const r = await ctx.remote().rollback(parseVersion(v));
  await fetchRemote(ctx);
  return r;
}

export interface LogEntry extends Version {
  /** With a path: how this version changed it. */
  change?: 'added' | 'modified' | 'deleted';
}

/** Versions newest first; with `path`, only those that changed it. */
export async function log(ctx: Context, path?: string): Promise<{ remote: string; head: Head; entries: LogEntry[] }> {
  const f = await fetchRemote(ctx);
  const versions = (await ctx.store.trackedVersions(f.remote)).reverse();
  if (!path) return { remote: f.remote, head: f.tracking.head, entries: versions };
  const p = path.replace(/^services\//, '');
  const entries: LogEntry[] = [];
  const remote = ctx.remote();
  // A version's change list is relative to its parent; whether the path existed before tells add from modify.
  const present = new Map<number, boolean>();
  const oldest = [...versions].reverse();
  // One request per version: several in flight (the HTTP remote keeps up to 16 connections), so
  // a long history costs round trips in parallel, not in a row.
  const lists = await mapLimit(oldest, LOG_PARALLEL, (v) => remote.versionChanges(v.id));
  for (const [i, v] of oldest.entries()) {
    const c = lists[i]!.find((x) => x.path === p);
    const before = v.parent === null ? false : present.get(v.parent) ?? false;
    present.set(v.id, c ? c.id !== null : before);
    if (c) entries.unshift({ ...v, change: c.id === null ? 'deleted' : before ? 'modified' : 'added' });
  }
  return { remote: f.remote, head: f.tracking.head, entries };
}

/** Change lists `log <path>` asks for at once. */
const LOG_PARALLEL = 8;

/** `fn` over `items` with at most `limit` calls in flight; results in item order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function localHash(ctx: Context): Promise<{ snapshot: SnapshotHash; artifacts: number }> {
  const { manifest } = await scanLocal(ctx);
  return { snapshot: snapshotHash(manifest), artifacts: manifest.size };
}

export interface VerifyResult {
  expected: SnapshotHash;
  actual: SnapshotHash | null;
  source: 'local' | 'remote';
  ok: boolean;
}

export async function verify(ctx: Context, expected: string, remote: boolean): Promise<VerifyResult> {
  if (!isSnapshotHash(expected)) fail('HASH_INVALID', `${JSON.stringify(expected)} is not a snapshot hash; it looks like sha256:<64 hex digits> (see \`agentsync hash\`)`);
  let actual: SnapshotHash | null;
  if (remote) {
    const r = ctx.remote();
    const head = await remoteHead(ctx, await ctx.store.tracking(remoteName(ctx)));
    if (head.latestPublished === null) actual = null;
    else actual = (await r.versions(head.latestPublished - 1)).find((v) => v.id === head.latestPublished)?.snapshot ?? null;
  } else {
    actual = (await localHash(ctx)).snapshot;
  }
  return { expected, actual, source: remote ? 'remote' : 'local', ok: actual === expected };
}
