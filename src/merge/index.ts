/**
 * Merging one artifact: YAML files merge key by key (falling back to a line merge only when a
 * side does not parse), everything else merges line by line like git. Conflicted results carry
 * git-style markers labelled `local` (ours) and `remote` (theirs).
 * @module
 */
import { formatOf } from '../model/kinds.js';
import { mergeText } from './diff3.js';
import { mergeYaml } from './yaml.js';
import type { YamlConflict } from './yaml.js';

export type { YamlConflict } from './yaml.js';

export type MergeResult =
  | { clean: true; text: string; how: 'yaml' | 'text' }
  | { clean: false; text: string; how: 'yaml' | 'text'; conflicts: number; yamlConflicts?: YamlConflict[] };

const LABELS = { ours: 'local', base: 'base', theirs: 'remote' };

/** Three-way merge of the artifact at `path`: base, ours (local) and theirs (remote). */
export function mergeArtifact(path: string, base: string, ours: string, theirs: string): MergeResult {
  if (formatOf(path) === 'yaml') {
    const y = mergeYaml(base, ours, theirs);
    if (y.clean) return { clean: true, text: y.text, how: 'yaml' };
    if (!('unparseable' in y)) {
      const t = mergeText(base, ours, theirs, LABELS);
      // The line merge may see no overlap where the keys clash; still show the clash as a conflict.
      const text = t.clean ? wholeConflict(ours, theirs) : t.text;
      return { clean: false, text, how: 'yaml', conflicts: Math.max(t.conflicts, 1), yamlConflicts: y.conflicts };
    }
  }
  const t = mergeText(base, ours, theirs, LABELS);
  if (t.clean) return { clean: true, text: t.text, how: 'text' };
  return { clean: false, text: t.text, how: 'text', conflicts: t.conflicts };
}

/** One conflict block holding both whole files. */
function wholeConflict(ours: string, theirs: string): string {
  const nl = (s: string): string => (s === '' || s.endsWith('\n') ? s : `${s}\n`);
  return `<<<<<<< ${LABELS.ours}\n${nl(ours)}=======\n${nl(theirs)}>>>>>>> ${LABELS.theirs}\n`;
}

/** Whether `text` holds a conflict block: `<<<<<<< `, then `=======`, then `>>>>>>> ` lines. */
export function hasConflictMarkers(text: string): boolean {
  let stage = 0;
  for (const line of text.split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (stage === 0 && l.startsWith('<<<<<<< ')) stage = 1;
    else if (stage === 1 && l === '=======') stage = 2;
    else if (stage === 2 && l.startsWith('>>>>>>> ')) return true;
  }
  return false;
}
