/**
 * The coloured diff view (Lua's header block, abbreviated unchanged runs), loaded only by
 * commands that show diffs.
 * @module
 */
import { displayDiff, diffStat } from '../merge/display.js';
import type { Colors } from './io.js';

const RULE = '='.repeat(60);

export interface DiffBlock {
  path: string;
  state: string;
  header: string;
  remoteText: string;
  localText: string;
}

/** Lua-style header block and a coloured, abbreviated unified diff. */
export function diffText(c: Colors, b: DiffBlock, opts: { left?: string; right?: string } = {}): string {
  const out = [RULE, `${c.bold(b.path)}  ${c.dim(b.header)}`, `${c.red(`- ${opts.left ?? 'Remote (published)'}`)}  ${c.green(`+ ${opts.right ?? 'Local (workspace)'}`)}`, RULE];
  for (const l of displayDiff(b.remoteText, b.localText)) {
    if (l.op === '...') out.push(c.dim(`  ... (${l.count} unchanged line${l.count === 1 ? '' : 's'}) ...`));
    else if (l.op === '-') out.push(c.red(`- ${l.text}`));
    else if (l.op === '+') out.push(c.green(`+ ${l.text}`));
    else out.push(c.dim(`  ${l.text}`));
  }
  out.push(RULE, '');
  return out.join('\n') + '\n';
}

export function statText(c: Colors, b: DiffBlock): string {
  const s = diffStat(b.remoteText, b.localText);
  return `  ${b.path.padEnd(50)} ${c.green(`+${s.added}`)} ${c.red(`-${s.removed}`)}  ${c.dim(b.header)}\n`;
}

