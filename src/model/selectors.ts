/**
 * Selectors name what a command acts on: a kind (`agents`), an artifact path
 * (`agents/welcome.yaml`, optionally prefixed `services/`) or a folder (`content/blog`).
 * No selector means everything.
 * @module
 */
import { fail } from './errors.js';
import type { Kind } from './kinds.js';

export type Selector = (path: string, kind: string | undefined) => boolean;

/**
 * Build one predicate from the selectors. `known` is every path in local, base and remote;
 * a selector that names no kind and no known path or folder is a usage error.
 * @throws AgentsyncError SELECTOR_UNKNOWN
 */
export function compileSelectors(selectors: readonly string[], kinds: readonly Kind[], known: Iterable<string>): Selector {
  if (selectors.length === 0) return () => true;
  const kindNames = new Set(kinds.map((k) => k.name));
  const paths = [...known];
  const preds: Selector[] = [];
  for (const raw of selectors) {
    let s = raw.replace(/^\.\//, '').replace(/^services\//, '').replace(/\/+$/, '');
    if (kindNames.has(s)) { preds.push((_p, k) => k === s); continue; }
    const prefix = s + '/';
    if (!paths.some((p) => p === s || p.startsWith(prefix))) {
      fail('SELECTOR_UNKNOWN', `${JSON.stringify(raw)} is neither a kind (${[...kindNames].join(', ')}) nor an artifact path; paths are relative to services/, like agents/welcome.yaml`, { selector: raw });
    }
    preds.push((p) => p === s || p.startsWith(prefix));
  }
  return (p, k) => preds.some((f) => f(p, k));
}
