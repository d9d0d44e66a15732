/**
 * Human views rendered from engine results (the same objects feed `--json`).
 * @module
 */
import { printable } from '../model/text.js';
import type { Entry, Status } from '../engine/status.js';
import type { Version } from '../model/version.js';
import { age, type Colors } from './io.js';

export type { DiffBlock } from './diff-render.js';


export function describe(e: Pick<Entry, 'local' | 'remote'>): string {
  const parts: string[] = [];
  if (e.local !== 'unchanged') parts.push(`local ${e.local}`);
  if (e.remote !== 'unchanged') parts.push(`remote ${e.remote}`);
  return parts.join(', ');
}

export function stateColor(c: Colors, state: string): (s: string) => string {
  switch (state) {
    case 'push': return c.green;
    case 'pull': return c.cyan;
    case 'converged': return c.dim;
    case 'conflict': return c.red;
    default: return (s) => s;
  }
}

export function entryLine(c: Colors, e: Entry): string {
  const notes = [
    e.formatOnly ? c.dim(' (format only)') : '', e.merging ? c.yellow(' (merging: resolve it)') : '',
    e.merge === 'clean' ? c.green(' (merges cleanly: pull applies it)') : e.merge === 'conflict' && !e.merging ? c.red(' (true conflict)') : '',
  ].join('');
  return `  ${stateColor(c, e.state)(e.state.padEnd(10))}${describe(e).padEnd(34)}${e.path}${notes}`;
}

export function statusText(c: Colors, st: Status): string {
  const out: string[] = [];
  if (st.remote) {
    const fetched = st.fetchedAt ? `last fetched ${age(st.fetchedAt)}` : c.yellow('never fetched (run `agentsync fetch`)');
    const latest = st.latestPublished ? `latest published v${st.latestPublished}` : 'no published version yet';
    out.push(`Remote ${c.bold(st.remote)}: ${fetched}, ${latest}.`);
  } else {
    out.push(c.yellow('No remote configured (`agentsync remote add origin <url>`).'));
  }
  out.push(`Local snapshot ${st.local} (${st.artifacts} artifact${st.artifacts === 1 ? '' : 's'}).`);
  if (st.entries.length === 0) {
    out.push(c.green('Everything in sync.'));
  } else {
    const counts = new Map<string, number>();
    for (const e of st.entries) counts.set(e.state, (counts.get(e.state) ?? 0) + 1);
    out.push(`${st.entries.length} artifact${st.entries.length === 1 ? '' : 's'} drifted (${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}):`);
    for (const e of st.entries) out.push(entryLine(c, e));
    const hints: string[] = [];
    if (counts.has('push')) hints.push('`agentsync push` uploads local changes');
    if (counts.has('pull')) hints.push('`agentsync pull` takes remote changes');
    if (counts.has('conflict')) hints.push('`agentsync diff` shows conflicts');
    if (hints.length) out.push(c.dim(hints.join('; ') + '.'));
  }
  if (st.outside.length) {
    out.push(c.dim(`${st.outside.length} remote path${st.outside.length === 1 ? ' matches' : 's match'} none of this workspace's kinds (e.g. ${st.outside[0]}); pull and push leave ${st.outside.length === 1 ? 'it' : 'them'} alone — \`agentsync status --json\` lists them (outside).`));
  }
  if (st.gitDirty?.length) {
    out.push(c.yellow(`${st.gitDirty.length} drifted artifact${st.gitDirty.length === 1 ? ' has' : 's have'} uncommitted git changes (pull will not replace ${st.gitDirty.length === 1 ? 'it' : 'them'} without --force):`));
    for (const p of st.gitDirty) out.push(`  ${p}`);
  }
  return out.join('\n') + '\n';
}

export function versionLine(c: Colors, v: Version, head: { latestPublished: number | null; current: number | null }): string {
  const marks: string[] = [];
  if (v.id === head.current) marks.push(c.green('current'));
  if (v.id === head.latestPublished) marks.push(c.cyan('latest published'));
  const state = v.state === 'draft' ? c.yellow('draft') : 'published';
  return `v${String(v.id).padEnd(5)} ${state.padEnd(9)} ${v.snapshot.slice(0, 19)}  ${printable(v.createdAt.replace('T', ' ').slice(0, 19))}  ${printable(v.author)}: ${printable(v.message)}${marks.length ? `  (${marks.join(', ')})` : ''}`;
}
