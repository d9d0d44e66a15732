/**
 * Tests for the engine paths that the focused `engine` set of `npm run mutate` never ran (found
 * by V8 block coverage of that set, 2026-12-02): every mutant there survived by construction.
 * Exact answers — error codes, `data`, progress calls, refs left unmoved — of a remote that sends
 * wrong objects, an unlisted head, change lists out of order or wrong; a create that fails; a
 * workspace without a remote; refusals naming more than three paths. Engine calls on an
 * `openContext` whose remote is wrapped in a `Proxy`, as in mutation-kills-store-engine.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentsyncError } from '../src/model/errors.js';
import { blobId } from '../src/model/hash.js';
import { enc } from '../src/store/db.js';
import { commit } from '../src/store/objects.js';
import { openContext, type Context } from '../src/engine/context.js';
import { fetchObjects, fetchRemote } from '../src/engine/fetch.js';
import { deploy } from '../src/engine/history.js';
import { startMerge } from '../src/engine/merge.js';
import { MERGES_KEY } from '../src/engine/merge-records.js';
import { pull as enginePull, writeArtifacts } from '../src/engine/pull.js';
import { CAS_MAX_TRIES, push as enginePush } from '../src/engine/push.js';
import { computeStatus } from '../src/engine/status.js';
import { cleanYamlMessage } from '../src/engine/validate.js';
import { validateArtifacts } from '../src/engine/validation.js';
import type { Remote } from '../src/remote/types.js';
import { cleanup, cli, needs, ok, read, states, tmp, workspace, write } from './helpers.js';
import { emptyWs, twoClones, withCtx } from './engine-helpers.js';

const bytes = (s: string) => enc.encode(s);

async function rejects<T>(p: Promise<T>, code: string, data?: Record<string, unknown>): Promise<AgentsyncError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, AgentsyncError, `expected ${code}, got ${String(e)}`);
    assert.is((e as AgentsyncError).code, code);
    if (data) assert.equal((e as AgentsyncError).data, data);
    return e as AgentsyncError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const t = suite('mutation kills: src/engine, paths the focused set never ran');
t.after(cleanup);

/** `real` with some methods replaced (the others bound to it). */
function wrap(real: Remote, over: Partial<Record<keyof Remote, (...a: any[]) => unknown>>): Remote {
  return new Proxy(real, {
    get(target, k) {
      if (typeof k === 'string' && k in over) return over[k as keyof Remote];
      const v = (target as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const tracked = (ctx: Context) => ctx.store.tracking('origin');

t('fetchObjects: batches of 2000, progress from 500 objects on (done, total), none below', async () => {
  const { ws } = await emptyWs();
  const blobs = new Map<string, Uint8Array>();
  for (let i = 0; i < 2001; i++) { const b = bytes(`object ${i}\n`); blobs.set(blobId(b), b); }
  const ids = [...blobs.keys()];
  await withCtx(ws, async (ctx) => {
    const calls: number[] = [];
    const progress: [number, number, string][] = [];
    ctx.progress = (d, n, w) => progress.push([d, n, w]);
    const fake = { getObjects: async (want: string[]) => { calls.push(want.length); return want.map((id) => ({ id, bytes: blobs.get(id)! })); } } as unknown as Remote;
    assert.is(await fetchObjects(ctx, fake, ids.slice(0, 499)), 499);
    assert.equal(progress, [], 'no progress under 500 objects');
    assert.equal(calls, [499]);
    // 499 are stored already: exactly 500 more report; then 1002, one batch.
    calls.length = 0;
    assert.is(await fetchObjects(ctx, fake, ids.slice(0, 999)), 500);
    assert.equal(progress, [[500, 500, 'downloading objects']]);
    assert.is(await fetchObjects(ctx, fake, ids.slice(0, 2001)), 1002);
    assert.equal(calls, [500, 1002]);
    assert.equal(progress, [[500, 500, 'downloading objects'], [1002, 1002, 'downloading objects']]);
    assert.equal(await ctx.store.objects.missing(ids), []);
  });
  const { ws: other } = await emptyWs();
  await withCtx(other, async (ctx) => {
    const calls: number[] = [];
    const progress: [number, number, string][] = [];
    ctx.progress = (d, n, w) => progress.push([d, n, w]);
    const fake = { getObjects: async (want: string[]) => { calls.push(want.length); return want.map((id) => ({ id, bytes: blobs.get(id)! })); } } as unknown as Remote;
    assert.is(await fetchObjects(ctx, fake, [...ids, ...ids.slice(0, 10)]), 2001, 'each id once');
    assert.equal(calls, [2000, 1]);
    assert.equal(progress, [[2000, 2001, 'downloading objects'], [2001, 2001, 'downloading objects']]);
  });
});

t('fetchObjects: an object whose bytes are not its id is REMOTE_PROTOCOL with data.id, and nothing of the batch is stored', async () => {
  const { ws } = await emptyWs();
  const good = bytes('good\n'), wanted = bytes('wanted\n');
  await withCtx(ws, async (ctx) => {
    const fake = { getObjects: async () => [{ id: blobId(good), bytes: good }, { id: blobId(wanted), bytes: bytes('something else\n') }] } as unknown as Remote;
    const e = await rejects(fetchObjects(ctx, fake, [blobId(good), blobId(wanted)]), 'REMOTE_PROTOCOL', { id: blobId(wanted) });
    assert.match(e.message, `the remote sent object ${blobId(wanted).slice(0, 12)} with the wrong content; nothing was stored`);
    assert.equal(await ctx.store.objects.missing([blobId(good), blobId(wanted)]), [blobId(good), blobId(wanted)]);
  });
});

t('fetch: a head whose latest published version the list lacks is REMOTE_PROTOCOL; no fetch record is written', async () => {
  const { ws: a, remote } = await emptyWs();
  write(a, 'content/a.md', 'a\n');
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await withCtx(b, async (ctx) => {
    const real = ctx.remote();
    ctx.remote = () => wrap(real, { versions: async (from: number) => (await real.versions(from)).filter((v) => v.id !== 1) });
    const e = await rejects(fetchRemote(ctx), 'REMOTE_PROTOCOL');
    assert.is(e.message, 'the remote names latest published version 1 but does not list it');
    assert.is(await tracked(ctx), undefined);
  });
});

t('fetch: changes sent out of order are applied (not patched) and give the version; a fresh fetch too', async () => {
  const { a, b, remote } = await twoClones({ 'content/a.md': 'a\n', 'content/m.md': 'm\n', 'content/z.md': 'z\n' });
  write(a, 'content/m.md', 'm2\n');
  write(a, 'content/b.md', 'b\n');
  write(a, 'content/y.md', 'y\n');
  rmSync(join(a, 'services', 'content', 'z.md'));
  const pushed = (await ok(a, '--json', 'push')).json.version.snapshot as string;
  const reversed = (real: Remote): Remote => wrap(real, { changesBetween: async (x: number | null, y: number) => (await real.changesBetween(x, y)).reverse() });
  await withCtx(b, async (ctx) => {
    const real = ctx.remote();
    ctx.remote = () => reversed(real);
    const f = await fetchRemote(ctx);
    assert.is(f.snapshot, pushed);
    assert.is(f.objectsFetched, 3, 'only the changed blobs: m2 and the two new files');
  });
  await ok(b, 'pull');
  assert.equal([read(b, 'content/a.md'), read(b, 'content/b.md'), read(b, 'content/m.md'), read(b, 'content/y.md'), read(b, 'content/z.md')], ['a\n', 'b\n', 'm2\n', 'y\n', null]);
  const c = await workspace(remote, { sample: false });
  await withCtx(c, async (ctx) => {
    const real = ctx.remote();
    ctx.remote = () => reversed(real);
    const f = await fetchRemote(ctx);
    assert.is(f.snapshot, pushed);
    assert.is(f.objectsFetched, 4);
  });
});

t('fetch: changes that do not give the version\'s snapshot are REMOTE_PROTOCOL naming both; the record stays at the old version', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'a\n', 'content/b.md': 'b\n' });
  write(a, 'content/a.md', 'a2\n');
  write(a, 'content/b.md', 'b2\n');
  const v = (await ok(a, '--json', 'push')).json.version as { id: number; snapshot: string };
  for (const how of ['sorted', 'reversed'] as const) {
    await withCtx(b, async (ctx) => {
      const before = await tracked(ctx);
      const real = ctx.remote();
      ctx.remote = () => wrap(real, {
        changesBetween: async (x: number | null, y: number) => {
          const one = (await real.changesBetween(x, y)).slice(0, 1); // b.md's change dropped
          return how === 'sorted' ? one : [{ path: 'content/zz.md', id: null }, ...one];
        },
      });
      const e = await rejects(fetchRemote(ctx), 'REMOTE_PROTOCOL');
      assert.is(e.message, `the changes the remote sent for version ${v.id} do not give its snapshot ${v.snapshot}; try again, then \`agentsync fsck\``);
      assert.equal(await tracked(ctx), before);
    });
  }
  await ok(b, 'pull');
  assert.is(read(b, 'content/b.md'), 'b2\n');
});

t('push: a create that fails with anything but a newer head is thrown as it came, once, and nothing moves', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'a2\n');
  const answers: [string, Error][] = [
    ['unreachable', new AgentsyncError('REMOTE_UNREACHABLE', 'down', {})],
    ['stale, same head', new AgentsyncError('STALE_REMOTE', 'stale', { latestPublished: 1 })],
    ['stale, older head', new AgentsyncError('STALE_REMOTE', 'stale', { latestPublished: 0 })],
    ['stale, no number', new AgentsyncError('STALE_REMOTE', 'stale', { latestPublished: '2' })],
    ['not ours', new TypeError('boom')],
  ];
  for (const [what, err] of answers) {
    await withCtx(ws, async (ctx) => {
      const base = await ctx.store.baseSnapshot('origin');
      const track = await tracked(ctx);
      const real = ctx.remote();
      let calls = 0;
      ctx.remote = () => wrap(real, { createVersion: async () => { calls++; throw err; } });
      try {
        await enginePush(ctx, { selectors: [], author: 'me' });
        assert.unreachable(what);
      } catch (e) {
        assert.is(e, err, what);
      }
      assert.is(calls, 1, what);
      assert.is(await ctx.store.baseSnapshot('origin'), base, what);
      assert.equal({ ...(await tracked(ctx))!, fetchedAt: '' }, { ...track!, fetchedAt: '' }, what);
    });
  }
  const st = await ok(ws, '--json', 'status');
  assert.equal(st.json.entries.map((e: { path: string; state: string }) => [e.path, e.state]), [['content/a.md', 'push']]);
});

t('push: a failed local write of the new manifest ends the push with that error, even when the create succeeded', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'a2\n');
  const full = new Error('ENOSPC: no space left on device');
  for (const create of ['succeeds', 'is stale'] as const) {
    await withCtx(ws, async (ctx) => {
      const base = await ctx.store.baseSnapshot('origin');
      const real = ctx.remote();
      ctx.store.encodedManifestOps = async () => { throw full; };
      ctx.remote = () => wrap(real, {
        createVersion: async (...args: Parameters<Remote['createVersion']>) => {
          if (create === 'succeeds') return real.createVersion(...args);
          throw new AgentsyncError('STALE_REMOTE', 'stale', { latestPublished: 99 });
        },
      });
      try {
        await enginePush(ctx, { selectors: [], author: 'me' });
        assert.unreachable(create);
      } catch (e) {
        assert.is(e, full, create);
      }
      assert.is(await ctx.store.baseSnapshot('origin'), base, create);
    });
  }
});

t('push: a thousand and more objects upload in chunks of 1000 with progress (done, total); under 500, none', async () => {
  const { ws } = await emptyWs();
  for (let i = 0; i < 499; i++) write(ws, `content/s${String(i).padStart(4, '0')}.md`, `small ${i}\n`);
  const small = await withCtx(ws, async (ctx) => {
    const progress: [number, number, string][] = [];
    ctx.progress = (d, n, w) => progress.push([d, n, w]);
    const r = await enginePush(ctx, { selectors: [], author: 'me' });
    assert.is(r.objectsSent, 499);
    return progress;
  });
  assert.equal(small.filter((p) => p[2] === 'uploading objects'), []);
  for (let i = 0; i < 1001; i++) write(ws, `content/l${String(i).padStart(4, '0')}.md`, `large ${i}\n`);
  const large = await withCtx(ws, async (ctx) => {
    const progress: [number, number, string][] = [];
    const sizes: number[] = [];
    ctx.progress = (d, n, w) => progress.push([d, n, w]);
    const real = ctx.remote();
    ctx.remote = () => wrap(real, { missing: async (ids: string[]) => { sizes.push(ids.length); return real.missing(ids); } });
    const r = await enginePush(ctx, { selectors: [], author: 'me' });
    assert.is(r.objectsSent, 1001);
    assert.equal(sizes, [1000, 1]);
    return progress;
  });
  assert.equal(large.filter((p) => p[2] === 'uploading objects'), [[1000, 1001, 'uploading objects'], [1001, 1001, 'uploading objects']]);
});

t('a workspace without a remote: status lists every artifact as push, offline; push and fetch are REMOTE_UNKNOWN with the way out', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'remote', 'remove', 'origin');
  const st = await ok(ws, '--json', 'status');
  assert.is(st.json.remote, null);
  assert.equal(st.json.entries.map((e: { path: string; state: string }) => [e.path, e.state]), [['content/a.md', 'push']]);
  await withCtx(ws, async (ctx) => {
    const s = await computeStatus(ctx);
    assert.equal([s.remote, s.latestPublished, s.fetchedAt, s.remoteSnapshot, s.tracking], [null, null, null, null, undefined]);
    assert.equal(s.entries.map((e) => [e.path, e.state, e.ids.base, e.ids.remote]), [['content/a.md', 'push', null, null]]);
    assert.throws(() => ctx.remote(), (e: AgentsyncError) => e.code === 'REMOTE_UNKNOWN' && e.message === 'this workspace has no remote; run `agentsync remote add origin <url>`');
  });
  for (const cmd of ['push', 'fetch']) {
    const r = await cli(ws, '--json', cmd);
    assert.is(r.json.error.code, 'REMOTE_UNKNOWN', cmd);
    assert.match(r.json.error.message, 'this workspace has no remote; run `agentsync remote add origin <url>`');
  }
});

/** A workspace whose remote has versions 1 and 2 of content/a.md, rolled back to 1. */
async function rolledBack(): Promise<string> {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', '1\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', '2\n');
  await ok(ws, 'push');
  await ok(ws, 'rollback', '1');
  return ws;
}

t('deploy takes a version given as a number', async () => {
  const ws = await rolledBack();
  await withCtx(ws, (ctx) => deploy(ctx, 2));
  const v = await ok(ws, '--json', 'versions');
  assert.equal([v.json.latestPublished, v.json.current], [2, 2]);
  await withCtx(ws, (ctx) => rejects(deploy(ctx, 0), 'USAGE'));
});

t('undo after the base of more than three paths moved: three named, then …; every path in data', async () => {
  const files = Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [`content/${n}.md`, `${n}1\n`]));
  const { a, b } = await twoClones(files);
  for (const n of ['a', 'b', 'c', 'd']) write(b, `content/${n}.md`, `${n}2\n`);
  await ok(b, 'push');
  await ok(a, 'pull');
  for (const n of ['a', 'b', 'c', 'd']) write(a, `content/${n}.md`, `${n}3\n`);
  await ok(a, 'push');
  const r = await cli(a, '--json', 'undo');
  assert.is(r.json.error.code, 'UNDO_STALE');
  assert.equal(r.json.error.data.paths, ['content/a.md', 'content/b.md', 'content/c.md', 'content/d.md']);
  assert.match(r.json.error.message, 'the base of content/a.md, content/b.md, content/c.md, … has moved since');
});

t('a conflict that cannot be merged (deleted on one side) is refused with `agentsync diff` as its hint', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'one\n' });
  write(a, 'content/a.md', 'two\n');
  await ok(a, 'push');
  rmSync(join(b, 'services', 'content', 'a.md'));
  await ok(b, 'fetch');
  const r = await cli(b, '--json', 'pull');
  assert.is(r.json.error.code, 'PULL_REFUSED');
  assert.is(r.json.error.data.hint, 'agentsync diff content/a.md');
  const p = await cli(b, '--json', 'push');
  assert.is(p.json.error.code, 'PUSH_REFUSED');
  assert.is(p.json.error.data.hint, 'agentsync diff content/a.md');
});

t('merge of a conflict deleted on one side is NOT_MERGEABLE with both sides and the diff hint in data', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'one\n' });
  write(a, 'content/a.md', 'two\n');
  await ok(a, 'push');
  rmSync(join(b, 'services', 'content', 'a.md'));
  await ok(b, 'fetch');
  const r = await cli(b, '--json', 'merge', 'services/content/a.md');
  assert.is(r.json.error.code, 'NOT_MERGEABLE');
  assert.equal(r.json.error.data, { path: 'content/a.md', state: 'conflict', local: 'deleted', remote: 'modified', hint: 'agentsync diff content/a.md' });
  assert.match(r.json.error.message, 'content/a.md is deleted locally and modified remotely: there is no text to merge');
});

t('writeArtifacts: a blob missing from the store is OBJECT_MISSING with its path and id; no file is written', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  const absent = blobId(bytes('never stored\n'));
  await withCtx(ws, (ctx) => rejects(writeArtifacts(ctx, [{ path: 'content/new.md', id: absent, prev: null }], 'pull'), 'OBJECT_MISSING', { path: 'content/new.md', id: absent }));
  assert.is(existsSync(join(ws, 'services', 'content', 'new.md')), false);
  assert.is(read(ws, 'content/a.md'), 'a\n');
});

t('merges in progress in a store without the index: found by their records alone, and the index written with exactly them', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'base\n', 'content/z.md': 'z\n' });
  write(a, 'content/a.md', 'theirs\n');
  await ok(a, 'push');
  write(b, 'content/a.md', 'ours\n');
  await ok(b, 'fetch');
  await withCtx(b, async (ctx) => {
    const r = await startMerge(ctx, 'content/a.md');
    assert.is(r.clean, false);
    // As a store written before the index existed: the records, no `merges` key.
    await ctx.store.db.del(MERGES_KEY);
    await ctx.store.db.put('merges-other', bytes('{}')); // a key just past the records' range
    const st = await computeStatus(ctx);
    assert.equal(st.entries.map((e) => [e.path, e.state, e.merging ?? false]), [['content/a.md', 'conflict', true]]);
    assert.equal(JSON.parse(String(await ctx.store.db.get(MERGES_KEY))), ['content/a.md']);
  });
});

t('undo of a journal written before entries had "after" (an older version\'s pull) goes ahead: no entry counts as moved', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'one\n', 'content/b.md': 'b\n' });
  write(a, 'content/a.md', 'two\n');
  await ok(a, 'push');
  await ok(b, 'pull');
  assert.is(read(b, 'content/a.md'), 'two\n');
  await withCtx(b, async (ctx) => {
    const j = (await ctx.store.undo())!;
    assert.equal(j.entries.map((e) => [e.path, 'base' in e, 'after' in e]), [['content/a.md', true, true]]);
    const old = { ...j, entries: j.entries.map(({ after: _after, ...rest }) => rest) };
    await commit(ctx.store.db, [ctx.store.undoOp(old)]);
  });
  const r = await cli(b, '--json', 'undo');
  assert.is(r.code, 0, r.out + r.err);
  assert.is(read(b, 'content/a.md'), 'one\n');
});

t('cleanYamlMessage: the first line, without the parser\'s position and a final colon or full stop', () => {
  const cases: [string, string][] = [
    ['Map keys must be unique at line 12, column 34:\n\nname: b\n^\n', 'Map keys must be unique'],
    ['Nested mappings are not allowed at line 3, column 5', 'Nested mappings are not allowed'],
    ['Unexpected end of input at line 1, column 2:   ', 'Unexpected end of input'],
    ['Some error.', 'Some error'],
    ['Some error:', 'Some error'],
    ['ends with a dot.  \nmore', 'ends with a dot'],
    ['keeps: the middle', 'keeps: the middle'],
    ['a. b', 'a. b'],
    ['at line 7, column 8 is not the end here', 'at line 7, column 8 is not the end here'],
    ['x at line 7, column 8 is not the end here', 'x at line 7, column 8 is not the end here'],
    ['Two dots..', 'Two dots.'],
  ];
  for (const [m, want] of cases) assert.is(cleanYamlMessage(m), want, JSON.stringify(m));
});

t('validateArtifacts: a valid file gets one verdict key and the old one-value key goes; a removed or bad file gets none', async () => {
  const { ws } = await emptyWs();
  write(ws, 'agents/good.yaml', 'name: good\n');
  write(ws, 'agents/bad.yaml', '- not a map\n');
  const id = (x: string) => blobId(bytes(x));
  await withCtx(ws, async (ctx) => {
    const verdicts = async () => (await ctx.store.db.keys({ gte: 'valid!', lt: 'valid"' }).all()).sort();
    await ctx.store.db.put('valid', bytes('{"old":true}'));
    const found = await validateArtifacts(ctx, [{ path: 'agents/gone.yaml', id: id('name: y\n') }, { path: 'agents/bad.yaml', id: id('- not a map\n') }]);
    assert.equal(found.map((p) => p.path), ['agents/bad.yaml']);
    assert.equal(await verdicts(), []);
    assert.ok(await ctx.store.db.get('valid'), 'kept while no verdict was added');
    assert.equal(await validateArtifacts(ctx, [{ path: 'agents/good.yaml', id: id('name: good\n') }]), []);
    assert.equal(await verdicts(), [`valid!v1 yaml agent ${id('name: good\n')}`]);
    assert.is(await ctx.store.db.get('valid'), undefined);
  });
});

t('fetch after new versions reads the versions from the last one known (one request), not the whole history', async () => {
  const { a, b } = await twoClones({ 'content/a.md': '1\n' });
  for (const x of ['2', '3']) { write(a, 'content/a.md', `${x}\n`); await ok(a, 'push'); }
  await ok(b, 'fetch');
  write(a, 'content/a.md', '4\n');
  await ok(a, 'push');
  const asked = await withCtx(b, async (ctx) => {
    const real = ctx.remote();
    const calls: number[] = [];
    ctx.remote = () => wrap(real, { versions: async (from: number) => { calls.push(from); return real.versions(from); } });
    const f = await fetchRemote(ctx);
    assert.is(f.newVersions, 1);
    return calls;
  });
  assert.equal(asked, [2], 'from the version before the last known one (3), which must come back unchanged');
});

t('fetch from a remote recreated at the same URL, one of whose versions has the snapshot we knew: the whole snapshot is read again, right', async () => {
  const remote = join(tmp('agentsync-mke-remote-'), 'remote');
  const a = await workspace(remote, { sample: false });
  write(a, 'content/x.md', '1\n');
  await ok(a, 'push');
  write(a, 'content/x.md', '2\n');
  await ok(a, 'push'); // v2 = {x: 2}
  const c = await workspace(remote, { sample: false });
  await ok(c, 'fetch');
  rmSync(remote, { recursive: true, force: true });
  const n = await workspace(remote, { sample: false });
  write(n, 'content/x.md', '2\n');
  await ok(n, 'push'); // v1 = {x: 2}: the snapshot c knew, under another id
  write(n, 'content/y.md', 'y\n');
  await ok(n, 'push'); // v2 = {x: 2, y}
  write(n, 'content/x.md', '4\n');
  const v3 = (await ok(n, '--json', 'push')).json.version.snapshot as string; // v3 = {x: 4, y}
  const f = await ok(c, '--json', 'fetch');
  assert.is(f.json.snapshot, v3);
  await ok(c, 'pull');
  assert.equal([read(c, 'content/x.md'), read(c, 'content/y.md')], ['4\n', 'y\n']);
});

t('fsck: a fetch record of an empty remote (no snapshot) is fine; a base that is no snapshot hash and a pending mark that is not JSON say so', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'fetch'); // the remote does not exist yet: a record with no snapshot
  await withCtx(ws, async (ctx) => assert.is((await tracked(ctx))!.latestSnapshot, null));
  const clean = await cli(ws, '--json', 'fsck');
  assert.is(clean.code, 0, clean.out);
  assert.equal(clean.json.problems, []);
  await withCtx(ws, (ctx) => commit(ctx.store.db, [{ type: 'put', key: 'base!other', value: bytes('sha256:xyz') }, { type: 'put', key: 'undo-pending', value: bytes('[') }]));
  const f = await cli(ws, '--json', 'fsck');
  assert.equal(f.json.problems, [
    { what: 'base!other', message: '"sha256:xyz" is not a snapshot hash' },
    { what: 'undo-pending', message: 'is not valid JSON' },
  ]);
});

t('deploy moves the base only of converged artifacts: a local edit made before stays to push', async () => {
  const ws = await rolledBack();
  write(ws, 'content/b.md', 'local only\n');
  write(ws, 'content/a.md', '3\n');
  await ok(ws, 'deploy', '2');
  assert.equal(await states(ws), { 'content/a.md': 'push', 'content/b.md': 'push' });
  await ok(ws, 'pull');
  assert.equal([read(ws, 'content/a.md'), read(ws, 'content/b.md')], ['3\n', 'local only\n']);
});

t('push uploads nothing (no putObjects call) when the remote has every blob', async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'one\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'two\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'one\n'); // back to a blob the remote has
  const calls = await withCtx(ws, async (ctx) => {
    const real = ctx.remote();
    const names: string[] = [];
    ctx.remote = () => new Proxy(real, {
      get(target, k) {
        const v = (target as unknown as Record<string | symbol, unknown>)[k];
        return typeof v === 'function' ? (...a: unknown[]) => { names.push(String(k)); return (v as (...x: unknown[]) => unknown).apply(target, a); } : v;
      },
    });
    const r = await enginePush(ctx, { selectors: [], author: 'me' });
    assert.is(r.objectsSent, 0);
    return names;
  });
  assert.ok(calls.includes('missing') && calls.includes('createVersion'), calls.join());
  assert.not.ok(calls.includes('putObjects'), calls.join());
});

t(`push gives up after ${CAS_MAX_TRIES} creates that each find a newer head, with the last STALE_REMOTE`, async () => {
  const { ws } = await emptyWs();
  write(ws, 'content/a.md', 'a\n');
  await ok(ws, 'push');
  write(ws, 'content/a.md', 'a2\n');
  const random = Math.random;
  Math.random = () => 0; // no back-off wait
  try {
    await withCtx(ws, async (ctx) => {
      const real = ctx.remote();
      let creates = 0;
      ctx.remote = () => wrap(real, {
        createVersion: async () => { creates++; throw new AgentsyncError('STALE_REMOTE', 'stale', { latestPublished: 1 + creates }); },
        changesBetween: async () => [],
      });
      const e = await rejects(enginePush(ctx, { selectors: [], author: 'me' }), 'STALE_REMOTE');
      assert.equal(e.data, { latestPublished: 1 + CAS_MAX_TRIES });
      assert.is(creates, CAS_MAX_TRIES);
    });
  } finally { Math.random = random; }
});

t('a merge in progress stays a conflict until resolve, even when the file now equals the remote\'s', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'base\n' });
  write(a, 'content/a.md', 'theirs\n');
  await ok(a, 'push');
  write(b, 'content/a.md', 'ours\n');
  await ok(b, 'fetch');
  assert.is((await cli(b, 'merge', 'content/a.md')).code, 1);
  write(b, 'content/a.md', 'theirs\n'); // edited by hand to the remote's side
  const st = await ok(b, '--json', 'status');
  assert.equal(st.json.entries.map((e: { path: string; state: string; merging?: boolean }) => [e.path, e.state, e.merging]), [['content/a.md', 'conflict', true]]);
});

t('the test hook AGENTSYNC_TEST_FAIL_AFTER_WRITES takes a whole number only', async () => {
  const { a, b } = await twoClones({ 'content/a.md': '1\n', 'content/b.md': '1\n' });
  write(a, 'content/a.md', '2\n');
  write(a, 'content/b.md', '2\n');
  await ok(a, 'push');
  process.env.AGENTSYNC_TEST_FAIL_AFTER_WRITES = '1x';
  try { await ok(b, 'pull'); } finally { delete process.env.AGENTSYNC_TEST_FAIL_AFTER_WRITES; }
  assert.equal([read(b, 'content/a.md'), read(b, 'content/b.md')], ['2\n', '2\n']);
});

const hasGit = spawnSync('git', ['--version']).status === 0;
function git(cwd: string, ...args: string[]): void {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
}

needs(t, hasGit, 'mutation kills: src/engine, uncovered paths (git)', 'git is not on PATH; .ci/run installs it')('git: pull and sync refuse four dirty files naming three, then …; a dry run lists them as blocked', async () => {
  const names = ['a', 'b', 'c', 'd'];
  const { a, b } = await twoClones({ ...Object.fromEntries(names.map((n) => [`content/${n}.md`, `${n}1\n`])), 'content/e.md': 'e1\n' });
  // b's working files equal the base (a pull would replace them) but differ from git's HEAD.
  git(b, 'init', '-q');
  for (const n of names) write(b, `content/${n}.md`, `committed ${n}\n`);
  git(b, 'add', '-A');
  git(b, 'commit', '-q', '-m', 'init');
  for (const n of names) write(b, `content/${n}.md`, `${n}1\n`);
  for (const n of names) write(a, `content/${n}.md`, `${n}2\n`);
  await ok(a, 'push');
  const paths = names.map((n) => `content/${n}.md`);
  const dry = await cli(b, '--json', 'pull', '--dry-run');
  assert.is(dry.code, 1, 'a dry run that finds what blocks exits 1');
  assert.equal(dry.json.blocked, paths.map((path) => ({ path, state: 'pull', reason: 'git-dirty' })));
  const r = await cli(b, '--json', 'pull');
  assert.is(r.json.error.code, 'GIT_DIRTY');
  assert.equal(r.json.error.data.paths, paths);
  assert.match(r.json.error.message, 'refusing to replace content/a.md, content/b.md, content/c.md, …: uncommitted git changes would be lost');
  const s = await cli(b, '--json', 'sync', '--pull');
  assert.is(s.json.error.code, 'GIT_DIRTY');
  assert.equal(s.json.error.data, { paths, hint: 'git stash' });
  assert.match(s.json.error.message, 'refusing to replace content/a.md, content/b.md, content/c.md, …: uncommitted git changes would be lost');
  for (const n of names) assert.is(read(b, `content/${n}.md`), `${n}1\n`);
});

needs(t, hasGit, 'mutation kills: src/engine, uncovered paths (git)', 'git is not on PATH; .ci/run installs it')('git: pull --commit with no author given commits as the repository\'s user, else as agentsync', async () => {
  const { a, b } = await twoClones({ 'content/a.md': 'one\n' });
  git(b, 'init', '-q');
  git(b, 'add', '-A');
  git(b, 'commit', '-q', '-m', 'init');
  write(a, 'content/a.md', 'two\n');
  await ok(a, 'push');
  const env = { ...process.env, AGENTSYNC_AUTHOR: undefined, GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined };
  const saved = { ...process.env };
  for (const k of ['AGENTSYNC_AUTHOR', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL']) delete process.env[k];
  try {
    const ctx = await openContext({ cwd: b, env: { ...env, AGENTSYNC_LOCK_TIMEOUT_MS: '3000' } });
    try {
      const r = await enginePull(ctx, { selectors: [], commit: true });
      assert.match(r.commit ?? '', /^[0-9a-f]{40}$/);
    } finally { await ctx.close(); }
  } finally { Object.assign(process.env, saved); }
  const who = spawnSync('git', ['log', '-1', '--format=%an|%s'], { cwd: b, encoding: 'utf8' }).stdout.trim();
  assert.is(who, 'agentsync|agentsync: pull from origin v2', 'no user.name in the repository');
});

needs(t, hasGit, 'mutation kills: src/engine, uncovered paths (git)', 'git is not on PATH; .ci/run installs it')('git: status lists git-dirty artifacts only when asked and only when some drifted', async () => {
  const { a, b } = await twoClones({ 'content/a.md': '1\n' });
  git(b, 'init', '-q');
  git(b, 'add', '-A');
  git(b, 'commit', '-q', '-m', 'init');
  await withCtx(b, async (ctx) => {
    const s = await computeStatus(ctx, [], { git: true });
    assert.is(s.entries.length, 0);
    assert.is('gitDirty' in s, false, 'nothing drifted: no git check');
  });
  write(b, 'content/a.md', 'edited\n');
  await withCtx(b, async (ctx) => {
    assert.is('gitDirty' in (await computeStatus(ctx)), false, 'not asked');
    assert.equal((await computeStatus(ctx, [], { git: true })).gitDirty, ['content/a.md']);
  });
  void a;
});

needs(t, hasGit, 'mutation kills: src/engine, uncovered paths (git)', 'git is not on PATH; .ci/run installs it')('git: a remote addition where git tracks a file deleted from disk is no git-dirty replacement (pull and sync --pull write it)', async () => {
  for (const how of [['pull'], ['sync', '--pull']]) {
    const { a, b } = await twoClones({ 'content/a.md': '1\n' });
    git(b, 'init', '-q');
    write(b, 'content/x.md', 'only in git\n');
    git(b, 'add', '-A');
    git(b, 'commit', '-q', '-m', 'init');
    rmSync(join(b, 'services', 'content', 'x.md'));
    write(a, 'content/x.md', 'remote\n');
    await ok(a, 'push');
    await ok(b, 'fetch');
    assert.equal(await states(b), { 'content/x.md': 'pull' });
    await ok(b, ...how);
    assert.is(read(b, 'content/x.md'), 'remote\n', how.join(' '));
  }
});

t.run();
