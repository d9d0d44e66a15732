/**
 * Reliability with real processes (`node bin/agentsync.js`) on a directory remote: concurrent
 * pushes lose no update, a held store makes the CLI wait then fail cleanly, a pull killed at
 * any moment leaves a store fsck accepts and a rerun completes, and fsck finds corruption.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { blobId } from '../src/model/hash.js';
import { openDb } from '../src/store/db.js';
import { LocalStore } from '../src/store/local.js';
import { BIN, cleanup, cli, read, states, workspace, write, ok } from './helpers.js';
import { dirRemote } from './remotes.js';

interface Proc {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Start the real CLI in a subprocess. */
function start(cwd: string, argv: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...argv], {
    cwd, env: { ...process.env, NO_COLOR: '1', AGENTSYNC_AUTHOR: 'tester', AGENTSYNC_LOCK_TIMEOUT_MS: '20000', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise<Proc>((res) => child.on('close', (code, signal) => res({ code, signal, out, err })));
  return { child, done };
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((n) => n.endsWith('.md') && !n.startsWith('.')).length;
}

/** Temp files a killed write left (dot-named, removed by the next scan). */
function countTemps(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((n) => n.startsWith('.')).length;
}

const t = suite('reliability [directory, subprocesses]');
t.after(cleanup);

t('concurrent pushes of different artifacts: no lost update, fsck passes everywhere', async () => {
  const url = await dirRemote.make();
  const seed = await workspace(url);
  await ok(seed, 'push');
  const N = 4;
  const wss: string[] = [];
  for (let i = 0; i < N; i++) {
    const ws = await workspace(url, { sample: false });
    await ok(ws, 'pull');
    wss.push(ws);
  }
  for (let round = 0; round < 2; round++) {
    const paths = wss.map((_, i) => `content/conc/r${round}-w${i}.md`);
    wss.forEach((ws, i) => write(ws, paths[i]!, `# round ${round} from ${i}\n`));
    // Each pushes only its own artifact: the others' concurrent versions are remote-only changes
    // elsewhere, which a push keeps (CAS retry) rather than refuses.
    const runs = await Promise.all(wss.map((ws, i) => start(ws, ['push', paths[i]!]).done));
    const okd: string[] = [];
    runs.forEach((r, i) => {
      if (r.code === 0) okd.push(paths[i]!);
      else {
        assert.ok(r.code === 1 || r.code === 3, `round ${round} push ${i}: exit ${r.code} ${r.signal ?? ''}: ${r.err}`);
        assert.match(r.err, /^agentsync: .+ \((PUSH_REFUSED|REMOTE_BUSY|STALE_REMOTE)\)\n$/, r.err);
      }
    });
    assert.ok(okd.length >= 1, `round ${round}: at least one push went through: ${runs.map((r) => r.err).join(' | ')}`);
    // the latest published snapshot has every change whose push exited 0
    const check = await workspace(url, { sample: false });
    await ok(check, 'pull');
    for (const p of okd) assert.is(read(check, p), `# round ${round} from ${paths.indexOf(p)}\n`, `${p} was pushed with exit 0 but is not in the latest published version`);
    for (const ws of [...wss, check]) {
      const f = await cli(ws, 'fsck', '--json');
      assert.is(f.code, 0, JSON.stringify(f.json));
    }
    // everyone catches up; failed pushes are pushed again
    for (const ws of wss) {
      await ok(ws, 'pull');
      await ok(ws, 'push');
    }
    for (const ws of wss) await ok(ws, 'pull');
    const hashes = new Set<string>();
    for (const ws of wss) hashes.add((await ok(ws, 'hash', '--json')).json.snapshot);
    assert.is(hashes.size, 1);
    for (const ws of wss) assert.equal(await states(ws, '--fetch'), {});
  }
  const v = (await ok(seed, 'versions', '--json')).json;
  // versions form one chain: every published version's parent is the previous published one
  const published = v.versions.filter((x: { state: string }) => x.state === 'published');
  for (let i = 1; i < published.length; i++) assert.is(published[i].parent, published[i - 1].id);
});

t('concurrent full pushes that touch the same remote: exit 0, or a clean refusal; nothing lost', async () => {
  const url = await dirRemote.make();
  const a = await workspace(url);
  await ok(a, 'push');
  const b = await workspace(url, { sample: false });
  await ok(b, 'pull');
  write(a, 'agents/from-a.yaml', 'name: from-a\n');
  write(b, 'agents/from-b.yaml', 'name: from-b\n');
  const [ra, rb] = await Promise.all([start(a, ['push', '--json']).done, start(b, ['push', '--json']).done]);
  const check = await workspace(url, { sample: false });
  await ok(check, 'pull');
  for (const [r, name] of [[ra, 'from-a'], [rb, 'from-b']] as const) {
    if (r.code === 0) {
      assert.is(read(check, `agents/${name}.yaml`), `name: ${name}\n`);
    } else {
      assert.ok(r.code === 1 || r.code === 3, `${name}: exit ${r.code}: ${r.err}`);
      assert.match(r.err, /\((PUSH_REFUSED|REMOTE_BUSY)\)\n$/);
      const j = JSON.parse(r.out);
      assert.ok(['PUSH_REFUSED', 'REMOTE_BUSY'].includes(j.error.code));
    }
  }
  assert.ok(ra.code === 0 || rb.code === 0, `${ra.err} | ${rb.err}`);
  for (const ws of [a, b]) assert.is((await cli(ws, 'fsck')).code, 0);
});

t('a second process on a held workspace store waits, then fails with STORE_LOCKED (exit 4)', async () => {
  const ws = await workspace(await dirRemote.make());
  const held = await LocalStore.open(join(ws, '.agentsync'));
  try {
    const t0 = Date.now();
    const r = await start(ws, ['status', '--json'], { AGENTSYNC_LOCK_TIMEOUT_MS: '300' }).done;
    const waited = Date.now() - t0;
    assert.is(r.code, 4, r.err);
    assert.match(r.err, /^agentsync: .+ \(STORE_LOCKED\)\n$/);
    assert.is(JSON.parse(r.out).error.code, 'STORE_LOCKED');
    assert.ok(waited >= 300, `it waited for the lock (${waited} ms)`);
    const p = await start(ws, ['push'], { AGENTSYNC_LOCK_TIMEOUT_MS: '300' }).done;
    assert.is(p.code, 4, p.err);
    assert.match(p.err, /\(STORE_LOCKED\)\n$/);
  } finally {
    await held.close();
  }
  // once released the same command works, and nothing was pushed meanwhile
  const r = await start(ws, ['status', '--json'], { AGENTSYNC_LOCK_TIMEOUT_MS: '300' }).done;
  assert.is(r.code, 0, r.err);
  assert.is(JSON.parse(r.out).latestPublished, null);
});

t('a process waiting on the store proceeds when the holder releases it in time', async () => {
  const ws = await workspace(await dirRemote.make());
  const held = await LocalStore.open(join(ws, '.agentsync'));
  const run = start(ws, ['hash', '--json'], { AGENTSYNC_LOCK_TIMEOUT_MS: '20000' });
  await sleep(300);
  await held.close();
  const r = await run.done;
  assert.is(r.code, 0, r.err);
  assert.match(JSON.parse(r.out).snapshot, /^sha256:/);
});

t('a held directory remote makes a push wait, then fail with REMOTE_BUSY (exit 3); nothing written', async () => {
  const url = await dirRemote.make();
  const ws = await workspace(url);
  await ok(ws, 'push');
  write(ws, 'agents/welcome.yaml', 'name: welcome\n');
  const db = await openDb(join(url, 'store'));
  try {
    const r = await start(ws, ['push', '--json'], { AGENTSYNC_LOCK_TIMEOUT_MS: '300' }).done;
    assert.is(r.code, 3, r.err);
    assert.is(JSON.parse(r.out).error.code, 'REMOTE_BUSY');
  } finally {
    await db.close();
  }
  assert.equal(await states(ws), { 'agents/welcome.yaml': 'push' });
  assert.is((await ok(ws, 'versions', '--json')).json.versions.length, 1);
  assert.is((await cli(ws, 'fsck')).code, 0);
});

t('pull killed at different moments: fsck passes, a rerun completes with the same hash', async () => {
  const url = await dirRemote.make();
  const a = await workspace(url, { sample: false });
  const COUNT = 300;
  for (let i = 0; i < COUNT; i++) {
    write(a, `content/gen/doc-${String(i).padStart(3, '0')}.md`, `---\ntitle: generated ${i}\n---\n\n${'Lorem ipsum dolor sit amet. '.repeat(20)}\n${i}\n`);
  }
  await ok(a, 'push');
  const want = (await ok(a, 'hash', '--json')).json;
  assert.is(want.artifacts, COUNT);
  // kill after a delay, or once some files have been written
  const moments: ({ ms: number } | { files: number } | { temps: number })[] = [{ ms: 50 }, { ms: 150 }, { files: 1 }, { files: 100 }, { files: 250 }];
  const outcomes: string[] = [];
  let midWrite = false;
  // On a fast machine the 300 files are written in a few milliseconds, between two polls: then
  // more kills, each as soon as the first temp file appears (polled on every turn of the event
  // loop), until one lands while files are being written (bounded).
  for (let k = 0; k < moments.length || (!midWrite && k < moments.length + 40); k++) {
    const m = moments[k] ?? { temps: 1 };
    const b = await workspace(url, { sample: false });
    const gen = join(b, 'services', 'content', 'gen');
    const run = start(b, ['pull']);
    let exited = false;
    void run.done.then(() => { exited = true; });
    if ('ms' in m) await sleep(m.ms);
    else if ('files' in m) while (!exited && countFiles(gen) < m.files) await sleep(1);
    else while (!exited && countTemps(gen) + countFiles(gen) < m.temps) await new Promise((r) => setImmediate(r));
    run.child.kill('SIGKILL');
    const r = await run.done;
    const files = countFiles(gen), temps = countTemps(gen);
    if (r.signal && ((files > 0 && files < COUNT) || temps > 0)) midWrite = true;
    outcomes.push(`${JSON.stringify(m)}: ${r.signal ?? `exit ${r.code}`} with ${files} files, ${temps} temp files`);
    if (r.signal === null) assert.is(r.code, 0, r.err); // finished before the kill
    const f = await cli(b, 'fsck', '--json');
    assert.is(f.code, 0, `${JSON.stringify(m)}: ${JSON.stringify(f.json)} ${f.err}`);
    const again = await cli(b, 'pull', '--json');
    assert.is(again.code, 0, `${JSON.stringify(m)}: ${again.err}`);
    assert.equal((await ok(b, 'hash', '--json')).json, want, JSON.stringify(m));
    assert.equal(await states(b), {}, JSON.stringify(m));
    assert.is((await cli(b, 'fsck')).code, 0);
  }
  // at least one kill landed while files were being written
  assert.ok(midWrite, outcomes.join('\n'));
});

t('pull of 2 000 files killed mid-write, rerun, undo: every file and status as before the first pull', async () => {
  const COUNT = 2000;
  const path = (i: number) => `content/gen/doc-${String(i).padStart(4, '0')}.md`;
  const text = (i: number, v: string) => `# doc ${i} ${v}\n\n${'Lorem ipsum dolor sit amet. '.repeat(8)}\n`;
  const snapshot = (ws: string) => Array.from({ length: COUNT + 4 }, (_, i) => read(ws, path(i)));
  const statusJson = async (ws: string) => {
    const r = await cli(ws, 'status', '--json');
    assert.ok(r.code === 0 || r.code === 1, r.err);
    delete r.json.fetchedAt; // the rerun fetches again
    return r.json;
  };
  const outcomes: string[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const url = await dirRemote.make();
    const a = await workspace(url, { sample: false });
    for (let i = 0; i < COUNT; i++) write(a, path(i), text(i, 'one'));
    await ok(a, 'push');
    const b = await workspace(url, { sample: false });
    await ok(b, 'pull');
    for (let i = 0; i < COUNT; i++) if (i % 500 !== 7) write(a, path(i), text(i, 'two'));
    for (let i = COUNT; i < COUNT + 4; i++) write(a, path(i), text(i, 'added'));
    await ok(a, 'push');
    write(b, 'content/local.md', 'local only\n');
    await ok(b, 'fetch');
    const before = snapshot(b);
    const statusBefore = await statusJson(b);
    assert.is(statusBefore.entries.length, COUNT - 4 + 4 + 1);
    // kill once file 300 has its new content (the files are written in path order)
    const run = start(b, ['pull']);
    let exited = false;
    void run.done.then(() => { exited = true; });
    while (!exited && read(b, path(300)) !== text(300, 'two')) await sleep(1);
    run.child.kill('SIGKILL');
    const r = await run.done;
    const written = snapshot(b).filter((x, i) => x !== before[i]).length;
    outcomes.push(`${r.signal ?? `exit ${r.code}`} with ${written} files written`);
    if (r.signal === null) { assert.is(r.code, 0, r.err); continue; } // finished before the kill: try again
    if (written === 0 || written === COUNT) continue;
    assert.is((await cli(b, 'fsck')).code, 0);
    const again = await cli(b, 'pull', '--json');
    assert.is(again.code, 0, again.err);
    assert.equal(await states(b), { 'content/local.md': 'push' });
    const u = await cli(b, 'undo', '--json');
    assert.is(u.code, 0, u.err);
    const now = snapshot(b);
    const differ = now.flatMap((x, i) => (x === before[i] ? [] : [path(i)]));
    assert.equal(differ, [], `${differ.length} files not restored (${outcomes.join('; ')})`);
    assert.is(read(b, 'content/local.md'), 'local only\n');
    assert.equal(await statusJson(b), statusBefore);
    assert.is((await cli(b, 'fsck')).code, 0);
    return;
  }
  assert.unreachable(`no kill landed while files were being written: ${outcomes.join('; ')}`);
});

t('push killed at different moments: no half version, fsck passes, a rerun publishes everything', async () => {
  const moments = [40, 100, 160, 250, 400];
  const outcomes: string[] = [];
  for (const ms of moments) {
    const url = await dirRemote.make();
    const a = await workspace(url, { sample: false });
    for (let i = 0; i < 300; i++) write(a, `content/gen/p-${i}.md`, `# push ${i} ${ms}\n`);
    const want = (await ok(a, 'hash', '--json')).json.snapshot;
    const run = start(a, ['push']);
    await sleep(ms);
    run.child.kill('SIGKILL');
    const r = await run.done;
    outcomes.push(`${ms} ms: ${r.signal ?? `exit ${r.code}`}`);
    assert.is((await cli(a, 'fsck')).code, 0, `${ms} ms`);
    const v = (await ok(a, 'versions', '--json')).json;
    // either nothing was published, or the whole snapshot was
    assert.ok(v.versions.length <= 1, `${ms} ms: ${v.versions.length} versions`);
    if (v.versions.length === 1) assert.is(v.versions[0].snapshot, want);
    await ok(a, 'push');
    assert.equal(await states(a, '--fetch'), {});
    const b = await workspace(url, { sample: false });
    await ok(b, 'pull');
    assert.is((await ok(b, 'hash', '--json')).json.snapshot, want, `${ms} ms`);
  }
  assert.ok(outcomes.some((o) => o.includes('SIGKILL')), outcomes.join('; '));
});

t('fsck finds a corrupted object (exit 4), a missing blob, and a damaged ref', async () => {
  const url = await dirRemote.make();
  const ws = await workspace(url);
  await ok(ws, 'push');
  assert.is((await cli(ws, 'fsck')).code, 0);
  const id = blobId(new TextEncoder().encode(read(ws, 'agents/welcome.yaml')!));
  let db = await openDb(join(ws, '.agentsync'));
  try {
    assert.ok(await db.get('o!' + id));
    await db.put('o!' + id, new TextEncoder().encode('tampered\n'));
  } finally {
    await db.close();
  }
  const r = await cli(ws, 'fsck', '--json');
  assert.is(r.code, 4, r.err);
  assert.ok(r.json.problems.some((p: { what: string }) => p.what === `object ${id}`), JSON.stringify(r.json.problems));
  const txt = await cli(ws, 'fsck');
  assert.is(txt.code, 4);
  assert.ok(txt.err.includes(id));

  // a blob named by the base manifest that is missing
  db = await openDb(join(ws, '.agentsync'));
  try {
    await db.del('o!' + id);
  } finally {
    await db.close();
  }
  const missing = await cli(ws, 'fsck', '--json');
  assert.is(missing.code, 4);
  assert.ok(missing.json.problems.some((p: { message: string }) => p.message.includes(id)), JSON.stringify(missing.json.problems));

  // a damaged base ref
  const ws2 = await workspace(url, { sample: false });
  await ok(ws2, 'pull');
  db = await openDb(join(ws2, '.agentsync'));
  try {
    await db.put('base!origin', new TextEncoder().encode('not-a-hash'));
  } finally {
    await db.close();
  }
  const bad = await cli(ws2, 'fsck', '--json');
  assert.is(bad.code, 4);
  assert.ok(bad.json.problems.some((p: { what: string }) => p.what === 'base!origin'), JSON.stringify(bad.json.problems));
});

t('fsck in a subprocess: exit 4 on a corrupted object, 0 on a healthy store', async () => {
  const url = await dirRemote.make();
  const ws = await workspace(url);
  await ok(ws, 'push');
  let r = await start(ws, ['fsck']).done;
  assert.is(r.code, 0, r.err);
  const db = await openDb(join(ws, '.agentsync'));
  try {
    for await (const k of db.keys({ gte: 'o!', lt: 'o"', limit: 1 })) await db.put(k, new Uint8Array([1, 2, 3]));
  } finally {
    await db.close();
  }
  r = await start(ws, ['fsck']).done;
  assert.is(r.code, 4, r.err);
});

t.run();
