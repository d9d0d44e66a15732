/**
 * `sync` and `sync local` in-process (standard input is not a terminal): check mode and its
 * exit codes, --semantic, one-direction --push / --pull / --accept, --force, git awareness,
 * network failures, and the local remote.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { cleanup, cli, read, states, tmp, workspace, write, ok, pair } from './helpers.js';



async function versionIds(ws: string, ...args: string[]): Promise<number[]> {
  return ((await ok(ws, 'versions', '--json', ...args)).json.versions as { id: number }[]).map((v) => v.id);
}

function errCode(r: { json: any }): string | undefined {
  return r.json?.error?.code;
}

const append = (ws: string, path: string, text: string) => write(ws, path, read(ws, path)! + text);

test('sync --check: 0 in sync, 1 on drift (local or remote), with a JSON result', async () => {
  const { a, b } = await pair();
  let r = await cli(a, 'sync', '--check', '--json');
  assert.is(r.code, 0);
  assert.is(r.json.inSync, true);
  append(b, 'mcp/github.yaml', '# remote\n');
  await ok(b, 'push');
  r = await cli(a, 'sync', '--check', '--json');
  assert.is(r.code, 1);
  assert.equal(r.json.drift.map((d: { path: string; state: string }) => [d.path, d.state]), [['mcp/github.yaml', 'pull']]);
  append(a, 'agents/welcome.yaml', '# local\n');
  r = await cli(a, 'sync', '--check');
  assert.is(r.code, 1);
  // Checking changes nothing.
  assert.equal(await versionIds(a), [1, 2]);
  assert.equal(await states(a), { 'agents/welcome.yaml': 'push', 'mcp/github.yaml': 'pull' });
});

test('sync --check --semantic ignores comment- and layout-only YAML drift, not real changes', async () => {
  const { a } = await pair();
  write(a, 'agents/welcome.yaml', read(a, 'agents/welcome.yaml')!.replace('# Welcome agent', '# The welcome agent') + '\n\n');
  assert.is((await cli(a, 'sync', '--check')).code, 1);
  const r = await cli(a, 'sync', '--check', '--semantic', '--json');
  assert.is(r.code, 0);
  assert.equal(r.json.ignored, ['agents/welcome.yaml']);
  write(a, 'agents/welcome.yaml', read(a, 'agents/welcome.yaml')!.replace('temperature: 0.4', 'temperature: 0.7'));
  assert.is((await cli(a, 'sync', '--check', '--semantic')).code, 1);
});

test('without a terminal and without a flag, sync acts as --check (never waits for input)', async () => {
  const { a, b } = await pair();
  assert.is((await cli(a, 'sync')).code, 0);
  append(a, 'agents/welcome.yaml', '# local\n');
  append(b, 'mcp/github.yaml', '# remote\n');
  await ok(b, 'push');
  const before = read(a, 'mcp/github.yaml');
  const r = await cli(a, 'sync', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.inSync, false);
  assert.is(read(a, 'mcp/github.yaml'), before);
  assert.equal(await versionIds(a), [1, 2]);
});

test('sync --push: every local change as one version; remote changes need --force', async () => {
  const { a, b } = await pair();
  append(a, 'agents/welcome.yaml', '# one\n');
  append(a, 'mcp/github.yaml', '# two\n');
  fs.rmSync(join(a, 'services', 'skills', 'blog-writer.yaml'));
  const r = await cli(a, 'sync', '--push', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.pushed.sort(), ['agents/welcome.yaml', 'mcp/github.yaml', 'skills/blog-writer.yaml']);
  assert.is(r.json.version, 2);
  assert.equal(await versionIds(a), [1, 2]);
  assert.equal(await states(a), {});
  await ok(b, 'pull');
  assert.is(read(b, 'skills/blog-writer.yaml'), null);
  assert.is(read(b, 'mcp/github.yaml'), read(a, 'mcp/github.yaml'));

  // B changes a file on the remote; A's --push would overwrite it.
  append(b, 'skills/sql-helper.yaml', '# remote\n');
  await ok(b, 'push');
  append(a, 'agents/welcome.yaml', '# three\n');
  const refused = await cli(a, 'sync', '--push', '--json');
  assert.is(refused.code, 1);
  assert.is(errCode(refused), 'PUSH_REFUSED');
  assert.equal(await versionIds(a), [1, 2, 3]);
  const forced = await cli(a, 'sync', '--push', '--force', '--json');
  assert.is(forced.code, 0, forced.err);
  assert.equal(forced.json.pushed.sort(), ['agents/welcome.yaml', 'skills/sql-helper.yaml']);
  assert.equal(await versionIds(a), [1, 2, 3, 4]);
  await ok(b, 'pull', '--force');
  assert.is(read(b, 'skills/sql-helper.yaml'), read(a, 'skills/sql-helper.yaml'));
});

test('sync --pull: remote changes in; overwriting local changes needs --force; --accept is a deprecated alias', async () => {
  const { a, b } = await pair();
  append(b, 'mcp/github.yaml', '# remote\n');
  await ok(b, 'push');
  let r = await cli(a, 'sync', '--pull', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.pulled, ['mcp/github.yaml']);
  assert.is(read(a, 'mcp/github.yaml'), read(b, 'mcp/github.yaml'));
  assert.equal(await states(a), {});
  assert.equal(await versionIds(a), [1, 2]);

  // A local edit would be lost: refused without --force, nothing written.
  append(a, 'agents/welcome.yaml', '# local\n');
  append(b, 'skills/sql-helper.yaml', '# remote\n');
  await ok(b, 'push');
  r = await cli(a, 'sync', '--pull', '--json');
  assert.is(r.code, 1);
  assert.is(errCode(r), 'PULL_REFUSED');
  assert.ok(read(a, 'agents/welcome.yaml')!.endsWith('# local\n'));
  assert.not.ok(read(a, 'skills/sql-helper.yaml')!.endsWith('# remote\n'));

  // --accept works like --pull (with --force: remote wins everywhere) and warns once on stderr.
  r = await cli(a, 'sync', '--accept', '--force');
  assert.is(r.code, 0, r.err);
  assert.is(r.err.trim().split('\n').length, 1);
  assert.is(read(a, 'agents/welcome.yaml'), read(b, 'agents/welcome.yaml'));
  assert.is(read(a, 'skills/sql-helper.yaml'), read(b, 'skills/sql-helper.yaml'));
  assert.equal(await states(a), {});
  assert.equal(await versionIds(a), [1, 2, 3]);
  // One undo restores the replaced local edit.
  await ok(a, 'undo');
  assert.ok(read(a, 'agents/welcome.yaml')!.endsWith('# local\n'));
});

test('undo after sync --pull --force restores files and base: the conflict is back, a plain push is refused', async () => {
  const { a, b } = await pair();
  const agent = read(a, 'agents/welcome.yaml')!;
  write(b, 'agents/welcome.yaml', agent.replace('temperature: 0.4', 'temperature: 0.1'));
  await ok(b, 'push');
  const mine = agent.replace('temperature: 0.4', 'temperature: 0.9');
  write(a, 'agents/welcome.yaml', mine);
  await ok(a, 'sync', '--pull', '--force');
  assert.is(read(a, 'agents/welcome.yaml'), read(b, 'agents/welcome.yaml'));
  await ok(a, 'undo');
  assert.is(read(a, 'agents/welcome.yaml'), mine);
  assert.equal(await states(a), { 'agents/welcome.yaml': 'conflict' });
  assert.is(errCode(await cli(a, 'push', '--json')), 'PUSH_REFUSED');
});

test('sync --pull merges a clean conflict (keeping the local edit) and refuses a true one without --force', async () => {
  const { a, b } = await pair();
  const w = read(a, 'agents/welcome.yaml')!;
  write(b, 'agents/welcome.yaml', w.replace('temperature: 0.4', 'temperature: 0.5'));
  await ok(b, 'push');
  write(a, 'agents/welcome.yaml', w.replace('model: claude-sonnet-4-5', 'model: claude-opus-4-1'));
  const r = await cli(a, 'sync', '--pull', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.merged, ['agents/welcome.yaml']);
  const merged = read(a, 'agents/welcome.yaml')!;
  assert.ok(merged.includes('temperature: 0.5') && merged.includes('claude-opus-4-1'));
  assert.equal(await states(a), { 'agents/welcome.yaml': 'push' }); // pull is one direction
  assert.equal(await versionIds(a), [1, 2]);

  // Both sides change the same line: a true conflict.
  await ok(a, 'push');
  await ok(b, 'pull');
  const w2 = read(b, 'mcp/github.yaml')!;
  write(b, 'mcp/github.yaml', w2.replace(/^name: .*$/m, 'name: github-remote'));
  await ok(b, 'push');
  write(a, 'mcp/github.yaml', w2.replace(/^name: .*$/m, 'name: github-local'));
  const refused = await cli(a, 'sync', '--pull', '--json');
  assert.is(refused.code, 1);
  assert.is(errCode(refused), 'PULL_REFUSED');
  const push = await cli(a, 'sync', '--push', '--json');
  assert.is(push.code, 1);
  assert.is(errCode(push), 'PUSH_REFUSED');
  assert.ok(read(a, 'mcp/github.yaml')!.includes('github-local'));
  const forced = await cli(a, 'sync', '--pull', '--force', '--json');
  assert.is(forced.code, 0, forced.err);
  assert.equal(forced.json.pulled, ['mcp/github.yaml']);
  assert.ok(read(a, 'mcp/github.yaml')!.includes('github-remote'));
});

test('sync leaves an artifact in the middle of `agentsync merge` alone, and --check counts it', async () => {
  const { a, b } = await pair();
  const w = read(b, 'mcp/github.yaml')!;
  write(b, 'mcp/github.yaml', w.replace(/^name: .*$/m, 'name: github-remote'));
  await ok(b, 'push');
  write(a, 'mcp/github.yaml', w.replace(/^name: .*$/m, 'name: github-local'));
  await ok(a, 'fetch');
  assert.is((await cli(a, 'merge', 'mcp/github.yaml')).code, 1); // markers written
  const marked = read(a, 'mcp/github.yaml');
  let r = await cli(a, 'sync', '--check', '--json');
  assert.is(r.code, 1);
  assert.equal(r.json.merging, ['mcp/github.yaml']);
  r = await cli(a, 'sync', '--pull', '--force', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.pulled, []);
  assert.is(read(a, 'mcp/github.yaml'), marked);
  assert.equal(await versionIds(a), [1, 2]);
});

test('sync validates first: an invalid artifact is VALIDATION_FAILED (exit 2) and nothing moves', async () => {
  const { a } = await pair();
  write(a, 'skills/broken.yaml', 'name: [unclosed\n');
  append(a, 'agents/welcome.yaml', '# local\n');
  for (const args of [['--push'], ['--check'], []]) {
    const r = await cli(a, 'sync', ...args, '--json');
    assert.is(r.code, 2, args.join(' '));
    assert.is(errCode(r), 'VALIDATION_FAILED');
    assert.ok(r.json.error.data.problems.some((p: { path: string }) => p.path === 'skills/broken.yaml'));
  }
  assert.equal(await versionIds(a), [1]);
});

test('sync usage errors: two directions at once, --direction without local', async () => {
  const { a } = await pair();
  assert.is(errCode(await cli(a, 'sync', '--push', '--pull', '--json')), 'USAGE');
  assert.is((await cli(a, 'sync', '--check', '--push')).code, 2);
  assert.is((await cli(a, 'sync', '--direction', 'to-db')).code, 2);
});

test('network failure: sync warns in one line and exits 0; sync --check exits 3', async () => {
  const ws = await workspace('http://127.0.0.1:1/t');
  let r = await cli(ws, 'sync');
  assert.is(r.code, 0);
  assert.is(r.err.trim().split('\n').length, 1);
  r = await cli(ws, 'sync', '--push');
  assert.is(r.code, 0);
  r = await cli(ws, 'sync', '--check', '--json');
  assert.is(r.code, 3);
  assert.is(errCode(r), 'REMOTE_UNREACHABLE');
  // A directory remote that went away is unreachable too (after a first fetch).
  const { a, remote } = await pair();
  fs.rmSync(remote, { recursive: true, force: true });
  assert.is((await cli(a, 'sync')).code, 0);
  assert.is((await cli(a, 'sync', '--check')).code, 3);
});

test('sync on a fresh workspace with a new directory remote pushes it into being', async () => {
  const remote = join(tmp('agentsync-remote-'), 'remote');
  const a = await workspace(remote);
  assert.is((await cli(a, 'sync', '--check')).code, 1);
  assert.is((await cli(a, 'sync', '--push')).code, 0);
  assert.equal(await versionIds(a), [1]);
  assert.is((await cli(a, 'sync', '--check')).code, 0);
});

// ---------------------------------------------------------------- git

async function gitRepo(dir: string, commitAll: boolean): Promise<void> {
  await git.init({ fs, dir, defaultBranch: 'main' });
  if (!commitAll) return;
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: { name: 't', email: 't@example.com' } });
}

test('git: sync --pull refuses to replace files with uncommitted git changes unless --force; --commit commits', async () => {
  const { a, b } = await pair();
  append(b, 'mcp/github.yaml', '# remote\n');
  await ok(b, 'push');
  // Untracked files hold uncommitted work.
  await gitRepo(a, false);
  let r = await cli(a, 'sync', '--pull', '--json');
  assert.is(r.code, 1);
  assert.is(errCode(r), 'GIT_DIRTY');
  assert.equal(r.json.error.data.paths, ['mcp/github.yaml']);
  assert.not.ok(read(a, 'mcp/github.yaml')!.endsWith('# remote\n'));
  // Committed: the pull goes ahead, and --commit records it.
  await git.add({ fs, dir: a, filepath: '.' });
  await git.commit({ fs, dir: a, message: 'initial', author: { name: 't', email: 't@example.com' } });
  r = await cli(a, 'sync', '--pull', '--commit', '--json');
  assert.is(r.code, 0, r.err);
  assert.match(r.json.commit, /^[0-9a-f]{40}$/);
  const log = await git.log({ fs, dir: a });
  assert.is(log.length, 2);
  assert.is(log[0]!.oid, r.json.commit);
  assert.is(await git.status({ fs, dir: a, filepath: 'services/mcp/github.yaml' }), 'unmodified');
  // --force replaces a dirty file anyway.
  append(b, 'agents/welcome.yaml', '# remote 2\n');
  await ok(b, 'push');
  // welcome.yaml is unchanged for agentsync (a pull) but has a staged change for git.
  await git.remove({ fs, dir: a, filepath: 'services/agents/welcome.yaml' });
  assert.is(errCode(await cli(a, 'sync', '--pull', '--json')), 'GIT_DIRTY');
  r = await cli(a, 'sync', '--pull', '--force', '--json');
  assert.is(r.code, 0, r.err);
  assert.ok(read(a, 'agents/welcome.yaml')!.endsWith('# remote 2\n'));
});

test('git: sync --pull --commit outside a git repository pulls and commits nothing (exit 0)', async () => {
  const { a, b } = await pair();
  append(b, 'mcp/github.yaml', '# remote\n');
  await ok(b, 'push');
  const r = await cli(a, 'sync', '--pull', '--commit', '--json');
  assert.is(r.code, 0, r.err);
  assert.ok(read(a, 'mcp/github.yaml')!.endsWith('# remote\n'));
  assert.is(r.json.commit ?? null, null);
  assert.match(r.err, /warning: --commit ignored: .* is not in a git work tree, so nothing will be committed \(GIT_NONE\)/);
  assert.not.ok(fs.existsSync(join(a, '.git')));
});

// ---------------------------------------------------------------- sync local

test('sync local: to-db and from-db with -y against the remote named local', async () => {
  const { a } = await pair();
  const local = join(tmp('agentsync-local-'), 'db');
  // No remote named local: REMOTE_UNKNOWN (exit 2).
  let r = await cli(a, 'sync', 'local', '--direction', 'to-db', '-y', '--json');
  assert.is(r.code, 2);
  assert.is(errCode(r), 'REMOTE_UNKNOWN');
  await ok(a, 'remote', 'add', 'local', local);
  r = await cli(a, 'sync', 'local', '--direction', 'to-db', '-y', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.pushed.length, 16);
  assert.equal(await versionIds(a, '--remote', 'local'), [1]);
  // origin is untouched.
  assert.equal(await versionIds(a), [1]);

  // Another workspace pulls from the same local remote.
  const c = await workspace(join(tmp('agentsync-remote-'), 'unused'), { sample: false });
  await ok(c, 'remote', 'add', 'local', local);
  r = await cli(c, 'sync', 'local', 'agents', '--direction', 'from-db', '--yes', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.pulled.length, 4);
  assert.is(read(c, 'agents/welcome.yaml'), read(a, 'agents/welcome.yaml'));
  assert.is(read(c, 'mcp/github.yaml'), null);

  // to-db from a partial workspace pushes its changes and deletes nothing it does not have.
  append(c, 'agents/welcome.yaml', '# from c\n');
  r = await cli(c, 'sync', 'local', '--direction', 'to-db', '-y', '--json');
  assert.equal(r.json.pushed, ['agents/welcome.yaml']);
  assert.is(r.json.skipped.length, 12);
  // to-db: local wins a conflict; a change made only in the remote is left alone.
  append(a, 'agents/welcome.yaml', '# from a\n');
  append(a, 'agents/data-analyst.yaml', '# from a\n');
  r = await cli(a, 'sync', 'local', '--direction', 'to-db', '-y', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.pushed.sort(), ['agents/data-analyst.yaml', 'agents/welcome.yaml']);
  assert.equal(await versionIds(a, '--remote', 'local'), [1, 2, 3]);
  append(c, 'agents/support-triage.yaml', '# from c\n');
  await ok(c, 'sync', 'local', 'agents/support-triage.yaml', '--direction', 'to-db', '-y');
  r = await cli(a, 'sync', 'local', '--direction', 'to-db', '-y', '--json');
  assert.equal([r.json.pushed, r.json.skipped], [[], ['agents/support-triage.yaml']]);
  // from-db: the local remote wins.
  append(c, 'agents/data-analyst.yaml', '# conflicting, from c\n');
  r = await cli(c, 'sync', 'local', 'agents', '--direction', 'from-db', '-y', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.pulled.sort(), ['agents/data-analyst.yaml', 'agents/welcome.yaml']);
  assert.is(read(c, 'mcp/github.yaml'), null);
  assert.is(read(c, 'agents/welcome.yaml'), read(a, 'agents/welcome.yaml'));
  assert.is(read(c, 'agents/data-analyst.yaml'), read(a, 'agents/data-analyst.yaml'));
});

test('sync local never waits for input: without -y on a non-terminal it is a usage error', async () => {
  const { a } = await pair();
  await ok(a, 'remote', 'add', 'local', join(tmp('agentsync-local-'), 'db'));
  let r = await cli(a, 'sync', 'local', '--direction', 'to-db', '--json');
  assert.is(r.code, 2);
  assert.is(errCode(r), 'USAGE');
  r = await cli(a, 'sync', 'local', '-y', '--json');
  assert.is(r.code, 2); // --direction is required
  r = await cli(a, 'sync', 'local', '--direction', 'sideways', '-y');
  assert.is(r.code, 2);
  assert.equal(await versionIds(a, '--remote', 'local').catch(() => []), []);
});

test.after(cleanup);
test.run();
