/**
 * Validation with a verdict cache. Whether an artifact is valid depends only on its bytes, its
 * format (from the path's extension) and its kind's schema, so a "valid" verdict is cached in the
 * local store, one key per verdict: `valid!<rules> <format> <schema> <blob id>`. Only artifacts
 * never seen valid are parsed — the YAML parser is not even loaded when every verdict is cached.
 * A few artifacts (a push) are looked up by key; many (validate, sync) by reading the range.
 * @module
 */
import { availableParallelism } from 'node:os';
import type { ObjectId } from '../model/hash.js';
import { formatOf, kindOf } from '../model/kinds.js';
import type { Context } from './context.js';
import type { Problem } from './validate.js';
import type { WorkerAnswer, WorkerRequest } from './validate-worker.js';

/**
 * From this many artifacts to parse on, worker threads take shares of them beside the main
 * thread (a worker costs 50–100 ms to start; a YAML file a fraction of a millisecond).
 */
const PARALLEL_FROM = 1000;

/**
 * Fewest cores for workers by default: on 2 cores they never paid (`farm-bench`, a fresh
 * validate: 1.45× the wall time at 1k, 0.99× the wall and 1.29× the CPU at 10k), V8's garbage
 * collector already using the second core.
 */
const PARALLEL_CORES = 4;

/** Bump when the validation rules change, so older verdicts are not trusted. */
const RULES = 'v1';
const PREFIX = `valid!${RULES} `;
/** From this many artifacts on, read every verdict in one range scan instead of key by key. */
const SCAN_FROM = 256;
const EMPTY = new Uint8Array(0);

export interface ToValidate {
  path: string;
  id: ObjectId;
}

/**
 * Problems of the given artifacts (their files as on disk now; `id` is what the scan saw).
 * `read`: the bytes of an artifact, when the caller has them (a push reads each file once);
 * otherwise each file is read here.
 */
export async function validateArtifacts(ctx: Context, items: readonly ToValidate[], read?: (path: string, id: ObjectId) => Uint8Array): Promise<Problem[]> {
  const schemas = items.map((it) => kindOf(ctx.ws.kinds, it.path)?.schema ?? 'none');
  const keys = items.map((it, i) => `${formatOf(it.path)} ${schemas[i]} ${it.id}`);
  const known = new Set<string>();
  if (items.length >= SCAN_FROM) {
    for await (const k of ctx.store.db.keys({ gte: PREFIX, lt: PREFIX.slice(0, -1) + '!' })) known.add(k.slice(PREFIX.length));
  } else if (items.length) {
    const got = await ctx.store.db.getMany(keys.map((k) => PREFIX + k));
    for (let i = 0; i < keys.length; i++) if (got[i] !== undefined) known.add(keys[i]!);
  }
  // Only artifacts never seen valid are parsed: on the main thread, or for many of them shared
  // with worker threads. Problems come in the items' order.
  const todo: number[] = [];
  for (let i = 0; i < items.length; i++) if (!known.has(keys[i]!)) todo.push(i);
  const idOf = read && new Map(todo.map((i) => [items[i]!.path, items[i]!.id]));
  const found = await validateMany(ctx, todo.map((i) => ({ path: items[i]!.path, schema: schemas[i]! })), idOf && ((path) => read!(path, idOf.get(path)!)));
  const problems: Problem[] = [];
  const added = new Set<string>();
  todo.forEach((i, k) => {
    const f = found[k];
    if (f === null || f === undefined) return; // removed since the scan
    if (f.length) problems.push(...f);
    else added.add(keys[i]!);
  });
  // `valid` held every verdict in one value before version 0.1 kept one key each: dropped.
  if (added.size) await ctx.store.db.batch([...[...added].map((k) => ({ type: 'put' as const, key: PREFIX + k, value: EMPTY })), { type: 'del' as const, key: 'valid' }]);
  return problems;
}

/** Shares validated by worker threads, and shares a failed worker left to the main thread (tests). */
export const validationStats = { workerShares: 0, fallbacks: 0 };

/**
 * The problems of each item (`null`: its file was removed since the scan), in order. Large sets
 * are split between the main thread and up to three worker threads (one fewer than the cores,
 * from {@link PARALLEL_CORES} cores on;
 * `AGENTSYNC_VALIDATE_THREADS=<n>` sets the number of threads, main included, 1 for none). A
 * worker that fails leaves its share to the main thread.
 */
async function validateMany(ctx: Context, todo: WorkerRequest['items'], read?: (path: string) => Uint8Array): Promise<WorkerAnswer> {
  if (todo.length === 0) return [];
  const { validateArtifact, validateFile } = await import('./validate.js');
  const local = (share: WorkerRequest['items']): WorkerAnswer => share.map((it) => (read ? validateArtifact(it.path, read(it.path), it.schema) : validateFile(ctx.ws, it.path, it.schema)));
  const asked = Number(process.env.AGENTSYNC_VALIDATE_THREADS);
  const cores = availableParallelism();
  const threads = Number.isInteger(asked) && asked >= 1 ? Math.min(asked, 8) : cores >= PARALLEL_CORES ? Math.min(cores, 4) : 1;
  if (threads < 2 || todo.length < PARALLEL_FROM) return local(todo);
  // Dealt round-robin, so that each share has as many of each kind (a folder of YAML agents costs
  // far more than one of plain Markdown).
  const shares = Array.from({ length: threads }, (_, t) => todo.filter((_, k) => k % threads === t));
  const { Worker } = await import('node:worker_threads');
  const workers = shares.slice(1).map((share) => new Promise<WorkerAnswer>((resolve, reject) => {
    const w = new Worker(new URL('./validate-worker.js', import.meta.url));
    w.once('message', (answer: WorkerAnswer) => { resolve(answer); void w.terminate(); });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`validation worker exited with ${code}`)));
    w.postMessage({ services: ctx.ws.services, items: share } satisfies WorkerRequest);
  }).then((answer) => { validationStats.workerShares++; return answer; }, (e) => {
    validationStats.fallbacks++;
    if (process.env.AGENTSYNC_DEBUG) process.stderr.write(`agentsync: a validation worker failed (${(e as Error).message}); its share is validated on the main thread\n`);
    return local(share);
  }));
  const answers = [local(shares[0]!), ...(await Promise.all(workers))];
  return todo.map((_, k) => answers[k % threads]![Math.floor(k / threads)]!);
}
