/**
 * status from the stat cache: when the base is the cache's snapshot, status is computed from the
 * scan's changes alone (no base manifest read). It must agree with the full three-way walk on
 * every edit: adds, modifies, deletes, reverts, renames, merges in progress and selectors.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openContext } from '../src/engine/context.js';
import { computeStatus, type Entry } from '../src/engine/status.js';
import { cleanup, cli, read, tmp, workspace, write } from './helpers.js';

const t = suite('engine: status from the stat cache');
t.after(cleanup);

const view = (es: Entry[]) => es.map((e) => [e.path, e.kind, e.local, e.remote, e.state, e.ids.local, e.ids.base, e.ids.remote]);

/** The full walk over every path (`all`), reduced to the drifted entries. */
async function fullWalk(ws: string, selectors: string[] = []): Promise<unknown[]> {
  const ctx = await openContext({ cwd: ws, env: process.env });
  try {
    return view((await computeStatus(ctx, selectors, { all: true })).entries.filter((e) => e.state !== 'clean'));
  } finally {
    await ctx.close();
  }
}

/** A status as the CLI computes it, and whether it came from the cache (no base read). */
async function fromCache(ws: string, selectors: string[] = []): Promise<{ entries: unknown[]; lazy: boolean }> {
  const ctx = await openContext({ cwd: ws, env: process.env });
  try {
    const st = await computeStatus(ctx, selectors);
    const lazy = Object.getOwnPropertyDescriptor(st.manifests, 'base')?.get !== undefined;
    return { entries: view(st.entries), lazy };
  } finally {
    await ctx.close();
  }
}

function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
}

t('random edits after a push: the cache-based status equals the full walk', async () => {
  const ws = await workspace(tmp());
  assert.is((await cli(ws, 'push')).code, 0);
  const rand = rng(7);
  const all = () => {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const d of readdirSync(join(ws, 'services', rel), { withFileTypes: true })) {
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) walk(p);
        else if (/\.(ya?ml|md)$/.test(p)) out.push(p);
      }
    };
    walk('');
    return out.sort();
  };
  let lazyRounds = 0, lazyAgain = 0;
  for (let round = 0; round < 12; round++) {
    const files = all();
    const pick = () => files[Math.floor(rand() * files.length)]!;
    const n = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) {
      const what = rand();
      const p = pick();
      if (what < 0.35) write(ws, p, read(ws, p) + `\n# round ${round} edit ${i}\n`);
      else if (what < 0.5) rmSync(join(ws, 'services', p), { force: true });
      else if (what < 0.65) write(ws, `content/new-${round}-${i}.md`, `# new ${round} ${i}\n`);
      else if (what < 0.8) renameSync(join(ws, 'services', p), join(ws, 'services', p.replace(/\.(ya?ml|md)$/, `-moved-${round}.$1`)));
      else write(ws, p, read(ws, p) ?? ''); // same bytes, new mtime
    }
    // (The first status of a round saves the stat cache: only it can take the cache-based path.)
    const sel = round % 2 ? ['content'] : [];
    const got = await fromCache(ws, sel);
    if (got.lazy) lazyRounds++;
    assert.equal(got.entries, await fullWalk(ws, sel), `round ${round}`);
    const again = await fromCache(ws, round % 2 ? [] : ['content']);
    if (again.lazy) lazyAgain++;
    assert.equal(again.entries, await fullWalk(ws, round % 2 ? [] : ['content']), `round ${round}, again`);
    if (round % 3 === 2) {
      const r = await cli(ws, 'push');
      assert.is(r.code, 0, r.err);
    }
  }
  assert.ok(lazyRounds >= 4, `the cache-based path was taken in ${lazyRounds} rounds`);
  // A status after a status: the rows no longer equal the base, but the first kept how they differ.
  assert.ok(lazyAgain >= 4, `the second status of a round took the cache-based path in ${lazyAgain} rounds`);
});

t('a file edited, then edited back to its base bytes', async () => {
  const ws = await workspace(tmp());
  assert.is((await cli(ws, 'push')).code, 0);
  const before = read(ws, 'agents/welcome.yaml')!;
  write(ws, 'agents/welcome.yaml', before + '# changed\n');
  let got = await fromCache(ws);
  assert.ok(got.lazy);
  assert.equal(got.entries, await fullWalk(ws));
  write(ws, 'agents/welcome.yaml', before); // back to the base bytes
  got = await fromCache(ws);
  assert.equal(got.entries, []);
  assert.equal(await fullWalk(ws), []);
});

t('a status after a status reads no base (statbase!), and a damaged or stale statbase is only a slower status', async () => {
  const ws = await workspace(tmp());
  assert.is((await cli(ws, 'push')).code, 0);
  write(ws, 'agents/welcome.yaml', read(ws, 'agents/welcome.yaml') + '# changed\n');
  rmSync(join(ws, 'services', 'skills', 'sql-helper.yaml'));
  const want = await fullWalk(ws);
  assert.is(want.length, 2);
  let got = await fromCache(ws);
  assert.ok(got.lazy);
  assert.equal(got.entries, want);
  // The rows now hold the edit: only the kept difference lets the next status skip the base.
  got = await fromCache(ws);
  assert.ok(got.lazy, 'second status: from the kept difference');
  assert.equal(got.entries, want);
  const key = async (v: string | undefined) => {
    const ctx = await openContext({ cwd: ws, env: process.env });
    try {
      if (v === undefined) return (await ctx.store.statBase('origin'));
      await ctx.store.db.put('statbase!origin', new TextEncoder().encode(v));
    } finally { await ctx.close(); }
    return undefined;
  };
  const sb = (await key(undefined))!;
  assert.equal(sb.diff.sort(), [['agents/welcome.yaml', sb.diff.find((d) => d[0] === 'agents/welcome.yaml')![1]], ['skills/sql-helper.yaml', sb.diff.find((d) => d[0] === 'skills/sql-helper.yaml')![1]]]);
  assert.ok(sb.diff.every((d) => typeof d[1] === 'string'), 'base ids of both');
  for (const bad of ['not json', '{"cache":1}', JSON.stringify({ ...sb, base: 'sha256:' + '0'.repeat(64) }), JSON.stringify({ ...sb, diff: [] })]) {
    await key(bad);
    got = await fromCache(ws);
    // A difference for other snapshots is ignored; one that lies about these (an empty diff)
    // would hide drift, which is why it is keyed by both snapshots and written only by status.
    if (bad.includes('"diff":[]')) continue;
    assert.is(got.lazy, false, bad);
    assert.equal(got.entries, want, bad);
  }
});

t('the full walk gives its three manifests to the caller (push and pull build on them)', async () => {
  const ws = await workspace(tmp());
  assert.is((await cli(ws, 'push')).code, 0);
  write(ws, 'content/new.md', '# new\n');
  const ctx = await openContext({ cwd: ws, env: process.env });
  try {
    const st = await computeStatus(ctx, [], { all: true });
    assert.is(st.manifests.local.get('content/new.md'), st.entries.find((e) => e.path === 'content/new.md')!.ids.local);
    assert.is(st.manifests.base.has('content/new.md'), false);
    assert.equal([...st.manifests.remote.keys()], [...st.manifests.base.keys()]);
    assert.is(st.manifests.local.size, st.manifests.base.size + 1);
  } finally {
    await ctx.close();
  }
});

t('a kind removed from agentsync.yaml since the push: its base paths are outside, not deleted, on the cache-based path too', async () => {
  const ws = await workspace(tmp());
  const cfg = join(ws, 'agentsync.yaml');
  const plain = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, plain + '\nkinds:\n  prompts:\n    pattern: prompts/*.md\n    schema: none\n');
  write(ws, 'prompts/hello.md', '# a prompt\n');
  assert.is((await cli(ws, 'push')).code, 0);
  writeFileSync(cfg, plain);
  write(ws, 'agents/welcome.yaml', read(ws, 'agents/welcome.yaml') + '# changed\n');
  const ctx = await openContext({ cwd: ws, env: process.env });
  try {
    const st = await computeStatus(ctx);
    assert.ok(Object.getOwnPropertyDescriptor(st.manifests, 'base')?.get !== undefined, 'the cache-based path');
    assert.equal(st.outside, ['prompts/hello.md']);
    assert.equal(st.entries.map((e) => [e.path, e.state]), [['agents/welcome.yaml', 'push']]);
  } finally {
    await ctx.close();
  }
  const j = await cli(ws, 'status', '--json');
  assert.equal([j.json.outside, j.json.entries.map((e: { path: string }) => e.path)], [['prompts/hello.md'], ['agents/welcome.yaml']]);
});

t.run();
