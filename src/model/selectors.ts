/**
 * Selectors name what a command acts on: a kind (`agents`), an artifact path
 * (`agents/welcome.yaml`, optionally prefixed `services/`) or a folder (`content/blog`).
 * No selector means everything.
 * @module
 */
import { fail } from './errors.js';
import type { Kind } from './kinds.js';
import { suggest } from './suggest.js';

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
      const suggestion = suggestSelector(s, kindNames, paths);
      fail('SELECTOR_UNKNOWN', `${JSON.stringify(raw)} is neither a kind (${[...kindNames].join(', ')}) nor an artifact path${suggestion ? `; did you mean ${suggestion}?` : ''}; paths are relative to services/, like agents/welcome.yaml`, { selector: raw, ...(suggestion ? { suggestion } : {}) });
    }
    preds.push((p) => p === s || p.startsWith(prefix));
  }
  return (p, k) => preds.some((f) => f(p, k));
}

/** The kind, folder or artifact path closest to a mistyped selector (kinds first), or null. */
function suggestSelector(s: string, kindNames: Set<string>, paths: readonly string[]): string | null {
  const kind = suggest(s, kindNames);
  if (kind) return kind;
  const candidates = new Set<string>();
  for (const p of paths) {
    candidates.add(p);
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) candidates.add(p.slice(0, i));
  }
  return suggest(s, candidates);
}
