/**
 * Validation with a verdict cache. Whether an artifact is valid depends only on its bytes, its
 * format (from the path's extension) and its kind's schema, so a "valid" verdict is cached in the
 * local store under `valid` as lines `<format> <schema> <blob id>`. Only artifacts never seen
 * valid are parsed — the YAML parser is not even loaded when every verdict is cached.
 * @module
 */
import type { ObjectId } from '../model/hash.js';
import { formatOf, kindOf } from '../model/kinds.js';
import { dec, enc } from '../store/db.js';
import { readArtifact } from '../workspace/scan.js';
import type { Context } from './context.js';
import type { Problem } from './validate.js';

/** Bump when the validation rules change, so older verdicts are not trusted. */
const RULES = 'v1';
const KEY = 'valid';

export interface ToValidate {
  path: string;
  id: ObjectId;
}

/** Problems of the given artifacts (their files as on disk now; `id` is what the scan saw). */
export async function validateArtifacts(ctx: Context, items: readonly ToValidate[]): Promise<Problem[]> {
  const raw = await ctx.store.db.get(KEY);
  const lines = raw ? dec.decode(raw).split('\n') : [];
  const known = new Set(lines[0] === RULES ? lines.slice(1) : []);
  const problems: Problem[] = [];
  let added = 0;
  let validate: typeof import('./validate.js').validateArtifact | undefined;
  for (const it of items) {
    const schema = kindOf(ctx.ws.kinds, it.path)?.schema ?? 'none';
    const key = `${formatOf(it.path)} ${schema} ${it.id}`;
    if (known.has(key)) continue;
    let bytes: Uint8Array;
    try {
      bytes = readArtifact(ctx.ws, it.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since the scan
      throw e;
    }
    validate ??= (await import('./validate.js')).validateArtifact;
    const found = validate(it.path, bytes, schema);
    if (found.length) problems.push(...found);
    else {
      known.add(key);
      added++;
    }
  }
  if (added) await ctx.store.db.put(KEY, enc.encode([RULES, ...known].join('\n')));
  return problems;
}
