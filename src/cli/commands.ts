/**
 * Command handlers: parse flags into engine calls, render the result as text or JSON, and
 * return the exit code. One function per command.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { openContext, type Context } from '../engine/context.js';
import { computeStatus, previewConflicts, type Entry } from '../engine/status.js';
import { EXIT, fail } from '../model/errors.js';
import { CONFIG_FILE, CONFIG_TEMPLATE, SERVICES_DIR, STORE_DIR, CONFIG_KEYS, checkRemoteUrl, editRemotes, findRoot, loadWorkspace, parseConfig, readConfigDoc, type Workspace } from '../workspace/config.js';
import { atomicWrite, folderBytes } from '../workspace/fsio.js';
import { readArtifact } from '../workspace/scan.js';
import { LocalStore } from '../store/local.js';
import { author, colors, formatBytes, json, warn, type Io } from './io.js';
import { describe, entryLine, statusText, versionLine, type DiffBlock } from './render.js';

export type Opts = Record<string, unknown> & { C?: string; json?: boolean; remote?: string | boolean };

export function cwdOf(io: Io, o: Opts): string {
  return o.C ? resolve(io.cwd, String(o.C)) : io.cwd;
}

/**
 * Selectors typed inside `services/` are relative to the current folder, as git pathspecs are:
 * in `services/agents`, `welcome.yaml` is `agents/welcome.yaml` and `.` is the agents folder.
 * Elsewhere (the workspace root, outside any workspace) they are left as typed.
 */
export function relativeSelectors(io: Io, o: Opts, sel: string[]): string[] {
  if (sel.length === 0) return sel;
  const cwd = cwdOf(io, o);
  let root: string;
  try { root = findRoot(cwd); } catch { return sel; }
  const services = join(root, SERVICES_DIR);
  const here = relative(services, cwd);
  if (here === '' || here.startsWith('..') || isAbsolute(here)) return sel;
  const out: string[] = [];
  for (const s of sel) {
    const r = relative(services, resolve(cwd, s));
    if (r === '') return []; // services/ itself: everything
    out.push(r.startsWith('..') || isAbsolute(r) ? s : r.split(sep).join('/'));
  }
  return out;
}

function remoteOpt(o: Opts): string | undefined {
  return typeof o.remote === 'string' ? o.remote : undefined;
}

export async function withContext<T>(io: Io, o: Opts, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const ctx = await openContext({
    cwd: cwdOf(io, o), remote: remoteOpt(o), env: io.env,
    ...(io.env.AGENTSYNC_TOKEN ? { token: io.env.AGENTSYNC_TOKEN } : {}),
    ...(io.stdoutTTY ? { progress: progressPrinter(io) } : {}),
  });
  warnConfig(io, ctx.ws);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** One warning per top-level key of agentsync.yaml that agentsync does not know. */
export function warnConfig(io: Io, ws: Workspace): void {
  for (const u of ws.unknownKeys ?? []) {
    warn(io, `${CONFIG_FILE}: unknown key \`${u.key}\` is ignored${u.suggestion ? `; did you mean \`${u.suggestion}\`?` : ` (known: ${CONFIG_KEYS.join(', ')})`}`, 'CONFIG_KEY_UNKNOWN');
  }
}

/** `--commit` outside a git work tree commits nothing: say so. */
export async function warnNoGit(io: Io, o: Opts, root: string): Promise<void> {
  if (!o.commit || o.dryRun) return;
  const { findGitRoot } = await import('../workspace/git.js');
  if (!findGitRoot(root)) warn(io, `--commit ignored: ${root} is not in a git work tree, so nothing will be committed`, 'GIT_NONE');
}

const dec = new TextDecoder();

/** A one-line progress meter on stderr, for terminals only. */
function progressPrinter(io: Io): (done: number, total: number, what: string) => void {
  let last = 0;
  return (done, total, what) => {
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    io.stderr(`\r${what}: ${done}/${total}${done >= total ? '\n' : ''}`);
  };
}

/** Text of one side of an entry (empty when absent). */
async function textOf(ctx: Context, e: Entry, side: 'local' | 'remote' | 'base'): Promise<string> {
  const id = e.ids[side];
  if (id === null) return '';
  if (side === 'local') return dec.decode(readArtifact(ctx.ws, e.path));
  return dec.decode(await ctx.store.objects.need(id, `blob of ${e.path}`));
}

export async function diffBlocks(ctx: Context, entries: Entry[], latest: number | null): Promise<DiffBlock[]> {
  const out: DiffBlock[] = [];
  for (const e of entries) {
    out.push({
      path: e.path, state: e.state,
      header: `${e.state}: ${describe(e)}${latest ? ` (remote v${latest})` : ''}`,
      remoteText: await textOf(ctx, e, 'remote'), localText: await textOf(ctx, e, 'local'),
      // Both sides changed it: shown three-way, each side against the last-synced base.
      ...(e.state === 'conflict' ? { baseText: await textOf(ctx, e, 'base') } : {}),
    });
  }
  return out;
}

// ---------------------------------------------------------------- init, remote

export async function cmdInit(io: Io, o: Opts): Promise<number> {
  const root = cwdOf(io, o);
  if (typeof o.remote === 'string') checkRemoteUrl(o.remote); // before anything is created
  mkdirSync(root, { recursive: true });
  const cfg = join(root, CONFIG_FILE);
  const created: string[] = [];
  if (!existsSync(cfg)) { atomicWrite(cfg, CONFIG_TEMPLATE); created.push(CONFIG_FILE); }
  let ws = parseConfig(root, (await readConfigDoc(cfg)).toJS());
  if (typeof o.remote === 'string') {
    if (!ws.remotes.some((r) => r.name === 'origin')) {
      await editRemotes(ws, { add: { name: 'origin', url: o.remote } });
      ws = await loadWorkspace(root);
    } else if (ws.remotes.find((r) => r.name === 'origin')!.url !== o.remote) {
      fail('REMOTE_EXISTS', 'remote origin already exists with another URL; `agentsync remote remove origin` first');
    }
  }
  for (const k of ws.kinds) {
    const dir = join(ws.services, k.root);
    if (k.root && !existsSync(dir)) { mkdirSync(dir, { recursive: true }); created.push(`${SERVICES_DIR}/${k.root}/`); }
  }
  const storeExisted = existsSync(ws.storeDir);
  const store = await LocalStore.open(ws.storeDir);
  await store.close();
  if (!storeExisted) created.push(`${STORE_DIR}/`);
  const ignored = await gitIgnore(root);
  if (o.json) json(io, { root, created, gitignore: ignored, remotes: ws.remotes });
  else {
    io.stdout(`${storeExisted ? 'Reinitialized' : 'Initialized'} agentsync workspace in ${root}\n`);
    if (created.length) io.stdout(`  created ${created.join(', ')}\n`);
    if (ignored) io.stdout(`  added ${STORE_DIR}/ to ${ignored}\n`);
    for (const r of ws.remotes) io.stdout(`  remote ${r.name} → ${r.url}\n`);
  }
  return EXIT.OK;
}

/** Add `.agentsync/` to the .gitignore of the workspace when it is inside a git work tree. */
async function gitIgnore(root: string): Promise<string | null> {
  const { findGitRoot } = await import('../workspace/git.js');
  if (!findGitRoot(root)) return null;
  const file = join(root, '.gitignore');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (text.split(/\r?\n/).some((l) => l.trim() === `${STORE_DIR}/` || l.trim() === STORE_DIR || l.trim() === `/${STORE_DIR}/`)) return null;
  atomicWrite(file, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${STORE_DIR}/\n`);
  return file;
}

export async function cmdRemote(io: Io, args: string[], o: Opts): Promise<number> {
  const [sub = 'list', name, url] = args;
  const ws = await loadWorkspace(cwdOf(io, o));
  warnConfig(io, ws);
  if (sub === 'list') {
    if (o.json) json(io, { remotes: ws.remotes });
    else for (const r of ws.remotes) io.stdout(`${r.name}\t${r.url}\n`);
    return EXIT.OK;
  }
  if (sub === 'add') {
    if (!name || !url) fail('USAGE', 'usage: agentsync remote add <name> <url>');
    await editRemotes(ws, { add: { name, url } });
    io.stdout(`Added remote ${name} → ${url}\n`);
    return EXIT.OK;
  }
  if (sub === 'remove' || sub === 'rm') {
    if (!name) fail('USAGE', 'usage: agentsync remote remove <name>');
    await editRemotes(ws, { remove: name });
    const store = await LocalStore.open(ws.storeDir);
    try { await store.forgetRemote(name); } finally { await store.close(); }
    io.stdout(`Removed remote ${name}\n`);
    return EXIT.OK;
  }
  return fail('USAGE', `unknown subcommand "remote ${sub}"; use add, list or remove`);
}

// ---------------------------------------------------------------- status, fetch, diff

export async function cmdStatus(io: Io, sel: string[], o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    if (o.fetch) await (await import('../engine/fetch.js')).fetchRemote(ctx);
    const st = await computeStatus(ctx, relativeSelectors(io, o, sel), { git: true, formatOnly: true });
    await previewConflicts(ctx, st.entries);
    if (o.json) {
      json(io, {
        remote: st.remote, base: st.base, local: st.local, remoteSnapshot: st.remoteSnapshot, fetchedAt: st.fetchedAt,
        latestPublished: st.latestPublished,
        entries: st.entries.map((e) => ({
          path: e.path, kind: e.kind, local: e.local, remote: e.remote, state: e.state,
          ...(e.formatOnly ? { formatOnly: true } : {}), ...(e.merging ? { merging: true } : {}), ...(e.merge ? { merge: e.merge } : {}),
        })),
        ...(st.gitDirty ? { gitDirty: st.gitDirty } : {}),
        ...(st.outside.length ? { outside: st.outside } : {}),
      });
    } else io.stdout(statusText(colors(io), st));
    // Converged (the same bytes on both sides) is not drift: only the base is behind.
    const drift = st.entries.filter((e) => e.state !== 'converged' && !(o.semantic && e.formatOnly));
    return o.check && drift.length ? EXIT.DRIFT : EXIT.OK;
  });
}

export async function cmdFetch(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const f = await (await import('../engine/fetch.js')).fetchRemote(ctx);
    if (o.json) json(io, { remote: f.remote, url: f.url, latestPublished: f.latestPublished, current: f.current, snapshot: f.snapshot, newVersions: f.newVersions, objectsFetched: f.objectsFetched });
    else io.stdout(`Fetched ${f.remote}: ${f.latestPublished ? `latest published v${f.latestPublished}` : 'no published version yet'}, ${f.newVersions} new version${f.newVersions === 1 ? '' : 's'}, ${f.objectsFetched} object${f.objectsFetched === 1 ? '' : 's'}.\n`);
    return EXIT.OK;
  });
}

export async function cmdDiff(io: Io, sel: string[], o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const st = await computeStatus(ctx, relativeSelectors(io, o, sel), { formatOnly: true });
    const blocks = await diffBlocks(ctx, st.entries, st.latestPublished);
    const c = colors(io);
    const { diffText, statText } = await import('./diff-render.js');
    if (o.json) json(io, { remote: st.remote, entries: blocks.map((b) => ({ path: b.path, state: b.state, remote: b.remoteText, local: b.localText, ...(b.baseText !== undefined ? { base: b.baseText } : {}) })) });
    else if (o.stat) for (const b of blocks) io.stdout(statText(c, b));
    else for (const b of blocks) io.stdout(diffText(c, b));
    if (!o.json && blocks.length === 0) io.stdout('No drift.\n');
    return EXIT.OK;
  });
}

// ---------------------------------------------------------------- push, pull

export async function cmdPush(io: Io, sel: string[], o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const { push } = await import('../engine/push.js');
    const r = await push(ctx, {
      selectors: o.all ? [] : relativeSelectors(io, o, sel), dryRun: !!o.dryRun, force: !!o.force, draft: !!o.draft, author: await author(io, ctx.ws.root),
      ...(typeof o.m === 'string' ? { message: o.m } : typeof o.message === 'string' ? { message: o.message } : {}),
    });
    const c = colors(io);
    if (o.json) {
      json(io, { remote: r.remote, dryRun: r.dryRun, pushed: r.pushed.map((e) => ({ path: e.path, state: e.state, local: e.local })), converged: r.converged.map((e) => e.path), notPulled: r.notPulled.map((e) => ({ path: e.path, remote: e.remote })), version: r.version, objectsSent: r.objectsSent, retries: r.retries });
      return EXIT.OK;
    }
    // Remote changes the push left on the remote (it went on top of them): say they await a pull.
    const notPulled = () => {
      const n = r.notPulled.length;
      if (n === 0) return;
      const some = r.notPulled.slice(0, 3).map((e) => e.path).join(', ') + (n > 3 ? ', …' : '');
      io.stdout(c.cyan(`${n} remote change${n === 1 ? '' : 's'} not pulled (${some}): run \`agentsync pull\`.`) + '\n');
    };
    if (r.dryRun) {
      if (r.pushed.length === 0) io.stdout('Nothing to push.\n');
      else {
        io.stdout(`Would push ${r.pushed.length} artifact${r.pushed.length === 1 ? '' : 's'} to ${r.remote} (dry run: nothing changed):\n`);
        const { diffText } = await import('./diff-render.js');
        for (const b of await diffBlocks(ctx, r.pushed, null)) io.stdout(diffText(c, b));
      }
      notPulled();
      return EXIT.OK;
    }
    if (!r.version) io.stdout(r.converged.length ? `Recorded ${r.converged.length} artifact(s) already identical on ${r.remote}.\n` : 'Nothing to push: everything selected is up to date.\n');
    else {
      for (const e of r.pushed) io.stdout(entryLine(c, e) + '\n');
      io.stdout(`Pushed ${r.pushed.length} artifact${r.pushed.length === 1 ? '' : 's'} to ${r.remote} as v${r.version.id} (${r.version.state}${r.version.state === 'published' ? ', current' : ''}); ${r.objectsSent} object${r.objectsSent === 1 ? '' : 's'} sent.\n`);
    }
    notPulled();
    return EXIT.OK;
  });
}

export async function cmdPull(io: Io, sel: string[], o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const { pull } = await import('../engine/pull.js');
    await warnNoGit(io, o, ctx.ws.root);
    const r = await pull(ctx, { selectors: o.all ? [] : relativeSelectors(io, o, sel), dryRun: !!o.dryRun, force: !!o.force, commit: !!o.commit, author: await author(io, ctx.ws.root) });
    const c = colors(io);
    if (o.json) {
      json(io, { remote: r.remote, dryRun: r.dryRun, version: r.version, pulled: r.pulled.map((e) => ({ path: e.path, state: e.state, remote: e.remote })), merged: r.merged.map((e) => e.path), converged: r.converged.map((e) => e.path), commit: r.commit ?? null, ...(r.uncommitted ? { uncommitted: r.uncommitted } : {}), ...(r.blocked ? { blocked: r.blocked } : {}) });
      return r.blocked?.length ? EXIT.DRIFT : EXIT.OK;
    }
    if (r.dryRun) {
      // The whole plan: what would be written, merged, recorded, and what blocks (exit 1).
      io.stdout(`Dry run of pull from ${r.remote}${r.version ? ` v${r.version}` : ''}: nothing changed.\n`);
      for (const e of r.pulled) io.stdout(entryLine(c, e) + '\n');
      for (const e of r.merged) io.stdout(`  ${c.green('merge'.padEnd(10))}${'clean: both edits kept'.padEnd(34)}${e.path}\n`);
      for (const e of r.converged) io.stdout(`  ${c.dim('converged'.padEnd(10))}${'already identical: base recorded'.padEnd(34)}${e.path}\n`);
      for (const b of r.blocked ?? []) io.stdout(`  ${c.red('blocked'.padEnd(10))}${(b.reason === 'conflict' ? 'true conflict' : 'uncommitted git changes').padEnd(34)}${b.path}\n`);
      if (r.pulled.length) {
        const { diffText } = await import('./diff-render.js');
        for (const b of await diffBlocks(ctx, r.pulled, r.version)) io.stdout(diffText(c, b));
      }
      if (r.blocked?.length) {
        io.stdout(`${r.blocked.length} artifact${r.blocked.length === 1 ? '' : 's'} would block this pull: \`agentsync merge <path>\` or pull --force / push --force for conflicts; commit or stash git changes.\n`);
        return EXIT.DRIFT;
      }
      if (!r.pulled.length && !r.merged.length && !r.converged.length) io.stdout('Nothing to pull: up to date.\n');
      return EXIT.OK;
    }
    for (const e of r.merged) io.stdout(`  ${c.green('merged'.padEnd(10))}${'local and remote edits kept'.padEnd(34)}${e.path}\n`);
    if (r.merged.length && !r.dryRun) io.stdout(`Merged ${r.merged.length} artifact${r.merged.length === 1 ? '' : 's'} cleanly; push to publish the merge.\n`);
    if (r.pulled.length === 0) {
      if (r.converged.length) io.stdout(`Recorded ${r.converged.length} artifact(s) already identical to ${r.remote}.\n`);
      else if (r.merged.length === 0) io.stdout('Nothing to pull: up to date.\n');
      return EXIT.OK;
    }
    if (r.dryRun) {
      io.stdout(`Would pull ${r.pulled.length} artifact${r.pulled.length === 1 ? '' : 's'} from ${r.remote} v${r.version} (dry run: nothing changed):\n`);
      const { diffText } = await import('./diff-render.js');
      for (const b of await diffBlocks(ctx, r.pulled, r.version)) io.stdout(diffText(c, b));
      return EXIT.OK;
    }
    for (const e of r.pulled) io.stdout(entryLine(c, e) + '\n');
    io.stdout(`Pulled ${r.pulled.length} artifact${r.pulled.length === 1 ? '' : 's'} from ${r.remote} v${r.version}.${r.pulled.some((e) => e.state === 'conflict') ? ' Replaced local edits are kept: `agentsync undo` restores them.' : ''}\n`);
    if (r.commit) io.stdout(`Committed to git as ${r.commit.slice(0, 10)}.\n`);
    if (r.uncommitted?.length) io.stdout(`Left uncommitted (merged into your uncommitted edits; commit them yourself): ${r.uncommitted.join(', ')}.\n`);
    return EXIT.OK;
  });
}

// ---------------------------------------------------------------- versions, deploy, rollback, log

export async function cmdVersions(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const r = await (await import('../engine/history.js')).listVersions(ctx);
    if (o.json) json(io, { remote: r.remote, latestPublished: r.head.latestPublished, current: r.head.current, versions: r.versions });
    else if (r.versions.length === 0) io.stdout(`${r.remote} has no versions yet.\n`);
    else { const c = colors(io); for (const v of [...r.versions].reverse()) io.stdout(versionLine(c, v, r.head) + '\n'); }
    return EXIT.OK;
  });
}

export async function cmdMove(io: Io, which: 'deploy' | 'rollback', v: string, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const { deploy, rollback } = await import('../engine/history.js');
    const r = which === 'deploy' ? await deploy(ctx, v) : await rollback(ctx, v);
    if (o.json) json(io, r);
    else io.stdout(which === 'deploy' ? `Deployed v${r.version.id}: it is published and current.\n` : `Rolled back: v${r.version.id} is current; latest published stays v${r.head.latestPublished}.\n`);
    return EXIT.OK;
  });
}

export async function cmdLog(io: Io, path: string | undefined, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const p = path === undefined ? undefined : relativeSelectors(io, o, [path])[0];
    const r = await (await import('../engine/history.js')).log(ctx, p);
    if (p !== undefined && r.entries.length === 0) {
      const rel = p.replace(/^\.\//, '').replace(/^services\//, '').replace(/\/+$/, '');
      const st = statSync(join(ctx.ws.services, rel), { throwIfNoEntry: false });
      if (st?.isDirectory()) warn(io, `log follows one artifact; services/${rel} is a folder (list its files with \`agentsync status ${rel}\`)`, 'PATH_NOT_ARTIFACT');
      else if (!st) warn(io, `no version on ${r.remote} ever held services/${rel}, and there is no such local file; paths are relative to services/`, 'PATH_UNKNOWN');
    }
    // The same shape and order as `versions --json` (oldest first), each with its change to the path.
    if (o.json) json(io, { remote: r.remote, latestPublished: r.head.latestPublished, current: r.head.current, ...(p !== undefined ? { path: p.replace(/^\.\//, '').replace(/^services\//, '') } : {}), versions: [...r.entries].reverse() });
    else { const c = colors(io); for (const v of r.entries) io.stdout(versionLine(c, v, r.head) + (v.change ? `  [${v.change}]` : '') + '\n'); }
    return EXIT.OK;
  });
}

// ---------------------------------------------------------------- hash, verify, validate, undo, fsck

export async function cmdHash(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const h = await (await import('../engine/history.js')).localHash(ctx);
    if (o.json) json(io, h);
    else io.stdout(h.snapshot + '\n');
    return EXIT.OK;
  });
}

export async function cmdVerify(io: Io, hash: string, o: Opts): Promise<number> {
  return withContext(io, { ...o, remote: typeof o.remote === 'string' ? o.remote : undefined }, async (ctx) => {
    const { verify } = await import('../engine/history.js');
    const r = await verify(ctx, hash, o.remote !== undefined && o.remote !== false);
    if (o.json) json(io, r);
    else if (r.ok) io.stdout(`OK: the ${r.source} snapshot is ${r.actual}\n`);
    else io.stderr(`agentsync: the ${r.source} snapshot is ${r.actual ?? '(none published)'}, not ${r.expected} (VERIFY_MISMATCH)\n`);
    return r.ok ? EXIT.OK : EXIT.DRIFT;
  });
}

export async function cmdValidate(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const { validateWorkspace } = await import('../engine/compile.js');
    const { manifest, problems } = await validateWorkspace(ctx);
    if (o.json) json(io, { artifacts: manifest.size, problems });
    else {
      for (const p of problems) io.stderr(`services/${p.path}:${p.line}:${p.col}: ${p.message}\n`);
      io.stdout(problems.length ? `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${manifest.size} artifacts (VALIDATION_FAILED).\n` : `All ${manifest.size} artifacts are valid.\n`);
    }
    return problems.length ? EXIT.USAGE : EXIT.OK;
  });
}

export async function cmdUndo(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const r = await (await import('../engine/undo.js')).undo(ctx);
    if (o.json) json(io, r);
    else {
      io.stdout(`Restored ${r.restored.length} file${r.restored.length === 1 ? '' : 's'} replaced by ${r.op} at ${r.at}:\n`);
      for (const e of r.restored) io.stdout(`  ${e.id === null ? 'removed' : 'restored'} ${e.path}\n`);
    }
    return EXIT.OK;
  });
}

export async function cmdFsck(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const r = await (await import('../engine/fsck.js')).fsck(ctx);
    if (o.json) json(io, r);
    else {
      for (const p of r.problems) io.stderr(`${p.what}: ${p.message}\n`);
      io.stdout(r.problems.length ? `${r.problems.length} problem(s) in ${r.objects} objects (STORE_CORRUPT).\n` : `OK: ${r.objects} objects and ${r.refs} refs check out.\n`);
    }
    return r.problems.length ? EXIT.INTERNAL : EXIT.OK;
  });
}

export async function cmdGc(io: Io, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const before = folderBytes(ctx.ws.storeDir);
    const r = await ctx.store.gc(!!o.dryRun);
    const after = folderBytes(ctx.ws.storeDir);
    if (o.json) json(io, { ...r, dryRun: !!o.dryRun, storeBytes: { before, after } });
    else {
      const what = `${r.objects} object${r.objects === 1 ? '' : 's'} (${formatBytes(r.bytes)}) and ${r.manifests} manifest root${r.manifests === 1 ? '' : 's'} that nothing reaches`;
      io.stdout(o.dryRun ? `Would drop ${what}.\n` : `Dropped ${what}; .agentsync is ${formatBytes(after)} (was ${formatBytes(before)}).\n`);
    }
    return EXIT.OK;
  });
}

// ---------------------------------------------------------------- merge, resolve

export async function cmdMerge(io: Io, path: string, o: Opts): Promise<number> {
  return withContext(io, o, async (ctx) => {
    const { startMerge } = await import('../engine/merge.js');
    const r = await startMerge(ctx, relativeSelectors(io, o, [path])[0] ?? path);
    if (o.json) json(io, r);
    else if (r.clean) io.stdout(`Merged ${r.path} cleanly: local and remote edits are both in the file; push to publish it.\n`);
    else io.stdout(`Wrote ${r.conflicts} conflict block${r.conflicts === 1 ? '' : 's'} into services/${r.path}. Edit the file, then \`agentsync resolve ${r.path} --merged\` (or --ours / --theirs).\n`);
    return r.clean ? EXIT.OK : EXIT.DRIFT;
  });
}

export async function cmdResolve(io: Io, path: string, o: Opts): Promise<number> {
  const how = (['ours', 'theirs', 'merged'] as const).filter((k) => o[k]);
  if (how.length !== 1) fail('USAGE', 'choose exactly one of --ours, --theirs or --merged');
  return withContext(io, o, async (ctx) => {
    const { resolve: settle } = await import('../engine/merge.js');
    const r = await settle(ctx, relativeSelectors(io, o, [path])[0] ?? path, how[0]!);
    if (o.json) json(io, r);
    else io.stdout(`Resolved ${r.path} with ${r.how === 'ours' ? 'the local version' : r.how === 'theirs' ? 'the remote version' : 'your merged file'}.${r.how === 'theirs' ? '' : ' Push to publish it.'}\n`);
    return EXIT.OK;
  });
}
