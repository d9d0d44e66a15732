/**
 * "Did you mean": the closest candidate to a mistyped word by Damerau-Levenshtein distance
 * (optimal string alignment: insertions, deletions, substitutions and swaps of two neighbours
 * each cost 1). Pure.
 * @module
 */

/** Edit distance between `a` and `b`, counting a swap of two adjacent letters as one edit. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  let prev2: number[] = new Array<number>(n + 1).fill(0);
  let prev: number[] = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur: number[] = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n]!;
}

/**
 * The candidate closest to `word` (case-insensitive), or null when none is close enough: at
 * most a third of the word's length in edits (at least 1, at most 3), or `word` is a prefix
 * of exactly one candidate (`stat` → `status`). Ties keep the first candidate.
 */
export function suggest(word: string, candidates: Iterable<string>): string | null {
  const w = word.toLowerCase();
  const max = Math.min(3, Math.max(1, Math.floor(w.replace(/^-+/, '').length / 3)));
  let best: string | null = null;
  let bestD = Infinity;
  const prefixed: string[] = [];
  for (const c of candidates) {
    const lc = c.toLowerCase();
    if (lc === w) return c;
    const d = editDistance(w, lc);
    if (d < bestD) { best = c; bestD = d; }
    if (w.replace(/^-+/, '').length >= 3 && lc.startsWith(w)) prefixed.push(c);
  }
  if (best !== null && bestD <= max) return best;
  return prefixed.length === 1 ? prefixed[0]! : null;
}
