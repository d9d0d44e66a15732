/**
 * Every command of the CLI, run in-process against each remote kind: exit codes, error codes,
 * JSON shapes and files on disk.
 */
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { cleanup, cli, read, states, workspace, write, type CliResult, ok } from './helpers.js';
import { CONTRACT_KINDS, kindSuite } from './remotes.js';

const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SNAP4 = 'sha256:54ff1ef2b8d5a6ad46fa5bb77313243f4632c714060bc3902d2ef751688fbb81';
const SNAP7 = 'sha256:1a77ccc72e23686726a7044a44e6404c6b6a201673b67e7cfe6d5421a15bcb94';
const SAMPLE_COUNT = 16;
const SNAPSHOT = /^sha256:[0-9a-f]{64}$/;

/** The command failed with `code` (and the exit code it maps to), printing it on stderr and as JSON. */
function failed(r: CliResult, exit: number, code: string, what = ''): void {
  assert.is(r.code, exit, `${what} exit code; stderr: ${r.err}`);
  assert.ok(new RegExp(`^agentsync: .+ \\(${code}\\)\\n`).test(r.err), `${what} stderr: ${r.err}`);
  if (r.json !== undefined || r.out.trim().startsWith('{')) {
    assert.is(r.json?.error?.code, code, `${what} json error code`);
    assert.type(r.json.error.message, 'string');
    assert.type(r.json.error.data, 'object');
  }
}


async function versionsOf(ws: string): Promise<{ latestPublished: number | null; current: number | null; versions: any[] }> {
  return (await ok(ws, 'versions', '--json')).json;
}

/** Make the remote unreachable: delete a directory remote, point an URL remote at a dead port. */
function breakRemote(ws: string, url: string): void {
  if (isAbsolute(url) || url.startsWith('file:')) {
    rmSync(url.startsWith('file:') ? new URL(url) : url, { recursive: true, force: true });
  } else {
    const cfg = join(ws, 'agentsync.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').split(url).join('http://127.0.0.1:9/dead'));
  }
}

for (const kind of CONTRACT_KINDS) {
  const t = kindSuite(`cli [${kind.name}]`, kind);
  t.after(async () => {
    await kind.stop();
    cleanup();
  });

  // ---------------------------------------------------------------- status

  t('status --json: exact shape before and after the first push; --check', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    const r = await cli(ws, 'status', '--json');
    assert.is(r.code, 0, r.err);
    assert.equal(Object.keys(r.json).sort(), ['base', 'entries', 'fetchedAt', 'latestPublished', 'local', 'remote', 'remoteSnapshot']);
    assert.is(r.json.remote, 'origin');
    assert.is(r.json.base, EMPTY);
    assert.match(r.json.local, SNAPSHOT);
    assert.is(r.json.remoteSnapshot, null);
    assert.is(r.json.fetchedAt, null);
    assert.is(r.json.latestPublished, null);
    assert.is(r.json.entries.length, SAMPLE_COUNT);
    for (const e of r.json.entries) {
      assert.equal(Object.keys(e).sort(), ['kind', 'local', 'path', 'remote', 'state']);
      assert.equal({ local: e.local, remote: e.remote, state: e.state }, { local: 'added', remote: 'unchanged', state: 'push' });
    }
    const paths = r.json.entries.map((e: { path: string }) => e.path);
    assert.equal(paths, [...paths].sort((a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    assert.equal(r.json.entries.find((e: { path: string }) => e.path === 'agents/welcome.yaml').kind, 'agents');
    assert.equal(r.json.entries.find((e: { path: string }) => e.path === 'playbook/rotate-api-keys.md').kind, 'playbooks');
    assert.is((await cli(ws, 'status', '--check')).code, 1);
    assert.is((await cli(ws, 'status')).code, 0);

    await ok(ws, 'push');
    const after = await ok(ws, 'status', '--json', '--check');
    assert.equal(after.json.entries, []);
    assert.is(after.json.base, r.json.local);
    assert.is(after.json.local, r.json.local);
    assert.is(after.json.remoteSnapshot, r.json.local);
    assert.is(after.json.latestPublished, 1);
    assert.ok(!Number.isNaN(Date.parse(after.json.fetchedAt)));
    // selectors narrow status; --check counts only the selection
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    assert.is((await cli(ws, 'status', '--check', 'skills')).code, 0);
    assert.is((await cli(ws, 'status', '--check', 'agents')).code, 1);
    assert.equal(await states(ws, 'agents/welcome.yaml'), { 'agents/welcome.yaml': 'push' });
    assert.equal(await states(ws, 'skills'), {});
    failed(await cli(ws, 'status', 'nonsense', '--json'), 2, 'SELECTOR_UNKNOWN');
  });

  t('status works offline from the last fetch; --fetch then fails with exit 3', async () => {
    const url = await kind.make();
    const a = await workspace(url);
    const b = await workspace(url, { sample: false });
    await ok(a, 'push');
    await ok(b, 'pull');
    write(a, 'agents/welcome.yaml', 'name: welcome\n');
    await ok(a, 'push');
    await ok(b, 'fetch');
    const before = await ok(b, 'status', '--json');
    assert.equal(await states(b), { 'agents/welcome.yaml': 'pull' });
    breakRemote(b, url);
    const offline = await ok(b, 'status', '--json');
    assert.equal(offline.json, before.json);
    const r = await cli(b, 'status', '--fetch', '--json');
    failed(r, 3, 'REMOTE_UNREACHABLE', 'status --fetch');
    failed(await cli(b, 'fetch', '--json'), 3, 'REMOTE_UNREACHABLE', 'fetch');
    // the failed fetch did not change what status reports
    assert.equal((await ok(b, 'status', '--json')).json, before.json);
  });

  // ---------------------------------------------------------------- fetch

  t('fetch --json: versions and objects, incremental', async () => {
    const url = await kind.make();
    const a = await workspace(url);
    const b = await workspace(url, { sample: false });
    const empty = await ok(b, 'fetch', '--json');
    assert.equal(Object.keys(empty.json).sort(), ['current', 'latestPublished', 'newVersions', 'objectsFetched', 'remote', 'snapshot', 'url']);
    assert.equal({ ...empty.json, url: undefined }, { remote: 'origin', url: undefined, latestPublished: null, current: null, snapshot: null, newVersions: 0, objectsFetched: 0 });
    await ok(a, 'push');
    const f1 = await ok(b, 'fetch', '--json');
    assert.is(f1.json.latestPublished, 1);
    assert.is(f1.json.current, 1);
    assert.is(f1.json.newVersions, 1);
    assert.is(f1.json.objectsFetched, SAMPLE_COUNT);
    assert.is(f1.json.snapshot, (await ok(a, 'hash', '--json')).json.snapshot);
    const f2 = await ok(b, 'fetch', '--json');
    assert.is(f2.json.newVersions, 0);
    assert.is(f2.json.objectsFetched, 0);
    write(a, 'agents/welcome.yaml', 'name: welcome\n');
    await ok(a, 'push');
    const f3 = await ok(b, 'fetch', '--json');
    assert.is(f3.json.newVersions, 1);
    assert.is(f3.json.objectsFetched, 1);
    assert.is(f3.json.latestPublished, 2);
    // fetch never touches the working files
    assert.is(read(b, 'agents/welcome.yaml'), null);
  });

  // ---------------------------------------------------------------- diff

  t('diff --json and --stat', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    await ok(ws, 'push');
    assert.equal((await ok(ws, 'diff', '--json')).json.entries, []);
    const old = read(ws, 'content/docs/getting-started.md')!;
    write(ws, 'content/docs/getting-started.md', old + 'one more line\n');
    write(ws, 'content/new.md', '# new\n');
    const d = await ok(ws, 'diff', '--json');
    assert.equal(d.json.entries, [
      { path: 'content/docs/getting-started.md', state: 'push', remote: old, local: old + 'one more line\n' },
      { path: 'content/new.md', state: 'push', remote: '', local: '# new\n' },
    ]);
    assert.equal((await ok(ws, 'diff', 'content/new.md', '--json')).json.entries.map((x: { path: string }) => x.path), ['content/new.md']);
    const s = await ok(ws, 'diff', '--stat');
    assert.ok(s.out.includes('content/docs/getting-started.md'));
    assert.ok(s.out.includes('content/new.md'));
    const text = await ok(ws, 'diff');
    assert.ok(text.out.includes('one more line'));
    failed(await cli(ws, 'diff', 'nope', '--json'), 2, 'SELECTOR_UNKNOWN');
  });

  // ---------------------------------------------------------------- push / pull selectors

  t('push and pull by kind, by path (with services/ prefix), by folder, and --all', async () => {
    const url = await kind.make();
    const a = await workspace(url);
    const b = await workspace(url, { sample: false });
    await ok(a, 'push');
    await ok(b, 'pull');
    write(a, 'agents/welcome.yaml', 'name: welcome\nv: 2\n');
    write(a, 'skills/sql-helper.yaml', 'name: sql-helper\nv: 2\n');
    write(a, 'content/blog/new.md', '# new\n');
    write(a, 'content/docs/new.md', '# doc\n');
    write(a, 'mcp/new.yaml', 'name: new\ncommand: x\n');

    const byKind = await ok(a, 'push', 'agents', '--json');
    assert.equal(byKind.json.pushed, [{ path: 'agents/welcome.yaml', state: 'push', local: 'modified' }]);
    assert.is(byKind.json.version.id, 2);
    assert.is(byKind.json.dryRun, false);
    assert.equal(await states(a), { 'content/blog/new.md': 'push', 'content/docs/new.md': 'push', 'mcp/new.yaml': 'push', 'skills/sql-helper.yaml': 'push' });

    const byPath = await ok(a, 'push', 'services/skills/sql-helper.yaml', '--json');
    assert.equal(byPath.json.pushed.map((e: { path: string }) => e.path), ['skills/sql-helper.yaml']);
    const byFolder = await ok(a, 'push', 'content/blog', '--json');
    assert.equal(byFolder.json.pushed.map((e: { path: string }) => e.path), ['content/blog/new.md']);
    failed(await cli(a, 'push', 'content/nowhere', '--json'), 2, 'SELECTOR_UNKNOWN', 'push unknown');
    const all = await ok(a, 'push', '--all', '--json');
    assert.equal(all.json.pushed.map((e: { path: string }) => e.path), ['content/docs/new.md', 'mcp/new.yaml']);
    assert.equal(await states(a), {});
    const nothing = await ok(a, 'push', '--json');
    assert.equal(nothing.json.pushed, []);
    assert.is(nothing.json.version, null);
    assert.is((await versionsOf(a)).versions.length, 5);

    // pull in B, piece by piece
    await ok(b, 'fetch');
    assert.equal(Object.values(await states(b)).every((s) => s === 'pull'), true);
    const pk = await ok(b, 'pull', 'agents', '--json');
    assert.equal(pk.json.pulled, [{ path: 'agents/welcome.yaml', state: 'pull', remote: 'modified' }]);
    assert.is(pk.json.version, 5);
    assert.is(read(b, 'agents/welcome.yaml'), 'name: welcome\nv: 2\n');
    assert.is(read(b, 'skills/sql-helper.yaml') === 'name: sql-helper\nv: 2\n', false);
    await ok(b, 'pull', 'services/content/blog/new.md');
    assert.is(read(b, 'content/blog/new.md'), '# new\n');
    assert.is(read(b, 'content/docs/new.md'), null);
    assert.equal(await states(b), { 'content/docs/new.md': 'pull', 'mcp/new.yaml': 'pull', 'skills/sql-helper.yaml': 'pull' });
    failed(await cli(b, 'pull', 'zzz', '--json'), 2, 'SELECTOR_UNKNOWN', 'pull unknown');
    await ok(b, 'pull', '--all');
    assert.equal(await states(b), {});
    assert.is((await ok(b, 'hash', '--json')).json.snapshot, (await ok(a, 'hash', '--json')).json.snapshot);
  });

  // ---------------------------------------------------------------- versions, deploy, rollback, log

  t('versions --json', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    assert.equal(await versionsOf(ws), { remote: 'origin', latestPublished: null, current: null, versions: [] } as never);
    await ok(ws, 'push', '-m', 'first import');
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    await ok(ws, 'push', '--message', 'second');
    const v = await versionsOf(ws);
    assert.is(v.latestPublished, 2);
    assert.is(v.current, 2);
    assert.is(v.versions.length, 2);
    const [v1, v2] = v.versions;
    assert.equal(Object.keys(v1).sort(), ['author', 'changed', 'createdAt', 'id', 'message', 'parent', 'publishedAt', 'snapshot', 'state']);
    assert.equal({ id: v1.id, parent: v1.parent, author: v1.author, message: v1.message, state: v1.state, changed: v1.changed }, { id: 1, parent: null, author: 'tester', message: 'first import', state: 'published', changed: SAMPLE_COUNT });
    assert.equal({ id: v2.id, parent: v2.parent, message: v2.message, changed: v2.changed }, { id: 2, parent: 1, message: 'second', changed: 1 });
    assert.is(v2.snapshot, (await ok(ws, 'hash', '--json')).json.snapshot);
    assert.ok(Date.parse(v2.createdAt) >= Date.parse(v1.createdAt));
  });

  t('deploy and rollback: current moves, status still compares to latest published', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    await ok(ws, 'push');
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    await ok(ws, 'push');
    const rb = await ok(ws, 'rollback', '1', '--json');
    assert.is(rb.json.version.id, 1);
    assert.equal(rb.json.head, { latestPublished: 2, current: 1, lastId: 2 });
    const v = await versionsOf(ws);
    assert.equal([v.latestPublished, v.current], [2, 1]);
    assert.equal(await states(ws, '--fetch'), {}); // still in sync with v2, the latest published
    assert.is(read(ws, 'agents/welcome.yaml'), 'name: welcome\n');
    assert.is((await ok(ws, 'status', '--json')).json.latestPublished, 2);
    const dep = await ok(ws, 'deploy', 'v2', '--json');
    assert.equal(dep.json.head, { latestPublished: 2, current: 2, lastId: 2 });
    // drafts: deploy publishes, rollback refuses
    write(ws, 'agents/welcome.yaml', 'name: welcome\nv: 3\n');
    const d = await ok(ws, 'push', '--draft', '--json');
    assert.is(d.json.version.state, 'draft');
    assert.is(d.json.version.id, 3);
    failed(await cli(ws, 'rollback', '3', '--json'), 2, 'VERSION_DRAFT', 'rollback draft');
    assert.equal(await states(ws), { 'agents/welcome.yaml': 'push' });
    const pub = await ok(ws, 'deploy', '3', '--json');
    assert.is(pub.json.version.state, 'published');
    assert.equal(pub.json.head, { latestPublished: 3, current: 3, lastId: 3 });
    // the draft's bytes are now published: nothing left to push or pull (deploy does not move
    // the base, so the entry may show as converged until the next push/pull records it)
    const after = await states(ws);
    assert.ok(Object.values(after).every((s) => s === 'converged'), JSON.stringify(after));
    await ok(ws, 'pull');
    assert.equal(await states(ws), {});
    failed(await cli(ws, 'rollback', '99', '--json'), 2, 'VERSION_UNKNOWN', 'rollback 99');
    failed(await cli(ws, 'deploy', '99', '--json'), 2, 'VERSION_UNKNOWN', 'deploy 99');
    failed(await cli(ws, 'rollback', 'abc', '--json'), 2, 'USAGE', 'rollback abc');
    failed(await cli(ws, 'deploy', '0', '--json'), 2, 'USAGE', 'deploy 0');
    assert.equal((await versionsOf(ws)).current, 3);
  });

  t('log and log <path>', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    await ok(ws, 'push', '-m', 'v1');
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    await ok(ws, 'push', '-m', 'v2');
    write(ws, 'skills/new.yaml', 'name: new\n');
    await ok(ws, 'push', '-m', 'v3');
    rmSync(join(ws, 'services', 'agents', 'welcome.yaml'));
    await ok(ws, 'push', '-m', 'v4');
    write(ws, 'agents/welcome.yaml', 'name: welcome again\n');
    await ok(ws, 'push', '-m', 'v5');
    const all = await ok(ws, 'log', '--json');
    assert.equal(all.json.versions.map((v: { id: number }) => v.id), [1, 2, 3, 4, 5]);
    const one = await ok(ws, 'log', 'agents/welcome.yaml', '--json');
    assert.equal(one.json.versions.map((v: { id: number; change: string }) => [v.id, v.change]), [[1, 'added'], [2, 'modified'], [4, 'deleted'], [5, 'added']]);
    const prefixed = await ok(ws, 'log', 'services/agents/welcome.yaml', '--json');
    assert.equal(prefixed.json, one.json);
    assert.equal((await ok(ws, 'log', 'skills/new.yaml', '--json')).json.versions.map((v: { id: number }) => v.id), [3]);
    assert.equal((await ok(ws, 'log', 'skills/never.yaml', '--json')).json.versions, []);
    const text = await ok(ws, 'log');
    assert.ok(text.out.includes('v5'));
  });

  // ---------------------------------------------------------------- hash and verify

  t('hash --json: known-answer snapshot hashes', async () => {
    const url = await kind.make();
    const ws = await workspace(url, { sample: false });
    assert.equal((await ok(ws, 'hash', '--json')).json, { snapshot: EMPTY, artifacts: 0 });
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    write(ws, 'content/blog/hello.md', '# Hello\n');
    write(ws, 'content/empty.md', '');
    write(ws, 'skills/b.yaml', 'name: b\n');
    assert.equal((await ok(ws, 'hash', '--json')).json, { snapshot: SNAP4, artifacts: 4 });
    assert.is((await ok(ws, 'hash')).out, SNAP4 + '\n');
    write(ws, 'content/Zeta.md', 'Z\n');
    write(ws, 'content/z.md', 'z\n');
    write(ws, 'content/é.md', 'e\n');
    assert.equal((await ok(ws, 'hash', '--json')).json, { snapshot: SNAP7, artifacts: 7 });
    assert.is((await ok(ws, 'status', '--json')).json.local, SNAP7);
    // after a push the remote's latest published snapshot is the same hash
    await ok(ws, 'push');
    const v = await versionsOf(ws);
    assert.is(v.versions[0].snapshot, SNAP7);
  });

  t('verify: 0 on match, 1 on mismatch, 2 on a malformed hash; --remote', async () => {
    const url = await kind.make();
    const ws = await workspace(url, { sample: false });
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    write(ws, 'content/blog/hello.md', '# Hello\n');
    write(ws, 'content/empty.md', '');
    write(ws, 'skills/b.yaml', 'name: b\n');
    const m = await ok(ws, 'verify', SNAP4, '--json');
    assert.equal(m.json, { expected: SNAP4, actual: SNAP4, source: 'local', ok: true });
    const mm = await cli(ws, 'verify', SNAP7, '--json');
    assert.is(mm.code, 1);
    assert.equal(mm.json, { expected: SNAP7, actual: SNAP4, source: 'local', ok: false });
    assert.is((await cli(ws, 'verify', SNAP7)).code, 1);
    for (const bad of ['54ff1ef2b8d5a6ad46fa5bb77313243f4632c714060bc3902d2ef751688fbb81', 'sha256:xyz', SNAP4.toUpperCase(), SNAP4 + '0']) {
      failed(await cli(ws, 'verify', bad, '--json'), 2, 'HASH_INVALID', bad);
    }
    const r0 = await cli(ws, 'verify', SNAP4, '--remote', '--json');
    assert.is(r0.code, 1, r0.err);
    assert.equal(r0.json, { expected: SNAP4, actual: null, source: 'remote', ok: false });
    await ok(ws, 'push');
    write(ws, 'skills/b.yaml', 'name: b2\n'); // local moves on; the remote does not
    assert.equal((await ok(ws, 'verify', SNAP4, '--remote', '--json')).json, { expected: SNAP4, actual: SNAP4, source: 'remote', ok: true });
    assert.is((await cli(ws, 'verify', SNAP4)).code, 1);
    assert.is((await cli(ws, 'verify', SNAP4, '--remote', 'origin')).code, 0);
  });

  // ---------------------------------------------------------------- validate

  t('validate: the sample is valid', async () => {
    const ws = await workspace(await kind.make());
    assert.equal((await ok(ws, 'validate', '--json')).json, { artifacts: SAMPLE_COUNT, problems: [] });
  });

  t('validate: schema problems and YAML errors with line:col, exit 2', async () => {
    const ws = await workspace(await kind.make(), { sample: false });
    write(ws, 'agents/ok.yaml', 'name: ok\n');
    write(ws, 'agents/noname.yaml', 'description: no name here\n');
    write(ws, 'agents/list.yaml', '- name: a\n');
    write(ws, 'skills/emptyname.yaml', 'name: "  "\n');
    write(ws, 'mcp/nocmd.yaml', 'name: x\ntransport: stdio\n');
    write(ws, 'mcp/url.yaml', 'name: x\nurl: https://example.com/mcp\n');
    write(ws, 'mcp/cmd.yaml', 'name: x\ncommand: npx\n');
    write(ws, 'skills/dup.yaml', 'name: a\nname: b\n');
    write(ws, 'skills/broken.yaml', 'name: a\nlist: [1, 2\nother: 3\n');
    write(ws, 'content/fm-open.md', '---\ntitle: never closed\n# body\n');
    write(ws, 'content/fm-dup.md', '---\ntitle: a\ntitle: b\n---\n# body\n');
    write(ws, 'content/fm-ok.md', '---\ntitle: fine\n---\n# body\n');
    write(ws, 'content/plain.md', '# no front matter: [ not yaml\n');
    const r = await cli(ws, 'validate', '--json');
    assert.is(r.code, 2, r.err);
    assert.is(r.json.artifacts, 13);
    const by = new Map<string, { line: number; col: number }[]>();
    for (const p of r.json.problems) {
      assert.equal(Object.keys(p).sort(), ['col', 'line', 'message', 'path']);
      assert.type(p.line, 'number');
      assert.type(p.col, 'number');
      by.set(p.path, [...(by.get(p.path) ?? []), { line: p.line, col: p.col }]);
    }
    assert.equal([...by.keys()].sort(), ['agents/list.yaml', 'agents/noname.yaml', 'content/fm-dup.md', 'content/fm-open.md', 'mcp/nocmd.yaml', 'skills/broken.yaml', 'skills/dup.yaml', 'skills/emptyname.yaml']);
    assert.equal(by.get('agents/noname.yaml'), [{ line: 1, col: 1 }]);
    assert.equal(by.get('mcp/nocmd.yaml'), [{ line: 1, col: 1 }]);
    assert.equal(by.get('skills/dup.yaml')![0], { line: 2, col: 1 });
    assert.ok(by.get('skills/broken.yaml')![0]!.line >= 2, JSON.stringify(by.get('skills/broken.yaml')));
    assert.equal(by.get('content/fm-open.md'), [{ line: 1, col: 1 }]);
    assert.equal(by.get('content/fm-dup.md')![0], { line: 3, col: 1 }); // line numbers count the opening ---
    // text mode names file:line:col on stderr
    const txt = await cli(ws, 'validate');
    assert.is(txt.code, 2);
    assert.ok(txt.err.includes('services/skills/dup.yaml:2:1'), txt.err);
    assert.ok(txt.err.includes('services/content/fm-dup.md:3:1'), txt.err);
  });

  // ---------------------------------------------------------------- push refusals

  t('push refuses an invalid artifact before writing anything remote', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    write(ws, 'agents/bad.yaml', 'description: no name\n');
    const first = await cli(ws, 'push', '--json');
    failed(first, 2, 'VALIDATION_FAILED', 'first push');
    assert.equal(first.json.error.data.problems.map((p: { path: string }) => p.path), ['agents/bad.yaml']);
    assert.equal((await versionsOf(ws)).versions, []);
    if (isAbsolute(url)) assert.not.ok(existsSync(url), 'the directory remote was not even created');
    rmSync(join(ws, 'services', 'agents', 'bad.yaml'));
    await ok(ws, 'push');
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    write(ws, 'mcp/broken.yaml', 'name: x\n');
    failed(await cli(ws, 'push', '--json'), 2, 'VALIDATION_FAILED', 'second push');
    const v = await versionsOf(ws);
    assert.equal(v.versions.map((x) => x.id), [1]);
    assert.equal(await states(ws), { 'agents/welcome.yaml': 'push', 'mcp/broken.yaml': 'push' });
    // the valid part alone goes through; a selection that leaves the broken file out is fine
    await ok(ws, 'push', 'agents');
    assert.equal((await versionsOf(ws)).versions.length, 2);
    // dry run refuses too
    failed(await cli(ws, 'push', '--dry-run', '--json'), 2, 'VALIDATION_FAILED', 'dry run');
  });

  t('push refuses a file with conflict markers (CONFLICT_MARKERS)', async () => {
    const url = await kind.make();
    const ws = await workspace(url);
    await ok(ws, 'push');
    write(ws, 'content/docs/getting-started.md', 'intro\n<<<<<<< local\nmine\n=======\ntheirs\n>>>>>>> remote v1\nend\n');
    const r = await cli(ws, 'push', '--json');
    failed(r, 1, 'CONFLICT_MARKERS', 'push');
    assert.equal(r.json.error.data.paths, ['content/docs/getting-started.md']);
    assert.equal((await versionsOf(ws)).versions.length, 1);
    failed(await cli(ws, 'push', '--force', '--json'), 1, 'CONFLICT_MARKERS', 'push --force');
    assert.equal((await versionsOf(ws)).versions.length, 1);
    // a lone ======= line (a Markdown heading underline) is not a conflict marker
    write(ws, 'content/docs/getting-started.md', 'Title\n=======\n\ntext\n');
    await ok(ws, 'push');
    assert.equal((await versionsOf(ws)).versions.length, 2);
  });

  // ---------------------------------------------------------------- undo, fsck, usage

  t('undo with nothing to undo → NOTHING_TO_UNDO, exit 1', async () => {
    const ws = await workspace(await kind.make());
    failed(await cli(ws, 'undo', '--json'), 1, 'NOTHING_TO_UNDO');
    await ok(ws, 'push');
    failed(await cli(ws, 'undo', '--json'), 1, 'NOTHING_TO_UNDO');
  });

  t('fsck: a healthy store', async () => {
    const url = await kind.make();
    const a = await workspace(url);
    const fresh = await ok(a, 'fsck', '--json');
    assert.equal(fresh.json.problems, []);
    await ok(a, 'push');
    const b = await workspace(url, { sample: false });
    await ok(b, 'pull');
    for (const ws of [a, b]) {
      const r = await ok(ws, 'fsck', '--json');
      assert.equal(Object.keys(r.json).sort(), ['objects', 'problems', 'refs']);
      assert.equal(r.json.problems, []);
      assert.ok(r.json.objects >= SAMPLE_COUNT + 1, `objects: ${r.json.objects}`); // blobs and the manifest
      assert.is(r.json.refs, 2); // base and fetch record of origin
    }
  });

  t('usage errors exit 2: unknown command, unknown option, missing argument', async () => {
    const ws = await workspace(await kind.make());
    failed(await cli(ws, 'frobnicate', '--json'), 2, 'USAGE', 'unknown command');
    failed(await cli(ws, 'status', '--bogus', '--json'), 2, 'USAGE', 'unknown option');
    failed(await cli(ws, 'push', '--frobnicate'), 2, 'USAGE', 'unknown push option');
    failed(await cli(ws, 'deploy', '--json'), 2, 'USAGE', 'deploy without a version');
    failed(await cli(ws, 'verify'), 2, 'USAGE', 'verify without a hash');
    assert.is((await cli(ws)).code, 2);
    assert.is((await cli(ws, '--help')).code, 0);
    const v = await cli(ws, '--version');
    assert.is(v.code, 0);
    assert.match(v.out, /\d+\.\d+\.\d+/);
    // nothing was pushed by any of these
    assert.equal((await versionsOf(ws)).versions, []);
  });

  t('two remotes are tracked separately: base, fetch record, --remote', async () => {
    const url1 = await kind.make();
    const url2 = await kind.make();
    const ws = await workspace(url1);
    await ok(ws, 'remote', 'add', 'backup', url2);
    await ok(ws, 'push');
    assert.equal(await states(ws), {});
    const other = await cli(ws, 'status', '--remote', 'backup', '--json');
    assert.is(other.code, 0, other.err);
    assert.is(other.json.remote, 'backup');
    assert.is(other.json.entries.length, SAMPLE_COUNT);
    assert.is(other.json.latestPublished, null);
    const p = await ok(ws, 'push', '--remote', 'backup', '--json');
    assert.is(p.json.remote, 'backup');
    assert.is(p.json.version.id, 1);
    write(ws, 'agents/welcome.yaml', 'name: welcome\n');
    await ok(ws, 'push', '--remote', 'backup');
    assert.equal(await states(ws, '--remote', 'backup'), {});
    assert.equal(await states(ws), { 'agents/welcome.yaml': 'push' });
    assert.equal((await ok(ws, 'versions', '--remote', 'backup', '--json')).json.versions.length, 2);
    assert.equal((await versionsOf(ws)).versions.length, 1);
  });

  t('pointing origin at a new, empty remote (agentsync.yaml edited): push fills it; it never "succeeds" leaving it empty', async () => {
    const url1 = await kind.make();
    const ws = await workspace(url1);
    await ok(ws, 'push');
    const url2 = await kind.make();
    const cfg = join(ws, 'agentsync.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').split(url1).join(url2));
    const local = (await ok(ws, 'hash', '--json')).json.snapshot;
    const r = await cli(ws, 'push', '--json');
    assert.is(r.code, 0, r.err);
    const v = await cli(ws, 'verify', local, '--remote', '--json');
    assert.is(v.code, 0, `the new remote has the workspace's snapshot: ${JSON.stringify(v.json)}`);
    assert.equal(await states(ws, '--fetch'), {});
  });

  t('validate: empty, non-UTF-8 and non-map artifacts', async () => {
    const ws = await workspace(await kind.make(), { sample: false });
    write(ws, 'agents/empty.yaml', '');
    write(ws, 'skills/scalar.yaml', 'just a string\n');
    writeFileSync(join(ws, 'services', 'content', 'latin1.md'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    write(ws, 'content/empty.md', '');
    const r = await cli(ws, 'validate', '--json');
    assert.is(r.code, 2, r.err);
    assert.equal(r.json.problems.map((p: { path: string; line: number; col: number }) => [p.path, p.line, p.col]).sort(), [
      ['agents/empty.yaml', 1, 1], ['content/latin1.md', 1, 1], ['skills/scalar.yaml', 1, 1],
    ]);
    failed(await cli(ws, 'push', '--json'), 2, 'VALIDATION_FAILED', 'push');
    assert.equal((await versionsOf(ws)).versions, []);
  });

  t.run();
}
