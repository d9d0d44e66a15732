/**
 * The workspace: init, finding the root, agentsync.yaml (kinds, remotes, size cap), what is an
 * artifact and what is refused, and the stat cache of the scanner.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { blobId } from '../src/model/hash.js';
import { snapshotHash } from '../src/model/manifest.js';
import { LocalStore } from '../src/store/local.js';
import { emptyStatCache, statEntries } from '../src/store/stat-cache.js';
import { loadWorkspace } from '../src/workspace/config.js';
import { scan } from '../src/workspace/scan.js';
import { cleanup, cli, read, states, tmp, workspace, write } from './helpers.js';
import { dirRemote } from './remotes.js';

const SAMPLE_COUNT = 16; // artifacts in fixtures/sample/services

function hasGit(): boolean {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function hashOf(cwd: string, ...pre: string[]): Promise<{ snapshot: string; artifacts: number }> {
  const r = await cli(cwd, ...pre, 'hash', '--json');
  assert.is(r.code, 0, r.err);
  return r.json;
}

// ---------------------------------------------------------------- init

const init = suite('workspace: init');
init.after.each(cleanup);

init('creates agentsync.yaml, the kind folders and .agentsync/', async () => {
  const dir = tmp();
  const r = await cli(dir, 'init', '--json');
  assert.is(r.code, 0, r.err);
  assert.ok(existsSync(join(dir, 'agentsync.yaml')));
  for (const k of ['agents', 'skills', 'mcp', 'content', 'playbook']) assert.ok(statSync(join(dir, 'services', k)).isDirectory(), k);
  assert.ok(statSync(join(dir, '.agentsync')).isDirectory());
  assert.equal(r.json.remotes, []);
  assert.ok(r.json.created.includes('agentsync.yaml'));
  assert.ok(r.json.created.includes('.agentsync/'));
  assert.ok(r.json.created.includes('services/agents/'));
  // an empty workspace hashes to the empty snapshot
  assert.equal(await hashOf(dir), { snapshot: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', artifacts: 0 });
});

init('is idempotent: a second init creates nothing and keeps the config', async () => {
  const dir = tmp();
  assert.is((await cli(dir, 'init', '--remote', '/somewhere/remote')).code, 0);
  const before = readFileSync(join(dir, 'agentsync.yaml'), 'utf8');
  const r = await cli(dir, 'init', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.created, []);
  assert.is(readFileSync(join(dir, 'agentsync.yaml'), 'utf8'), before);
  // same remote again is fine; another URL for origin is refused
  assert.is((await cli(dir, 'init', '--remote', '/somewhere/remote')).code, 0);
  const e = await cli(dir, 'init', '--remote', '/elsewhere', '--json');
  assert.is(e.code, 2);
  assert.is(e.json.error.code, 'REMOTE_EXISTS');
  assert.is(readFileSync(join(dir, 'agentsync.yaml'), 'utf8'), before);
});

init('-C creates the workspace in another folder', async () => {
  const dir = join(tmp(), 'nested', 'ws');
  const r = await cli(tmp(), '-C', dir, 'init', '--json');
  assert.is(r.code, 0, r.err);
  assert.ok(existsSync(join(dir, 'agentsync.yaml')));
  assert.ok(existsSync(join(dir, '.agentsync')));
});

init('outside a git repository no .gitignore is written', async () => {
  const dir = tmp();
  const r = await cli(dir, 'init', '--json');
  assert.is(r.json.gitignore, null);
  assert.not.ok(existsSync(join(dir, '.gitignore')));
});

if (hasGit()) {
  init('inside a git repository adds .agentsync/ to .gitignore, once', async () => {
    const dir = tmp();
    execFileSync('git', ['init', '-q', dir]);
    const r = await cli(dir, 'init', '--json');
    assert.is(r.code, 0, r.err);
    assert.is(r.json.gitignore, join(dir, '.gitignore'));
    assert.is(readFileSync(join(dir, '.gitignore'), 'utf8'), '.agentsync/\n');
    const r2 = await cli(dir, 'init', '--json');
    assert.is(r2.json.gitignore, null);
    assert.is(readFileSync(join(dir, '.gitignore'), 'utf8'), '.agentsync/\n');
    // git itself now ignores the store
    const ignored = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--ignored'], { encoding: 'utf8' });
    assert.ok(/^!! \.agentsync\/$/m.test(ignored), ignored);
  });

  init('appends to an existing .gitignore (adding a missing final newline), in a subfolder of the repo', async () => {
    const repo = tmp();
    execFileSync('git', ['init', '-q', repo]);
    const dir = join(repo, 'config');
    mkdirSync(dir);
    writeFileSync(join(dir, '.gitignore'), 'node_modules/');
    assert.is((await cli(dir, 'init')).code, 0);
    assert.is(readFileSync(join(dir, '.gitignore'), 'utf8'), 'node_modules/\n.agentsync/\n');
    assert.is((await cli(dir, 'init')).code, 0);
    assert.is(readFileSync(join(dir, '.gitignore'), 'utf8'), 'node_modules/\n.agentsync/\n');
  });
} else {
  init.skip('inside a git repository adds .agentsync/ to .gitignore, once (git not installed)', () => {});
}

init.run();

// ---------------------------------------------------------------- finding the workspace

const find = suite('workspace: finding the root');
find.after.each(cleanup);

find('found from a subfolder (walk up) and with -C', async () => {
  const ws = await workspace(await dirRemote.make());
  const root = await hashOf(ws);
  assert.is(root.artifacts, SAMPLE_COUNT);
  assert.equal(await hashOf(join(ws, 'services', 'content', 'blog')), root);
  assert.equal(await hashOf(tmp(), '-C', ws), root);
  assert.equal(await hashOf(tmp(), '-C', join(ws, 'services')), root);
});

find('not a workspace → NOT_A_WORKSPACE, exit 2', async () => {
  const dir = tmp();
  for (const argv of [['status', '--json'], ['hash', '--json'], ['push', '--json'], ['validate', '--json'], ['remote', 'list', '--json']]) {
    const r = await cli(dir, ...argv);
    assert.is(r.code, 2, argv.join(' '));
    assert.is(r.json.error.code, 'NOT_A_WORKSPACE', argv.join(' '));
    assert.ok(/\(NOT_A_WORKSPACE\)\n$/.test(r.err), r.err);
  }
  assert.not.ok(existsSync(join(dir, '.agentsync')));
});

find('bad YAML in agentsync.yaml → CONFIG_INVALID with line and column', async () => {
  const ws = await workspace(await dirRemote.make());
  writeFileSync(join(ws, 'agentsync.yaml'), 'remotes:\n  origin: {url: /x\nmaxFileSize: 10\n');
  const r = await cli(ws, 'status', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'CONFIG_INVALID');
  assert.type(r.json.error.data.line, 'number');
  assert.ok(r.json.error.data.line >= 2, JSON.stringify(r.json.error.data));
  assert.type(r.json.error.data.col, 'number');
});

find('invalid config values → CONFIG_INVALID', async () => {
  const ws = await workspace(await dirRemote.make());
  const bad = [
    'maxFileSize: -1\n',
    'maxFileSize: big\n',
    'remotes: [a, b]\n',
    'remotes:\n  origin: {}\n',
    'kinds:\n  prompts: {pattern: "../x/*.md"}\n',
    'kinds:\n  prompts: {pattern: "p/*.md", schema: weird}\n',
    '- a list\n',
  ];
  for (const text of bad) {
    writeFileSync(join(ws, 'agentsync.yaml'), text);
    for (const cmd of ['status', 'hash']) {
      const r = await cli(ws, cmd, '--json');
      assert.is(r.code, 2, `${cmd}: ${text}`);
      assert.is(r.json?.error?.code, 'CONFIG_INVALID', `${cmd}: ${text}`);
    }
  }
});

find('an unknown --remote name → REMOTE_UNKNOWN; a workspace without remotes cannot push', async () => {
  const ws = await workspace(await dirRemote.make());
  const r = await cli(ws, 'status', '--remote', 'nope', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'REMOTE_UNKNOWN');
  const bare = tmp();
  assert.is((await cli(bare, 'init')).code, 0);
  write(bare, 'agents/a.yaml', 'name: a\n');
  const st = await cli(bare, 'status', '--json');
  assert.is(st.code, 0, st.err);
  assert.is(st.json.remote, null);
  const p = await cli(bare, 'push', '--json');
  assert.is(p.code, 2);
  assert.is(p.json.error.code, 'REMOTE_UNKNOWN');
});

find('remote URLs: a non-empty folder that is no remote → NOT_A_REMOTE; an unknown scheme → REMOTE_URL_INVALID; file:// works', async () => {
  const ws = await workspace(await dirRemote.make());
  const notRemote = tmp();
  writeFileSync(join(notRemote, 'precious.txt'), 'keep me\n');
  assert.is((await cli(ws, 'remote', 'add', 'other', notRemote)).code, 0);
  const r = await cli(ws, 'push', '--remote', 'other', '--json');
  assert.is(r.code, 2, r.err);
  assert.is(r.json.error.code, 'NOT_A_REMOTE');
  assert.equal(readdirSync(notRemote), ['precious.txt']);
  assert.is((await cli(ws, 'remote', 'add', 'ftp', 'ftp://example.com/x')).code, 0);
  const u = await cli(ws, 'fetch', '--remote', 'ftp', '--json');
  assert.is(u.code, 2, u.err);
  assert.is(u.json.error.code, 'REMOTE_URL_INVALID');
  // a file:// URL and the plain path name the same directory remote
  const dir = join(tmp(), 'r');
  assert.is((await cli(ws, 'remote', 'add', 'viafile', pathToFileURL(dir).href)).code, 0);
  const p = await cli(ws, 'push', '--remote', 'viafile', '--json');
  assert.is(p.code, 0, p.err);
  const other = await workspace(dir, { sample: false });
  assert.is((await cli(other, 'pull')).code, 0);
  assert.equal(await hashOf(other), await hashOf(ws));
  // a relative remote path is resolved against the workspace root, from any subfolder
  const rel = await workspace('./local-remote');
  assert.is((await cli(join(rel, 'services', 'agents'), 'push')).code, 0);
  assert.ok(existsSync(join(rel, 'local-remote', 'AGENTSYNC_REMOTE')));
});

find.run();

// ---------------------------------------------------------------- config: kinds, size, remotes

const config = suite('workspace: agentsync.yaml');
config.after.each(cleanup);

config('a kind override adds an artifact kind; editing the config takes effect at once', async () => {
  const ws = await workspace(await dirRemote.make());
  write(ws, 'prompts/deep/a.md', '# a\n');
  assert.is((await hashOf(ws)).artifacts, SAMPLE_COUNT);
  const cfg = join(ws, 'agentsync.yaml');
  const text = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, text + 'kinds:\n  prompts: { pattern: "prompts/**/*.md", schema: none }\n');
  assert.is((await hashOf(ws)).artifacts, SAMPLE_COUNT + 1);
  const r = await cli(ws, 'status', '--json');
  const e = r.json.entries.find((x: { path: string }) => x.path === 'prompts/deep/a.md');
  assert.equal(e, { path: 'prompts/deep/a.md', kind: 'prompts', local: 'added', remote: 'unchanged', state: 'push' });
  // removing the kind again (same file size, same mtime: only the content differs)
  const st = statSync(cfg);
  const changed = text + 'kinds:\n  prompts: { pattern: "prompts/**/*.mX", schema: none }\n';
  writeFileSync(cfg, changed);
  utimesSync(cfg, st.atime, st.mtime);
  assert.is((await hashOf(ws)).artifacts, SAMPLE_COUNT);
});

config('files outside every kind are not artifacts', async () => {
  const ws = await workspace(await dirRemote.make());
  const before = await hashOf(ws);
  const statesBefore = await states(ws);
  write(ws, 'notes/readme.md', 'x\n');
  write(ws, 'agents/readme.txt', 'x\n');
  write(ws, 'agents/sub/nested.yaml', 'name: nested\n'); // agents/*.yaml is one level deep
  write(ws, 'agents/x.yml', 'name: x\n');
  write(ws, 'content/.hidden.md', 'x\n');
  write(ws, 'top.md', 'x\n');
  writeFileSync(join(ws, 'loose.yaml'), 'name: x\n');
  assert.equal(await hashOf(ws), before);
  assert.equal(await states(ws), statesBefore);
  // the empty folder and a folder named like an artifact are not artifacts either
  mkdirSync(join(ws, 'services', 'agents', 'dir.yaml'));
  assert.equal(await hashOf(ws), before);
});

config('a file over maxFileSize → FILE_TOO_LARGE, exit 2', async () => {
  const ws = await workspace(await dirRemote.make());
  const cfg = join(ws, 'agentsync.yaml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/maxFileSize: \d+/, 'maxFileSize: 10000'));
  write(ws, 'content/big.md', 'x'.repeat(10001));
  for (const cmd of ['status', 'hash', 'push']) {
    const r = await cli(ws, cmd, '--json');
    assert.is(r.code, 2, cmd);
    assert.is(r.json.error.code, 'FILE_TOO_LARGE', cmd);
    assert.is(r.json.error.data.path, 'content/big.md');
    assert.is(r.json.error.data.size, 10001);
    assert.is(r.json.error.data.max, 10000);
  }
  write(ws, 'content/big.md', 'x'.repeat(10000)); // exactly the cap is fine
  assert.is((await cli(ws, 'status', '--json')).code, 0);
});

config('remote add / list / remove, keeping the comments of agentsync.yaml', async () => {
  const ws = await workspace('/srv/origin-remote');
  const cfg = join(ws, 'agentsync.yaml');
  writeFileSync(cfg, '# my own comment\n' + readFileSync(cfg, 'utf8') + '# trailing note\n');
  const add = await cli(ws, 'remote', 'add', 'backup', '/srv/backup-remote');
  assert.is(add.code, 0, add.err);
  const text = readFileSync(cfg, 'utf8');
  assert.ok(text.includes('# my own comment'));
  assert.ok(text.includes('# agentsync workspace configuration'));
  assert.ok(text.includes('# Artifacts larger than this many bytes are refused.'));
  assert.ok(text.includes('# trailing note'));
  const list = await cli(ws, 'remote', 'list', '--json');
  assert.is(list.code, 0);
  assert.equal(list.json.remotes, [{ name: 'origin', url: '/srv/origin-remote' }, { name: 'backup', url: '/srv/backup-remote' }]);
  const dup = await cli(ws, 'remote', 'add', 'backup', '/other', '--json');
  assert.is(dup.code, 2);
  assert.is(dup.json.error.code, 'REMOTE_EXISTS');
  const badName = await cli(ws, 'remote', 'add', '-bad name', '/x', '--json');
  assert.is(badName.code, 2);
  const missingUrl = await cli(ws, 'remote', 'add', 'x', '--json');
  assert.is(missingUrl.code, 2);
  assert.is(missingUrl.json.error.code, 'USAGE');
  const rm = await cli(ws, 'remote', 'remove', 'backup');
  assert.is(rm.code, 0, rm.err);
  assert.equal((await cli(ws, 'remote', 'list', '--json')).json.remotes, [{ name: 'origin', url: '/srv/origin-remote' }]);
  assert.ok(readFileSync(cfg, 'utf8').includes('# my own comment'));
  const rm2 = await cli(ws, 'remote', 'remove', 'backup', '--json');
  assert.is(rm2.code, 2);
  assert.is(rm2.json.error.code, 'REMOTE_UNKNOWN');
  const sub = await cli(ws, 'remote', 'frobnicate', '--json');
  assert.is(sub.code, 2);
  assert.is(sub.json.error.code, 'USAGE');
});

config('remote remove forgets that remote\'s base and fetch record', async () => {
  const remoteUrl = await dirRemote.make();
  const ws = await workspace(remoteUrl);
  assert.is((await cli(ws, 'push')).code, 0);
  assert.equal(await states(ws), {});
  assert.is((await cli(ws, 'remote', 'remove', 'origin')).code, 0);
  assert.is((await cli(ws, 'remote', 'add', 'origin', remoteUrl)).code, 0);
  // the base is gone: before a fetch everything looks locally added
  const st = await states(ws);
  assert.is(Object.keys(st).length, SAMPLE_COUNT);
  assert.ok(Object.values(st).every((s) => s === 'push'));
  // after a fetch both sides added the same bytes
  const f = await states(ws, '--fetch');
  assert.ok(Object.values(f).every((s) => s === 'converged'), JSON.stringify(f));
});

config.run();

// ---------------------------------------------------------------- unsafe files

const unsafe = suite('workspace: unsafe files');
unsafe.after.each(cleanup);

unsafe('a symlink pointing outside services/ → PATH_UNSAFE, exit 2', async () => {
  const ws = await workspace(await dirRemote.make());
  const outside = join(tmp(), 'secret.yaml');
  writeFileSync(outside, 'name: secret\n');
  symlinkSync(outside, join(ws, 'services', 'agents', 'leak.yaml'));
  for (const cmd of ['status', 'hash', 'push']) {
    const r = await cli(ws, cmd, '--json');
    assert.is(r.code, 2, cmd);
    assert.is(r.json.error.code, 'PATH_UNSAFE', cmd);
    assert.is(r.json.error.data.path, 'agents/leak.yaml');
  }
  // also a link to the workspace's own config, outside services/
  const ws2 = await workspace(await dirRemote.make());
  symlinkSync(join(ws2, 'agentsync.yaml'), join(ws2, 'services', 'agents', 'cfg.yaml'));
  assert.is((await cli(ws2, 'status', '--json')).json.error.code, 'PATH_UNSAFE');
});

unsafe('a symlink inside services/ is an artifact; a dangling one is refused (PATH_UNSAFE), never skipped silently', async () => {
  const ws = await workspace(await dirRemote.make());
  const before = await hashOf(ws);
  symlinkSync(join(ws, 'services', 'agents', 'welcome.yaml'), join(ws, 'services', 'agents', 'alias.yaml'));
  const after = await hashOf(ws);
  assert.is(after.artifacts, before.artifacts + 1);
  const st = await cli(ws, 'status', '--json');
  assert.equal(st.json.entries.map((e: { path: string }) => e.path).filter((p: string) => p === 'agents/alias.yaml'), ['agents/alias.yaml']);
  symlinkSync(join(ws, 'services', 'agents', 'missing.yaml'), join(ws, 'services', 'agents', 'dangling.yaml'));
  const d = await cli(ws, 'status', '--json');
  assert.is(d.code, 2);
  assert.is(d.json.error.code, 'PATH_UNSAFE');
  assert.is(d.json.error.data.path, 'agents/dangling.yaml');
});

unsafe('a file with a backslash or a newline in its name → PATH_UNSAFE', async () => {
  for (const name of ['a\\b.yaml', 'a\nb.yaml']) {
    const ws = await workspace(await dirRemote.make());
    writeFileSync(join(ws, 'services', 'agents', name), 'name: x\n');
    const r = await cli(ws, 'status', '--json');
    assert.is(r.code, 2, JSON.stringify(name));
    assert.is(r.json.error.code, 'PATH_UNSAFE', JSON.stringify(name));
    assert.is(r.json.error.data.path, `agents/${name}`);
    const p = await cli(ws, 'push', '--json');
    assert.is(p.json.error.code, 'PATH_UNSAFE');
  }
});

unsafe.run();

// ---------------------------------------------------------------- stat cache

const cache = suite('workspace: stat cache');
cache.after.each(cleanup);

/** Set every artifact's mtime well in the past, so that none is "racy". */
function ageFiles(ws: string, rels: string[], secondsAgo: number): void {
  const t = new Date(Date.now() - secondsAgo * 1000);
  for (const r of rels) utimesSync(join(ws, 'services', r), t, t);
}

cache('unchanged files are not re-read; an edited one is', async () => {
  const ws = await workspace(await dirRemote.make());
  const w = await loadWorkspace(ws);
  const first = scan(w, emptyStatCache());
  const rels = [...first.manifest.keys()];
  assert.is(rels.length, SAMPLE_COUNT);
  assert.is(first.hashed, SAMPLE_COUNT);
  ageFiles(ws, rels, 3600);
  const second = scan(w, first.cache);
  assert.is(second.hashed, SAMPLE_COUNT); // mtimes changed: re-read once
  const third = scan(w, second.cache);
  assert.is(third.hashed, 0);
  assert.not.ok(third.cacheDirty);
  assert.equal(third.manifest, first.manifest);
  assert.is(third.snapshot, snapshotHash(first.manifest));
  // edit one file
  write(ws, 'agents/welcome.yaml', 'name: welcome\n');
  ageFiles(ws, ['agents/welcome.yaml'], 1800);
  const fourth = scan(w, third.cache);
  assert.is(fourth.hashed, 1);
  assert.is(fourth.manifest.get('agents/welcome.yaml'), '2a720e5b7d7a540cdf7042697317d3dc07aa62f9573374d297c501ff906b50a9');
  assert.is(fourth.snapshot, snapshotHash(fourth.manifest));
  assert.is.not(fourth.snapshot, third.snapshot);
  assert.is(scan(w, fourth.cache).hashed, 0);
  // a deleted file leaves the manifest, without reading anything
  const rm = join(ws, 'services', 'skills', 'sql-helper.yaml');
  renameSync(rm, rm + '.bak'); // no longer matches skills/*.yaml
  const fifth = scan(w, fourth.cache);
  assert.is(fifth.hashed, 0);
  assert.is(fifth.manifest.size, SAMPLE_COUNT - 1);
  assert.ok(fifth.cacheDirty);
  assert.is(fifth.snapshot, snapshotHash(fifth.manifest));
  // a file added among the others and another removed: only the new one is read, and the result
  // is a fresh scan's; rows out of place still match on the next scans
  write(ws, 'content/added/x.md', '# x\n');
  ageFiles(ws, ['content/added/x.md'], 1800);
  renameSync(join(ws, 'services', 'agents', 'welcome.yaml'), join(ws, 'services', 'agents', 'welcome.yaml.bak'));
  const sixth = scan(w, fifth.cache);
  assert.is(sixth.hashed, 1);
  assert.equal([...sixth.manifest].sort(), [...(await scanAll(ws))].sort());
  assert.is(sixth.snapshot, snapshotHash(sixth.manifest));
  const seventh = scan(w, sixth.cache);
  assert.is(seventh.hashed, 0);
  assert.not.ok(seventh.cacheDirty);
  const shuffled = { ...seventh.cache, paths: [...seventh.cache.paths].reverse(), ids: [...seventh.cache.ids].reverse(), size: Array.from(seventh.cache.size).reverse(), mtime: Array.from(seventh.cache.mtime).reverse(), ino: Array.from(seventh.cache.ino).reverse() };
  const eighth = scan(w, shuffled);
  assert.is(eighth.hashed, 0);
  assert.is(eighth.snapshot, sixth.snapshot);
});

cache('a file replaced with the same size and mtime (new inode) is re-read', async () => {
  const ws = await workspace(await dirRemote.make());
  const w = await loadWorkspace(ws);
  const rel = 'agents/welcome.yaml';
  const abs = join(ws, 'services', rel);
  const first = scan(w, emptyStatCache());
  ageFiles(ws, [...first.manifest.keys()], 3600);
  const warm = scan(w, first.cache);
  assert.is(scan(w, warm.cache).hashed, 0);
  const old = readFileSync(abs);
  const st = statSync(abs);
  const replacement = Buffer.from(old);
  replacement[replacement.length - 2] = replacement[replacement.length - 2] === 0x41 ? 0x42 : 0x41; // same size
  writeFileSync(abs + '.new', replacement);
  utimesSync(abs + '.new', st.atime, st.mtime);
  renameSync(abs + '.new', abs);
  const r = scan(w, warm.cache);
  assert.is(r.hashed, 1);
  assert.is(r.manifest.get(rel), blobId(replacement));
});

cache('a file modified right after the cache was written ("racy") is re-read', async () => {
  const ws = await workspace(await dirRemote.make());
  const w = await loadWorkspace(ws);
  const first = scan(w, emptyStatCache());
  // the cache claims to be written at the files' own mtime: none of them can be trusted
  const racy = { ...first.cache, writtenAt: Math.min(...Array.from(first.cache.mtime)) };
  const r = scan(w, racy);
  assert.is(r.hashed, SAMPLE_COUNT);
});

cache('the CLI keeps the stat cache in the store, and status sees edits', async () => {
  const ws = await workspace(await dirRemote.make());
  assert.is((await cli(ws, 'push')).code, 0);
  assert.equal(await states(ws), {});
  const store = await LocalStore.open(join(ws, '.agentsync'));
  let c;
  try { c = await store.statCache(); } finally { await store.close(); }
  assert.is(statEntries(c).size, SAMPLE_COUNT);
  assert.is(statEntries(c).get('agents/welcome.yaml')!.id, blobId(readFileSync(join(ws, 'services', 'agents', 'welcome.yaml'))));
  write(ws, 'agents/welcome.yaml', read(ws, 'agents/welcome.yaml') + '# edit\n');
  assert.equal(await states(ws), { 'agents/welcome.yaml': 'push' });
  // an edit of the same size right after a status is still seen
  const before = read(ws, 'agents/welcome.yaml')!;
  write(ws, 'agents/welcome.yaml', before.replace('# edit', '# EDIT'));
  assert.is((await cli(ws, 'hash', '--json')).json.snapshot, snapshotHash(new Map([...(await scanAll(ws))])));
});

/** A fresh scan without any cache. */
async function scanAll(ws: string): Promise<Map<string, string>> {
  return scan(await loadWorkspace(ws), emptyStatCache()).manifest;
}

cache.run();
