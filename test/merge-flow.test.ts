/**
 * Merges through the CLI, on both remote kinds: pull merges clean conflicts (YAML key by key,
 * Markdown line by line) and says so; `merge` writes markers and `status` says conflict until
 * `resolve`; push refuses markers; format-only drift; git awareness of pull and status.
 */
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { openDb } from '../src/store/db.js';
import { cleanup, cli, needs, read, states, workspace, write } from './helpers.js';
import { CONTRACT_KINDS, kindSuite } from './remotes.js';

const hasGit = spawnSync('git', ['--version']).status === 0;

function git(cwd: string, ...args: string[]): void {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
}

const AGENT = `# the welcome agent
name: welcome
description: first
temperature: 0.4
tools:
  - name: search
    timeout: 10
  - name: docs
    timeout: 20
`;

const DOC = ['# Title', '', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', ''].join('\n');

/** Two workspaces synced on AGENT and DOC. */
async function pair(url: string): Promise<{ a: string; b: string }> {
  const a = await workspace(url, { sample: false });
  const b = await workspace(url, { sample: false });
  write(a, 'agents/welcome.yaml', AGENT);
  write(a, 'content/doc.md', DOC);
  assert.is((await cli(a, 'push', '-m', 'base')).code, 0);
  assert.is((await cli(b, 'pull')).code, 0);
  return { a, b };
}

for (const kind of CONTRACT_KINDS) {
  const t = kindSuite(`merge flow [${kind.name}]`, kind);
  t.after(async () => {
    await kind.stop();
    cleanup();
  });

  t('pull merges YAML edits to different keys and list items, keeps comments, and reports them as merged', async () => {
    const { a, b } = await pair(await kind.make());
    write(b, 'agents/welcome.yaml', AGENT.replace('temperature: 0.4', 'temperature: 0.1').replace('timeout: 20', 'timeout: 25'));
    assert.is((await cli(b, 'push')).code, 0);
    write(a, 'agents/welcome.yaml', AGENT.replace('description: first', 'description: second').replace('timeout: 10', 'timeout: 11'));
    assert.equal(await states(a, '--fetch'), { 'agents/welcome.yaml': 'conflict' });
    const r = await cli(a, 'pull', '--json');
    assert.is(r.code, 0);
    assert.equal(r.json.merged, ['agents/welcome.yaml']);
    const text = read(a, 'agents/welcome.yaml')!;
    for (const s of ['# the welcome agent', 'description: second', 'temperature: 0.1', 'timeout: 11', 'timeout: 25']) assert.ok(text.includes(s), s);
    // The merge keeps local edits: it is now a local change to push, and pushing converges both.
    assert.equal(await states(a), { 'agents/welcome.yaml': 'push' });
    assert.is((await cli(a, 'push')).code, 0);
    assert.is((await cli(b, 'pull')).code, 0);
    assert.is(read(b, 'agents/welcome.yaml'), text);
  });

  t('pull merges Markdown edits on different lines; the same line on both sides is refused and no file changes', async () => {
    const { a, b } = await pair(await kind.make());
    write(b, 'content/doc.md', DOC.replace('two', 'TWO'));
    assert.is((await cli(b, 'push')).code, 0);
    write(a, 'content/doc.md', DOC.replace('seven', 'SEVEN'));
    const r = await cli(a, 'pull', '--json');
    assert.is(r.code, 0);
    assert.equal(r.json.merged, ['content/doc.md']);
    assert.is(read(a, 'content/doc.md'), DOC.replace('two', 'TWO').replace('seven', 'SEVEN'));
    assert.is((await cli(a, 'push')).code, 0);
    // now a true conflict
    assert.is((await cli(b, 'pull')).code, 0);
    write(b, 'content/doc.md', read(b, 'content/doc.md')!.replace('four', 'FOUR-b'));
    assert.is((await cli(b, 'push')).code, 0);
    const mine = read(a, 'content/doc.md')!.replace('four', 'FOUR-a');
    write(a, 'content/doc.md', mine);
    const refused = await cli(a, 'pull', '--json');
    assert.is(refused.code, 1);
    assert.is(refused.json.error.code, 'PULL_REFUSED');
    assert.is(read(a, 'content/doc.md'), mine);
  });

  t('merge writes markers; status says conflict until resolve; push refuses markers; resolve --merged/--ours/--theirs', async () => {
    const { a, b } = await pair(await kind.make());
    write(b, 'content/doc.md', DOC.replace('four', 'FOUR-b'));
    assert.is((await cli(b, 'push')).code, 0);
    write(a, 'content/doc.md', DOC.replace('four', 'FOUR-a'));
    assert.is((await cli(a, 'fetch')).code, 0);
    const m = await cli(a, 'merge', 'content/doc.md', '--json');
    assert.is(m.code, 1);
    assert.equal(m.json, { path: 'content/doc.md', clean: false, conflicts: 1 });
    const marked = read(a, 'content/doc.md')!;
    assert.ok(marked.includes('<<<<<<< local\nFOUR-a\n=======\nFOUR-b\n>>>>>>> remote\n'));
    const st = await cli(a, 'status', '--json');
    assert.equal(st.json.entries.map((e: any) => [e.path, e.state, e.merging]), [['content/doc.md', 'conflict', true]]);
    // A store written before the index of merges existed: status finds the record and writes the index.
    let db = await openDb(join(a, '.agentsync'));
    try {
      assert.equal(JSON.parse(new TextDecoder().decode((await db.get('merges'))!)), ['content/doc.md']);
      await db.del('merges');
    } finally { await db.close(); }
    assert.equal((await cli(a, 'status', '--json')).json.entries.map((e: any) => [e.path, e.state, e.merging]), [['content/doc.md', 'conflict', true]]);
    db = await openDb(join(a, '.agentsync'));
    try { assert.equal(JSON.parse(new TextDecoder().decode((await db.get('merges'))!)), ['content/doc.md']); } finally { await db.close(); }
    assert.is((await cli(a, 'merge', 'content/doc.md', '--json')).json.error.code, 'CONFLICT');
    const pushed = await cli(a, 'push', '--force', '--json');
    assert.is(pushed.code, 1);
    assert.is(pushed.json.error.code, 'CONFLICT_MARKERS');
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--merged', '--json')).json.error.code, 'CONFLICT_MARKERS');
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--json')).json.error.code, 'USAGE');
    // edit the markers away, resolve as merged: base moves to the remote side, the merge is a push
    write(a, 'content/doc.md', DOC.replace('four', 'FOUR-both'));
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--merged')).code, 0);
    assert.equal(await states(a), { 'content/doc.md': 'push' });
    db = await openDb(join(a, '.agentsync'));
    try { assert.equal(JSON.parse(new TextDecoder().decode((await db.get('merges'))!)), []); } finally { await db.close(); }
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--json')).code, 2);
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--ours', '--json')).json.error.code, 'NOT_IN_CONFLICT');
    assert.is((await cli(a, 'push')).code, 0);
    // --theirs and --ours
    assert.is((await cli(b, 'pull')).code, 0);
    write(b, 'content/doc.md', DOC.replace('one', 'ONE-b'));
    assert.is((await cli(b, 'push')).code, 0);
    const ours = DOC.replace('four', 'FOUR-both').replace('one', 'ONE-a');
    write(a, 'content/doc.md', ours);
    assert.is((await cli(a, 'fetch')).code, 0);
    assert.is((await cli(a, 'merge', 'content/doc.md')).code, 1);
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--ours')).code, 0);
    assert.is(read(a, 'content/doc.md'), ours);
    assert.equal(await states(a), { 'content/doc.md': 'push' });
    assert.is((await cli(a, 'merge', 'content/doc.md', '--json')).json.error.code, 'NOT_IN_CONFLICT');
  });

  t('resolve --theirs takes the remote bytes and leaves the artifact clean; merge of a clean case just merges', async () => {
    const { a, b } = await pair(await kind.make());
    write(b, 'content/doc.md', DOC.replace('six', 'SIX-b'));
    assert.is((await cli(b, 'push')).code, 0);
    write(a, 'content/doc.md', DOC.replace('six', 'SIX-a'));
    assert.is((await cli(a, 'fetch')).code, 0);
    assert.is((await cli(a, 'merge', 'content/doc.md')).code, 1);
    assert.is((await cli(a, 'resolve', 'content/doc.md', '--theirs')).code, 0);
    assert.is(read(a, 'content/doc.md'), DOC.replace('six', 'SIX-b'));
    assert.equal(await states(a), {});
    // a clean case
    write(b, 'content/doc.md', DOC.replace('six', 'SIX-b').replace('one', 'ONE-b'));
    assert.is((await cli(b, 'push')).code, 0);
    write(a, 'content/doc.md', DOC.replace('six', 'SIX-b').replace('eight', 'EIGHT-a'));
    assert.is((await cli(a, 'fetch')).code, 0);
    const m = await cli(a, 'merge', 'content/doc.md', '--json');
    assert.is(m.code, 0);
    assert.equal(m.json, { path: 'content/doc.md', clean: true, conflicts: 0 });
    assert.is(read(a, 'content/doc.md'), DOC.replace('six', 'SIX-b').replace('one', 'ONE-b').replace('eight', 'EIGHT-a'));
  });

  t('format-only YAML drift is flagged; status --check --semantic ignores it, plain --check does not', async () => {
    const { a } = await pair(await kind.make());
    write(a, 'agents/welcome.yaml', AGENT.replace('# the welcome agent', '# reworded comment').replace('description: first', 'description: "first"'));
    const st = await cli(a, 'status', '--json');
    assert.equal(st.json.entries.map((e: any) => [e.path, e.state, e.formatOnly]), [['agents/welcome.yaml', 'push', true]]);
    assert.is((await cli(a, 'status', '--check')).code, 1);
    assert.is((await cli(a, 'status', '--check', '--semantic')).code, 0);
    write(a, 'agents/welcome.yaml', AGENT.replace('description: first', 'description: changed'));
    assert.is((await cli(a, 'status', '--check', '--semantic')).code, 1);
    assert.is((await cli(a, 'status', '--json')).json.entries[0].formatOnly, undefined);
  });

  needs(t, hasGit, `merge flow [${kind.name}]: git`, 'git is not on PATH; .ci/run installs it')('git: pull refuses to replace files with uncommitted changes (GIT_DIRTY), status lists them; a clean merge goes ahead; --commit commits', async () => {
    const { a, b } = await pair(await kind.make());
    git(a, 'init', '-q');
    git(a, 'add', '-A');
    git(a, 'commit', '-qm', 'start');
    // A touches the doc without committing, then syncs it back to the base bytes' neighbour:
    write(b, 'content/doc.md', DOC.replace('one', 'ONE-b'));
    write(b, 'agents/welcome.yaml', AGENT.replace('temperature: 0.4', 'temperature: 0.2'));
    assert.is((await cli(b, 'push')).code, 0);
    // The doc is unchanged for agentsync (equal to base) but differs from git HEAD.
    write(a, 'content/doc.md', DOC + 'extra\n');
    write(a, 'content/doc.md', DOC); // back to the base bytes: clean for agentsync and for git
    git(a, 'rm', '-q', '--cached', 'content/doc.md'.replace(/^/, 'services/'));
    const st = await cli(a, 'status', '--fetch', '--json');
    assert.ok(st.json.gitDirty.includes('content/doc.md'));
    const r = await cli(a, 'pull', '--json');
    assert.is(r.code, 1);
    assert.is(r.json.error.code, 'GIT_DIRTY');
    assert.equal(r.json.error.data.paths, ['content/doc.md']);
    assert.is(read(a, 'content/doc.md'), DOC);
    // commit it; pull then goes ahead, and --commit records the pull in git
    git(a, 'add', '-A');
    git(a, 'commit', '-qm', 'tracked again');
    const ok = await cli(a, 'pull', '--commit', '--json');
    assert.is(ok.code, 0);
    assert.ok(typeof ok.json.commit === 'string' && ok.json.commit.length === 40);
    const log = spawnSync('git', ['log', '-1', '--format=%s'], { cwd: a, encoding: 'utf8' }).stdout;
    assert.ok(log.includes('origin'));
    const porcelain = spawnSync('git', ['status', '--porcelain', 'services'], { cwd: a, encoding: 'utf8' }).stdout;
    assert.is(porcelain, '');
    // a clean merge keeps local edits: allowed even though the file is dirty in git
    assert.is((await cli(b, 'pull')).code, 0);
    write(b, 'content/doc.md', read(b, 'content/doc.md')!.replace('three', 'THREE-b'));
    assert.is((await cli(b, 'push')).code, 0);
    write(a, 'content/doc.md', read(a, 'content/doc.md')!.replace('eight', 'EIGHT-a'));
    const merged = await cli(a, 'pull', '--json');
    assert.is(merged.code, 0);
    assert.equal(merged.json.merged, ['content/doc.md']);
  });

  t.run();
}
