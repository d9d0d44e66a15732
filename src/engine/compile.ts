/**
 * compile: validate every artifact and build the snapshot manifest (stored in the local object
 * store), returning its hash. Offline: it never opens the remote. `validateWorkspace` is also
 * the first step of `sync`.
 * @module
 */
import { fail } from '../model/errors.js';
import { kindOf } from '../model/kinds.js';
import type { SnapshotHash } from '../model/manifest.js';
import type { Manifest } from '../model/manifest.js';
import { commit } from '../store/objects.js';
import type { Context } from './context.js';
import { scanLocal } from './status.js';
import type { Problem } from './validate.js';
import { validateArtifacts } from './validation.js';

export interface Validation {
  manifest: Manifest;
  snapshot: SnapshotHash;
  /** path → kind name. */
  kinds: Map<string, string>;
  problems: Problem[];
}

/** Scan and validate every artifact of the workspace. */
export async function validateWorkspace(ctx: Context): Promise<Validation> {
  const { manifest, snapshot } = await scanLocal(ctx);
  const kinds = new Map([...manifest.keys()].map((p) => [p, kindOf(ctx.ws.kinds, p)?.name ?? '']));
  const problems = await validateArtifacts(ctx, [...manifest].map(([path, id]) => ({ path, id })));
  return { manifest, snapshot, kinds, problems };
}

/** Throw VALIDATION_FAILED (data.problems) when any artifact is invalid. */
export function assertValid(v: Validation, what: string): void {
  if (v.problems.length === 0) return;
  const p = v.problems[0]!;
  fail('VALIDATION_FAILED', `services/${p.path}:${p.line}:${p.col}: ${p.message}${v.problems.length > 1 ? ` (and ${v.problems.length - 1} more)` : ''}; ${what}`, { problems: v.problems });
}

export interface CompileResult {
  snapshot: SnapshotHash;
  artifacts: number;
  /** kind name → number of artifacts. */
  kinds: Record<string, number>;
}

/** Validate everything (VALIDATION_FAILED otherwise) and store the snapshot manifest. */
export async function compile(ctx: Context): Promise<CompileResult> {
  const v = await validateWorkspace(ctx);
  assertValid(v, 'nothing was compiled');
  const { ops, snapshot } = await ctx.store.manifestOps(v.manifest);
  if (ops.length) await commit(ctx.store.db, ops);
  const counts = new Map<string, number>();
  for (const k of v.kinds.values()) counts.set(k, (counts.get(k) ?? 0) + 1);
  const kinds = Object.fromEntries([...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  return { snapshot, artifacts: v.manifest.size, kinds };
}
