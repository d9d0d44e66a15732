/**
 * Line-based three-way text merge, byte-compatible with `git merge-file -p ours base theirs`
 * (git's xdl_merge at level XDL_MERGE_ZEALOUS_ALNUM, "merge" conflict style): both sides are
 * diffed against the base with the xdiff port, overlapping hunks become conflicts, conflicts
 * are refined by diffing the two sides, and conflicts separated by at most three lines (or by
 * lines without letters or digits) are joined.
 * @module
 */
import { splitRecords, xdiff } from './xdiff.js';
import type { XdChange } from './xdiff.js';

export interface MergeLabels {
  ours?: string;
  base?: string;
  theirs?: string;
}

export interface TextMergeResult {
  clean: boolean;
  text: string;
  conflicts: number;
}

/** 0 conflict, 1 take ours, 2 take theirs, 4 identical change (refined away). */
interface Hunk {
  mode: number;
  i0: number; chg0: number;
  i1: number; chg1: number;
  i2: number; chg2: number;
}

interface Env {
  base: string[];
  ours: string[];
  theirs: string[];
}

function append(list: Hunk[], mode: number, i0: number, chg0: number, i1: number, chg1: number, i2: number, chg2: number): void {
  const m = list[list.length - 1];
  if (m && (i1 <= m.i1 + m.chg1 || i2 <= m.i2 + m.chg2)) {
    if (mode !== m.mode) m.mode = 0;
    m.chg0 = i0 + chg0 - m.i0;
    m.chg1 = i1 + chg1 - m.i1;
    m.chg2 = i2 + chg2 - m.i2;
  } else {
    list.push({ mode, i0, chg0, i1, chg1, i2, chg2 });
  }
}

function sameLines(a: string[], ai: number, b: string[], bi: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[ai + k] !== b[bi + k]) return false;
  return true;
}

/** The hunk list of xdl_do_merge before refinement. */
function collect(env: Env, s1: XdChange[], s2: XdChange[]): Hunk[] {
  const list: Hunk[] = [];
  let p1 = 0, p2 = 0;
  while (p1 < s1.length && p2 < s2.length) {
    const x1 = s1[p1]!, x2 = s2[p2]!;
    if (x1.i1 + x1.chg1 < x2.i1) {
      append(list, 1, x1.i1, x1.chg1, x1.i2, x1.chg2, x2.i2 - x2.i1 + x1.i1, x1.chg1);
      p1++;
      continue;
    }
    if (x2.i1 + x2.chg1 < x1.i1) {
      append(list, 2, x2.i1, x2.chg1, x1.i2 - x1.i1 + x2.i1, x2.chg1, x2.i2, x2.chg2);
      p2++;
      continue;
    }
    if (x1.i1 !== x2.i1 || x1.chg1 !== x2.chg1 || x1.chg2 !== x2.chg2 ||
      !sameLines(env.ours, x1.i2, env.theirs, x2.i2, x1.chg2)) {
      const off = x1.i1 - x2.i1;
      const ffo = off + x1.chg1 - x2.chg1;
      let i0 = x1.i1, i1 = x1.i2, i2 = x2.i2;
      if (off > 0) {
        i0 -= off;
        i1 -= off;
      } else i2 += off;
      let chg0 = x1.i1 + x1.chg1 - i0;
      let chg1 = x1.i2 + x1.chg2 - i1;
      let chg2 = x2.i2 + x2.chg2 - i2;
      if (ffo < 0) {
        chg0 -= ffo;
        chg1 -= ffo;
      } else chg2 += ffo;
      append(list, 0, i0, chg0, i1, chg1, i2, chg2);
    }
    const e1 = x1.i1 + x1.chg1, e2 = x2.i1 + x2.chg1;
    if (e1 >= e2) p2++;
    if (e2 >= e1) p1++;
  }
  const d2 = env.theirs.length - env.base.length, d1 = env.ours.length - env.base.length;
  for (; p1 < s1.length; p1++) {
    const x1 = s1[p1]!;
    append(list, 1, x1.i1, x1.chg1, x1.i2, x1.chg2, x1.i1 + d2, x1.chg1);
  }
  for (; p2 < s2.length; p2++) {
    const x2 = s2[p2]!;
    append(list, 2, x2.i1, x2.chg1, x2.i1 + d1, x2.chg1, x2.i2, x2.chg2);
  }
  return list;
}

/** xdl_refine_conflicts: diff the two sides of each conflict and keep only differing parts. */
function refine(env: Env, list: Hunk[]): Hunk[] {
  const out: Hunk[] = [];
  for (const m of list) {
    if (m.mode !== 0 || m.chg1 === 0 || m.chg2 === 0) {
      out.push(m);
      continue;
    }
    const script = xdiff(env.ours.slice(m.i1, m.i1 + m.chg1), env.theirs.slice(m.i2, m.i2 + m.chg2));
    if (script.length === 0) {
      m.mode = 4;
      out.push(m);
      continue;
    }
    for (const x of script) {
      out.push({ mode: 0, i0: m.i0, chg0: m.chg0, i1: x.i1 + m.i1, chg1: x.chg1, i2: x.i2 + m.i2, chg2: x.chg2 });
    }
  }
  return out;
}

const ALNUM = /[A-Za-z0-9]/;

/** xdl_simplify_non_conflicts with simplify_if_no_alnum. */
function simplify(env: Env, list: Hunk[]): Hunk[] {
  if (list.length === 0) return list;
  const out: Hunk[] = [list[0]!];
  for (let k = 1; k < list.length; k++) {
    const m = out[out.length - 1]!, next = list[k]!;
    const begin = m.i1 + m.chg1, end = next.i1;
    let keep = m.mode !== 0 || next.mode !== 0;
    if (!keep && end - begin > 3) {
      for (let i = begin; i < end; i++) if (ALNUM.test(env.ours[i]!)) { keep = true; break; }
    }
    if (keep) out.push(next);
    else {
      m.chg1 = next.i1 + next.chg1 - m.i1;
      m.chg2 = next.i2 + next.chg2 - m.i2;
    }
  }
  return out;
}

/** is_eol_crlf: 1 if line i ends in CRLF, 0 if LF, -1 if unknown. */
function eolCrlf(recs: string[], i: number): number {
  const n = recs.length;
  if (i < n - 1) return recs[i]!.endsWith('\r\n') ? 1 : 0;
  if (!n) return -1;
  const r = recs[i]!;
  if (r.endsWith('\n')) return r.endsWith('\r\n') ? 1 : 0;
  if (!i) return -1;
  return recs[i - 1]!.endsWith('\r\n') ? 1 : 0;
}

function crNeeded(env: Env, m: Hunk): boolean {
  let cr = eolCrlf(env.ours, m.i1 ? m.i1 - 1 : 0);
  if (cr) cr = eolCrlf(env.theirs, m.i2 ? m.i2 - 1 : 0);
  if (cr) cr = eolCrlf(env.base, 0);
  return cr > 0;
}

function copy(out: string[], recs: string[], i: number, count: number, addNl: boolean, eol: string): void {
  if (count < 1) return;
  for (let k = 0; k < count; k++) out.push(recs[i + k]!);
  if (addNl && !recs[i + count - 1]!.endsWith('\n')) out.push(eol);
}

function render(env: Env, list: Hunk[], name1: string, name2: string): string {
  const out: string[] = [];
  let i = 0;
  for (const m of list) {
    if (m.mode === 0) {
      const eol = crNeeded(env, m) ? '\r\n' : '\n';
      copy(out, env.ours, i, m.i1 - i, false, eol);
      out.push(`<<<<<<< ${name1}${eol}`);
      copy(out, env.ours, m.i1, m.chg1, true, eol);
      out.push(`=======${eol}`);
      copy(out, env.theirs, m.i2, m.chg2, true, eol);
      out.push(`>>>>>>> ${name2}${eol}`);
    } else if (m.mode & 3) {
      copy(out, env.ours, i, m.i1 - i, false, '\n');
      if (m.mode & 1) copy(out, env.ours, m.i1, m.chg1, false, '\n');
      if (m.mode & 2) copy(out, env.theirs, m.i2, m.chg2, false, '\n');
    } else continue;
    i = m.i1 + m.chg1;
  }
  copy(out, env.ours, i, env.ours.length - i, false, '\n');
  return out.join('');
}

/**
 * Three-way merge of `ours` and `theirs` against `base`, as `git merge-file -p` does it.
 * `text` has git-style conflict markers when `clean` is false; `conflicts` counts blocks.
 */
export function mergeText(base: string, ours: string, theirs: string, labels?: MergeLabels): TextMergeResult {
  const env: Env = { base: splitRecords(base), ours: splitRecords(ours), theirs: splitRecords(theirs) };
  const s1 = xdiff(env.base, env.ours);
  const s2 = xdiff(env.base, env.theirs);
  if (s1.length === 0) return { clean: true, text: theirs, conflicts: 0 };
  if (s2.length === 0) return { clean: true, text: ours, conflicts: 0 };
  const list = simplify(env, refine(env, collect(env, s1, s2)));
  const conflicts = list.filter((m) => m.mode === 0).length;
  const text = render(env, list, labels?.ours ?? 'ours', labels?.theirs ?? 'theirs');
  return { clean: conflicts === 0, text, conflicts };
}
