/**
 * Key-level three-way merge of YAML documents. The merge starts from OURS (so its comments and
 * layout survive) and applies what THEIRS changed relative to BASE: map keys merge one by one,
 * sequences of maps that all carry a `name` (or all an `id`) merge item by item, and any other
 * value (scalar, plain list) is taken whole from the side that changed it. A value changed
 * differently on both sides, or deleted on one side and changed on the other, is a conflict.
 * @module
 */
import { isMap, isNode, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Pair, YAMLMap, YAMLSeq } from 'yaml';
import { deepEqual } from './equal.js';

export interface YamlConflict {
  path: (string | number)[];
  reason: string;
}

export type YamlMergeResult =
  | { clean: true; text: string }
  | { clean: false; conflicts: YamlConflict[] }
  | { clean: false; unparseable: true };

type Path = (string | number)[];

interface Ctx {
  base: Document;
  ours: Document;
  theirs: Document;
  conflicts: YamlConflict[];
}

function parse(text: string): Document | undefined {
  const doc = parseDocument(text);
  return doc.errors.length > 0 ? undefined : doc;
}

/** The plain JS value of a node (or raw value) of `doc`. */
function plain(doc: Document, node: unknown): unknown {
  return isNode(node) ? node.toJS(doc) : node;
}

/** A copy of a node of THEIRS, comments included, to put into OURS. */
function take(node: unknown): unknown {
  return isNode(node) ? node.clone() : node;
}

/** Identity of a map key: its scalar value (or plain value), typed. */
function keyId(doc: Document, key: unknown): string {
  const v = isScalar(key) ? key.value : plain(doc, key);
  return `${typeof v}:${typeof v === 'object' ? JSON.stringify(v) : String(v)}`;
}

function pathKey(key: unknown): string | number {
  const v = isScalar(key) ? key.value : key;
  return typeof v === 'number' ? v : String(v);
}

function mergeNode(ctx: Ctx, b: unknown, o: unknown, t: unknown, path: Path, added = false): unknown {
  const vo = plain(ctx.ours, o), vt = plain(ctx.theirs, t);
  if (deepEqual(vo, vt)) return o;
  if (!added) {
    const vb = plain(ctx.base, b);
    if (deepEqual(vb, vt)) return o;
    if (deepEqual(vb, vo)) return take(t);
  }
  // A missing or null base merges like an empty collection.
  const empty = added || plain(ctx.base, b) == null;
  if (isMap(o) && isMap(t) && (empty || isMap(b))) {
    mergeMap(ctx, empty ? undefined : (b as YAMLMap), o, t, path);
    return o;
  }
  if (isSeq(o) && isSeq(t) && (empty || isSeq(b))) {
    const bs = empty ? undefined : (b as YAMLSeq);
    const field = seqKeyField(ctx, [bs, o, t]);
    if (field) {
      mergeSeq(ctx, field, bs, o, t, path);
      return o;
    }
  }
  ctx.conflicts.push({ path, reason: added ? 'added on both sides with different values' : 'changed differently on both sides' });
  return o;
}

function findPair(doc: Document, map: YAMLMap | undefined, id: string): Pair | undefined {
  return map?.items.find((p) => keyId(doc, p.key) === id);
}

function mergeMap(ctx: Ctx, b: YAMLMap | undefined, o: YAMLMap, t: YAMLMap, path: Path): void {
  for (const bp of b?.items ?? []) {
    const id = keyId(ctx.base, bp.key);
    if (findPair(ctx.theirs, t, id)) continue;
    const i = o.items.findIndex((p) => keyId(ctx.ours, p.key) === id);
    if (i < 0) continue; // deleted on both sides
    if (deepEqual(plain(ctx.base, bp.value), plain(ctx.ours, o.items[i]!.value))) o.items.splice(i, 1);
    else ctx.conflicts.push({ path: [...path, pathKey(bp.key)], reason: 'changed in ours but deleted in theirs' });
  }
  t.items.forEach((tp, ti) => {
    const id = keyId(ctx.theirs, tp.key);
    const bp = findPair(ctx.base, b, id);
    const op = findPair(ctx.ours, o, id);
    const p = [...path, pathKey(tp.key)];
    if (op) {
      const merged = mergeNode(ctx, bp?.value, op.value, tp.value, p, !bp);
      if (merged !== op.value) op.value = merged;
    } else if (bp) {
      if (!deepEqual(plain(ctx.base, bp.value), plain(ctx.theirs, tp.value))) {
        ctx.conflicts.push({ path: p, reason: 'deleted in ours but changed in theirs' });
      }
    } else {
      let at = 0;
      for (let j = ti - 1; j >= 0; j--) {
        const prev = keyId(ctx.theirs, t.items[j]!.key);
        const k = o.items.findIndex((q) => keyId(ctx.ours, q.key) === prev);
        if (k >= 0) {
          at = k + 1;
          break;
        }
      }
      o.items.splice(at, 0, tp.clone());
    }
  });
}

/** `name` or `id` when every item of every (present) sequence is a map with a unique such scalar. */
function seqKeyField(ctx: Ctx, seqs: (YAMLSeq | undefined)[]): string | undefined {
  const docs = [ctx.base, ctx.ours, ctx.theirs];
  for (const field of ['name', 'id']) {
    const ok = seqs.every((s, i) => {
      if (!s) return true;
      const seen = new Set<string>();
      return s.items.every((item) => {
        const k = itemKey(docs[i]!, item, field);
        if (k === undefined || seen.has(k)) return false;
        seen.add(k);
        return true;
      });
    });
    if (ok) return field;
  }
  return undefined;
}

function itemKey(doc: Document, item: unknown, field: string): string | undefined {
  if (!isMap(item)) return undefined;
  const pair = item.items.find((p) => isScalar(p.key) && p.key.value === field);
  if (!pair || !isScalar(pair.value)) return undefined;
  const v = pair.value.value;
  return typeof v === 'string' || typeof v === 'number' ? keyId(doc, pair.value) : undefined;
}

function mergeSeq(ctx: Ctx, field: string, b: YAMLSeq | undefined, o: YAMLSeq, t: YAMLSeq, path: Path): void {
  const index = (doc: Document, s: YAMLSeq | undefined): Map<string, unknown> =>
    new Map((s?.items ?? []).map((item) => [itemKey(doc, item, field)!, item]));
  const bm = index(ctx.base, b), om = index(ctx.ours, o), tm = index(ctx.theirs, t);
  const result: unknown[] = [];
  const keys: string[] = [];
  o.items.forEach((item, i) => {
    const k = itemKey(ctx.ours, item, field)!;
    const p = [...path, i];
    if (tm.has(k)) {
      result.push(mergeNode(ctx, bm.get(k), item, tm.get(k), p, !bm.has(k)));
    } else if (bm.has(k) && deepEqual(plain(ctx.base, bm.get(k)), plain(ctx.ours, item))) {
      return; // deleted in theirs, unchanged in ours
    } else {
      if (bm.has(k)) ctx.conflicts.push({ path: p, reason: 'changed in ours but deleted in theirs' });
      result.push(item);
    }
    keys.push(k);
  });
  t.items.forEach((item, ti) => {
    const k = itemKey(ctx.theirs, item, field)!;
    if (om.has(k)) return;
    if (bm.has(k)) {
      if (!deepEqual(plain(ctx.base, bm.get(k)), plain(ctx.theirs, item))) {
        ctx.conflicts.push({ path: [...path, ti], reason: 'deleted in ours but changed in theirs' });
      }
      return;
    }
    let at = 0;
    for (let j = ti - 1; j >= 0; j--) {
      const k2 = keys.indexOf(itemKey(ctx.theirs, t.items[j], field)!);
      if (k2 >= 0) {
        at = k2 + 1;
        break;
      }
    }
    result.splice(at, 0, take(item));
    keys.splice(at, 0, k);
  });
  o.items = result;
}

/** Layout options that match how OURS indents, so untouched parts keep their shape. */
function layout(text: string): { indent: number; indentSeq: boolean; flowCollectionPadding: boolean } {
  const m = /^( +)\S/m.exec(text);
  const indent = m ? Math.min(Math.max(m[1]!.length, 1), 8) : 2;
  const flatSeq = /^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(text);
  const nestedSeq = /^( *)[^\s#-][^\n]*:[ \t]*\n\1 +- /m.test(text);
  const flowCollectionPadding = /[[{] \S/.test(text) || !/[[{][^\s\]}]/.test(text);
  return { indent, indentSeq: nestedSeq || !flatSeq, flowCollectionPadding };
}

/**
 * Three-way merge of YAML texts. Clean results are OURS with THEIRS' changes applied; when
 * nothing needs merging the winning side's text is returned verbatim.
 */
export function mergeYaml(base: string, ours: string, theirs: string): YamlMergeResult {
  const b = parse(base), o = parse(ours), t = parse(theirs);
  if (!b || !o || !t) return { clean: false, unparseable: true };
  if (theirs === base || theirs === ours) return { clean: true, text: ours };
  if (ours === base) return { clean: true, text: theirs };
  const before = o.toJS();
  const ctx: Ctx = { base: b, ours: o, theirs: t, conflicts: [] };
  const root = mergeNode(ctx, b.contents, o.contents, t.contents, []);
  if (ctx.conflicts.length > 0) return { clean: false, conflicts: ctx.conflicts };
  if (root !== o.contents) o.contents = root as typeof o.contents;
  const merged = o.toJS();
  if (deepEqual(merged, before)) return { clean: true, text: ours };
  let text: string;
  try {
    text = keepTrailingComment(ours, o.toString({ lineWidth: 0, ...layout(ours) }));
  } catch (e) {
    return { clean: false, conflicts: [{ path: [], reason: `merged YAML could not be written: ${(e as Error).message}` }] };
  }
  const check = parse(text);
  if (!check || !deepEqual(check.toJS(), merged)) {
    return { clean: false, conflicts: [{ path: [], reason: 'merged YAML would not read back as merged' }] };
  }
  return { clean: true, text };
}

/**
 * The YAML stringifier always writes a blank line before a document's trailing comment; keep
 * OURS's layout instead (no blank line when OURS had none), as `git merge-file` would.
 */
function keepTrailingComment(ours: string, text: string): string {
  const lines = ours.replace(/\n+$/, '').split('\n');
  let i = lines.length;
  while (i > 0 && lines[i - 1]!.startsWith('#')) i--;
  if (i === lines.length || i === 0 || lines[i - 1]!.trim() === '') return text;
  const block = lines.slice(i).join('\n') + '\n';
  return text.endsWith('\n\n' + block) ? text.slice(0, text.length - block.length - 1) + block : text;
}

/**
 * Whether two YAML texts hold the same value (comments, whitespace, quoting and key order
 * aside). False when either does not parse.
 */
export function yamlSemanticallyEqual(a: string, b: string): boolean {
  const da = parse(a), db = parse(b);
  if (!da || !db) return false;
  return deepEqual(da.toJS(), db.toJS());
}
