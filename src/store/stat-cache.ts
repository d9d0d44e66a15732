/**
 * The stat cache's formats (keys `stat` and `stat+` of the local store, SPEC §3). The cache is
 * kept in columns, one row per artifact in the order the last scan visited them, so that a
 * clean scan walks it with a cursor and allocates nothing per file. Pure: bytes in, bytes out.
 * @module
 */
import type { ObjectId } from '../model/hash.js';

/** One row of the stat cache. */
export interface StatEntry {
  id: ObjectId;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface StatCache {
  /** When the cache was written (ms); entries with mtime at or after it are re-read (racy). */
  writtenAt: number;
  /** Snapshot hash of exactly these entries ('' when unknown). */
  snapshot: string;
  /** The kinds the rows were matched with (`kindsKey`); '' when unknown: match them again. */
  kinds: string;
  paths: string[];
  ids: ObjectId[];
  size: ArrayLike<number>;
  mtime: ArrayLike<number>;
  ino: ArrayLike<number>;
}

/** Most changed rows kept as a difference (`stat+`) before the whole cache is rewritten. */
export const STAT_DELTA_MAX = 512;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function emptyStatCache(): StatCache {
  return { writtenAt: 0, snapshot: '', kinds: '', paths: [], ids: [], size: [], mtime: [], ino: [] };
}

/** The cache's rows as a map (for tests, and for callers that edit rows). */
export function statEntries(c: StatCache): Map<string, StatEntry> {
  const m = new Map<string, StatEntry>();
  for (let i = 0; i < c.paths.length; i++) m.set(c.paths[i]!, { id: c.ids[i]!, size: c.size[i]!, mtimeMs: c.mtime[i]!, ino: c.ino[i]! });
  return m;
}

/** A cache holding `entries`, in their order. */
export function statCacheOf(writtenAt: number, snapshot: string, kinds: string, entries: Map<string, StatEntry>): StatCache {
  const c: StatCache = { writtenAt, snapshot, kinds, paths: [], ids: [], size: [], mtime: [], ino: [] };
  for (const [p, e] of entries) push(c, p, e.id, e.size, e.mtimeMs, e.ino);
  return c;
}

function push(c: StatCache, p: string, id: string, size: number, mtime: number, ino: number): void {
  c.paths.push(p); c.ids.push(id); (c.size as number[]).push(size); (c.mtime as number[]).push(mtime); (c.ino as number[]).push(ino);
}

/** Header line of format 3. */
interface Header3 {
  v: 3;
  writtenAt: number;
  snapshot: string;
  kinds: string;
  n: number;
  pathBytes: number;
}

/**
 * `stat`, format 3: a JSON header line, then the paths joined by '\n' (UTF-8, `pathBytes`
 * long), then the `n` ids as 64 hex characters each, then `n` float64 sizes, `n` mtimes and
 * `n` inodes (little-endian).
 */
export function encodeStat(c: StatCache): Uint8Array {
  const n = c.paths.length;
  const paths = enc.encode(c.paths.join('\n'));
  const header: Header3 = { v: 3, writtenAt: c.writtenAt, snapshot: c.snapshot, kinds: c.kinds, n, pathBytes: paths.length };
  const head = enc.encode(JSON.stringify(header) + '\n');
  const ids = enc.encode(c.ids.join(''));
  if (ids.length !== 64 * n) throw new Error('stat cache: every id must be 64 hex characters');
  const nums = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) { nums[i] = c.size[i]!; nums[n + i] = c.mtime[i]!; nums[2 * n + i] = c.ino[i]!; }
  const numBytes = new Uint8Array(nums.buffer);
  if (!LITTLE_ENDIAN) numBytes.reverse(); // never on the platforms Node supports today
  const out = new Uint8Array(head.length + paths.length + ids.length + numBytes.length);
  let off = 0;
  for (const part of [head, paths, ids, numBytes]) { out.set(part, off); off += part.length; }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `stat+`: rows that differ from `stat` (written at `of`) and paths gone from it. */
export interface StatDelta {
  v: 3;
  of: number;
  writtenAt: number;
  snapshot: string;
  kinds: string;
  set: [string, string, number, number, number][];
  del: string[];
}

/** The cache in effect: `stat` (any format) with `stat+` applied. A damaged cache reads as empty. */
export function decodeStat(v: Uint8Array | undefined, d: Uint8Array | undefined): { cache: StatCache; full: StatCache | undefined } {
  if (!v) return { cache: emptyStatCache(), full: undefined };
  let full: StatCache;
  try {
    full = decodeFull(v);
  } catch {
    return { cache: emptyStatCache(), full: undefined }; // damaged: the next scan rebuilds it
  }
  let delta: StatDelta | undefined;
  try {
    delta = d && d.length ? (JSON.parse(dec.decode(d)) as StatDelta) : undefined;
  } catch { /* a damaged difference is ignored: `stat` alone is an older, still true cache */ }
  // An older format is rewritten whole by the next save: no `full` to write a difference from.
  const current = v[0] === 0x7b && v.indexOf(0x0a) >= 0 ? full : undefined;
  if (!delta || delta.v !== 3 || delta.of !== full.writtenAt || full.writtenAt === 0) return { cache: full, full: current };
  // Apply the difference without indexing the whole cache: one pass over the rows, looking each
  // path up among the (at most STAT_DELTA_MAX) changed ones. New rows go at the end.
  const set = new Map(delta.set.map((r) => [r[0], r] as const));
  const gone = new Set(delta.del);
  const n = full.paths.length;
  // Rows over an older format carry no kinds: the next scan matches them again and saves format 3.
  const c: StatCache = { ...emptyStatCache(), writtenAt: delta.writtenAt, snapshot: delta.snapshot, kinds: current ? delta.kinds : '' };
  if (gone.size === 0) {
    // The usual case (files edited, none removed): copy the columns, overwrite the changed rows.
    c.paths = full.paths; c.ids = full.ids.slice();
    c.size = Float64Array.from(full.size); c.mtime = Float64Array.from(full.mtime); c.ino = Float64Array.from(full.ino);
    const size = c.size as Float64Array, mtime = c.mtime as Float64Array, ino = c.ino as Float64Array;
    for (let i = 0; i < n && set.size; i++) {
      const r = set.get(full.paths[i]!);
      if (!r) continue;
      c.ids[i] = r[1]; size[i] = r[2]; mtime[i] = r[3]; ino[i] = r[4];
      set.delete(r[0]);
    }
    if (set.size === 0) return { cache: c, full: current };
    c.paths = c.paths.slice(); c.size = Array.from(c.size); c.mtime = Array.from(c.mtime); c.ino = Array.from(c.ino);
  } else {
    for (let i = 0; i < n; i++) {
      const p = full.paths[i]!;
      if (gone.has(p)) continue;
      const r = set.get(p);
      if (r) { push(c, ...r); set.delete(p); } else push(c, p, full.ids[i]!, full.size[i]!, full.mtime[i]!, full.ino[i]!);
    }
  }
  for (const r of set.values()) push(c, ...r);
  return { cache: c, full: current };
}

function decodeFull(v: Uint8Array): StatCache {
  if (v[0] !== 0x7b) return decodeText(dec.decode(v)); // '{' starts formats 2 and 3; the first versions wrote text
  const nl = v.indexOf(0x0a);
  if (nl < 0) return decodeJson(JSON.parse(dec.decode(v)) as StatJson2);
  const h = JSON.parse(dec.decode(v.subarray(0, nl))) as Header3;
  if (h.v !== 3) throw new Error('unknown stat cache version');
  const n = h.n;
  let off = nl + 1;
  const paths = n ? dec.decode(v.subarray(off, off + h.pathBytes)).split('\n') : [];
  off += h.pathBytes;
  const idText = dec.decode(v.subarray(off, off + 64 * n));
  off += 64 * n;
  if (paths.length !== n || idText.length !== 64 * n || v.length !== off + 24 * n) throw new Error('damaged stat cache');
  const ids: string[] = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = idText.slice(64 * i, 64 * i + 64);
  const bytes = new Uint8Array(v.subarray(off)); // a copy (Buffer's slice is not), aligned for the float view
  if (!LITTLE_ENDIAN) bytes.reverse();
  const nums = new Float64Array(bytes.buffer, 0, 3 * n);
  return { writtenAt: h.writtenAt, snapshot: h.snapshot, kinds: h.kinds, paths, ids, size: nums.subarray(0, n), mtime: nums.subarray(n, 2 * n), ino: nums.subarray(2 * n) };
}

/** Format 2 (read, never written): the same columns as JSON. */
interface StatJson2 {
  v: 2;
  writtenAt: number;
  snapshot: string;
  paths: string[];
  ids: string[];
  size: number[];
  mtime: number[];
  ino: number[];
}

function decodeJson(f: StatJson2): StatCache {
  if (f.v !== 2 || !Array.isArray(f.paths)) throw new Error('unknown stat cache version');
  const n = f.paths.length;
  if (f.ids.length !== n || f.size.length !== n || f.mtime.length !== n || f.ino.length !== n) throw new Error('damaged stat cache');
  return { writtenAt: f.writtenAt, snapshot: f.snapshot, kinds: '', paths: f.paths, ids: f.ids, size: f.size, mtime: f.mtime, ino: f.ino };
}

/** Format 1 (read, never written): `<writtenAt> <snapshot>` then `<id>\t<size>\t<mtimeMs>\t<ino>\t<path>` lines. */
function decodeText(text: string): StatCache {
  const lines = text.split('\n');
  const [w, snapshot = ''] = lines[0]!.split(' ');
  const writtenAt = Number(w);
  const c = emptyStatCache();
  c.writtenAt = Number.isFinite(writtenAt) ? writtenAt : 0;
  c.snapshot = snapshot;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    const t1 = line.indexOf('\t'), t2 = line.indexOf('\t', t1 + 1), t3 = line.indexOf('\t', t2 + 1), t4 = line.indexOf('\t', t3 + 1);
    if (t4 < 0) throw new Error('damaged stat cache');
    push(c, line.slice(t4 + 1), line.slice(0, t1), Number(line.slice(t1 + 1, t2)), Number(line.slice(t2 + 1, t3)), Number(line.slice(t3 + 1, t4)));
  }
  return c;
}

/**
 * What to store for `c`, given the full cache `stat` holds now: a difference (`stat+`) when
 * at most STAT_DELTA_MAX rows differ, else the whole cache (and `stat+` deleted).
 */
export function statSave(c: StatCache, full: StatCache | undefined): { delta: StatDelta } | { full: Uint8Array } {
  if (full && full.writtenAt !== 0) {
    // Rows mostly keep their order: compare row by row, and index `full` only where it breaks.
    let rows: Map<string, number> | undefined;
    const rowOf = (p: string, i: number): number | undefined => {
      if (full.paths[i] === p) return i;
      if (!rows) { rows = new Map(); for (let j = 0; j < full.paths.length; j++) rows.set(full.paths[j]!, j); }
      return rows.get(p);
    };
    const set: StatDelta['set'] = [];
    const kept = new Uint8Array(full.paths.length);
    for (let i = 0; i < c.paths.length && set.length <= STAT_DELTA_MAX; i++) {
      const p = c.paths[i]!, r = rowOf(p, i);
      if (r !== undefined) {
        kept[r] = 1;
        if (full.ids[r] === c.ids[i] && full.size[r] === c.size[i] && full.mtime[r] === c.mtime[i] && full.ino[r] === c.ino[i]) continue;
      }
      set.push([p, c.ids[i]!, c.size[i]!, c.mtime[i]!, c.ino[i]!]);
    }
    if (set.length <= STAT_DELTA_MAX) {
      const del: string[] = [];
      for (let r = 0; r < kept.length && set.length + del.length <= STAT_DELTA_MAX; r++) if (!kept[r]) del.push(full.paths[r]!);
      if (set.length + del.length <= STAT_DELTA_MAX) {
        return { delta: { v: 3, of: full.writtenAt, writtenAt: c.writtenAt, snapshot: c.snapshot, kinds: c.kinds, set, del } };
      }
    }
  }
  return { full: encodeStat(c) };
}
