/**
 * validate: every artifact parses (YAML; Markdown front matter) and meets its kind's minimal
 * schema. Problems name `file:line:col`.
 * @module
 */
import { parseDocument, isMap, isNode, LineCounter } from 'yaml';
import type { Schema } from '../model/kinds.js';
import { formatOf } from '../model/kinds.js';
import type { Workspace } from '../workspace/config.js';
import { readArtifact } from '../workspace/scan.js';

export interface Problem {
  path: string;
  line: number;
  col: number;
  message: string;
}

const dec = new TextDecoder('utf-8', { fatal: true });

function yamlProblems(path: string, text: string, schema: Schema, lineOffset: number): Problem[] {
  let doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    // Positions only for a file with errors: parse again, counting lines.
    const lc = new LineCounter();
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    return doc.errors.slice(0, 3).map((e) => {
      const p = lc.linePos(e.pos[0]);
      return { path, line: p.line + lineOffset, col: p.col, message: cleanYamlMessage(e.message) };
    });
  }
  if (schema === 'none') return [];
  const at = (msg: string): Problem[] => [{ path, line: 1 + lineOffset, col: 1, message: msg }];
  const what = schema === 'agent' ? 'an agent' : schema === 'mcp' ? 'an mcp server' : `a ${schema}`;
  if (!isMap(doc.contents)) return at(`${what} must be a YAML map with a \`name\``);
  // The top-level scalars the schema needs, without converting the whole document; an alias
  // or a collection there is resolved the long way.
  const keys = schema === 'mcp' ? ['name', 'command', 'url'] : ['name'];
  let v: Record<string, unknown> = {};
  for (const k of keys) v[k] = doc.get(k);
  if (keys.some((k) => isNode(v[k]))) v = doc.toJS() as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name.trim() === '') return at(`${what} needs a non-empty string \`name\``);
  if (schema === 'mcp' && typeof v.command !== 'string' && typeof v.url !== 'string') {
    return at('an mcp server needs a `command` (local process) or a `url` (remote server)');
  }
  return [];
}

/**
 * Problems of an artifact's file as it is now (empty: valid; null: the file was removed since
 * the scan). Other read errors are thrown.
 */
export function validateFile(ws: Pick<Workspace, 'services'>, path: string, schema: Schema): Problem[] | null {
  let bytes: Uint8Array;
  try {
    bytes = readArtifact(ws, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return validateArtifact(path, bytes, schema);
}

/** Problems of one artifact's bytes (empty: valid). */
export function validateArtifact(path: string, bytes: Uint8Array, schema: Schema): Problem[] {
  let text: string;
  try {
    text = dec.decode(bytes);
  } catch {
    return [{ path, line: 1, col: 1, message: 'is not valid UTF-8 text' }];
  }
  const fmt = formatOf(path);
  if (fmt === 'yaml') return yamlProblems(path, text, schema, 0);
  if (fmt === 'markdown' && (text.startsWith('---\n') || text.startsWith('---\r\n'))) {
    const m = /\r?\n---[ \t]*(\r?\n|$)/.exec(text.slice(3));
    if (!m) return [{ path, line: 1, col: 1, message: 'front matter opened with --- is never closed' }];
    return yamlProblems(path, text.slice(text.indexOf('\n') + 1, 3 + m.index + 1), schema, 1);
  }
  return [];
}

/** The YAML parser's first message line, without its own position suffix (we print file:line:col). */
export function cleanYamlMessage(m: string): string {
  return m.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '').replace(/[:.]\s*$/, '');
}
