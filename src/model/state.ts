/**
 * The three-way state table (SPEC.md §4): local, base and remote blob ids of one artifact
 * classify it as clean, push, pull, converged or conflict.
 * @module
 */
import type { ObjectId } from './hash.js';

export type Side = 'unchanged' | 'added' | 'modified' | 'deleted';
export type State = 'clean' | 'push' | 'pull' | 'converged' | 'conflict';

export interface Classified {
  local: Side;
  remote: Side;
  state: State;
}

type Id = ObjectId | undefined;

/** How one side moved relative to the base. */
export function sideOf(base: Id, now: Id): Side {
  if (base === now) return 'unchanged';
  if (base === undefined) return 'added';
  if (now === undefined) return 'deleted';
  return 'modified';
}

/** Classify one artifact from its local, base and remote ids (undefined = absent). */
export function classify(local: Id, base: Id, remote: Id): Classified {
  const l = sideOf(base, local);
  const r = sideOf(base, remote);
  let state: State;
  if (l === 'unchanged' && r === 'unchanged') state = 'clean';
  else if (r === 'unchanged') state = 'push';
  else if (l === 'unchanged') state = 'pull';
  else if (local === remote) state = 'converged';
  else state = 'conflict';
  return { local: l, remote: r, state };
}
