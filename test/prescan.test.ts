/**
 * The prescan worker (git's preload-index): its listings give the scan exactly what the scan's
 * own readdir and stat calls give, folders changed after the listing are read again, and the
 * CLI entry starts it only for commands that scan.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { join } from 'node:path';
import { resolveKinds } from '../src/model/kinds.js';
import { emptyStatCache } from '../src/store/stat-cache.js';
import { loadWorkspace } from '../src/workspace/config.js';
import { DEFAULT_PLAN, prescanTree, startPrescan, takePrescan, toPrescan, type PrescanData } from '../src/workspace/prescan.js';
import { scan, walkPlan } from '../src/workspace/scan.js';
import { BIN, cleanup, cli, read, tmp, workspace, write } from './helpers.js';

const t = suite('workspace: prescan');
t.after(cleanup);

const realMtime = (dir: string) => fs.statSync(dir, { throwIfNoEntry: false })?.mtimeMs;
const listing = (cwd: string): PrescanData => prescanTree({ cwd, defaultPlan: DEFAULT_PLAN, maxEntries: 1e6 }, fs, path)!;

/** Set every file and folder under services/ an hour back, so that none is "racy". */
function ageDirs(ws: string): void {
  const old = new Date(Date.now() - 3600_000);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) fs.utimesSync(join(d, e.name), old, old);
    }
    fs.utimesSync(d, old, old);
  };
  walk(join(ws, 'services'));
}

/** Replace a file the way agentsync writes one: a temp file renamed over it. */
function replace(ws: string, rel: string, text: string): void {
  const p = join(ws, 'services', rel);
  fs.writeFileSync(p + '.tmp', text);
  fs.renameSync(p + '.tmp', p);
}

t('the default walk plan is the one the default kinds give', () => {
  assert.equal(walkPlan(resolveKinds(undefined)), DEFAULT_PLAN);
});

t('a scan from the listings equals a scan that reads the tree itself', async () => {
  const ws = await workspace(tmp());
  write(ws, 'content/a/b/c/deep.md', '# deep\n');
  write(ws, 'agents/notes.txt', 'not an artifact\n');
  write(ws, 'agents/sub/nested.yaml', 'name: not walked\n'); // agents/*.yaml is one level
  fs.symlinkSync(join(ws, 'services', 'content', 'a', 'b', 'c', 'deep.md'), join(ws, 'services', 'content', 'link.md'));
  ageDirs(ws);
  const w = await loadWorkspace(ws);
  const pre = toPrescan(listing(join(ws, 'services', 'content')), realMtime); // found from a subfolder, like git
  assert.ok(pre.dirs.size > 3);
  const plain = scan(w, emptyStatCache());
  const fast = scan(w, emptyStatCache(), pre);
  assert.equal([...fast.manifest], [...plain.manifest]);
  assert.is(fast.snapshot, plain.snapshot);
  assert.ok(fast.manifest.has('content/link.md'));
  assert.not.ok(fast.manifest.has('agents/sub/nested.yaml'));
  // with a warm cache too
  const again = scan(w, plain.cache, toPrescan(listing(ws), realMtime));
  assert.is(again.snapshot, plain.snapshot);
});

t('a folder written after it was listed is read again; an unchanged one is not', async () => {
  const ws = await workspace(tmp());
  ageDirs(ws);
  const w = await loadWorkspace(ws);
  const before = scan(w, emptyStatCache());
  const d = listing(ws);
  replace(ws, 'agents/welcome.yaml', 'name: welcome\ndescription: changed after the listing\n');
  const fresh = scan(w, before.cache, toPrescan(d, realMtime));
  assert.is.not(fresh.manifest.get('agents/welcome.yaml'), before.manifest.get('agents/welcome.yaml'));
  assert.is(fresh.snapshot, scan(w, emptyStatCache()).snapshot);
  // Had the folder's mtime not been checked, the stale listing would have hidden the edit.
  const agents = join(ws, 'services', 'agents');
  const stale = toPrescan(d, (dir) => (dir === agents ? d.dirMtimes[d.dirs.indexOf(agents)] : realMtime(dir)));
  assert.ok(stale.dirs.has(agents));
  assert.is(scan(w, before.cache, stale).snapshot, before.snapshot);
  // A folder modified just before the listing started may change again unseen: not used.
  const now = listing(ws);
  assert.not.ok(toPrescan(now, realMtime).dirs.has(agents));
  assert.ok(toPrescan(now, realMtime).dirs.has(join(ws, 'services', 'skills')));
});

t('kind overrides in agentsync.yaml make the worker list all of services/', async () => {
  const ws = await workspace(tmp());
  fs.appendFileSync(join(ws, 'agentsync.yaml'), 'kinds:\n  prompts: { pattern: "prompts/**/*.txt" }\n');
  write(ws, 'prompts/x/y.txt', 'hello\n');
  const d = listing(ws);
  assert.ok(d.dirs.includes(join(ws, 'services', 'prompts', 'x')));
  assert.is(prescanTree({ cwd: tmp(), defaultPlan: DEFAULT_PLAN, maxEntries: 10 }, fs, path), null); // not a workspace
});

t('the entry starts the worker only for commands that scan, honours -C and AGENTSYNC_PRESCAN=0', async () => {
  const ws = await workspace(tmp());
  const services = join(ws, 'services');
  startPrescan(['versions'], ws, {});
  assert.is(await takePrescan(services), undefined);
  startPrescan(['-C', ws, 'status', '--json'], '/', {});
  const pre = await takePrescan(services);
  assert.ok(pre && pre.names.length > 0);
  assert.is(await takePrescan(services), undefined); // once
  startPrescan(['status'], ws, { AGENTSYNC_PRESCAN: '0' });
  assert.is(await takePrescan(services), undefined);
  startPrescan(['status'], ws, {});
  assert.is(await takePrescan(join(tmp(), 'services')), undefined); // another workspace's listings are not used
});

t('the CLI binary (with the worker) and the in-process CLI (without) agree after edits', async () => {
  const remote = tmp();
  const ws = await workspace(remote);
  assert.is((await cli(ws, 'push')).code, 0);
  replace(ws, 'agents/welcome.yaml', read(ws, 'agents/welcome.yaml') + '# edited\n');
  write(ws, 'content/new/page.md', '# new\n');
  fs.rmSync(join(ws, 'services', 'skills', 'sql-helper.yaml'));
  const bin = spawnSync(process.execPath, [BIN, 'status', '--json'], { cwd: ws, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.is(bin.status, 0, bin.stderr);
  const states = (j: { entries: { path: string; state: string }[] }) => Object.fromEntries(j.entries.map((e) => [e.path, e.state]));
  const want = { 'agents/welcome.yaml': 'push', 'content/new/page.md': 'push', 'skills/sql-helper.yaml': 'push' };
  assert.equal(states(JSON.parse(bin.stdout)), want);
  assert.equal(states((await cli(ws, 'status', '--json')).json), want);
});

t.run();
