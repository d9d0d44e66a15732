/**
 * `sync`, `sync local` and `compile`. cac has no subcommands, so `sync local …` is `sync` with
 * `local` as its first positional. Prompts (@inquirer/prompts, loaded only when a terminal is
 * there to answer them) read io.stdin and write through io.stdout; without a terminal nothing
 * ever waits for input.
 * @module
 */
import { Writable } from 'node:stream';
import type { Context } from '../engine/context.js';
import { assertValid, validateWorkspace, type Validation } from '../engine/compile.js';
import type { Choice, Decision, SyncItem, SyncPlan, SyncResult } from '../engine/sync.js';
import { AgentsyncError, EXIT, fail, isAgentsyncError } from '../model/errors.js';
import { diffBlocks, relativeSelectors, warnNoGit, withContext, type Opts } from './commands.js';
import { author, colors, json, plural, type Colors, type Io } from './io.js';
import { entryLine, stateColor } from './render.js';


// ---------------------------------------------------------------- helpers

function showProblems(io: Io, o: Opts, v: Validation): void {
  if (o.json) return;
  for (const p of v.problems) io.stderr(`services/${p.path}:${p.line}:${p.col}: ${p.message}\n`);
}

/** Validate the whole workspace; VALIDATION_FAILED (problems listed on stderr) before anything else. */
async function validateFirst(io: Io, o: Opts, ctx: Context, what: string): Promise<void> {
  const v = await validateWorkspace(ctx);
  // Files in the middle of `agentsync merge` hold conflict markers on purpose; sync leaves them alone.
  if (v.problems.length && ctx.remoteConfig) {
    const { mergesInProgress } = await import('../engine/merge-records.js');
    const merging = await mergesInProgress(ctx, ctx.remoteConfig.name);
    v.problems = v.problems.filter((p) => !merging.has(p.path));
  }
  showProblems(io, o, v);
  assertValid(v, what);
}

/** Ctrl-C at a prompt: one line, exit 130, nothing changed (prompts come before any write). */
function interrupted(): AgentsyncError {
  return new AgentsyncError('INTERRUPTED', 'interrupted at the prompt; nothing was changed');
}

function isExitPrompt(e: unknown): boolean {
  const n = (e as Error | undefined)?.name;
  return n === 'ExitPromptError' || n === 'AbortPromptError';
}

/** Where prompts read and draw: io's streams (the terminal). */
function promptContext(io: Io) {
  const output = new Writable({
    write(chunk: Buffer | string, _enc, cb) { io.stdout(String(chunk)); cb(); },
  });
  const tty = process.stdout.isTTY ? process.stdout : process.stderr;
  Object.assign(output, { isTTY: io.stdoutTTY, columns: tty.columns || 80, rows: tty.rows || 24 });
  return { input: io.stdin ?? process.stdin, output };
}

async function confirm(io: Io, message: string, dflt: boolean): Promise<boolean> {
  const { confirm: ask } = await import('@inquirer/prompts');
  return ask({ message, default: dflt }, promptContext(io));
}

function resultJson(r: SyncResult, extra: Record<string, unknown> = {}) {
  return {
    remote: r.remote, latestPublished: r.latestPublished, ...extra,
    pushed: r.pushed, pulled: r.pulled, merged: r.merged, skipped: r.skipped, converged: r.converged,
    version: r.version ? r.version.id : null, commit: r.commit, ...(r.uncommitted ? { uncommitted: r.uncommitted } : {}),
  };
}

function summary(c: Colors, r: SyncResult): string {
  const parts: string[] = [];
  if (r.pushed.length) parts.push(c.green(`pushed ${r.pushed.length}${r.version ? ` as v${r.version.id}${r.version.state === 'draft' ? ' (draft)' : ''}` : ''}`));
  if (r.pulled.length) parts.push(c.cyan(`pulled ${r.pulled.length}`));
  if (r.merged.length) parts.push(`merged ${r.merged.length}`);
  if (r.skipped.length) parts.push(c.yellow(`skipped ${r.skipped.length}`));
  if (r.converged.length) parts.push(c.dim(`recorded ${r.converged.length} identical`));
  const tail = (r.commit ? ` Committed ${r.commit.slice(0, 7)}.` : '') + (r.uncommitted?.length ? ` Left uncommitted (merged into your uncommitted edits): ${r.uncommitted.join(', ')}.` : '');
  const undo = r.pulled.length + r.merged.length ? c.dim(' `agentsync undo` restores the replaced local files.') : '';
  return `Sync with ${r.remote}: ${parts.length ? parts.join(', ') : 'nothing changed'}.${tail}${undo}\n`;
}

function inSyncLine(io: Io, plan: SyncPlan): void {
  if (plan.merging.length) {
    io.stdout(`Nothing else to sync with ${plan.remote}: ${plural(plan.merging.length, 'artifact')} await \`agentsync resolve\`.\n`);
    return;
  }
  const v = plan.latestPublished ? ` (v${plan.latestPublished})` : '';
  io.stdout(`No drift detected. Local workspace is in sync with ${plan.remote}${v}.\n`);
  if (plan.ignored.length) io.stdout(colors(io).dim(`(${plural(plan.ignored.length, 'artifact')} differ only in YAML formatting; ignored with --semantic)\n`));
}

// ---------------------------------------------------------------- sync

type Mode = 'check' | 'push' | 'pull' | 'interactive';

export async function cmdSync(io: Io, sel: string[], o: Opts): Promise<number> {
  if (sel[0] === 'local') return cmdSyncLocal(io, relativeSelectors(io, o, sel.slice(1)), o);
  sel = relativeSelectors(io, o, sel);
  if (o.direction !== undefined) fail('USAGE', '--direction belongs to `agentsync sync local`');
  if (o.accept) {
    io.stderr('agentsync: warning: --accept is deprecated; use --pull\n');
    o.pull = true;
  }
  const flags = (['check', 'push', 'pull'] as const).filter((f) => o[f]);
  if (flags.length > 1) fail('USAGE', `choose one of ${flags.map((f) => `--${f}`).join(', ')}`);
  const explicitCheck = flags[0] === 'check';
  // Without a terminal to answer (or with --json, which cannot be interactive), sync never
  // waits for input: it checks.
  const mode: Mode = flags[0] ?? (io.stdinTTY && !o.json ? 'interactive' : 'check');
  const c = colors(io);
  return withContext(io, o, async (ctx) => {
    const { remoteName } = await import('../engine/context.js');
    const name = remoteName(ctx);
    if (mode !== 'check') await warnNoGit(io, o, ctx.ws.root);
    await validateFirst(io, o, ctx, 'nothing was synced');
    const { applySync, fetchForSync, planSync } = await import('../engine/sync.js');
    const offline = await fetchForSync(ctx);
    if (offline) {
      if (explicitCheck) throw offline; // exit 3
      // Lua: never block the workflow on the network.
      if (o.json) json(io, { remote: name, offline: true, error: offline.toJSON() });
      io.stderr(`agentsync: warning: cannot reach ${name} (${offline.code}); sync skipped — run it again when the remote is back\n`);
      return EXIT.OK;
    }
    const plan = await planSync(ctx, { selectors: sel, semantic: !!o.semantic, previews: mode !== 'check' });
    const merging = plan.merging.map((e) => e.path);
    if (merging.length && !o.json) {
      io.stderr(`agentsync: warning: ${merging.slice(0, 3).join(', ')}${merging.length > 3 ? ', …' : ''} ${merging.length === 1 ? 'is' : 'are'} being merged; edit out the markers, then \`agentsync resolve <path> --merged\` (sync leaves ${merging.length === 1 ? 'it' : 'them'} alone)\n`);
    }

    if (mode === 'check') {
      if (o.json) {
        json(io, {
          remote: plan.remote, latestPublished: plan.latestPublished, inSync: plan.items.length + merging.length === 0, merging,
          drift: plan.items.map((i) => ({ path: i.entry.path, kind: i.entry.kind, state: i.entry.state, local: i.entry.local, remote: i.entry.remote })),
          ignored: plan.ignored.map((i) => i.entry.path), converged: plan.converged.map((e) => e.path),
        });
      } else if (plan.items.length + merging.length === 0) inSyncLine(io, plan);
      else if (plan.items.length) {
        io.stdout(`${plural(plan.items.length, 'artifact')} drifted from ${plan.remote}${plan.latestPublished ? ` v${plan.latestPublished}` : ''}:\n`);
        for (const i of plan.items) io.stdout(entryLine(c, i.entry) + '\n');
        io.stdout(c.dim(explicitCheck ? 'Run `agentsync sync` to reconcile.\n' : 'Not a terminal, so nothing was asked: run `agentsync sync` in a terminal, or sync --push / --pull.\n'));
      }
      return plan.items.length + merging.length ? EXIT.DRIFT : EXIT.OK;
    }

    const base = { author: await author(io, ctx.ws.root), env: io.env, commit: !!o.commit, ...(typeof o.message === 'string' ? { message: o.message } : typeof o.m === 'string' ? { message: o.m } : {}) };
    if (mode === 'push' || mode === 'pull') {
      const decisions: Decision[] = plan.items.map((item) => ({
        item, choice: mode === 'push' ? 'push' : item.mergeText !== null && !o.force ? 'merge' : 'pull',
      }));
      const r = await applySync(ctx, plan, decisions, { ...base, force: !!o.force });
      if (o.json) json(io, resultJson(r, { mode }));
      else if (plan.items.length === 0) inSyncLine(io, plan);
      else {
        for (const d of decisions) io.stdout(entryLine(c, d.item.entry) + `  → ${d.choice}\n`);
        io.stdout(summary(c, r));
      }
      return EXIT.OK;
    }

    // Interactive.
    if (plan.items.length === 0) {
      if (plan.converged.length) await applySync(ctx, plan, [], base);
      inSyncLine(io, plan);
      return EXIT.OK;
    }
    let decisions: Decision[];
    try {
      decisions = await ask(io, ctx, plan, c);
      const counts = new Map<Choice, number>();
      for (const d of decisions) counts.set(d.choice, (counts.get(d.choice) ?? 0) + 1);
      const acting = decisions.some((d) => d.choice !== 'skip');
      if (acting && !o.yes) {
        // Every remote write is named before the question: a merge is also pushed.
        const pushN = counts.get('push') ?? 0, mergeN = counts.get('merge') ?? 0, pullN = counts.get('pull') ?? 0;
        const parts: string[] = [];
        if (pullN) parts.push(`pull ${pullN}`);
        if (mergeN) parts.push(`merge ${mergeN}`);
        if (pushN || mergeN) {
          const sent = [pushN ? `push ${pushN}` : '', mergeN ? `the merged result${mergeN === 1 ? '' : 's'}` : ''].filter(Boolean).join(' and ');
          parts.push(`${pushN ? sent : `push ${sent}`} as one new version on ${plan.remote}`);
        }
        if (!(await confirm(io, `Apply: ${parts.join(', ')}?`, true))) {
          io.stdout('Nothing changed.\n');
          return EXIT.DRIFT;
        }
      }
    } catch (e) {
      if (isExitPrompt(e)) throw interrupted();
      throw e;
    }
    const r = await applySync(ctx, plan, decisions, { ...base, force: !!o.force, explicit: true, pushMerged: true });
    io.stdout(summary(c, r));
    return EXIT.OK;
  });
}

const LABEL: Record<string, string> = {
  push: 'Push local to remote',
  pull: 'Pull remote to local',
  merge: 'Merge (keep both sides\' changes)',
  skip: 'Skip',
  allLocal: 'All remaining: local',
  allRemote: 'All remaining: remote',
};

/** One select per drifted artifact, after its diff; "all remaining" answers the rest. */
async function ask(io: Io, ctx: Context, plan: SyncPlan, c: Colors): Promise<Decision[]> {
  const { select } = await import('@inquirer/prompts');
  const { diffText } = await import('./diff-render.js');
  const out: Decision[] = [];
  let rest: Choice | null = null;
  for (const [i, item] of plan.items.entries()) {
    if (rest) { out.push({ item, choice: rest }); continue; }
    const e = item.entry;
    const [block] = await diffBlocks(ctx, [e], plan.latestPublished);
    io.stdout(diffText(c, block!));
    const choices: { value: string; name: string; description?: string }[] = [
      { value: 'push', name: LABEL.push!, ...(e.state !== 'push' ? { description: 'overwrites the remote change' } : {}) },
      { value: 'pull', name: LABEL.pull!, ...(e.state !== 'pull' ? { description: 'replaces your local change (`agentsync undo` restores it)' } : {}) },
    ];
    if (item.mergeText !== null) choices.push({ value: 'merge', name: LABEL.merge! });
    choices.push({ value: 'skip', name: LABEL.skip! });
    if (plan.items.length - i > 1) {
      choices.push({ value: 'allLocal', name: LABEL.allLocal! }, { value: 'allRemote', name: LABEL.allRemote! });
    }
    const dflt = e.state === 'push' ? 'push' : e.state === 'pull' ? 'pull' : item.mergeText !== null ? 'merge' : 'skip';
    const answer = await select({
      message: `${e.path} (${stateColor(c, e.state)(e.state)}, ${i + 1}/${plan.items.length})`,
      choices, default: dflt, loop: false,
    }, promptContext(io));
    if (answer === 'allLocal' || answer === 'allRemote') {
      rest = answer === 'allLocal' ? 'push' : 'pull';
      out.push({ item, choice: rest });
    } else out.push({ item, choice: answer as Choice });
  }
  return out;
}

// ---------------------------------------------------------------- sync local

const LOCAL = 'local';

export async function cmdSyncLocal(io: Io, sel: string[], o: Opts): Promise<number> {
  const dir = o.direction;
  if (dir !== 'to-db' && dir !== 'from-db') {
    fail('USAGE', 'sync local needs --direction to-db (push services/ to the remote named local) or --direction from-db (pull from it)');
  }
  if (typeof o.remote === 'string' && o.remote !== LOCAL) fail('USAGE', 'sync local always uses the remote named local; drop --remote');
  if (!o.yes && !io.stdinTTY) fail('USAGE', 'sync local asks for confirmation and standard input is not a terminal; pass -y to go ahead');
  let ctxOpen = false;
  try {
    return await withContext(io, { ...o, remote: LOCAL }, async (ctx) => {
      ctxOpen = true;
      if (dir === 'from-db') await warnNoGit(io, o, ctx.ws.root);
      if (dir === 'to-db') await validateFirst(io, o, ctx, 'nothing was synced');
      const { applySync, planSync } = await import('../engine/sync.js');
      const { fetchRemote } = await import('../engine/fetch.js');
      await fetchRemote(ctx, { allowNew: true });
      const full = await planSync(ctx, { selectors: sel });
      // One direction: the changed side wins (conflicts included); what changed only on the
      // other side is left alone (never reverted or deleted) and reported as skipped.
      const wins = dir === 'to-db' ? 'push' : 'pull';
      const plan = { ...full, items: full.items.filter((i) => i.entry.state === wins || i.entry.state === 'conflict') };
      const left = full.items.filter((i) => !plan.items.includes(i));
      const c = colors(io);
      const n = plan.items.length;
      const verb = dir === 'to-db' ? 'Push' : 'Pull';
      if (n === 0) {
        if (plan.converged.length) await applySync(ctx, plan, [], { author: await author(io, ctx.ws.root), env: io.env });
        if (o.json) json(io, { direction: dir, remote: LOCAL, latestPublished: full.latestPublished, pushed: [], pulled: [], merged: [], skipped: left.map((i) => i.entry.path), converged: full.converged.map((e) => e.path), version: null, commit: null });
        else io.stdout(`Nothing to ${verb.toLowerCase()}${left.length ? ` (${plural(left.length, 'artifact')} changed only on the other side)` : `: services/ and ${LOCAL} are in sync`}.\n`);
        return EXIT.OK;
      }
      if (!o.json) for (const i of plan.items) io.stdout(entryLine(c, i.entry) + '\n');
      if (!o.yes) {
        let ok: boolean;
        try {
          ok = await confirm(io, `${verb} ${plural(n, 'artifact')} ${dir === 'to-db' ? 'to' : 'from'} ${LOCAL}?`, false);
        } catch (e) {
          throw isExitPrompt(e) ? interrupted() : e;
        }
        if (!ok) { io.stdout('Nothing changed.\n'); return EXIT.DRIFT; }
      }
      // The direction is the user's explicit choice for every listed artifact.
      const choice: Choice = dir === 'to-db' ? 'push' : 'pull';
      const decisions: Decision[] = [...plan.items.map((item: SyncItem) => ({ item, choice })), ...left.map((item) => ({ item, choice: 'skip' as const }))];
      const r = await applySync(ctx, full, decisions, {
        author: await author(io, ctx.ws.root), env: io.env, explicit: true, commit: !!o.commit,
        ...(typeof o.message === 'string' ? { message: o.message } : {}),
      });
      if (o.json) json(io, resultJson(r, { direction: dir }));
      else io.stdout(summary(c, r));
      return EXIT.OK;
    });
  } catch (e) {
    if (!ctxOpen && isAgentsyncError(e) && e.code === 'REMOTE_UNKNOWN') {
      throw new AgentsyncError('REMOTE_UNKNOWN', `no remote named ${LOCAL}; add one with \`agentsync remote add ${LOCAL} <url>\` (e.g. http://127.0.0.1:8080/<tenant> for a local \`agentsync serve\`, or a folder)`, { remote: LOCAL });
    }
    throw e;
  }
}

// ---------------------------------------------------------------- compile

export async function cmdCompile(io: Io, o: Opts): Promise<number> {
  const c = colors(io);
  return withContext(io, o, async (ctx) => {
    let drift: { checked: boolean; remote: string | null; drifted: string[]; warning?: string } = { checked: false, remote: null, drifted: [] };
    if (o.sync) {
      drift = await driftCheck(ctx);
      if (drift.warning && !o.json) io.stderr(`agentsync: warning: ${drift.warning}\n`);
    }
    const { compile } = await import('../engine/compile.js');
    let r;
    try {
      r = await compile(ctx);
    } catch (e) {
      if (isAgentsyncError(e) && e.code === 'VALIDATION_FAILED' && !o.json) {
        for (const p of (e.data.problems as { path: string; line: number; col: number; message: string }[])) io.stderr(`services/${p.path}:${p.line}:${p.col}: ${p.message}\n`);
      }
      throw e;
    }
    if (o.json) json(io, { snapshot: r.snapshot, artifacts: r.artifacts, kinds: r.kinds, ...(o.sync ? { drift } : {}) });
    else {
      const kinds = Object.entries(r.kinds).map(([k, v]) => `${v} ${k}`).join(', ');
      io.stdout(`Compiled ${plural(r.artifacts, 'artifact')}${kinds ? ` (${kinds})` : ''}: all valid.\n`);
      io.stdout(`${c.bold(r.snapshot)}\n`);
    }
    return EXIT.OK;
  });
}

/** compile --sync: fetch and compare; drift and an unreachable remote are warnings. */
async function driftCheck(ctx: Context) {
  const { fetchForSync, planSync } = await import('../engine/sync.js');
  const name = ctx.remoteConfig?.name ?? null;
  if (!name) return { checked: false, remote: null, drifted: [], warning: 'no remote configured; drift check skipped' };
  const offline = await fetchForSync(ctx);
  if (offline) return { checked: false, remote: name, drifted: [], warning: `cannot reach ${name} (${offline.code}); drift check skipped` };
  const plan = await planSync(ctx, { selectors: [] });
  const drifted = plan.items.map((i) => i.entry.path);
  return {
    checked: true, remote: name, drifted,
    ...(drifted.length ? { warning: `${plural(drifted.length, 'artifact')} drifted from ${name}${plan.latestPublished ? ` v${plan.latestPublished}` : ''} (${drifted.slice(0, 3).join(', ')}${drifted.length > 3 ? ', …' : ''}); run \`agentsync sync\`` } : {}),
  };
}
