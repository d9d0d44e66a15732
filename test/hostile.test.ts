/**
 * Trust nothing that crosses a boundary: a hostile remote (unsafe paths in a change list, a
 * snapshot no clone can check out, terminal escapes in author and message), a hostile workspace
 * (folder links, names in the way), credentials in a remote URL, and temp files left by killed
 * processes. Both remote kinds; hostile versions are written straight into the remote's store,
 * the way a compromised server or a hand-edited folder remote would serve them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { blobId } from '../src/model/hash.js';
import { applyChanges, encodeManifest, manifestObjectId, snapshotHashOf, type Change } from '../src/model/manifest.js';
import type { Head, Version } from '../src/model/version.js';
import { openDb, jsonValue, type Db } from '../src/store/db.js';
import { RemoteStore } from '../src/store/remote-store.js';
import { checkWritable } from '../src/workspace/fsio.js';
import { cleanup, cli, ok, read, tmp, workspace, write } from './helpers.js';
import { REMOTE_KINDS, httpServer, type RemoteKind } from './remotes.js';

const enc = new TextEncoder();

/** Where a remote URL's store lives, and its key prefix: a folder remote's own LevelDB, or the test server's tenant keyspace. */
async function withRemoteDb<T>(url: string, fn: (db: Db, prefix: string) => Promise<T>): Promise<T> {
  if (url.startsWith('http')) {
    const h = await httpServer();
    const tenant = url.slice(url.lastIndexOf('/') + 1);
    return fn((h.server.storage as unknown as { db: Db }).db, `t!${tenant}!`);
  }
  const db = await openDb(join(url, 'store'));
  try { return await fn(db, ''); } finally { await db.close(); }
}

/**
 * Publish a version with `changes` on top of the latest published one, bypassing every check the
 * remote makes (what a hostile server sends). Blob bytes for the new ids are stored too.
 */
async function inject(url: string, changes: { path: string; text: string | null }[], meta: { author?: string; message?: string } = {}): Promise<number> {
  return withRemoteDb(url, async (db, prefix) => {
    const rs = new RemoteStore(db, prefix);
    const head = await rs.head();
    const parent = head.latestPublished === null ? new Map() : await rs.manifestOf((await rs.version(head.latestPublished)).snapshot);
    const blobs = changes.filter((c) => c.text !== null).map((c) => enc.encode(c.text!));
    const list: Change[] = changes.map((c) => ({ path: c.path, id: c.text === null ? null : blobId(enc.encode(c.text)) }));
    const bytes = encodeManifest(applyChanges(parent, list));
    const snapshot = snapshotHashOf(bytes);
    const id = head.lastId + 1;
    const now = new Date().toISOString();
    const v: Version = { id, snapshot, parent: head.latestPublished, author: meta.author ?? 'mallory', message: meta.message ?? 'hostile', createdAt: now, state: 'published', publishedAt: now, changed: list.length };
    const next: Head = { latestPublished: id, current: id, lastId: id };
    const pad = String(id).padStart(10, '0');
    await db.batch([
      ...[...blobs, bytes].map((b) => ({ type: 'put' as const, key: `${prefix}o!${blobId(b)}`, value: b })),
      { type: 'put', key: `${prefix}v!${pad}`, value: jsonValue(v) },
      { type: 'put', key: `${prefix}c!${pad}`, value: jsonValue(list) },
      { type: 'put', key: `${prefix}h`, value: jsonValue(next) },
    ]);
    void manifestObjectId;
    return id;
  });
}

/** Every file under `dir` (relative paths), for "nothing was written" checks. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === '.agentsync') continue;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out[r] = e.isSymbolicLink() ? '<link>' : readFileSync(join(d, e.name), 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

function kindSuite(kind: RemoteKind) {
  const s = suite(`hostile remote [${kind.name}]`);
  s.after(async () => { cleanup(); await kind.stop(); });

  /** A (pushed v1) and B (pulled), B nested two folders deep so that `../../` stays inside the temp folder we check. */
  const setup = async () => {
    const remote = await kind.make();
    const a = await workspace(remote);
    await ok(a, 'push', '-m', 'v1');
    const outer = tmp('agentsync-outer-');
    const b = join(outer, 'x', 'ws');
    mkdirSync(b, { recursive: true });
    await ok(b, 'init', '--remote', remote);
    await ok(b, 'pull');
    return { remote, a, b, outer };
  };

  for (const bad of ['../../pwned.yaml', 'agents/../../../pwned.yaml', '/tmp/agentsync-pwned.yaml', `content/${'n'.repeat(300)}.md`, 'content/a\\b.md', 'content//x.md']) {
    s(`an unsafe path from the remote (${JSON.stringify(bad.slice(0, 40))}) fails fetch and pull with PATH_UNSAFE; nothing is written`, async () => {
      const { remote, b, outer } = await setup();
      await inject(remote, [{ path: 'agents/welcome.yaml', text: 'name: welcome\nchanged: true\n' }, { path: bad, text: 'name: pwned\n' }]);
      const before = files(outer);
      for (const cmd of [['fetch', '--json'], ['pull', '--json'], ['status', '--fetch', '--json'], ['sync', '--pull', '--json']]) {
        const r = await cli(b, ...cmd);
        assert.is(r.code, 2, `${cmd[0]}: ${r.err}`);
        assert.is(r.json?.error?.code, 'PATH_UNSAFE', cmd[0]);
        assert.is(r.json.error.data.path, bad);
      }
      assert.equal(files(outer), before);
      assert.not.ok(existsSync('/tmp/agentsync-pwned.yaml'));
      assert.is(read(b, 'agents/welcome.yaml'), readFileSync(join(b, 'services', 'agents', 'welcome.yaml'), 'utf8'));
    });
  }

  s('a snapshot holding a file and a folder of the same name is refused (PATH_UNSAFE), nothing written', async () => {
    const { remote, b, outer } = await setup();
    await inject(remote, [{ path: 'content/docs/getting-started.md/x.md', text: '# x\n' }]);
    const before = files(outer);
    const r = await cli(b, 'pull', '--json');
    assert.is(r.code, 2, r.err);
    assert.is(r.json.error.code, 'PATH_UNSAFE');
    assert.equal(r.json.error.data.clash, { file: 'content/docs/getting-started.md', under: 'content/docs/getting-started.md/x.md' });
    assert.equal(files(outer), before);
  });

  s('author and message reach the terminal escaped: no ESC byte, no faked line', async () => {
    const { remote, b } = await setup();
    await inject(remote, [{ path: 'agents/welcome.yaml', text: 'name: welcome\nv: 2\n' }], { author: 'mal\x1b[31mlory\x07', message: 'fine\nv99    published  sha256:0000  fake\r\x1b]0;title\x07' });
    for (const cmd of [['versions'], ['log', 'agents/welcome.yaml']]) {
      const r = await ok(b, 'fetch').then(() => ok(b, ...cmd));
      assert.not.ok(/[\x00-\x08\x0b-\x1f\x7f]/.test(r.out), `${cmd[0]} printed a control character: ${JSON.stringify(r.out)}`);
      assert.not.ok(r.out.split('\n').some((l) => l.startsWith('v99')), `${cmd[0]} printed a faked line`);
      assert.ok(r.out.includes('mal\\x1b[31mlory\\x07'), r.out);
    }
    // --json keeps the exact text (JSON escapes it).
    const j = await ok(b, 'versions', '--json');
    assert.ok(j.out.includes('"mal\\u001b[31mlory\\u0007"'), j.out);
  });

  s('a remote that turns a file into a folder is pulled (the file is removed before the folder is made)', async () => {
    const { a, b } = await setup();
    write(a, 'content/a.md', '# a\n');
    await ok(a, 'push');
    await ok(b, 'pull');
    const { rmSync } = await import('node:fs');
    rmSync(join(a, 'services', 'content', 'a.md'));
    write(a, 'content/a.md/b.md', '# b\n');
    await ok(a, 'push');
    await ok(b, 'pull');
    assert.is(read(b, 'content/a.md/b.md'), '# b\n');
    // And back.
    rmSync(join(a, 'services', 'content', 'a.md'), { recursive: true });
    write(a, 'content/a.md', '# a again\n');
    await ok(a, 'push');
    await ok(b, 'pull');
    assert.is(read(b, 'content/a.md'), '# a again\n');
  });

  s('a long name (240 bytes) pushes and pulls; a path over 1024 bytes is refused on push; no temp file is left', async () => {
    const { a, b } = await setup();
    const long = `content/${'l'.repeat(237)}.md`;
    write(a, long, '# long\n');
    await ok(a, 'push');
    await ok(b, 'pull');
    assert.is(read(b, long), '# long\n');
    assert.equal(readdirSync(join(b, 'services', 'content')).filter((n) => n.endsWith('.tmp')), []);
    const longer = `content/${`${'d'.repeat(200)}/`.repeat(5)}${'x'.repeat(10)}.md`; // 1026 bytes
    write(a, longer, '# too long\n');
    const r = await cli(a, 'push', '--json');
    assert.is(r.code, 2, r.err);
    assert.is(r.json.error.code, 'PATH_UNSAFE');
    assert.is(r.json.error.data.path, longer);
  });

  s('a local folder where the pull must write a file: PATH_BLOCKED, nothing written', async () => {
    const { a, b } = await setup();
    write(a, 'content/notes.md', '# notes\n');
    write(a, 'agents/welcome.yaml', 'name: welcome\nv: 3\n');
    await ok(a, 'push');
    mkdirSync(join(b, 'services', 'content', 'notes.md'));
    writeFileSync(join(b, 'services', 'content', 'notes.md', 'keep.txt'), 'mine\n');
    const before = files(b);
    const r = await cli(b, 'pull', '--json');
    assert.is(r.code, 1, r.err);
    assert.is(r.json.error.code, 'PATH_BLOCKED');
    assert.is(r.json.error.data.path, 'content/notes.md');
    assert.equal(files(b), before);
  });

  return s;
}

for (const kind of REMOTE_KINDS) kindSuite(kind).run();

// ---------------------------------------------------------------- hostile workspace

const ws = suite('hostile workspace: folder links, temp files, credentials in URLs');
ws.after(() => cleanup());

const link = (target: string, at: string) => { mkdirSync(dirname(at), { recursive: true }); symlinkSync(target, at, 'dir'); };

for (const linked of ['agents', 'content', '']) {
  ws(`services/${linked} as a link to an outside folder: push refuses with PATH_UNSAFE and uploads nothing`, async () => {
    const remote = join(tmp('agentsync-remote-'), 'remote');
    const w = await workspace(remote);
    await ok(w, 'push');
    const outside = tmp('agentsync-outside-');
    const secret = linked === '' ? join(outside, 'agents', 'secret.yaml') : linked === 'agents' ? join(outside, 'secret.yaml') : join(outside, 'secret.md');
    mkdirSync(dirname(secret), { recursive: true });
    writeFileSync(secret, linked === 'content' ? '# FAKE-API-KEY\n' : 'name: x\napi_key: FAKE-API-KEY\n');
    const at = join(w, 'services', linked);
    const { renameSync } = await import('node:fs');
    renameSync(at, at + '.real');
    link(outside, at);
    const versions = (await ok(w, 'versions', '--json')).out;
    for (const cmd of [['push', '--json'], ['status', '--json'], ['hash', '--json']]) {
      const r = await cli(w, ...cmd);
      assert.is(r.code, 2, `${cmd[0]}: ${r.err}`);
      assert.is(r.json?.error?.code, 'PATH_UNSAFE', cmd[0]);
    }
    assert.is((await ok(w, 'versions', '--json')).out, versions);
  });
}

ws('a nested folder link (content/blog -> outside) is refused on scan, and never written through', async () => {
  const remote = join(tmp('agentsync-remote-'), 'remote');
  const a = await workspace(remote);
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  write(a, 'content/blog/new.md', '# new\n');
  await ok(a, 'push');
  const outside = tmp('agentsync-outside-');
  writeFileSync(join(outside, 'mine.md'), '# mine\n');
  const { rmSync } = await import('node:fs');
  rmSync(join(b, 'services', 'content', 'blog'), { recursive: true });
  link(outside, join(b, 'services', 'content', 'blog'));
  const r = await cli(b, 'pull', '--json');
  assert.is(r.code, 2, r.err);
  assert.is(r.json.error.code, 'PATH_UNSAFE');
  assert.is(r.json.error.data.path, 'content/blog');
  assert.equal(readdirSync(outside), ['mine.md']);
  // The write side checks on its own too (a link made after the scan).
  const e = (() => { try { checkWritable(join(b, 'services'), [{ path: 'content/blog/new.md', delete: false }]); return null; } catch (x) { return x as { code: string; data: Record<string, unknown> }; } })();
  assert.is(e?.code, 'PATH_UNSAFE');
  assert.is(e?.data.blocker, 'content/blog');
  assert.equal(readdirSync(outside), ['mine.md']);
});

ws('temp files of killed processes are removed by the next command; a live one is left', async () => {
  const remote = join(tmp('agentsync-remote-'), 'remote');
  const w = await workspace(remote);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(dead.stdout.toString());
  const dir = join(w, 'services', 'agents');
  const names = [`.agentsync-${deadPid}-1.tmp`, `.welcome.yaml.agentsync-${deadPid}-7.tmp`, `.agentsync-${process.pid}-99.tmp`, '.agentsync-notes.tmp'];
  for (const n of names) writeFileSync(join(dir, n), 'partial');
  mkdirSync(join(w, 'services', 'content', 'blog'), { recursive: true });
  writeFileSync(join(w, 'services', 'content', 'blog', `.x.md.agentsync-${deadPid}-3.tmp`), 'partial');
  await ok(w, 'status');
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('.')).sort(), [`.agentsync-${process.pid}-99.tmp`, '.agentsync-notes.tmp'].sort());
  assert.equal(readdirSync(join(w, 'services', 'content', 'blog')).filter((n) => n.startsWith('.')), []);
});

ws('a token in a remote URL is refused by init, remote add and a hand-edited agentsync.yaml, and never written or echoed', async () => {
  const dir = tmp('agentsync-ws-');
  const token = 'as_0123456789abcdef_c2VjcmV0LXNlY3JldC1zZWNyZXQ';
  const r = await cli(dir, 'init', '--remote', `http://${token}@127.0.0.1:1/team`, '--json');
  assert.is(r.code, 2, r.err);
  assert.is(r.json.error.code, 'REMOTE_URL_INVALID');
  assert.is(r.json.error.data.url, 'http://127.0.0.1:1/team');
  assert.not.ok(r.out.includes(token) || r.err.includes(token));
  assert.not.ok(existsSync(join(dir, 'agentsync.yaml')));
  await ok(dir, 'init');
  const add = await cli(dir, 'remote', 'add', 'origin', `https://user:${token}@example.invalid/team`, '--json');
  assert.is(add.code, 2);
  assert.is(add.json.error.code, 'REMOTE_URL_INVALID');
  assert.not.ok(readFileSync(join(dir, 'agentsync.yaml'), 'utf8').includes(token));
  writeFileSync(join(dir, 'agentsync.yaml'), `remotes:\n  origin: http://${token}@127.0.0.1:1/team\n`);
  const list = await cli(dir, 'remote', 'list', '--json');
  assert.is(list.code, 2);
  assert.is(list.json.error.code, 'REMOTE_URL_INVALID');
  assert.not.ok(list.out.includes(token) || list.err.includes(token));
});

ws.run();
