/**
 * Structured line diffs for people: `-` lines from the old text (remote), `+` lines from the
 * new text (local), unchanged lines kept near changes, and each longer unchanged run folded
 * into one `...` entry. Lines are diffed with the git-compatible xdiff port.
 * @module
 */
import { splitRecords, xdiff } from './xdiff.js';

export type DiffLine =
  | { op: ' ' | '-' | '+'; text: string; oldNo?: number; newNo?: number }
  | { op: '...'; count: number };

const strip = (rec: string): string => rec.replace(/\r?\n$/, '');

/** Line diff of `oldText` → `newText` with `context` unchanged lines (default 3) around changes. */
export function displayDiff(oldText: string, newText: string, opts?: { context?: number }): DiffLine[] {
  const context = Math.max(0, opts?.context ?? 3);
  const a = splitRecords(oldText), b = splitRecords(newText);
  const script = xdiff(a, b);
  if (script.length === 0) return [];
  const out: DiffLine[] = [];
  /** Unchanged lines a[i..i+n) = b[j..j+n); `before`/`after`: whether a change precedes/follows. */
  const same = (i: number, j: number, n: number, before: boolean, after: boolean): void => {
    const head = before ? Math.min(context, n) : 0;
    const tail = after ? Math.min(context, n - head) : 0;
    for (let k = 0; k < head; k++) out.push({ op: ' ', text: strip(a[i + k]!), oldNo: i + k + 1, newNo: j + k + 1 });
    if (n - head - tail > 0) out.push({ op: '...', count: n - head - tail });
    for (let k = n - tail; k < n; k++) out.push({ op: ' ', text: strip(a[i + k]!), oldNo: i + k + 1, newNo: j + k + 1 });
  };
  let i = 0, j = 0;
  for (const c of script) {
    if (c.i1 > i) same(i, j, c.i1 - i, i > 0 || j > 0, true);
    for (let k = 0; k < c.chg1; k++) out.push({ op: '-', text: strip(a[c.i1 + k]!), oldNo: c.i1 + k + 1 });
    for (let k = 0; k < c.chg2; k++) out.push({ op: '+', text: strip(b[c.i2 + k]!), newNo: c.i2 + k + 1 });
    i = c.i1 + c.chg1;
    j = c.i2 + c.chg2;
  }
  if (i < a.length) same(i, j, a.length - i, true, false);
  return out;
}

/** Lines added and removed going from `oldText` to `newText`. */
export function diffStat(oldText: string, newText: string): { added: number; removed: number } {
  let added = 0, removed = 0;
  for (const c of xdiff(splitRecords(oldText), splitRecords(newText))) {
    added += c.chg2;
    removed += c.chg1;
  }
  return { added, removed };
}
