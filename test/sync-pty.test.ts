/**
 * The interactive `sync` prompt, driven in a real pseudo-terminal against the real binary:
 * two workspaces share a directory remote; choices are made with arrow keys and Enter, and
 * the files and the remote's versions are checked afterwards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { BIN, cleanup, read, states, tmp, write, ok, pair } from './helpers.js';
import { HAS_PTY, KEY, runPty, type Step } from './pty.js';

const t = HAS_PTY ? test : test.skip;
if (!HAS_PTY) console.log('sync-pty: python3 with the pty module is missing; skipping the pseudo-terminal tests');

const ENV = { AGENTSYNC_AUTHOR: 'pty-tester', AGENTSYNC_LOCK_TIMEOUT_MS: '3000', NO_COLOR: undefined, FORCE_COLOR: undefined };



async function versions(ws: string): Promise<{ id: number; author: string; message: string; changed: number }[]> {
  return (await ok(ws, 'versions', '--json')).json.versions;
}

/** Arrow presses from `from` to `to` in a choice list, then Enter. */
function pick(choices: string[], from: string, to: string): string[] {
  const d = choices.indexOf(to) - choices.indexOf(from);
  if (choices.indexOf(to) < 0 || choices.indexOf(from) < 0) throw new Error(`no choice ${to}`);
  return [...Array(Math.abs(d)).fill(d > 0 ? KEY.down : KEY.up), KEY.enter];
}

const NO_MERGE = ['push', 'pull', 'skip', 'allLocal', 'allRemote'];
const WITH_MERGE = ['push', 'pull', 'merge', 'skip', 'allLocal', 'allRemote'];

function sync(cwd: string, steps: Step[], ...args: string[]) {
  return runPty(['node', BIN, 'sync', ...args], { cwd, env: ENV, steps });
}

function append2(ws: string, path: string, text: string): void {
  write(ws, path, read(ws, path)! + text);
}

function explain(r: { code: number | null; transcript: string; error?: string }): string {
  return `${r.error ?? ''}\n--- transcript ---\n${r.transcript.slice(-4000)}`;
}

t('interactive sync: pull, push, merge and skip, one version for the pushes', async () => {
  const { a, b } = await pair();
  const welcome = read(a, 'agents/welcome.yaml')!;
  // agents/data-analyst.yaml: changed on the remote (pull)
  write(b, 'agents/data-analyst.yaml', read(b, 'agents/data-analyst.yaml')!.replace('temperature: 0\n', 'temperature: 0.1\n'));
  // agents/welcome.yaml: both sides change different keys (a clean merge)
  write(b, 'agents/welcome.yaml', welcome.replace('temperature: 0.4', 'temperature: 0.5'));
  await ok(b, 'push');
  write(a, 'agents/welcome.yaml', welcome.replace('model: claude-sonnet-4-5', 'model: claude-opus-4-1'));
  // mcp/github.yaml: changed locally (push); skills/sql-helper.yaml: changed locally, skipped
  write(a, 'mcp/github.yaml', read(a, 'mcp/github.yaml')! + '# local note\n');
  write(a, 'skills/sql-helper.yaml', read(a, 'skills/sql-helper.yaml')! + '# not yet\n');
  const before = await states(a, '--fetch');
  assert.equal(before, { 'agents/data-analyst.yaml': 'pull', 'agents/welcome.yaml': 'conflict', 'mcp/github.yaml': 'push', 'skills/sql-helper.yaml': 'push' });

  const r = await sync(a, [
    { expect: 'agents/data-analyst.yaml (pull, 1/4)', send: pick(NO_MERGE, 'pull', 'pull') },
    { expect: 'agents/welcome.yaml (conflict, 2/4)', send: pick(WITH_MERGE, 'merge', 'merge') },
    { expect: 'mcp/github.yaml (push, 3/4)', send: pick(NO_MERGE, 'push', 'push') },
    { expect: 'skills/sql-helper.yaml (push, 4/4)', send: pick(['push', 'pull', 'skip'], 'push', 'skip') },
    // The merge is also a remote write: the plan names it before the question.
    { expect: 'Apply: pull 1, merge 1, push 1 and the merged result as one new version on origin?', send: KEY.enter },
    { expect: 'Sync with origin' },
  ]);
  assert.is(r.error, undefined, explain(r));
  assert.is(r.code, 0, explain(r));
  assert.ok(r.transcript.includes('- Remote (published)  + Local (workspace)'), 'diff header shown');

  // Files: the pull took B's edit; the merge holds both edits; the skipped file kept its local edit.
  assert.is(read(a, 'agents/data-analyst.yaml'), read(b, 'agents/data-analyst.yaml'));
  const merged = read(a, 'agents/welcome.yaml')!;
  assert.ok(merged.includes('model: claude-opus-4-1') && merged.includes('temperature: 0.5'), merged);
  assert.ok(read(a, 'skills/sql-helper.yaml')!.endsWith('# not yet\n'));
  // Remote: v1 (sample), v2 (B), v3 = ONE version with the push and the merged result.
  const vs = await versions(a);
  assert.equal(vs.map((v) => v.id), [1, 2, 3]);
  assert.is(vs[2]!.author, 'pty-tester');
  assert.is(vs[2]!.changed, 2);
  assert.is(vs[2]!.message, 'sync: push mcp/github.yaml; merge of agents/welcome.yaml with origin v2');
  assert.equal(await states(a, '--fetch'), { 'skills/sql-helper.yaml': 'push' });
  // B sees A's merged file and github change as remote changes.
  await ok(b, 'pull');
  assert.is(read(b, 'agents/welcome.yaml'), merged);
  assert.is(read(b, 'mcp/github.yaml'), read(a, 'mcp/github.yaml'));
  // One undo restores every file the sync replaced (the pull and the merge).
  await ok(a, 'undo');
  assert.is(read(a, 'agents/welcome.yaml'), welcome.replace('model: claude-sonnet-4-5', 'model: claude-opus-4-1'));
  assert.ok(read(a, 'agents/data-analyst.yaml')!.includes('temperature: 0\n'));
});

t('interactive sync: "All remaining: local" pushes everything, over remote changes, as one version', async () => {
  const { a, b } = await pair();
  write(b, 'skills/sql-helper.yaml', read(b, 'skills/sql-helper.yaml')! + '# remote edit\n');
  await ok(b, 'push');
  write(a, 'agents/welcome.yaml', read(a, 'agents/welcome.yaml')! + '# local 1\n');
  write(a, 'mcp/github.yaml', read(a, 'mcp/github.yaml')! + '# local 2\n');
  const localSql = read(a, 'skills/sql-helper.yaml');
  const r = await sync(a, [
    { expect: 'agents/welcome.yaml (push, 1/3)', send: pick(NO_MERGE, 'push', 'allLocal') },
    { expect: 'Apply', send: KEY.enter },
    { expect: 'Sync with origin' },
  ]);
  assert.is(r.error, undefined, explain(r));
  assert.is(r.code, 0, explain(r));
  const vs = await versions(a);
  assert.equal(vs.map((v) => v.id), [1, 2, 3]);
  assert.is(vs[2]!.changed, 3);
  assert.equal(await states(a, '--fetch'), {});
  // The remote edit was overwritten by the local file (local wins, as chosen).
  await ok(b, 'pull');
  assert.is(read(b, 'skills/sql-helper.yaml'), localSql);
  assert.ok(read(b, 'agents/welcome.yaml')!.endsWith('# local 1\n'));
});

t('interactive sync: "All remaining: remote" and answering no to the confirmation', async () => {
  const { a, b } = await pair();
  write(b, 'skills/sql-helper.yaml', read(b, 'skills/sql-helper.yaml')! + '# remote edit\n');
  await ok(b, 'push');
  write(a, 'agents/welcome.yaml', read(a, 'agents/welcome.yaml')! + '# local edit\n');
  // First: decline at the confirmation; nothing changes (exit 1: still drifted).
  const no = await sync(a, [
    { expect: 'agents/welcome.yaml (push, 1/2)', send: pick(NO_MERGE, 'push', 'allRemote') },
    { expect: 'Apply', send: ['n', KEY.enter] },
    { expect: 'Nothing changed' },
  ]);
  assert.is(no.error, undefined, explain(no));
  assert.is(no.code, 1, explain(no));
  assert.equal(await states(a), { 'agents/welcome.yaml': 'push', 'skills/sql-helper.yaml': 'pull' });
  // Then: all remaining remote, with --yes (no confirmation): the local edit is replaced.
  const yes = await sync(a, [
    { expect: 'agents/welcome.yaml (push, 1/2)', send: pick(NO_MERGE, 'push', 'allRemote') },
    { expect: 'Sync with origin' },
  ], '--yes');
  assert.is(yes.error, undefined, explain(yes));
  assert.is(yes.code, 0, explain(yes));
  assert.is(read(a, 'agents/welcome.yaml'), read(b, 'agents/welcome.yaml'));
  assert.is(read(a, 'skills/sql-helper.yaml'), read(b, 'skills/sql-helper.yaml'));
  assert.equal((await versions(a)).map((v) => v.id), [1, 2]);
  assert.equal(await states(a), {});
});

t('interactive sync: Ctrl-C at a prompt aborts with nothing changed: INTERRUPTED, exit 130', async () => {
  const { a, b } = await pair();
  append2(b, 'mcp/github.yaml', '# remote\n');
  await ok(b, 'push');
  append2(a, 'agents/welcome.yaml', '# local\n');
  const r = await sync(a, [
    { expect: 'agents/welcome.yaml (push, 1/2)', send: KEY.enter },
    { expect: 'mcp/github.yaml (pull, 2/2)', send: KEY.ctrlC },
  ]);
  assert.is(r.error, undefined, explain(r));
  assert.is(r.code, 130, explain(r)); // one line with a code, exit 128 + SIGINT
  assert.match(r.transcript, /agentsync: [^\n]*\(INTERRUPTED\)/);
  assert.equal(await states(a), { 'agents/welcome.yaml': 'push', 'mcp/github.yaml': 'pull' });
  assert.equal((await versions(a)).map((v) => v.id), [1, 2]);
});

t('interactive sync in sync: no prompt, exit 0', async () => {
  const { a } = await pair();
  const r = await sync(a, [{ expect: 'No drift detected' }]);
  assert.is(r.error, undefined, explain(r));
  assert.is(r.code, 0);
});

t('sync local -y on a terminal, and the confirmation prompt without -y', async () => {
  const { a } = await pair();
  const local = join(tmp('agentsync-local-'), 'db');
  await ok(a, 'remote', 'add', 'local', local);
  const r = await runPty(['node', BIN, 'sync', 'local', '--direction', 'to-db'], {
    cwd: a, env: ENV, steps: [{ expect: 'to local?', send: ['y', KEY.enter] }, { expect: 'Sync with local' }],
  });
  assert.is(r.error, undefined, explain(r));
  assert.is(r.code, 0, explain(r));
  assert.is((await ok(a, 'versions', '--remote', 'local', '--json')).json.versions.length, 1);
});

test.after(cleanup);
test.run();
