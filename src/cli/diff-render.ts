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
  /** Set for a both-sides edit (`conflict`): the last-synced text both sides changed. */
  baseText?: string;
}

/**
 * Lua-style header block and a coloured, abbreviated unified diff: remote as old, local as new.
 * A both-sides edit (`baseText` set) is shown three-way instead, the way `git diff` shows a merge:
 * what you changed (base → local), then what they changed (base → remote).
 */
export function diffText(c: Colors, b: DiffBlock, opts: { left?: string; right?: string } = {}): string {
  const out = [RULE, `${c.bold(b.path)}  ${c.dim(b.header)}`];
  if (b.baseText !== undefined && !opts.left && !opts.right) {
    out.push(`${c.bold('Your changes')}  ${c.red('- Base (last synced)')}  ${c.green('+ Local (workspace)')}`, RULE);
    lines(c, out, b.baseText, b.localText);
    out.push(RULE, `${c.bold('Their changes')}  ${c.red('- Base (last synced)')}  ${c.green('+ Remote (published)')}`, RULE);
    lines(c, out, b.baseText, b.remoteText);
  } else {
    out.push(`${c.red(`- ${opts.left ?? 'Remote (published)'}`)}  ${c.green(`+ ${opts.right ?? 'Local (workspace)'}`)}`, RULE);
    lines(c, out, b.remoteText, b.localText);
  }
  out.push(RULE, '');
  return out.join('\n') + '\n';
}

function lines(c: Colors, out: string[], from: string, to: string): void {
  const d = displayDiff(from, to);
  if (d.length === 0) out.push(c.dim('  (no change)'));
  for (const l of d) {
    if (l.op === '...') out.push(c.dim(`  ... (${l.count} unchanged line${l.count === 1 ? '' : 's'}) ...`));
    else if (l.op === '-') out.push(c.red(`- ${l.text}`));
    else if (l.op === '+') out.push(c.green(`+ ${l.text}`));
    else out.push(c.dim(`  ${l.text}`));
  }
}

export function statText(c: Colors, b: DiffBlock): string {
  if (b.baseText !== undefined) {
    const l = diffStat(b.baseText, b.localText), r = diffStat(b.baseText, b.remoteText);
    return `  ${b.path.padEnd(50)} local ${c.green(`+${l.added}`)} ${c.red(`-${l.removed}`)}, remote ${c.green(`+${r.added}`)} ${c.red(`-${r.removed}`)}  ${c.dim(b.header)}\n`;
  }
  const s = diffStat(b.remoteText, b.localText);
  return `  ${b.path.padEnd(50)} ${c.green(`+${s.added}`)} ${c.red(`-${s.removed}`)}  ${c.dim(b.header)}\n`;
}

