/**
 * Every `--json` output validates against its JSON Schema in schemas/ (draft 2020-12, checked
 * with ajv), in states that exercise the optional fields; so does one error per exit class.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { cleanup, cli, needs, pair, read, ROOT, tmp, write, type CliResult } from './helpers.js';
import { httpRemote, httpTenant } from './remotes.js';

const ajv = new Ajv2020({ strict: true, allErrors: true });
const DIR = join(ROOT, 'schemas');
for (const f of readdirSync(DIR)) ajv.addSchema(JSON.parse(readFileSync(join(DIR, f), 'utf8')), f.replace(/\.schema\.json$/, ''));
const seen = new Set<string>();
const hasGit = spawnSync('git', ['--version']).status === 0;

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Run the command and check its stdout against schemas/<schema>.schema.json; return the result. */
async function check(schema: string, code: number, cwd: string, ...argv: string[]): Promise<CliResult> {
  const r = await cli(cwd, ...argv, '--json');
  assert.is(r.code, code, `${argv.join(' ')}: ${r.err}`);
  assert.type(r.json, 'object', `${argv.join(' ')} printed no JSON object: ${r.out}`);
  assert.not.ok(Array.isArray(r.json), `${argv.join(' ')} printed a top-level array`);
  const validate = ajv.getSchema(schema);
  assert.ok(validate, `no schema ${schema}`);
  assert.ok(validate!(r.json), `${argv.join(' ')}: ${ajv.errorsText(validate!.errors)}\n${r.out}`);
  seen.add(schema);
  return r;
}

test.after(async () => { await httpRemote.stop(); cleanup(); });

test('a schema rejects what it does not describe (the check can fail)', () => {
  const v = ajv.getSchema('hash')!;
  assert.not.ok(v({ snapshot: 'sha256:' + '0'.repeat(64), artifacts: 1, extra: true }));
  assert.not.ok(v([{ snapshot: 'sha256:' + '0'.repeat(64), artifacts: 1 }]));
  assert.ok(v({ snapshot: 'sha256:' + '0'.repeat(64), artifacts: 1 }));
});

test('every --json output of a workspace matches its schema, optional fields included', async () => {
  const { a, b } = await pair();
  // Two versions, then a conflicting local edit in b and a one-sided edit b has not pulled.
  write(a, 'agents/welcome.yaml', 'name: welcome\ndescription: from a\n');
  write(a, 'content/docs/getting-started.md', read(a, 'content/docs/getting-started.md') + 'from a\n');
  await check('push', 0, a, 'push', '-m', 'a edits welcome');
  write(a, 'skills/sql-helper.yaml', 'name: sql-helper\nfrom: a\n');
  await check('push', 0, a, 'push', '--draft');
  write(b, 'agents/welcome.yaml', 'name: welcome\ndescription: from b\n');
  write(b, 'mcp/github.yaml', read(b, 'mcp/github.yaml') + '# from b\n');
  await check('fetch', 0, b, 'fetch');
  const st = await check('status', 0, b, 'status');
  assert.ok(st.json.entries.some((e: { state: string; merge?: string }) => e.state === 'conflict' && e.merge));
  const diff = await check('diff', 0, b, 'diff');
  assert.ok(diff.json.entries.some((e: { base?: string }) => typeof e.base === 'string'));
  await check('diff', 0, b, 'diff', 'mcp');
  const dry = await check('push', 0, b, 'push', 'mcp', 'content', '--dry-run');
  assert.ok(dry.json.notPulled.length > 0);
  assert.is(dry.json.version, null);
  const blocked = await check('pull', 1, b, 'pull', '--dry-run');
  assert.ok(blocked.json.blocked.length > 0);
  await check('sync-check', 1, b, 'sync', '--check');
  const pushed = await check('push', 0, b, 'push', 'mcp');
  assert.is(pushed.json.version.id, 4);
  await check('pull', 0, a, 'pull');
  await check('sync-check', 1, a, 'sync', '--check');
  const versions = await check('versions', 0, b, 'versions');
  const log = await check('log', 0, b, 'log');
  assert.equal(log.json.versions, versions.json.versions, 'log without a path is versions --json');
  const one = await check('log', 0, b, 'log', 'agents/welcome.yaml');
  assert.equal(one.json.versions.map((v: { id: number; change: string }) => [v.id, v.change]), [[1, 'added'], [2, 'modified']]);
  assert.is(one.json.path, 'agents/welcome.yaml');
  const h = await check('hash', 0, a, 'hash');
  await check('verify', 0, a, 'verify', h.json.snapshot);
  await check('verify', 1, a, 'verify', 'sha256:' + '0'.repeat(64), '--remote');
  await check('validate', 0, a, 'validate');
  write(a, 'agents/broken.yaml', 'name: [unclosed\n');
  const bad = await check('validate', 2, a, 'validate');
  assert.ok(bad.json.problems.length > 0);
  await check('fsck', 0, a, 'fsck');
  const g = await check('gc', 0, a, 'gc', '--dry-run');
  assert.is(g.json.dryRun, true);
  await check('gc', 0, a, 'gc');
  await check('remote-list', 0, a, 'remote', 'list');
});

test('auth status and the admin lists match their schemas', async () => {
  const { url } = await httpTenant('write');
  const ws = tmp('agentsync-ws-');
  assert.is((await cli(ws, 'init', '--remote', url)).code, 0);
  assert.is((await cli(ws, 'remote', 'add', 'gone', 'http://127.0.0.1:1/nobody')).code, 0);
  const s = await check('auth-status', 3, ws, 'auth', 'status');
  // The workspace's remotes (stored tokens of other tests' tenants follow them, unnamed).
  assert.equal(s.json.remotes.filter((r: { name?: string }) => r.name).map((r: { ok: boolean }) => r.ok), [true, false], JSON.stringify(s.json));
  const data = join(tmp(), 'data');
  assert.is((await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data)).code, 0);
  assert.is((await cli(tmp(), 'admin', 'token', 'create', '--tenant', 'acme', '--scope', 'read', '--label', 'ci', '--expires-in', '30d', '--data', data)).code, 0);
  const tenants = await check('admin-tenant-list', 0, tmp(), 'admin', 'tenant', 'list', '--data', data);
  assert.equal(tenants.json.tenants.map((t: { name: string }) => t.name), ['acme']);
  const tokens = await check('admin-token-list', 0, tmp(), 'admin', 'token', 'list', '--data', data);
  assert.is(tokens.json.tokens[0].label, 'ci');
  const gc = await check('admin-gc', 0, tmp(), 'admin', 'gc', '--data', data);
  assert.equal([gc.json.objects, gc.json.kept], [0, 0]);
});

test('errors match error.schema.json in each exit class', async () => {
  const { a } = await pair();
  const usage = await check('error', 2, a, 'status', 'nope-nothing');
  assert.is(usage.json.error.code, 'SELECTOR_UNKNOWN');
  await check('error', 2, tmp(), 'status');
  await check('error', 2, a, 'versions', '--remote', 'nosuch');
  const ws = tmp('agentsync-ws-');
  assert.is((await cli(ws, 'init', '--remote', 'http://127.0.0.1:1/nobody')).code, 0);
  const net = await check('error', 3, ws, 'fetch');
  assert.ok(net.json.error.code.startsWith('REMOTE_') || net.json.error.code.startsWith('AUTH_'), net.json.error.code);
  // Exit 4: a store LevelDB cannot open (its CURRENT file names no manifest).
  const current = join(a, '.agentsync', 'CURRENT');
  assert.ok(existsSync(current), 'the store layout changed: point this test at its CURRENT file');
  writeFileSync(current, 'MANIFEST-999999\n');
  const corrupt = await check('error', 4, a, 'status');
  assert.is(corrupt.json.error.code, 'STORE_CORRUPT');
});

test('status: outside (a path of another workspace\'s kind), formatOnly (a YAML edit of form only) and merging (a merge in progress), exactly', async () => {
  const { a, b } = await pair();
  // a has one kind more than b and pushes a file of it: b sees that path as outside its kinds.
  writeFileSync(join(a, 'agentsync.yaml'), readFileSync(join(a, 'agentsync.yaml'), 'utf8') + 'kinds:\n  prompts:\n    pattern: prompts/*.md\n    schema: none\n');
  write(a, 'prompts/hello.md', '# hello\n');
  await check('push', 0, a, 'push', '-m', 'a prompt');
  await check('fetch', 0, b, 'fetch');
  const clean = await check('status', 0, b, 'status');
  assert.equal(clean.json.entries, []);
  assert.equal(clean.json.outside, ['prompts/hello.md']);
  // b: a change of form only (comment, quoting, flow list) of welcome, a true conflict on github.
  const welcome = read(b, 'agents/welcome.yaml')!;
  write(b, 'agents/welcome.yaml', welcome.replace('# Keep the persona short', '# Keep it short').replace('model: claude-sonnet-4-5', 'model: "claude-sonnet-4-5"'));
  await check('fetch', 0, b, 'fetch');
  let st = await check('status', 0, b, 'status');
  assert.equal(st.json.outside, ['prompts/hello.md']);
  assert.equal(st.json.entries, [{ path: 'agents/welcome.yaml', kind: 'agents', local: 'modified', remote: 'unchanged', state: 'push', formatOnly: true }]);
  assert.is(st.json.gitDirty, undefined, 'not in a git work tree: no gitDirty');
  // A merge in progress: both sides change the same line of github.yaml, b runs merge.
  const github = read(a, 'mcp/github.yaml')!;
  write(a, 'mcp/github.yaml', github + 'note: from a\n');
  await check('push', 0, a, 'push', '-m', 'a note');
  write(b, 'mcp/github.yaml', github + 'note: from b\n');
  await check('fetch', 0, b, 'fetch');
  assert.is((await cli(b, 'merge', 'mcp/github.yaml')).code, 1);
  st = await check('status', 0, b, 'status');
  assert.equal(st.json.entries, [
    { path: 'agents/welcome.yaml', kind: 'agents', local: 'modified', remote: 'unchanged', state: 'push', formatOnly: true },
    { path: 'mcp/github.yaml', kind: 'mcp', local: 'modified', remote: 'modified', state: 'conflict', merging: true, merge: 'conflict' },
  ]);
  assert.equal(st.json.outside, ['prompts/hello.md']);
});

test('a kind removed from agentsync.yaml: its files are outside, not local deletions, on the stat-cache path and the full walk alike', async () => {
  const { a } = await pair();
  writeFileSync(join(a, 'agentsync.yaml'), readFileSync(join(a, 'agentsync.yaml'), 'utf8') + 'kinds:\n  playbooks: null\n');
  const playbooks = ['playbook/releases/publish-release-notes.md', 'playbook/rotate-api-keys.md'];
  for (let i = 0; i < 2; i++) { // the first status compares with the stat cache's rows, the second walks base and remote
    const st = await check('status', 0, a, 'status');
    assert.equal(st.json.entries, [], `status ${i + 1}`);
    assert.equal(st.json.outside, playbooks, `status ${i + 1}`);
  }
  const pushed = await check('push', 0, a, 'push');
  assert.is(pushed.json.version, null, 'nothing to push: the files are not deleted');
});

needs(test, hasGit, 'json schemas: git', 'git is not on PATH; .ci/run installs it')('status gitDirty, pull uncommitted and the git-dirty block (dry run) and refusal, exactly', async () => {
  const { a, b } = await pair();
  writeFileSync(join(a, '.gitignore'), '.agentsync/\n');
  git(a, 'init', '-q');
  git(a, 'add', '-A');
  git(a, 'commit', '-qm', 'start');
  // In git and nothing drifted: no gitDirty (SPEC §4: it lists drifted artifacts only).
  let st = await check('status', 0, a, 'status');
  assert.equal(st.json.entries, []);
  assert.is(st.json.gitDirty, undefined);
  // A drifted artifact with uncommitted edits is listed; one committed but drifted is not.
  const doc = 'content/docs/getting-started.md';
  write(a, 'skills/sql-helper.yaml', read(a, 'skills/sql-helper.yaml') + 'committed: true\n');
  git(a, 'commit', '-qam', 'skill edit');
  write(a, doc, read(a, doc)!.replace('# Getting started', '# Getting started, by a'));
  st = await check('status', 0, a, 'status');
  assert.equal(st.json.entries.map((e: { path: string; state: string }) => [e.path, e.state]), [[doc, 'push'], ['skills/sql-helper.yaml', 'push']]);
  assert.equal(st.json.gitDirty, [doc]);
  // b changes another line of the doc and the welcome agent: a's pull --commit merges the doc
  // into a's uncommitted edit (left out of the commit) and commits welcome.
  write(b, doc, read(b, doc)!.replace('## Daily workflow', '## Daily workflow, by b'));
  write(b, 'agents/welcome.yaml', read(b, 'agents/welcome.yaml') + '# by b\n');
  await check('push', 0, b, 'push', '-m', 'b edits');
  const pulled = await check('pull', 0, a, 'pull', '--commit');
  assert.equal(pulled.json.pulled, [{ path: 'agents/welcome.yaml', state: 'pull', remote: 'modified' }]);
  assert.equal(pulled.json.merged, [doc]);
  assert.equal(pulled.json.uncommitted, [doc]);
  assert.match(pulled.json.commit, /^[0-9a-f]{40}$/);
  assert.is(pulled.json.blocked, undefined, 'blocked is a dry run\'s');
  assert.is(git(a, 'show', '--name-only', '--format=', 'HEAD'), 'services/agents/welcome.yaml\n');
  assert.is(read(a, doc), read(b, doc)!.replace('# Getting started', '# Getting started, by a'));
  // The git-dirty block: welcome is clean for agentsync but not for git (staged away), and b changes it again.
  git(a, 'rm', '-q', '--cached', 'services/agents/welcome.yaml');
  write(b, 'agents/welcome.yaml', read(b, 'agents/welcome.yaml') + '# again by b\n');
  await check('push', 0, b, 'push', '-m', 'b again');
  const dry = await check('pull', 1, a, 'pull', '--dry-run');
  assert.equal(dry.json.blocked, [{ path: 'agents/welcome.yaml', state: 'pull', reason: 'git-dirty' }]);
  assert.equal(dry.json.pulled, [{ path: 'agents/welcome.yaml', state: 'pull', remote: 'modified' }]);
  assert.is(dry.json.dryRun, true);
  assert.is(dry.json.uncommitted, undefined);
  const before = read(a, 'agents/welcome.yaml');
  const refused = await check('error', 1, a, 'pull');
  assert.is(refused.json.error.code, 'GIT_DIRTY');
  assert.equal(refused.json.error.data.paths, ['agents/welcome.yaml']);
  assert.is(read(a, 'agents/welcome.yaml'), before, 'nothing written');
  st = await check('status', 0, a, 'status');
  assert.equal(st.json.gitDirty, ['agents/welcome.yaml', doc]);
  // A drifted artifact deleted locally has no file: git would call it dirty (deleted from HEAD),
  // but gitDirty lists only those with a local file (SPEC §4), so the list is unchanged.
  rmSync(join(a, 'services', 'skills', 'sql-helper.yaml'));
  st = await check('status', 0, a, 'status');
  assert.ok(st.json.entries.some((e: { path: string; local: string }) => e.path === 'skills/sql-helper.yaml' && e.local === 'deleted'), 'the deletion is drift');
  assert.equal(st.json.gitDirty, ['agents/welcome.yaml', doc]);
});

test('every schema file is exercised by a test above', () => {
  assert.equal([...seen].sort(), readdirSync(DIR).map((f) => f.replace(/\.schema\.json$/, '')).sort());
});

test.run();
