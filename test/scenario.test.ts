/**
 * Scenarios with two workspaces, A and B, and one remote, for each remote kind: every state of
 * the three-way table reached through real edits, and what push and pull do with it.
 */
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { applyChanges, decodeManifest, encodeManifest, manifestObjectId, snapshotHashOf } from '../src/model/manifest.js';
import { blobId } from '../src/model/hash.js';
import { openDb } from '../src/store/db.js';
import { RemoteStore } from '../src/store/remote-store.js';
import { PgTenantStore } from '../src/server/pg-storage.js';
import { cleanup, cli, read, states, workspace, write, ok } from './helpers.js';
import { CONTRACT_KINDS, kindSuite } from './remotes.js';

const SAMPLE_COUNT = 16;


/** Every file under services/ (path → hex bytes), to prove that nothing was touched. */
function files(ws: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const d of readdirSync(join(ws, 'services', rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) walk(p);
      else out[p] = readFileSync(join(ws, 'services', p)).toString('hex');
    }
  };
  walk('');
  return out;
}

async function versions(ws: string): Promise<{ latestPublished: number | null; current: number | null; versions: { id: number; snapshot: string; state: string }[] }> {
  return (await ok(ws, 'versions', '--json')).json;
}

async function hash(ws: string): Promise<string> {
  return (await ok(ws, 'hash', '--json')).json.snapshot;
}

function remove(ws: string, rel: string): void {
  rmSync(join(ws, 'services', rel));
}

function edit(ws: string, rel: string, from: string, to: string): void {
  const text = read(ws, rel)!;
  assert.ok(text.includes(from), `${rel} contains ${from}`);
  write(ws, rel, text.replace(from, to));
}

/** Entries of `status --json` as {path: [local, remote, state]}. */
async function sides(ws: string, ...args: string[]): Promise<Record<string, [string, string, string]>> {
  const r = await cli(ws, 'status', '--json', ...args);
  assert.ok(r.code === 0 || r.code === 1, r.err);
  return Object.fromEntries(r.json.entries.map((e: { path: string; local: string; remote: string; state: string }) => [e.path, [e.local, e.remote, e.state]]));
}

for (const kind of CONTRACT_KINDS) {
  const t = kindSuite(`scenario [${kind.name}]`, kind);
  t.after(async () => {
    await kind.stop();
    cleanup();
  });

  /** A pushed the sample as v1; B (empty) pulled it. */
  async function pair(): Promise<{ url: string; a: string; b: string }> {
    const url = await kind.make();
    const a = await workspace(url);
    const b = await workspace(url, { sample: false });
    await ok(a, 'push');
    await ok(b, 'pull');
    return { url, a, b };
  }

  t('push from A, pull into B: same files, same hash, both clean', async () => {
    const { a, b } = await pair();
    assert.equal(files(b), files(a));
    assert.is(await hash(b), await hash(a));
    assert.equal(await states(a, '--fetch'), {});
    assert.equal(await states(b, '--fetch'), {});
    const v = await versions(b);
    assert.is(v.versions[0]!.snapshot, await hash(a));
  });

  t('push states: local added, modified, deleted; push sends them; B pulls them', async () => {
    const { a, b } = await pair();
    write(a, 'agents/new.yaml', 'name: new\n');
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.5');
    remove(a, 'skills/sql-helper.yaml');
    assert.equal(await sides(a, '--fetch'), {
      'agents/new.yaml': ['added', 'unchanged', 'push'],
      'agents/welcome.yaml': ['modified', 'unchanged', 'push'],
      'skills/sql-helper.yaml': ['deleted', 'unchanged', 'push'],
    });
    // pull leaves local-only changes alone
    const before = files(a);
    const p = await ok(a, 'pull', '--json');
    assert.equal(p.json.pulled, []);
    assert.equal(files(a), before);
    const r = await ok(a, 'push', '--json');
    assert.equal(r.json.pushed.map((e: { path: string; local: string }) => [e.path, e.local]), [['agents/new.yaml', 'added'], ['agents/welcome.yaml', 'modified'], ['skills/sql-helper.yaml', 'deleted']]);
    assert.is(r.json.version.id, 2);
    assert.is(r.json.version.changed, 3);
    assert.equal(await states(a), {});

    // B: the same three, seen as remote changes
    assert.equal(await sides(b, '--fetch'), {
      'agents/new.yaml': ['unchanged', 'added', 'pull'],
      'agents/welcome.yaml': ['unchanged', 'modified', 'pull'],
      'skills/sql-helper.yaml': ['unchanged', 'deleted', 'pull'],
    });
    const pl = await ok(b, 'pull', '--json');
    assert.equal(pl.json.pulled.map((e: { path: string; remote: string }) => [e.path, e.remote]), [['agents/new.yaml', 'added'], ['agents/welcome.yaml', 'modified'], ['skills/sql-helper.yaml', 'deleted']]);
    assert.is(read(b, 'agents/new.yaml'), 'name: new\n');
    assert.is(read(b, 'skills/sql-helper.yaml'), null);
    assert.equal(files(b), files(a));
    assert.equal(await states(b), {});
    assert.is(await hash(b), await hash(a));
  });

  t('pull state: a push with no selector goes on top of remote-only changes and leaves them to pull; a path both changed is refused', async () => {
    const { url, a, b } = await pair();
    // B pushes X; A has not pulled it and pushes Y with no selector.
    edit(b, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.5');
    await ok(b, 'push');
    write(a, 'content/a-only.md', '# from A\n');
    const dry = await ok(a, 'push', '--dry-run', '--json');
    assert.equal(dry.json.pushed.map((e: { path: string }) => e.path), ['content/a-only.md']);
    assert.equal(dry.json.notPulled, [{ path: 'agents/welcome.yaml', remote: 'modified' }]);
    assert.is((await versions(a)).versions.length, 2);
    const p = await ok(a, 'push', '--json');
    assert.equal(p.json.pushed.map((e: { path: string }) => e.path), ['content/a-only.md']);
    assert.equal([p.json.version.id, p.json.version.parent, p.json.version.state], [3, 2, 'published']);
    assert.equal(p.json.notPulled, [{ path: 'agents/welcome.yaml', remote: 'modified' }]);
    // X stays to be pulled; A's file X is untouched
    assert.equal(await sides(a), { 'agents/welcome.yaml': ['unchanged', 'modified', 'pull'] });
    assert.equal(await sides(a, '--fetch'), { 'agents/welcome.yaml': ['unchanged', 'modified', 'pull'] });
    assert.ok(read(a, 'agents/welcome.yaml')!.includes('temperature: 0.4'));
    // the new version holds both changes
    const c = await workspace(url, { sample: false });
    await ok(c, 'pull');
    assert.is(read(c, 'agents/welcome.yaml'), read(b, 'agents/welcome.yaml'));
    assert.is(read(c, 'content/a-only.md'), '# from A\n');
    // text mode: exit 0 as well
    write(a, 'content/a-two.md', '# two\n');
    const t2 = await cli(a, 'push');
    assert.is(t2.code, 0, t2.err);
    assert.is((await versions(a)).versions.length, 4);
    // naming the pull-state path: nothing to push for it, it is reported, not an error
    const named = await ok(a, 'push', 'agents/welcome.yaml', '--json');
    assert.equal([named.json.pushed, named.json.version, named.json.notPulled], [[], null, [{ path: 'agents/welcome.yaml', remote: 'modified' }]]);
    assert.is((await versions(a)).versions.length, 4);
    assert.is((await cli(a, 'push', 'agents/welcome.yaml')).code, 0);
    // a path B also changed: refused, nothing created, B's change not lost
    edit(b, 'mcp/github.yaml', 'timeout_seconds: 60', 'timeout_seconds: 61');
    await ok(b, 'push');
    edit(a, 'mcp/github.yaml', 'timeout_seconds: 60', 'timeout_seconds: 62');
    const r = await cli(a, 'push', '--json');
    assert.is(r.code, 1, r.err);
    assert.match(r.err, /^agentsync: .+ \(PUSH_REFUSED\)\n$/);
    assert.is(r.json.error.code, 'PUSH_REFUSED');
    assert.equal(r.json.error.data.paths, [{ path: 'mcp/github.yaml', state: 'conflict' }]);
    assert.is((await versions(a)).versions.length, 5);
    assert.is((await cli(a, 'push', 'mcp', '--json')).json.error.code, 'PUSH_REFUSED');
    await ok(c, 'pull');
    assert.is(read(c, 'mcp/github.yaml'), read(b, 'mcp/github.yaml'));
    // a selection without the conflict pushes; --force keeps its meaning (local wins there)
    write(a, 'content/a-three.md', '# three\n');
    assert.equal((await ok(a, 'push', 'content', '--json')).json.notPulled, []);
    const f = await ok(a, 'push', 'mcp', '--force', '--json');
    assert.equal(f.json.pushed.map((e: { path: string; state: string }) => [e.path, e.state]), [['mcp/github.yaml', 'conflict']]);
    await ok(c, 'pull');
    assert.is(read(c, 'mcp/github.yaml'), read(a, 'mcp/github.yaml'));
    assert.is(read(c, 'content/a-three.md'), '# three\n');
    // pulling afterwards brings X in; everything converges
    await ok(a, 'pull');
    assert.equal(await states(a, '--fetch'), {});
    assert.is(read(a, 'agents/welcome.yaml'), read(b, 'agents/welcome.yaml'));
    assert.equal(files(c), files(a));
  });

  /**
   * Run `fn` while the remote's next create-version request is preceded by another writer's
   * version (built on the same `expected`) that sets `path` to `text`: the request then meets
   * STALE_REMOTE, as when another pusher wins the race between our fetch and our create.
   */
  async function withIntruder<T>(path: string, text: string, fn: () => Promise<T>): Promise<T> {
    // Both backends: the LevelDB RemoteStore and the PostgreSQL tenant store.
    type Store = Pick<RemoteStore, 'createVersion' | 'putObjects' | 'manifestOf' | 'version'>;
    const protos: Store[] = [RemoteStore.prototype, PgTenantStore.prototype];
    const origs = protos.map((p) => p.createVersion);
    let fired = false;
    protos.forEach((proto, i) => {
      const orig = origs[i]!;
      proto.createVersion = async function (this: Store, req, ...objects) {
        if (!fired) {
          fired = true;
          const bytes = new TextEncoder().encode(text);
          const id = blobId(bytes);
          await this.putObjects([{ id, bytes }]);
          const at = req.expected === null ? new Map<string, string>() : await this.manifestOf((await this.version(req.expected)).snapshot);
          const snapshot = snapshotHashOf(encodeManifest(applyChanges(at, [{ path, id }])));
          await orig.call(this, { expected: req.expected, changes: [{ path, id }], snapshot, author: 'intruder', message: 'intruder', draft: false });
        }
        return orig.call(this, req, ...objects);
      };
    });
    try {
      return await fn();
    } finally {
      protos.forEach((proto, i) => { proto.createVersion = origs[i]!; });
    }
  }

  t('a version created between push\'s fetch and its create: retried on top when it touches other paths, refused (no lost update) when it touches a pushed one', async () => {
    const { url, a } = await pair();
    write(a, 'content/mine.md', '# mine\n');
    const p = await withIntruder('content/theirs.md', '# theirs\n', () => ok(a, 'push', '--json'));
    assert.is(p.json.retries, 1);
    assert.equal([p.json.version.id, p.json.version.parent], [3, 2]);
    assert.equal(p.json.notPulled, [{ path: 'content/theirs.md', remote: 'added' }]);
    assert.equal(await sides(a, '--fetch'), { 'content/theirs.md': ['unchanged', 'added', 'pull'] });
    const c = await workspace(url, { sample: false });
    await ok(c, 'pull');
    assert.equal([read(c, 'content/mine.md'), read(c, 'content/theirs.md')], ['# mine\n', '# theirs\n']);
    // the intruder changes the very file A pushes: refused, the intruder's bytes stay
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.7');
    const r = await withIntruder('agents/welcome.yaml', 'name: welcome\n', () => cli(a, 'push', '--json'));
    assert.is(r.code, 1, r.err);
    assert.is(r.json.error.code, 'PUSH_REFUSED');
    assert.equal(r.json.error.data.paths, [{ path: 'agents/welcome.yaml', state: 'conflict' }]);
    const v = await versions(a);
    assert.equal([v.versions.length, v.latestPublished], [4, 4]);
    await ok(c, 'pull');
    assert.is(read(c, 'agents/welcome.yaml'), 'name: welcome\n');
    assert.equal(await states(a, '--fetch'), { 'agents/welcome.yaml': 'conflict', 'content/theirs.md': 'pull' });
  });

  t('converged (both added same, both modified same, both deleted): pull records the base, no file touched', async () => {
    const { a, b } = await pair();
    for (const ws of [a, b]) {
      write(ws, 'content/same.md', '# same\n');
      edit(ws, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.7');
      remove(ws, 'mcp/filesystem.yaml');
    }
    await ok(a, 'push');
    assert.equal(await sides(b, '--fetch'), {
      'agents/welcome.yaml': ['modified', 'modified', 'converged'],
      'content/same.md': ['added', 'added', 'converged'],
      'mcp/filesystem.yaml': ['deleted', 'deleted', 'converged'],
    });
    const before = files(b);
    const r = await ok(b, 'pull', '--json');
    assert.equal(r.json.pulled, []);
    assert.equal(r.json.converged, ['agents/welcome.yaml', 'content/same.md', 'mcp/filesystem.yaml']);
    assert.equal(files(b), before);
    assert.equal(await states(b), {});
    assert.is((await versions(b)).versions.length, 2);
    // a second pull has nothing to do
    const again = await ok(b, 'pull', '--json');
    assert.equal([again.json.pulled, again.json.converged], [[], []]);
  });

  t('converged: push records the base and creates no version', async () => {
    const { a, b } = await pair();
    for (const ws of [a, b]) {
      write(ws, 'content/same.md', '# same\n');
      remove(ws, 'mcp/filesystem.yaml');
    }
    await ok(a, 'push');
    const r = await ok(b, 'push', '--json');
    assert.equal(r.json.pushed, []);
    assert.equal(r.json.converged, ['content/same.md', 'mcp/filesystem.yaml']);
    assert.is(r.json.version, null);
    assert.equal(await states(b), {});
    assert.is((await versions(b)).versions.length, 2);
    assert.is(await hash(b), await hash(a));
  });

  /** B's edits and A's pushed edits conflict on four artifacts, one per conflict row. */
  async function conflicts(): Promise<{ url: string; a: string; b: string }> {
    const p = await pair();
    const { a, b } = p;
    // modify/modify, different: the same YAML value, and the same Markdown line
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.9');
    edit(b, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.1');
    edit(a, 'content/docs/getting-started.md', 'title: Getting started with the agent workspace', 'title: Start here (A)');
    edit(b, 'content/docs/getting-started.md', 'title: Getting started with the agent workspace', 'title: Start here (B)');
    // add/add, different
    write(a, 'content/both.md', '# added by A\n');
    write(b, 'content/both.md', '# added by B\n');
    // delete (B) / modify (A)
    edit(a, 'playbook/rotate-api-keys.md', 'owner: security', 'owner: platform');
    remove(b, 'playbook/rotate-api-keys.md');
    // modify (B) / delete (A)
    edit(b, 'skills/sql-helper.yaml', 'name: sql-helper', 'name: sql-helper\nversion: 2');
    remove(a, 'skills/sql-helper.yaml');
    await ok(a, 'push');
    return p;
  }

  const CONFLICT_SIDES = {
    'agents/welcome.yaml': ['modified', 'modified', 'conflict'],
    'content/both.md': ['added', 'added', 'conflict'],
    'content/docs/getting-started.md': ['modified', 'modified', 'conflict'],
    'playbook/rotate-api-keys.md': ['deleted', 'modified', 'conflict'],
    'skills/sql-helper.yaml': ['modified', 'deleted', 'conflict'],
  };

  t('conflict: every row; pull refuses (PULL_REFUSED) and touches no file; push refuses (PUSH_REFUSED) and creates no version', async () => {
    const { b } = await conflicts();
    assert.equal(await sides(b, '--fetch'), CONFLICT_SIDES);
    assert.is((await cli(b, 'status', '--check')).code, 1);
    const before = files(b);
    const statusBefore = (await ok(b, 'status', '--json')).json;
    const pl = await cli(b, 'pull', '--json');
    assert.is(pl.code, 1, pl.err);
    assert.is(pl.json.error.code, 'PULL_REFUSED');
    assert.equal(pl.json.error.data.paths.map((p: { path: string }) => p.path).sort(), Object.keys(CONFLICT_SIDES));
    assert.equal(files(b), before);
    const ps = await cli(b, 'push', '--json');
    assert.is(ps.code, 1, ps.err);
    assert.is(ps.json.error.code, 'PUSH_REFUSED');
    assert.equal(ps.json.error.data.paths.map((p: { path: string; state: string }) => [p.path, p.state]).sort(), Object.keys(CONFLICT_SIDES).map((p) => [p, 'conflict']));
    assert.is((await versions(b)).versions.length, 2);
    assert.equal(files(b), before);
    const statusAfter = (await ok(b, 'status', '--json')).json;
    assert.equal({ ...statusAfter, fetchedAt: null }, { ...statusBefore, fetchedAt: null });
    // a selection that leaves the conflicts out still pulls and pushes
    write(b, 'content/unrelated.md', '# unrelated\n');
    await ok(b, 'push', 'content/unrelated.md');
    assert.is((await versions(b)).versions.length, 3);
  });

  t('conflict: a pull of a selection without conflicts goes through', async () => {
    const { a, b } = await conflicts();
    write(a, 'agents/fresh.yaml', 'name: fresh\n');
    await ok(a, 'push');
    await ok(b, 'pull', 'agents/fresh.yaml');
    assert.is(read(b, 'agents/fresh.yaml'), 'name: fresh\n');
    assert.equal(await sides(b), CONFLICT_SIDES);
  });

  t('pull --force: remote wins on every conflict; undo restores the local bytes exactly; a second undo redoes', async () => {
    const { a, b } = await conflicts();
    const mine = files(b);
    const r = await ok(b, 'pull', '--force', '--json');
    assert.equal(r.json.pulled.map((e: { path: string }) => e.path), Object.keys(CONFLICT_SIDES));
    const theirs = files(b);
    assert.equal(theirs, files(a));
    assert.is(read(b, 'skills/sql-helper.yaml'), null); // modify/delete: the local file is deleted
    assert.is(read(b, 'playbook/rotate-api-keys.md'), read(a, 'playbook/rotate-api-keys.md')); // delete/modify: restored
    assert.equal(await states(b), {});
    assert.is(await hash(b), await hash(a));
    const u = await ok(b, 'undo', '--json');
    assert.is(u.json.restored.length, 5);
    assert.equal(files(b), mine);
    await ok(b, 'undo');
    assert.equal(files(b), theirs);
    assert.equal(await states(b), {});
    await ok(b, 'undo');
    assert.equal(files(b), mine);
    assert.is((await ok(b, 'fsck', '--json')).json.problems.length, 0);
  });

  t('undo of pull --force brings the conflicts back: a plain push cannot then silently overwrite the remote', async () => {
    const { b } = await conflicts();
    await ok(b, 'pull', '--force');
    await ok(b, 'undo');
    assert.equal(await sides(b), CONFLICT_SIDES);
    const r = await cli(b, 'push', '--json');
    assert.is(r.code, 1, r.err);
    assert.is(r.json?.error?.code, 'PUSH_REFUSED');
    assert.is((await versions(b)).versions.length, 2);
  });

  t('undo after a plain pull restores the replaced files', async () => {
    const { a, b } = await pair();
    const before = files(b);
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.5');
    write(a, 'content/new.md', '# new\n');
    remove(a, 'mcp/github.yaml');
    await ok(a, 'push');
    await ok(b, 'pull');
    assert.equal(files(b), files(a));
    await ok(b, 'undo');
    assert.equal(files(b), before);
    await ok(b, 'undo'); // redo
    assert.equal(files(b), files(a));
    assert.equal(await states(b), {});
  });

  t('undo of a plain pull shows the remote changes as pull again (not as local edits that a push would send back)', async () => {
    const { a, b } = await pair();
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.5');
    write(a, 'content/new.md', '# new\n');
    remove(a, 'mcp/github.yaml');
    await ok(a, 'push');
    await ok(b, 'pull');
    await ok(b, 'undo');
    assert.equal(await sides(b), {
      'agents/welcome.yaml': ['unchanged', 'modified', 'pull'],
      'content/new.md': ['unchanged', 'added', 'pull'],
      'mcp/github.yaml': ['unchanged', 'deleted', 'pull'],
    });
    // so a push does not revert A's published changes: nothing to push, three to pull
    const r = await cli(b, 'push', '--json');
    assert.is(r.code, 0, r.err);
    assert.equal([r.json.pushed, r.json.version], [[], null]);
    assert.equal(r.json.notPulled, [{ path: 'agents/welcome.yaml', remote: 'modified' }, { path: 'content/new.md', remote: 'added' }, { path: 'mcp/github.yaml', remote: 'deleted' }]);
    assert.is((await versions(b)).versions.length, 2);
  });

  t('push --force: local wins; the overwritten version stays retrievable', async () => {
    const { url, a, b } = await conflicts();
    const remoteV2 = (await versions(b)).versions[1]!;
    const r = await ok(b, 'push', '--force', '--json');
    assert.is(r.json.version.id, 3);
    assert.equal(r.json.pushed.map((e: { path: string }) => e.path), Object.keys(CONFLICT_SIDES));
    assert.equal(await states(b), {});
    const v = await versions(b);
    assert.equal(v.versions.map((x) => x.id), [1, 2, 3]);
    assert.is(v.latestPublished, 3);
    assert.is(v.versions[2]!.snapshot, await hash(b));
    // A sees B's bytes as remote changes; pulling gives A exactly B's files
    await ok(a, 'pull');
    assert.equal(files(a), files(b));
    assert.is(read(a, 'skills/sql-helper.yaml'), read(b, 'skills/sql-helper.yaml')); // re-added
    assert.is(read(a, 'playbook/rotate-api-keys.md'), null); // deleted remotely
    // the overwritten version 2 is still there and can be made current again
    assert.equal(v.versions[1], remoteV2);
    const rb = await ok(b, 'rollback', '2', '--json');
    assert.equal(rb.json.head, { latestPublished: 3, current: 2, lastId: 3 });
    const log = await ok(b, 'log', 'agents/welcome.yaml', '--json');
    assert.equal(log.json.versions.map((x: { id: number; change: string }) => [x.id, x.change]), [[1, 'added'], [2, 'modified'], [3, 'modified']]);
    if (isAbsolute(url)) {
      // its content is still stored: the manifest of v2 names A's bytes, and the blob is there
      const db = await openDb(join(url, 'store'), { waitMs: 3000 });
      try {
        const rs = new RemoteStore(db);
        const m = decodeManifest((await rs.objects.get(manifestObjectId(remoteV2.snapshot)))!);
        const id = m.get('agents/welcome.yaml')!;
        const bytes = await rs.objects.get(id);
        assert.ok(bytes);
        assert.ok(Buffer.from(bytes!).toString('utf8').includes('temperature: 0.9'));
        assert.is(blobId(bytes!), id);
      } finally {
        await db.close();
      }
    }
  });

  t('--dry-run on push and pull changes nothing: files, versions, status', async () => {
    const { a, b } = await pair();
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.5');
    await ok(a, 'push');
    write(a, 'content/a-only.md', '# a\n');
    write(b, 'content/b-only.md', '# b\n');
    edit(b, 'mcp/github.yaml', 'timeout_seconds: 60', 'timeout_seconds: 61');
    const runs: [string, string[]][] = [[a, ['push']], [b, ['pull']], [b, ['push', 'content', 'mcp']], [a, ['pull']], [b, ['pull', '--force']], [a, ['push', '--force']]];
    for (const [ws, argv] of runs) {
      const cmd = argv.join(' ');
      await ok(ws, 'fetch');
      const f = files(ws);
      const v = await versions(ws);
      const st = (await ok(ws, 'status', '--json')).json;
      const r = await ok(ws, ...argv, '--dry-run', '--json');
      assert.is(r.json.dryRun, true);
      assert.equal(files(ws), f, `${cmd} --dry-run: files`);
      assert.equal(await versions(ws), v, `${cmd} --dry-run: versions`);
      const after = (await ok(ws, 'status', '--json')).json;
      assert.equal({ ...after, fetchedAt: null }, { ...st, fetchedAt: null }, `${cmd} --dry-run: status`);
    }
    // the plans name what would happen
    assert.equal((await ok(a, 'push', '--dry-run', '--json')).json.pushed.map((e: { path: string }) => e.path), ['content/a-only.md']);
    assert.equal((await ok(b, 'pull', '--dry-run', '--json')).json.pulled.map((e: { path: string }) => e.path), ['agents/welcome.yaml']);
    // remote-only changes do not block B's push: they are named as not pulled
    assert.equal((await ok(b, 'push', '--dry-run', '--json')).json.notPulled, [{ path: 'agents/welcome.yaml', remote: 'modified' }]);
    // and a text-mode dry run changes nothing either
    const f = files(a);
    await ok(a, 'push', '--dry-run');
    assert.equal(files(a), f);
    assert.equal(await states(a), { 'content/a-only.md': 'push' });
  });

  t('--dry-run does not move the fetch record (no ref changes)', async () => {
    const { a, b } = await pair();
    write(a, 'content/a-only.md', '# a\n');
    await ok(a, 'fetch');
    const st = (await ok(a, 'status', '--json')).json;
    await ok(a, 'push', '--dry-run');
    assert.equal((await ok(a, 'status', '--json')).json, st);
    await ok(b, 'fetch');
    const stb = (await ok(b, 'status', '--json')).json;
    await ok(b, 'pull', '--dry-run');
    assert.equal((await ok(b, 'status', '--json')).json, stb);
  });

  t('--draft push leaves latest published unchanged; deploy publishes it', async () => {
    const { a, b } = await pair();
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.6');
    const d = await ok(a, 'push', '--draft', '--json');
    assert.is(d.json.version.state, 'draft');
    assert.is(d.json.version.id, 2);
    let v = await versions(a);
    assert.equal([v.latestPublished, v.current], [1, 1]);
    assert.equal(await states(a), { 'agents/welcome.yaml': 'push' });
    assert.equal(await states(b, '--fetch'), {}); // drift is measured against the latest published
    assert.is((await ok(b, 'pull', '--json')).json.pulled.length, 0);
    await ok(b, 'deploy', '2');
    v = await versions(a);
    assert.equal([v.latestPublished, v.current], [2, 2]);
    assert.equal(await states(b, '--fetch'), { 'agents/welcome.yaml': 'pull' });
    await ok(b, 'pull');
    assert.is(read(b, 'agents/welcome.yaml'), read(a, 'agents/welcome.yaml'));
    const sa = await states(a, '--fetch');
    assert.ok(Object.values(sa).every((s) => s === 'converged'), JSON.stringify(sa));
  });

  t('deploying your own draft records the base: the workspace is clean, not converged', async () => {
    const { a } = await pair();
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.7');
    assert.is((await ok(a, 'push', '--draft', '--json')).json.version.id, 2);
    assert.equal(await states(a), { 'agents/welcome.yaml': 'push' });
    await ok(a, 'deploy', '2');
    assert.equal(await states(a), {});
    assert.is((await cli(a, 'status', '--check')).code, 0);
  });

  t('deploy of a draft built on an older version → DRAFT_STALE, exit 1', async () => {
    const { a, b } = await pair();
    edit(a, 'agents/welcome.yaml', 'temperature: 0.4', 'temperature: 0.6');
    await ok(a, 'push', '--draft');
    write(b, 'content/b.md', '# b\n');
    await ok(b, 'push');
    const r = await cli(a, 'deploy', '2', '--json');
    assert.is(r.code, 1, r.err);
    assert.is(r.json.error.code, 'DRAFT_STALE');
    const v = await versions(a);
    assert.equal([v.latestPublished, v.current], [3, 3]);
    assert.is(v.versions[1]!.state, 'draft');
  });

  t('deleting an artifact locally and pushing deletes it remotely; pull in B deletes the file', async () => {
    const { a, b } = await pair();
    remove(a, 'content/blog/2025-03-http3-rollout.md');
    remove(a, 'content/blog/2025-05-release-notes-5-3.md');
    const r = await ok(a, 'push', '--json');
    assert.is(r.json.version.id, 2);
    assert.equal((await ok(a, 'hash', '--json')).json.artifacts, SAMPLE_COUNT - 2);
    assert.is(r.json.version.snapshot, await hash(a));
    await ok(b, 'pull');
    assert.is(read(b, 'content/blog/2025-03-http3-rollout.md'), null);
    assert.is(read(b, 'content/blog/2025-05-release-notes-5-3.md'), null);
    assert.equal(files(b), files(a));
    assert.equal(await states(b), {});
  });

  t('an artifact deleted and re-added with the same bytes is clean again', async () => {
    const { a } = await pair();
    const text = read(a, 'agents/welcome.yaml')!;
    remove(a, 'agents/welcome.yaml');
    assert.equal(await states(a), { 'agents/welcome.yaml': 'push' });
    write(a, 'agents/welcome.yaml', text);
    assert.equal(await states(a), {});
  });

  t('hashes stay equal across many rounds of edits in both workspaces', async () => {
    const { a, b } = await pair();
    for (let i = 0; i < 4; i++) {
      const [from, to] = i % 2 ? [b, a] : [a, b];
      write(from, `content/round-${i}.md`, `# round ${i}\n`);
      edit(from, 'agents/welcome.yaml', `temperature: 0.${4 + i}`, `temperature: 0.${5 + i}`);
      await ok(from, 'push');
      await ok(to, 'pull');
      assert.is(await hash(to), await hash(from));
      assert.equal(files(to), files(from));
    }
    assert.is((await versions(a)).versions.length, 5);
  });

  t('a push and fetch of 2,100 artifacts (more than one upload and one download batch)', async () => {
    const url = await kind.make();
    const a = await workspace(url, { sample: false });
    for (let i = 0; i < 2100; i++) write(a, `content/many/${Math.floor(i / 100)}/doc-${i}.md`, `# doc ${i}\n`);
    const r = await ok(a, 'push', '--json');
    assert.is(r.json.objectsSent, 2100);
    assert.is(r.json.version.changed, 2100);
    const want = await hash(a);
    const b = await workspace(url, { sample: false });
    const f = await ok(b, 'fetch', '--json');
    assert.is(f.json.objectsFetched, 2100);
    assert.is(f.json.snapshot, want);
    await ok(b, 'verify', want, '--remote');
    const st = await states(b);
    assert.is(Object.keys(st).length, 2100);
    assert.ok(Object.values(st).every((x) => x === 'pull'));
    // every blob arrived: the fetched objects give each file's remote text, offline
    const d = await ok(b, 'diff', 'content/many/20', '--json');
    assert.is(d.json.entries.length, 100);
    assert.equal(d.json.entries.find((x: { path: string }) => x.path === 'content/many/20/doc-2099.md'), { path: 'content/many/20/doc-2099.md', state: 'pull', remote: '# doc 2099\n', local: '' });
    assert.is((await ok(b, 'fsck', '--json')).json.problems.length, 0);
  });

  t.run();
}
