/**
 * A TypeScript port of git's xdiff line diff (Myers with git's heuristics): record
 * classification and discarding (xprepare.c), the divide-and-conquer split (xdiffi.c
 * xdl_recs_cmp/xdl_split), group sliding (xdl_change_compact, without the indent heuristic,
 * as `git merge-file` runs it) and the edit script (xdl_build_script). Lines are records
 * that keep their `\n`, so `"a\n"` and a final `"a"` differ, as in git.
 * @module
 */

/** One hunk of an edit script: `chg1` lines at `i1` in file 1 became `chg2` lines at `i2` in file 2. */
export interface XdChange {
  i1: number;
  i2: number;
  chg1: number;
  chg2: number;
}

/** One side of a diff: its records, their equivalence classes, and the change marks. */
export interface XdFile {
  recs: string[];
  /** Equivalence class of each record (equal records share a class). */
  cls: Int32Array;
  /** Change marks, offset by one so that index -1 and nrec are sentinels (always 0). */
  chg: Uint8Array;
  /** Records kept for the Myers pass (indexes into recs) and their classes. */
  rindex: Int32Array;
  rcls: Int32Array;
  nreff: number;
  dstart: number;
  dend: number;
}

const XDL_MAX_COST_MIN = 256;
const XDL_HEUR_MIN_COST = 256;
const XDL_LINE_MAX = 0x7fffffff;
const XDL_SNAKE_CNT = 20;
const XDL_K_HEUR = 4;
const XDL_KPDIS_RUN = 4;
const XDL_MAX_EQLIMIT = 1024;
const XDL_SIMSCAN_WINDOW = 100;

/** Split text into records that keep their line terminator; the last may lack one. */
export function splitRecords(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    out.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

function bogosqrt(n: number): number {
  let i = 1;
  for (; n > 0; n >>= 2) i <<= 1;
  return i;
}

function newFile(recs: string[], classes: Map<string, number>): XdFile {
  const cls = new Int32Array(recs.length);
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    let c = classes.get(r);
    if (c === undefined) {
      c = classes.size;
      classes.set(r, c);
    }
    cls[i] = c;
  }
  return {
    recs, cls, chg: new Uint8Array(recs.length + 2),
    rindex: new Int32Array(recs.length + 1), rcls: new Int32Array(recs.length + 1),
    nreff: 0, dstart: 0, dend: recs.length - 1,
  };
}

function trimEnds(x1: XdFile, x2: XdFile): void {
  const n1 = x1.recs.length, n2 = x2.recs.length;
  let lim = Math.min(n1, n2);
  let i = 0;
  for (; i < lim; i++) if (x1.cls[i] !== x2.cls[i]) break;
  x1.dstart = x2.dstart = i;
  lim -= i;
  for (i = 0; i < lim; i++) if (x1.cls[n1 - 1 - i] !== x2.cls[n2 - 1 - i]) break;
  x1.dend = n1 - i - 1;
  x2.dend = n2 - i - 1;
}

function cleanMmatch(dis: Uint8Array, i: number, s: number, e: number): boolean {
  if (i - s > XDL_SIMSCAN_WINDOW) s = i - XDL_SIMSCAN_WINDOW;
  if (e - i > XDL_SIMSCAN_WINDOW) e = i + XDL_SIMSCAN_WINDOW;
  let r: number, rdis0 = 0, rpdis0 = 1, rdis1 = 0, rpdis1 = 1;
  for (r = 1; i - r >= s; r++) {
    const d = dis[i - r];
    if (!d) rdis0++;
    else if (d === 2) rpdis0++;
    else break;
  }
  if (rdis0 === 0) return false;
  for (r = 1; i + r <= e; r++) {
    const d = dis[i + r];
    if (!d) rdis1++;
    else if (d === 2) rpdis1++;
    else break;
  }
  if (rdis1 === 0) return false;
  rdis1 += rdis0;
  rpdis1 += rpdis0;
  return rpdis1 * XDL_KPDIS_RUN < rpdis1 + rdis1;
}

function countClasses(f: XdFile, nclasses: number): Int32Array {
  const counts = new Int32Array(nclasses);
  for (let i = 0; i < f.cls.length; i++) counts[f.cls[i]!]!++;
  return counts;
}

function markDiscards(f: XdFile, other: Int32Array): Uint8Array {
  const dis = new Uint8Array(f.recs.length + 1);
  let mlim = bogosqrt(f.recs.length);
  if (mlim > XDL_MAX_EQLIMIT) mlim = XDL_MAX_EQLIMIT;
  for (let i = f.dstart; i <= f.dend; i++) {
    const nm = Math.min(other[f.cls[i]!]!, mlim);
    dis[i] = nm === 0 ? 0 : nm >= mlim ? 2 : 1;
  }
  return dis;
}

function applyDiscards(f: XdFile, dis: Uint8Array): void {
  let nreff = 0;
  for (let i = f.dstart; i <= f.dend; i++) {
    if (dis[i] === 1 || (dis[i] === 2 && !cleanMmatch(dis, i, f.dstart, f.dend))) {
      f.rindex[nreff] = i;
      f.rcls[nreff] = f.cls[i]!;
      nreff++;
    } else f.chg[i + 1] = 1;
  }
  f.nreff = nreff;
}

/** xdl_prepare_env: classify records, trim common ends, discard lines without a match. */
function prepare(a: string[], b: string[]): [XdFile, XdFile] {
  const classes = new Map<string, number>();
  const x1 = newFile(a, classes), x2 = newFile(b, classes);
  trimEnds(x1, x2);
  const c1 = countClasses(x1, classes.size), c2 = countClasses(x2, classes.size);
  const dis1 = markDiscards(x1, c2), dis2 = markDiscards(x2, c1);
  applyDiscards(x1, dis1);
  applyDiscards(x2, dis2);
  return [x1, x2];
}

interface AlgoEnv {
  mxcost: number;
  kvdf: Int32Array;
  kvdb: Int32Array;
  /** Offset of diagonal 0 inside kvdf / kvdb. */
  base: number;
}

interface Split { i1: number; i2: number; minLo: boolean; minHi: boolean }

function xdlSplit(h1: Int32Array, off1: number, lim1: number, h2: Int32Array, off2: number, lim2: number,
  needMin: boolean, spl: Split, env: AlgoEnv): void {
  const { kvdf, kvdb, base: B } = env;
  const dmin = off1 - lim2, dmax = lim1 - off2;
  const fmid = off1 - off2, bmid = lim1 - lim2;
  const odd = ((fmid - bmid) & 1) !== 0;
  let fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid;
  let d: number, i1: number, i2: number, prev1: number;

  kvdf[B + fmid] = off1;
  kvdb[B + bmid] = lim1;

  for (let ec = 1; ; ec++) {
    let gotSnake = false;
    if (fmin > dmin) kvdf[B + --fmin - 1] = -1;
    else ++fmin;
    if (fmax < dmax) kvdf[B + ++fmax + 1] = -1;
    else --fmax;

    for (d = fmax; d >= fmin; d -= 2) {
      if (kvdf[B + d - 1]! >= kvdf[B + d + 1]!) i1 = kvdf[B + d - 1]! + 1;
      else i1 = kvdf[B + d + 1]!;
      prev1 = i1;
      i2 = i1 - d;
      for (; i1 < lim1 && i2 < lim2 && h1[i1] === h2[i2]; i1++, i2++);
      if (i1 - prev1 > XDL_SNAKE_CNT) gotSnake = true;
      kvdf[B + d] = i1;
      if (odd && bmin <= d && d <= bmax && kvdb[B + d]! <= i1) {
        spl.i1 = i1; spl.i2 = i2; spl.minLo = spl.minHi = true;
        return;
      }
    }

    if (bmin > dmin) kvdb[B + --bmin - 1] = XDL_LINE_MAX;
    else ++bmin;
    if (bmax < dmax) kvdb[B + ++bmax + 1] = XDL_LINE_MAX;
    else --bmax;

    for (d = bmax; d >= bmin; d -= 2) {
      if (kvdb[B + d - 1]! < kvdb[B + d + 1]!) i1 = kvdb[B + d - 1]!;
      else i1 = kvdb[B + d + 1]! - 1;
      prev1 = i1;
      i2 = i1 - d;
      for (; i1 > off1 && i2 > off2 && h1[i1 - 1] === h2[i2 - 1]; i1--, i2--);
      if (prev1 - i1 > XDL_SNAKE_CNT) gotSnake = true;
      kvdb[B + d] = i1;
      if (!odd && fmin <= d && d <= fmax && i1 <= kvdf[B + d]!) {
        spl.i1 = i1; spl.i2 = i2; spl.minLo = spl.minHi = true;
        return;
      }
    }

    if (needMin) continue;

    if (gotSnake && ec > XDL_HEUR_MIN_COST) {
      let best = 0;
      for (d = fmax; d >= fmin; d -= 2) {
        const dd = d > fmid ? d - fmid : fmid - d;
        i1 = kvdf[B + d]!;
        i2 = i1 - d;
        const v = i1 - off1 + (i2 - off2) - dd;
        if (v > XDL_K_HEUR * ec && v > best && off1 + XDL_SNAKE_CNT <= i1 && i1 < lim1 &&
          off2 + XDL_SNAKE_CNT <= i2 && i2 < lim2) {
          for (let k = 1; h1[i1 - k] === h2[i2 - k]; k++) {
            if (k === XDL_SNAKE_CNT) {
              best = v; spl.i1 = i1; spl.i2 = i2;
              break;
            }
          }
        }
      }
      if (best > 0) {
        spl.minLo = true; spl.minHi = false;
        return;
      }
      best = 0;
      for (d = bmax; d >= bmin; d -= 2) {
        const dd = d > bmid ? d - bmid : bmid - d;
        i1 = kvdb[B + d]!;
        i2 = i1 - d;
        const v = lim1 - i1 + (lim2 - i2) - dd;
        if (v > XDL_K_HEUR * ec && v > best && off1 < i1 && i1 <= lim1 - XDL_SNAKE_CNT &&
          off2 < i2 && i2 <= lim2 - XDL_SNAKE_CNT) {
          for (let k = 0; h1[i1 + k] === h2[i2 + k]; k++) {
            if (k === XDL_SNAKE_CNT - 1) {
              best = v; spl.i1 = i1; spl.i2 = i2;
              break;
            }
          }
        }
      }
      if (best > 0) {
        spl.minLo = false; spl.minHi = true;
        return;
      }
    }

    if (ec >= env.mxcost) {
      let fbest = -1, fbest1 = -1;
      for (d = fmax; d >= fmin; d -= 2) {
        i1 = Math.min(kvdf[B + d]!, lim1);
        i2 = i1 - d;
        if (lim2 < i2) { i1 = lim2 + d; i2 = lim2; }
        if (fbest < i1 + i2) { fbest = i1 + i2; fbest1 = i1; }
      }
      let bbest = XDL_LINE_MAX, bbest1 = XDL_LINE_MAX;
      for (d = bmax; d >= bmin; d -= 2) {
        i1 = Math.max(off1, kvdb[B + d]!);
        i2 = i1 - d;
        if (i2 < off2) { i1 = off2 + d; i2 = off2; }
        if (i1 + i2 < bbest) { bbest = i1 + i2; bbest1 = i1; }
      }
      if (lim1 + lim2 - bbest < fbest - (off1 + off2)) {
        spl.i1 = fbest1; spl.i2 = fbest - fbest1; spl.minLo = true; spl.minHi = false;
      } else {
        spl.i1 = bbest1; spl.i2 = bbest - bbest1; spl.minLo = false; spl.minHi = true;
      }
      return;
    }
  }
}

function recsCmp(x1: XdFile, off1: number, lim1: number, x2: XdFile, off2: number, lim2: number,
  needMin: boolean, env: AlgoEnv): void {
  const h1 = x1.rcls, h2 = x2.rcls;
  for (; off1 < lim1 && off2 < lim2 && h1[off1] === h2[off2]; off1++, off2++);
  for (; off1 < lim1 && off2 < lim2 && h1[lim1 - 1] === h2[lim2 - 1]; lim1--, lim2--);
  if (off1 === lim1) {
    for (; off2 < lim2; off2++) x2.chg[x2.rindex[off2]! + 1] = 1;
  } else if (off2 === lim2) {
    for (; off1 < lim1; off1++) x1.chg[x1.rindex[off1]! + 1] = 1;
  } else {
    const spl: Split = { i1: 0, i2: 0, minLo: false, minHi: false };
    xdlSplit(h1, off1, lim1, h2, off2, lim2, needMin, spl, env);
    recsCmp(x1, off1, spl.i1, x2, off2, spl.i2, spl.minLo, env);
    recsCmp(x1, spl.i1, lim1, x2, spl.i2, lim2, spl.minHi, env);
  }
}

/** xdl_do_diff with the Myers algorithm: marks changed records in both files. */
function doDiff(a: string[], b: string[]): [XdFile, XdFile] {
  const [x1, x2] = prepare(a, b);
  const ndiags = x1.nreff + x2.nreff + 3;
  const mx = bogosqrt(ndiags);
  const env: AlgoEnv = {
    mxcost: mx < XDL_MAX_COST_MIN ? XDL_MAX_COST_MIN : mx,
    kvdf: new Int32Array(ndiags + 1), kvdb: new Int32Array(ndiags + 1), base: x2.nreff + 1,
  };
  recsCmp(x1, 0, x1.nreff, x2, 0, x2.nreff, false, env);
  return [x1, x2];
}

interface Group { start: number; end: number }

const changed = (f: XdFile, i: number): boolean => f.chg[i + 1] === 1;

function groupInit(f: XdFile): Group {
  const g = { start: 0, end: 0 };
  while (changed(f, g.end)) g.end++;
  return g;
}

function groupNext(f: XdFile, g: Group): boolean {
  if (g.end === f.recs.length) return false;
  g.start = g.end + 1;
  for (g.end = g.start; changed(f, g.end); g.end++);
  return true;
}

function groupPrevious(f: XdFile, g: Group): boolean {
  if (g.start === 0) return false;
  g.end = g.start - 1;
  for (g.start = g.end; changed(f, g.start - 1); g.start--);
  return true;
}

function groupSlideDown(f: XdFile, g: Group): boolean {
  if (g.end < f.recs.length && f.cls[g.start] === f.cls[g.end]) {
    f.chg[g.start++ + 1] = 0;
    f.chg[g.end++ + 1] = 1;
    while (changed(f, g.end)) g.end++;
    return true;
  }
  return false;
}

function groupSlideUp(f: XdFile, g: Group): boolean {
  if (g.start > 0 && f.cls[g.start - 1] === f.cls[g.end - 1]) {
    f.chg[--g.start + 1] = 1;
    f.chg[--g.end + 1] = 0;
    while (changed(f, g.start - 1)) g.start--;
    return true;
  }
  return false;
}

function bug(what: string): never {
  throw new Error(`xdiff: ${what}`);
}

/** xdl_change_compact without XDF_INDENT_HEURISTIC. */
function changeCompact(f: XdFile, fo: XdFile): void {
  const g = groupInit(f), go = groupInit(fo);
  for (;;) {
    if (g.end !== g.start) {
      let groupsize: number, earliestEnd: number, endMatchingOther: number;
      do {
        groupsize = g.end - g.start;
        endMatchingOther = -1;
        while (groupSlideUp(f, g)) if (!groupPrevious(fo, go)) bug('group sync broken sliding up');
        earliestEnd = g.end;
        if (go.end > go.start) endMatchingOther = g.end;
        for (;;) {
          if (!groupSlideDown(f, g)) break;
          if (!groupNext(fo, go)) bug('group sync broken sliding down');
          if (go.end > go.start) endMatchingOther = g.end;
        }
      } while (groupsize !== g.end - g.start);
      if (g.end !== earliestEnd && endMatchingOther !== -1) {
        while (go.end === go.start) {
          if (!groupSlideUp(f, g)) bug('match disappeared');
          if (!groupPrevious(fo, go)) bug('group sync broken sliding to match');
        }
      }
    }
    if (!groupNext(f, g)) break;
    if (!groupNext(fo, go)) bug('group sync broken moving to next group');
  }
  if (groupNext(fo, go)) bug('group sync broken at end of file');
}

function buildScript(x1: XdFile, x2: XdFile): XdChange[] {
  const out: XdChange[] = [];
  const c1 = (i: number): boolean => x1.chg[i + 1] === 1;
  const c2 = (i: number): boolean => x2.chg[i + 1] === 1;
  for (let i1 = x1.recs.length, i2 = x2.recs.length; i1 >= 0 || i2 >= 0; i1--, i2--) {
    if (c1(i1 - 1) || c2(i2 - 1)) {
      const l1 = i1, l2 = i2;
      for (; c1(i1 - 1); i1--);
      for (; c2(i2 - 1); i2--);
      out.push({ i1, i2, chg1: l1 - i1, chg2: l2 - i2 });
    }
  }
  return out.reverse();
}

/** The edit script git computes from records `a` to records `b` (diff, compact, build script). */
export function xdiff(a: string[], b: string[]): XdChange[] {
  const [x1, x2] = doDiff(a, b);
  changeCompact(x1, x2);
  changeCompact(x2, x1);
  return buildScript(x1, x2);
}
