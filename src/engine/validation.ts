/**
 * Validation with a verdict cache. Whether an artifact is valid depends only on its bytes, its
 * format (from the path's extension) and its kind's schema, so a "valid" verdict is cached in the
 * local store, one key per verdict: `valid!<rules> <format> <schema> <blob id>`. Only artifacts
 * never seen valid are parsed — the YAML parser is not even loaded when every verdict is cached.
 * A few artifacts (a push) are looked up by key; many (validate, sync) by reading the range.
 * @module
 */
import type { ObjectId } from '../model/hash.js';
import { formatOf, kindOf } from '../model/kinds.js';
import { readArtifact } from '../workspace/scan.js';
import type { Context } from './context.js';
import type { Problem } from './validate.js';

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

/** Problems of the given artifacts (their files as on disk now; `id` is what the scan saw). */
export async function validateArtifacts(ctx: Context, items: readonly ToValidate[]): Promise<Problem[]> {
  const schemas = items.map((it) => kindOf(ctx.ws.kinds, it.path)?.schema ?? 'none');
  const keys = items.map((it, i) => `${formatOf(it.path)} ${schemas[i]} ${it.id}`);
  const known = new Set<string>();
  if (items.length >= SCAN_FROM) {
    for await (const k of ctx.store.db.keys({ gte: PREFIX, lt: PREFIX.slice(0, -1) + '!' })) known.add(k.slice(PREFIX.length));
  } else if (items.length) {
    const got = await ctx.store.db.getMany(keys.map((k) => PREFIX + k));
    for (let i = 0; i < keys.length; i++) if (got[i] !== undefined) known.add(keys[i]!);
  }
  const problems: Problem[] = [];
  const added: string[] = [];
  let validate: typeof import('./validate.js').validateArtifact | undefined;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!, key = keys[i]!;
    if (known.has(key)) continue;
    let bytes: Uint8Array;
    try {
      bytes = readArtifact(ctx.ws, it.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since the scan
      throw e;
    }
    validate ??= (await import('./validate.js')).validateArtifact;
    const found = validate(it.path, bytes, schemas[i]!);
    if (found.length) problems.push(...found);
    else {
      known.add(key);
      added.push(key);
    }
  }
  // `valid` held every verdict in one value before version 0.1 kept one key each: dropped.
  if (added.length) await ctx.store.db.batch([...added.map((k) => ({ type: 'put' as const, key: PREFIX + k, value: EMPTY })), { type: 'del' as const, key: 'valid' }]);
  return problems;
}
