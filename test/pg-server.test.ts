/**
 * The server on PostgreSQL, with real processes: schema migrations and their refusals, every
 * `admin` command with `--db`, `GET /healthz` and 503 while the database is away, two `serve`
 * processes on one database under concurrent pushers (no lost update, no duplicate id, only
 * STALE_REMOTE/PUSH_REFUSED refusals), `kill -9` of one server under that load, and a
 * PostgreSQL restart under that load. One throwaway cluster (test/pg.ts) for the file, a
 * database per test; skipped visibly without PostgreSQL.
 *
 * Pushers: `AGENTSYNC_PG_PUSHERS` (default 50), half on each server, each editing its own file,
 * one in five also a shared file.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { BIN, cleanup, needs, tmp } from './helpers.js';
import { cliWith } from './remotes.js';
import { HAVE_PG, NO_PG_REASON, startPg, type Pg } from './pg.js';
import { SCHEMA_VERSION, TOKEN_CACHE_MS } from '../src/server/pg-storage.js';

const N = Number(process.env.AGENTSYNC_PG_PUSHERS) > 0 ? Math.floor(Number(process.env.AGENTSYNC_PG_PUSHERS)) : 50;

const s = suite('server on PostgreSQL');
const test = needs(s, HAVE_PG, 'server on PostgreSQL', NO_PG_REASON);
let cluster: Pg | undefined;
let dbs = 0;
const children = new Set<ChildProcess>();

s.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cluster?.stop();
  cleanup();
});

/** A fresh database in the file's cluster (started on first use). */
async function freshDb(): Promise<string> {
  cluster ??= await startPg();
  return cluster.createDb(`t${++dbs}`);
}

async function sql(url: string, text: string, values: unknown[] = []): Promise<any[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return (await c.query(text, values)).rows; } finally { await c.end(); }
}

const admin = (url: string, ...args: string[]) => cliWith(tmp(), {}, ['admin', ...args, '--db', url]);

/** A migrated database with tenant `acme` and a write token. */
async function readyDb(): Promise<{ db: string; token: string }> {
  const db = await freshDb();
  const m = await admin(db, 'migrate', '--json');
  assert.is(m.code, 0, m.err);
  assert.is((await admin(db, 'tenant', 'create', 'acme')).code, 0);
  const t = await admin(db, 'token', 'create', '--tenant', 'acme', '--scope', 'write');
  assert.is(t.code, 0, t.err);
  return { db, token: t.out.trim() };
}

interface Proc { code: number | null; out: string; err: string }

function run(cwd: string, argv: string[], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, ...argv], {
    cwd, env: { ...process.env, NO_COLOR: '1', AGENTSYNC_AUTHOR: 'tester', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((res) => child.on('close', (code) => { children.delete(child); res({ code, out, err }); }));
}

async function must(cwd: string, argv: string[], env: Record<string, string> = {}): Promise<Proc> {
  const r = await run(cwd, argv, env);
  if (r.code !== 0) throw new Error(`agentsync ${argv.join(' ')} exited ${r.code}: ${r.err}`);
  return r;
}

interface Served { child: ChildProcess; base: string; url: string; err(): string; kill(sig?: NodeJS.Signals): Promise<void> }

/** A `serve --db` process on an ephemeral port; `url` is tenant acme's remote. */
async function serve(db: string): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', db, '--db-pool', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '', err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return {
    child, base, url: `${base}/acme`, err: () => err,
    async kill(sig = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.on('exit', r));
      child.kill(sig);
      await gone;
      children.delete(child);
    },
  };
}

async function healthz(base: string): Promise<{ status: number; code?: string }> {
  const r = await fetch(`${base}/healthz`);
  const j = await r.json() as { error?: { code: string } };
  return { status: r.status, ...(j.error ? { code: j.error.code } : {}) };
}

function write(ws: string, rel: string, text: string): void {
  const p = join(ws, 'services', rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
}

const SHARED = 'content/shared.md';
const own = (i: number) => `content/pushers/p${i}.md`;
const shares = (i: number) => i % 5 === 0;

interface Outcome { i: number; code: number | null; errCode?: string; version?: number }

/**
 * N workspaces (copies of one clone of the seeded remote), pusher i on `urls[i % urls.length]`,
 * all pushing at once; `during` runs while they do. Returns each push's outcome.
 */
async function load(urls: string[], token: string, during: (settled: () => number) => Promise<void> = async () => {}): Promise<Outcome[]> {
  const env = { AGENTSYNC_TOKEN: token };
  const wss: string[] = [];
  for (let k = 0; k < urls.length; k++) {
    const template = tmp('agentsync-ws-');
    await must(template, ['init', '--remote', urls[k]!], env);
    await must(template, ['pull'], env);
    wss.push(template);
  }
  const jobs: Promise<Outcome>[] = [];
  let done = 0;
  for (let i = 0; i < N; i++) {
    const ws = join(tmp('agentsync-ws-'), 'ws');
    cpSync(wss[i % urls.length]!, ws, { recursive: true });
    write(ws, own(i), `# pusher ${i}\n`);
    if (shares(i)) write(ws, SHARED, `# shared, by pusher ${i}\n`);
    jobs.push(run(ws, ['push', '--json'], { ...env, AGENTSYNC_AUTHOR: `pusher-${i}` }).then((r) => {
      done++;
      const j = (() => { try { return JSON.parse(r.out); } catch { return undefined; } })();
      if (r.code === 0) return { i, code: 0, version: j.version.id as number };
      assert.match(r.err, /^agentsync: .+ \([A-Z_]+\)\n$/, `pusher ${i}: ${r.err}`);
      return { i, code: r.code, errCode: j?.error?.code as string };
    }));
  }
  await during(() => done);
  return Promise.all(jobs);
}

/**
 * The database after a load: versions 1..last each once, the published ones a chain; every
 * acknowledged push in the final head (its own file) with its author; every refused one absent;
 * the shared file as the last acknowledged push that wrote it left it; fsck clean.
 */
async function verify(db: string, url: string, token: string, outcomes: Outcome[], allowed: Record<number, string[]>): Promise<void> {
  for (const o of outcomes) {
    if (o.code === 0) continue;
    assert.ok(allowed[o.code!]?.includes(o.errCode!), `pusher ${o.i}: exit ${o.code} ${o.errCode}`);
  }
  const rows = await sql(db, "SELECT id, parent, state, author FROM versions WHERE tenant = 'acme' ORDER BY id");
  const ids = rows.map((r) => Number(r.id));
  assert.equal(ids, Array.from({ length: ids.length }, (_, k) => k + 1), 'version ids 1..n, each once');
  const published = rows.filter((r) => r.state === 'published');
  for (let k = 1; k < published.length; k++) assert.is(Number(published[k].parent), Number(published[k - 1].id));
  const authors = rows.map((r) => r.author as string).filter((a) => a.startsWith('pusher-'));
  assert.is(new Set(authors).size, authors.length, 'no pusher has two versions');
  const check = tmp('agentsync-ws-');
  const env = { AGENTSYNC_TOKEN: token };
  await must(check, ['init', '--remote', url], env);
  await must(check, ['pull'], env);
  const file = (rel: string) => {
    const p = join(check, 'services', rel);
    return existsSync(p) ? readFileSync(p, 'utf8') : null;
  };
  let lastShared: Outcome | undefined;
  for (const o of outcomes) {
    if (o.code === 0) {
      assert.is(file(own(o.i)), `# pusher ${o.i}\n`, `pusher ${o.i} acknowledged, so in the head`);
      assert.is(rows.find((r) => Number(r.id) === o.version)?.author, `pusher-${o.i}`);
      if (shares(o.i) && (!lastShared || o.version! > lastShared.version!)) lastShared = o;
    } else if (o.code === 1) {
      assert.is(file(own(o.i)), null, `pusher ${o.i} refused, so nothing of it is there`);
      assert.not.ok(authors.includes(`pusher-${o.i}`));
    }
  }
  assert.is(file(SHARED), lastShared ? `# shared, by pusher ${lastShared.i}\n` : '# shared\n');
  const f = await admin(db, 'fsck', '--json');
  assert.is(f.code, 0, f.out);
  assert.equal(f.json.problems, []);
}

/** Seed tenant acme with the shared file (v1). */
async function seed(url: string, token: string): Promise<void> {
  const ws = tmp('agentsync-ws-');
  write(ws, SHARED, '# shared\n');
  write(ws, 'agents/seed.yaml', 'name: seed\n');
  await must(ws, ['init', '--remote', url], { AGENTSYNC_TOKEN: token });
  await must(ws, ['push'], { AGENTSYNC_TOKEN: token });
}

/**
 * Seed the served tenant with version 1; an HttpRemote on it, version 1's manifest, and a create
 * that answers the version made or the refusal.
 */
async function creator(url: string, token: string) {
  await seed(url, token);
  const { HttpRemote } = await import('../src/remote/http.js');
  const { applyChanges, encodeManifest, snapshotHashOf } = await import('../src/model/manifest.js');
  const r = new HttpRemote(url, { token, env: {} });
  const v1 = applyChanges(new Map(), await r.changesBetween(null, 1));
  const create = async (expected: number | null, base: Map<string, string>, changes: { path: string; id: string | null }[], o: { draft?: boolean; objects?: { id: string; bytes: Uint8Array }[] } = {}) => {
    try {
      return await r.createVersion({ expected, changes, snapshot: snapshotHashOf(encodeManifest(applyChanges(base, changes))), author: 't', message: 'm', draft: !!o.draft }, o.objects);
    } catch (e) {
      return e as { code: string; data: Record<string, unknown> };
    }
  };
  return { r, v1, create, applyChanges };
}

// ---------------------------------------------------------------- no database needed

s('isUnavailable: connection failures and shutdowns are 503 material; constraints, bugs and our own errors are not', async () => {
  const { isUnavailable } = await import('../src/server/pg-storage.js');
  const { AgentsyncError } = await import('../src/model/errors.js');
  const err = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  for (const e of [err('EPIPE'), err('ECONNREFUSED'), err('ENOENT'), err('ECONNRESET'), err('57P01'), err('57P03'), err('08006'), err('53300'), new Error('Connection terminated unexpectedly'), new Error('timeout exceeded when trying to connect')]) {
    assert.ok(isUnavailable(e), (e as Error & { code?: string }).code ?? (e as Error).message);
  }
  for (const e of [err('23505'), err('42P01'), err('22P02'), new TypeError('x is undefined'), new AgentsyncError('STALE_REMOTE', 'moved')]) {
    assert.not.ok(isUnavailable(e), (e as Error & { code?: string }).code ?? (e as Error).message);
  }
});

// ---------------------------------------------------------------- migrations

test('migrate: an empty database is refused until migrated; migrate twice is a no-op; a newer or older schema is refused with one line', async () => {
  const db = await freshDb();
  let r = await admin(db, 'tenant', 'list', '--json');
  assert.is(r.code, 2, r.err);
  assert.match(r.err, /^agentsync: .+ \(NOT_A_REMOTE\)\n$/);
  assert.is(r.json.error.data.reason, 'no-schema');
  const served = await run(tmp(), ['serve', '--port', '0', '--db', db]);
  assert.is(served.code, 2);
  assert.match(served.err, /^agentsync: .+admin migrate.+ \(NOT_A_REMOTE\)\n$/);
  // Older: only the first migrations.
  if (SCHEMA_VERSION > 1) {
    const { migrate } = await import('../src/server/pg-storage.js');
    await migrate(db, { to: SCHEMA_VERSION - 1 });
    r = await admin(db, 'tenant', 'list', '--json');
    assert.is(r.json.error.data.reason, 'schema-older');
  }
  r = await admin(db, 'migrate', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.to, SCHEMA_VERSION);
  assert.ok(r.json.applied.length >= 1);
  r = await admin(db, 'migrate', '--json');
  assert.equal([r.code, r.json.from, r.json.applied], [0, SCHEMA_VERSION, []]);
  r = await admin(db, 'tenant', 'list', '--json');
  assert.equal([r.code, r.json.tenants], [0, []]);
  // Newer: a later agentsync migrated it.
  await sql(db, "INSERT INTO agentsync_schema (version, name) VALUES ($1, 'from the future')", [SCHEMA_VERSION + 1]);
  for (const args of [['tenant', 'list', '--json'], ['migrate', '--json']]) {
    r = await admin(db, ...args);
    assert.is(r.code, 2, r.err);
    assert.match(r.err, /^agentsync: .+upgrade agentsync \(NOT_A_REMOTE\)\n$/);
    assert.equal([r.json.error.data.reason, r.json.error.data.schema, r.json.error.data.known], ['schema-newer', SCHEMA_VERSION + 1, SCHEMA_VERSION]);
  }
  const s2 = await run(tmp(), ['serve', '--port', '0', '--db', db]);
  assert.is(s2.code, 2);
  // No database there at all: exit 3, one line.
  r = await cliWith(tmp(), {}, ['admin', 'tenant', 'list', '--db', cluster!.urlOf('nosuchdb')]);
  assert.is(r.code, 3);
  assert.match(r.err, /^agentsync: .+ \(REMOTE_UNREACHABLE\)\n$/);
  // AGENTSYNC_DB is the default; --data and --db together are a usage error.
  r = await cliWith(tmp(), { AGENTSYNC_DB: db }, ['admin', 'tenant', 'list']);
  assert.is(r.code, 2);
  r = await cliWith(tmp(), {}, ['admin', 'tenant', 'list', '--db', db, '--data', tmp()]);
  assert.is(r.code, 2);
  assert.match(r.err, /\(USAGE\)\n$/);
});

test('migrate 1 → 2: whole manifests become chunk trees (roots, chunks as objects), re-hashed; the data serves and checks out', async () => {
  const { migrate } = await import('../src/server/pg-storage.js');
  const { blobId } = await import('../src/model/hash.js');
  const { encodeManifest, snapshotHashOf, manifestObjectId } = await import('../src/model/manifest.js');
  const { chunkManifest } = await import('../src/model/chunks.js');
  const db = await freshDb();
  await migrate(db, { to: 1 });
  // A schema-1 tenant as the previous release wrote it: 300 artifacts, one version.
  const blobs = Array.from({ length: 300 }, (_, i) => Buffer.from(`name: a${i}\n`));
  const m = new Map(blobs.map((b, i) => [`agents/a${String(i).padStart(3, '0')}.yaml`, blobId(b)]));
  const bytes = encodeManifest(m);
  const snap = snapshotHashOf(bytes);
  const now = new Date().toISOString();
  await sql(db, "INSERT INTO tenants VALUES ('acme', $1)", [now]);
  await sql(db, "INSERT INTO heads VALUES ('acme', 1, 1, 1)");
  for (const b of blobs) await sql(db, "INSERT INTO objects VALUES ('acme', $1, $2)", [Buffer.from(blobId(b), 'hex'), b]);
  await sql(db, "INSERT INTO manifests VALUES ('acme', $1, $2)", [Buffer.from(manifestObjectId(snap), 'hex'), Buffer.from(bytes)]);
  await sql(db, "INSERT INTO versions VALUES ('acme', 1, $1, NULL, 'old', 'v1', $2, 'published', $2, 300)", [snap, now]);
  await sql(db, "INSERT INTO changes VALUES ('acme', 1, $1)", [JSON.stringify([...m].map(([path, id]) => ({ path, id })))]);
  let r = await admin(db, 'migrate', '--json');
  assert.equal([r.code, r.json.from, r.json.to], [0, 1, SCHEMA_VERSION], r.err);
  const tree = chunkManifest(bytes);
  assert.ok(tree.chunks.length > 3);
  const roots = await sql(db, "SELECT encode(root, 'hex') AS root FROM roots WHERE tenant = 'acme'");
  assert.equal(roots.map((x) => x.root), [tree.root]);
  assert.equal(await sql(db, "SELECT to_regclass('manifests') AS t"), [{ t: null }]);
  const stored = await sql(db, "SELECT count(*)::int AS n FROM objects WHERE tenant = 'acme' AND id = ANY ($1::bytea[])", [tree.chunks.map((c) => Buffer.from(c.id, 'hex'))]);
  assert.is(stored[0].n, new Set(tree.chunks.map((c) => c.id)).size);
  r = await admin(db, 'fsck', '--json');
  assert.equal([r.code, r.json.problems], [0, []]);
  const t = await admin(db, 'token', 'create', '--tenant', 'acme', '--scope', 'write');
  const srv = await serve(db);
  try {
    const ws = tmp('agentsync-ws-');
    await must(ws, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: t.out.trim() });
    await must(ws, ['pull'], { AGENTSYNC_TOKEN: t.out.trim() });
    assert.is(readFileSync(join(ws, 'services', 'agents', 'a123.yaml'), 'utf8'), 'name: a123\n');
  } finally {
    await srv.kill();
  }
});

test('uploads on PostgreSQL: small ones made together go in fewer statements, every object stored under its own tenant; a failed statement fails every upload in it', async () => {
  const { PgStorage } = await import('../src/server/pg-storage.js');
  const { blobId } = await import('../src/model/hash.js');
  const { db } = await readyDb();
  const st = await PgStorage.open(db);
  const enc = new TextEncoder();
  try {
    for (let i = 0; i < 6; i++) await st.createTenant(`t${i}`);
    const statements: string[] = [];
    const real = st.query.bind(st);
    (st as unknown as { query: typeof st.query }).query = (text, values) => {
      statements.push(typeof text === 'string' ? text : text.name);
      return real(text, values);
    };
    const objs = Array.from({ length: 30 }, (_, i) => { const bytes = enc.encode(`object ${i}\n`); return { tenant: `t${i % 6}`, id: blobId(bytes), bytes }; });
    await Promise.all(objs.map((o) => st.remote(o.tenant).putObjects([{ id: o.id, bytes: o.bytes }])));
    const inserts = statements.filter((n) => n.includes('insert_objects'));
    assert.ok(inserts.length >= 1 && inserts.length < 30, `${inserts.length} insert statements for 30 uploads`);
    for (const o of objs) {
      assert.equal(await st.remote(o.tenant).missing([o.id]), [], `${o.tenant} has its object`);
      const other = `t${(Number(o.tenant.slice(1)) + 1) % 6}`;
      assert.equal(await st.remote(other).missing([o.id]), [o.id], `${other} has not`);
    }
    // The database refuses the statement: every upload that went in it is refused too.
    await sql(db, "ALTER TABLE objects ADD CONSTRAINT no_big CHECK (length(bytes) < 9) NOT VALID");
    const bad = Array.from({ length: 8 }, (_, i) => { const bytes = enc.encode(`a longer object ${i}\n`); return { id: blobId(bytes), bytes }; });
    const results = await Promise.allSettled(bad.map((o, i) => st.remote(`t${i % 6}`).putObjects([o])));
    assert.equal(results.map((r) => r.status), bad.map(() => 'rejected'));
  } finally {
    await st.close();
  }
});

test('changesBetween on PostgreSQL: the composed chain equals a diff of the two manifests, for every pair of versions (drafts in between)', async () => {
  const { PgStorage } = await import('../src/server/pg-storage.js');
  const { blobId } = await import('../src/model/hash.js');
  const { applyChanges, diffManifests, encodeManifest, snapshotHashOf, decodeManifest } = await import('../src/model/manifest.js');
  const { db } = await readyDb();
  const st = await PgStorage.open(db);
  try {
    const store = st.remote('acme');
    let m = new Map<string, string>();
    let expected: number | null = null;
    const enc = new TextEncoder();
    for (let k = 0; k < 12; k++) {
      const changes: { path: string; id: string | null }[] = [];
      for (let j = 0; j < 4; j++) {
        const path = `agents/a${(k * 7 + j * 3) % 10}.yaml`;
        if (changes.some((c) => c.path === path)) continue;
        const del = (k + j) % 5 === 0 && m.has(path);
        const bytes = enc.encode(`name: v${k}-${j}\n`);
        if (!del) await store.putObjects([{ id: blobId(bytes), bytes }]);
        changes.push({ path, id: del ? null : blobId(bytes) });
      }
      changes.sort((a, b) => (a.path < b.path ? -1 : 1));
      const next = applyChanges(m, changes);
      const draft = k % 4 === 3;
      const v = await store.createVersion({ expected, changes, snapshot: snapshotHashOf(encodeManifest(next)), author: 't', message: `v${k}`, draft });
      if (!draft) { m = next; expected = v.id; }
    }
    const versions = await store.versions(0);
    const manifestOf = async (id: number) => decodeManifest(await store.manifestBytes((await store.version(id)).snapshot));
    for (const b of versions) {
      assert.equal(await store.changesBetween(null, b.id), diffManifests(new Map(), await manifestOf(b.id)));
      for (const a of versions) {
        if (a.id >= b.id) continue;
        assert.equal(await store.changesBetween(a.id, b.id), diffManifests(await manifestOf(a.id), await manifestOf(b.id)), `${a.id} → ${b.id}`);
      }
    }
  } finally {
    await st.close();
  }
});

// ---------------------------------------------------------------- admin

test('admin with --db: tenant create/list, token create/list/revoke, fsck clean and fsck finding damage', async () => {
  const { db, token } = await readyDb();
  let r = await admin(db, 'tenant', 'create', 'acme', '--json');
  assert.is(r.json.error.code, 'TENANT_EXISTS');
  r = await admin(db, 'tenant', 'list', '--json');
  assert.equal(r.json.tenants.map((t: { name: string }) => t.name), ['acme']);
  r = await admin(db, 'token', 'list', '--json');
  assert.is(r.json.tokens.length, 1);
  const id = r.json.tokens[0].id as string;
  assert.ok(token.includes(id));
  const srv = await serve(db);
  try {
    await seed(srv.url, token);
    r = await admin(db, 'fsck', '--json');
    assert.equal([r.code, r.json.tenants, r.json.tokens, r.json.versions, r.json.problems], [0, 1, 1, 1, []]);
    assert.ok(r.json.objects >= 3);
    r = await admin(db, 'token', 'revoke', id, '--json');
    assert.is(r.code, 0);
    assert.type(r.json.revokedAt, 'string');
    const ws = tmp('agentsync-ws-');
    const p = await run(ws, ['init', '--remote', srv.url, '--json'], { AGENTSYNC_TOKEN: token });
    assert.is(p.code, 0);
    const f = await run(ws, ['fetch', '--json'], { AGENTSYNC_TOKEN: token });
    assert.is(f.code, 3, f.err);
    assert.is(JSON.parse(f.out).error.code, 'AUTH_REQUIRED');
  } finally {
    await srv.kill();
  }
  // Damage: an object's bytes, the head pointer.
  await sql(db, "UPDATE objects SET bytes = 'x'::bytea WHERE tenant = 'acme' AND id = (SELECT id FROM objects WHERE tenant = 'acme' ORDER BY id LIMIT 1)");
  await sql(db, "UPDATE heads SET current = 99 WHERE tenant = 'acme'");
  r = await admin(db, 'fsck', '--json');
  assert.is(r.code, 4);
  const what = r.json.problems.map((p: { what: string }) => p.what.replace(/ [0-9a-f]{64}$/, ''));
  assert.ok(what.includes('tenant acme object'), JSON.stringify(r.json.problems));
  assert.ok(what.includes('tenant acme head'), JSON.stringify(r.json.problems));
});

test('tokens: a server keeps the tokens it has seen and forgets them at every change of a token row (revoke from another process, SQL by hand), and while it does not listen', async () => {
  const { db, token } = await readyDb();
  const more = async () => (await admin(db, 'token', 'create', '--tenant', 'acme', '--scope', 'write')).out.trim();
  const [second, third] = [await more(), await more()];
  const idOf = (t: string) => t.split('_')[1]!;
  const a = await serve(db), b = await serve(db);
  try {
    const head = async (t: string) => (await fetch(`${b.url}/head`, { headers: { authorization: `Bearer ${t}` } })).status;
    /** Polls `head` until it answers `want` (each notification arrives in milliseconds). */
    const becomes = async (t: string, want: number, what: string) => {
      const until = Date.now() + 8000; // below TOKEN_CACHE_MS: only a notification can make it in time
      for (let got = await head(t); got !== want; got = await head(t)) {
        assert.ok(Date.now() < until, `${what}: still ${got}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    assert.ok(TOKEN_CACHE_MS > 8000);
    for (const t of [token, second, third]) assert.is(await head(t), 200);
    // Kept: a change made with the trigger off reaches no server, and b goes on accepting it.
    await sql(db, 'ALTER TABLE tokens DISABLE TRIGGER agentsync_tokens_changed');
    await sql(db, 'UPDATE tokens SET revoked_at = now() WHERE id = $1', [idOf(token)]);
    await sql(db, 'ALTER TABLE tokens ENABLE TRIGGER agentsync_tokens_changed');
    assert.is(await head(token), 200, 'kept: no lookup');
    // Any change of a token row by hand notifies: b forgets, looks up, and refuses it.
    await sql(db, "UPDATE tokens SET label = 'touched' WHERE id = $1", [idOf(second)]);
    await becomes(token, 401, 'after a change by SQL');
    assert.is(await head(second), 200);
    // `admin token revoke --db` from another process.
    assert.is((await admin(db, 'token', 'revoke', idOf(second))).code, 0);
    await becomes(second, 401, 'after admin token revoke');
    // The listening connections lost (as in a restart): the servers listen again by themselves,
    // and a change after that reaches them.
    await sql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'agentsync-listen'");
    assert.is(await head(third), 200, 'still serving');
    const until = Date.now() + 8000;
    while ((await sql(db, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'agentsync-listen' AND query = 'LISTEN agentsync_tokens'"))[0].n < 2) {
      assert.ok(Date.now() < until, 'listening again');
      await new Promise((r) => setTimeout(r, 100));
    }
    await sql(db, 'UPDATE tokens SET revoked_at = now() WHERE id = $1', [idOf(third)]);
    await becomes(third, 401, 'after listening again');
    const lines = (x: Served) => x.err().split('\n').filter((l) => l && !l.startsWith('agentsync serve: database postgres://'));
    assert.equal([lines(a), lines(b)], [[], []], 'nothing but the start line on stderr');
  } finally {
    await a.kill();
    await b.kill();
  }
});

test('admin gc --db: drops an unreachable object only after the grace hour, keeps what versions reach; fsck stays clean', async () => {
  const { db, token } = await readyDb();
  const srv = await serve(db);
  try {
    await seed(srv.url, token);
    const { encodeObjects } = await import('../src/remote/http.js');
    const { blobId } = await import('../src/model/hash.js');
    const stray = new TextEncoder().encode('# never pushed\n');
    const up = await fetch(`${srv.url}/objects`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.agentsync.objects' }, body: Buffer.from(encodeObjects([{ id: blobId(stray), bytes: stray }])) });
    assert.is(up.status, 200);
    const before = (await sql(db, "SELECT count(*)::int AS n FROM objects WHERE tenant = 'acme'"))[0].n as number;
    let r = await admin(db, 'gc', '--json');
    assert.equal([r.code, r.json.objects, r.json.kept], [0, 0, 1], r.err);
    await sql(db, "UPDATE objects SET stored_at = now() - interval '2 hours' WHERE tenant = 'acme'");
    // Reported present by objects/missing: a push will rely on it, so it is stored again (touched).
    const absent = blobId(new TextEncoder().encode('# nowhere\n'));
    const asked = await fetch(`${srv.url}/objects/missing`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ ids: [blobId(stray), absent] }) });
    assert.equal(await asked.json(), { missing: [absent] });
    r = await admin(db, 'gc', '--json');
    assert.equal([r.code, r.json.objects, r.json.kept], [0, 0, 1], r.err);
    await sql(db, "UPDATE objects SET stored_at = now() - interval '2 hours' WHERE tenant = 'acme'");
    r = await admin(db, 'gc', '--json');
    assert.equal([r.code, r.json.objects, r.json.bytes, r.json.kept], [0, 1, stray.length, 0]);
    assert.is((await sql(db, "SELECT count(*)::int AS n FROM objects WHERE tenant = 'acme'"))[0].n, before - 1);
    r = await admin(db, 'fsck', '--json');
    assert.equal([r.code, r.json.problems], [0, []]);
    const ws = tmp('agentsync-ws-');
    await must(ws, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: token });
    await must(ws, ['pull'], { AGENTSYNC_TOKEN: token });
    assert.is(readFileSync(join(ws, 'services', 'content', 'shared.md'), 'utf8'), '# shared\n');
  } finally {
    await srv.kill();
  }
});

test('a create is one call: a stale push is told STALE_REMOTE even when its change would be a no-op on its old parent; a missing object or a stale id writes nothing; a draft moves only last_id', async () => {
  const { db, token } = await readyDb();
  const srv = await serve(db);
  try {
    const { r, v1, create, applyChanges } = await creator(srv.url, token);
    const { blobId } = await import('../src/model/hash.js');
    const enc = (t: string) => new TextEncoder().encode(t);
    const edited = enc('# edited\n');
    await r.putObjects([{ id: blobId(edited), bytes: edited }]);
    const v2 = await create(1, v1, [{ path: SHARED, id: blobId(edited) }]) as { id: number };
    assert.is(v2.id, 2);
    // Built on version 1 (this server knows its snapshot): back to the content of version 1 is a
    // no-op there, but the push is stale first.
    let e = await create(1, v1, [{ path: SHARED, id: v1.get(SHARED)! }]) as { code: string; data: Record<string, unknown> };
    assert.equal([e.code, e.data.latestPublished], ['STALE_REMOTE', 2]);
    e = await create(99, v1, [{ path: 'content/x.md', id: blobId(edited) }]) as typeof e;
    assert.equal([e.code, e.data.latestPublished], ['STALE_REMOTE', 2]);
    const never = blobId(enc('# never uploaded\n'));
    const v2m = applyChanges(v1, [{ path: SHARED, id: blobId(edited) }]);
    e = await create(2, v2m, [{ path: 'content/new.md', id: never }]) as typeof e;
    assert.equal([e.code, e.data.missing], ['OBJECT_MISSING', [never]]);
    assert.equal(await sql(db, "SELECT latest_published::int AS p, current::int AS c, last_id::int AS l FROM heads WHERE tenant = 'acme'"), [{ p: 2, c: 2, l: 2 }], 'refusals wrote nothing');
    const d = await create(2, v2m, [{ path: 'content/draft.md', id: blobId(edited) }], { draft: true }) as { id: number; state: string };
    assert.equal([d.id, d.state], [3, 'draft']);
    assert.equal(await sql(db, "SELECT latest_published::int AS p, current::int AS c, last_id::int AS l FROM heads WHERE tenant = 'acme'"), [{ p: 2, c: 2, l: 3 }]);
    assert.equal((await sql(db, "SELECT id::int, parent::int, state FROM versions WHERE tenant = 'acme' ORDER BY id")).map((x) => [x.id, x.parent, x.state]), [[1, null, 'published'], [2, 1, 'published'], [3, 2, 'draft']]);
    const f = await admin(db, 'fsck', '--json');
    assert.equal([f.code, f.json.problems], [0, []]);
  } finally {
    await srv.kill();
  }
});

test('objects sent with a create go in with the version, in the same call: a stale or incomplete create stores none of them', async () => {
  const { db, token } = await readyDb();
  const srv = await serve(db);
  try {
    const { v1, create } = await creator(srv.url, token);
    const { blobId } = await import('../src/model/hash.js');
    const obj = (t: string) => { const bytes = new TextEncoder().encode(t); return { id: blobId(bytes), bytes }; };
    const count = async (...ids: string[]) => (await sql(db, "SELECT count(*)::int AS n FROM objects WHERE tenant = 'acme' AND encode(id, 'hex') = ANY($1)", [ids]))[0].n;
    const a = obj('# a, sent with the create\n'), b = obj('# b, neither sent nor uploaded\n'), c = obj('# c\n');
    let e = await create(7, v1, [{ path: 'content/a.md', id: a.id }], { objects: [a] }) as { code: string; data: Record<string, unknown> };
    assert.equal([e.code, e.data.latestPublished], ['STALE_REMOTE', 1]);
    e = await create(1, v1, [{ path: 'content/a.md', id: a.id }, { path: 'content/b.md', id: b.id }], { objects: [a, c] }) as typeof e;
    assert.equal([e.code, e.data.missing], ['OBJECT_MISSING', [b.id]]);
    assert.is(await count(a.id, b.id, c.id), 0, 'a refused create stored none of its objects');
    const v2 = await create(1, v1, [{ path: 'content/a.md', id: a.id }], { objects: [a] }) as { id: number };
    assert.is(v2.id, 2);
    assert.is(await count(a.id), 1);
    const f = await admin(db, 'fsck', '--json');
    assert.equal([f.code, f.json.problems], [0, []]);
    const ws = tmp('agentsync-ws-');
    await must(ws, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: token });
    await must(ws, ['pull'], { AGENTSYNC_TOKEN: token });
    assert.is(readFileSync(join(ws, 'services', 'content', 'a.md'), 'utf8'), '# a, sent with the create\n');
  } finally {
    await srv.kill();
  }
});

test('admin copy --from <data dir> --to postgres://…: tenants, tokens, versions and head move; every snapshot re-checked; a rerun adds nothing; a database written to since is refused', async () => {
  // A LevelDB server with two tenants and a few versions.
  const data = join(tmp(), 'data');
  const env = {};
  assert.is((await cliWith(tmp(), env, ['admin', 'tenant', 'create', 'acme', '--data', data])).code, 0);
  assert.is((await cliWith(tmp(), env, ['admin', 'tenant', 'create', 'beta', '--data', data])).code, 0);
  const token = (await cliWith(tmp(), env, ['admin', 'token', 'create', '--tenant', 'acme', '--data', data])).out.trim();
  const lv = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(lv);
  const base = await new Promise<string>((res, rej) => {
    let out = '';
    lv.stdout!.on('data', (d) => { out += d; const m = /^listening on (\S+)$/m.exec(out); if (m) res(m[1]!); });
    lv.on('exit', (c) => rej(new Error(`serve exited ${c}`)));
  });
  const ws = tmp('agentsync-ws-');
  try {
    write(ws, 'agents/one.yaml', 'name: one\n');
    await must(ws, ['init', '--remote', `${base}/acme`], { AGENTSYNC_TOKEN: token });
    await must(ws, ['push', '-m', 'v1'], { AGENTSYNC_TOKEN: token });
    write(ws, 'agents/two.yaml', 'name: two\n');
    await must(ws, ['push', '-m', 'v2'], { AGENTSYNC_TOKEN: token });
    write(ws, 'agents/one.yaml', 'name: one\nedited: true\n');
    await must(ws, ['push', '-m', 'v3'], { AGENTSYNC_TOKEN: token });
    await must(ws, ['rollback', '2'], { AGENTSYNC_TOKEN: token });
  } finally {
    const gone = new Promise((r) => lv.on('exit', r));
    lv.kill('SIGTERM');
    await gone;
  }
  const db = await freshDb();
  assert.is((await admin(db, 'migrate')).code, 0);
  let r = await cliWith(tmp(), {}, ['admin', 'copy', '--from', data, '--to', db, '--json']);
  assert.is(r.code, 0, r.err);
  assert.equal([r.json.tenants, r.json.tokens, r.json.versions, r.json.checked, r.json.problems], [2, 1, 3, 3, []]);
  assert.equal((await sql(db, "SELECT latest_published, current, last_id FROM heads WHERE tenant = 'acme'")).map((h) => [Number(h.latest_published), Number(h.current), Number(h.last_id)]), [[3, 2, 3]]);
  // The same token works against a server on the database; the history is the same.
  const srv = await serve(db);
  try {
    const c = tmp('agentsync-ws-');
    await must(c, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: token });
    await must(c, ['pull'], { AGENTSYNC_TOKEN: token });
    assert.is(readFileSync(join(c, 'services', 'agents', 'one.yaml'), 'utf8'), 'name: one\nedited: true\n');
    const vs = JSON.parse((await must(c, ['versions', '--json'], { AGENTSYNC_TOKEN: token })).out);
    assert.equal(vs.versions.map((v: { message: string }) => v.message), ['v1', 'v2', 'v3']);
    // Restartable: a rerun adds nothing.
    r = await cliWith(tmp(), {}, ['admin', 'copy', '--from', data, '--to', db, '--json']);
    assert.equal([r.code, r.json.versions, r.json.checked], [0, 0, 3]);
    // Written to since: refused, one line, nothing of that tenant changed.
    write(c, 'agents/three.yaml', 'name: three\n');
    await must(c, ['push', '-m', 'on postgres'], { AGENTSYNC_TOKEN: token });
    r = await cliWith(tmp(), {}, ['admin', 'copy', '--from', data, '--to', db]);
    assert.is(r.code, 4);
    assert.match(r.err, /^agentsync: .+ \(STORE_CORRUPT\)\n$/);
    assert.is(Number((await sql(db, "SELECT last_id FROM heads WHERE tenant = 'acme'"))[0].last_id), 4);
  } finally {
    await srv.kill();
  }
  r = await admin(db, 'fsck', '--json');
  assert.equal([r.code, r.json.problems], [0, []]);
});

// ---------------------------------------------------------------- availability

test('healthz is 200 only while the database answers; with PostgreSQL down requests get 503 REMOTE_BUSY, clients exit 3 with one line, the server stays up and recovers by itself', async () => {
  const { db, token } = await readyDb();
  const srv = await serve(db);
  try {
    await seed(srv.url, token);
    assert.equal(await healthz(srv.base), { status: 200 });
    await cluster!.down();
    try {
      assert.equal(await healthz(srv.base), { status: 503, code: 'REMOTE_BUSY' });
      const ws = tmp('agentsync-ws-');
      await must(ws, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: token });
      const r = await run(ws, ['pull', '--json'], { AGENTSYNC_TOKEN: token, AGENTSYNC_HTTP_BACKOFF_MS: '10' });
      assert.is(r.code, 3, r.err);
      assert.match(r.err, /^agentsync: .+ \(REMOTE_BUSY\)\n$/);
      assert.is(JSON.parse(r.out).error.code, 'REMOTE_BUSY');
      assert.is(srv.child.exitCode, null, 'the server is still running');
    } finally {
      await cluster!.up();
    }
    assert.equal(await healthz(srv.base), { status: 200 });
    const ws = tmp('agentsync-ws-');
    await must(ws, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: token });
    await must(ws, ['pull'], { AGENTSYNC_TOKEN: token });
    write(ws, 'content/after.md', '# after\n');
    await must(ws, ['push'], { AGENTSYNC_TOKEN: token });
    assert.match(srv.err(), /database/);
  } finally {
    await srv.kill();
  }
});

// ---------------------------------------------------------------- two servers

test(`two serve processes on one database, ${N} concurrent pushers over both: no lost update, no duplicate id, refusals only STALE_REMOTE/PUSH_REFUSED (exit 1)`, async () => {
  const { db, token } = await readyDb();
  const a = await serve(db), b = await serve(db);
  try {
    await seed(a.url, token);
    const outcomes = await load([a.url, b.url], token);
    await verify(db, a.url, token, outcomes, { 1: ['STALE_REMOTE', 'PUSH_REFUSED'] });
    // A pusher of its own file only conflicts with nobody; the shared file took at most one writer.
    assert.equal(outcomes.filter((o) => !shares(o.i) && o.errCode === 'PUSH_REFUSED'), []);
    assert.ok(outcomes.filter((o) => shares(o.i) && o.code === 0).length <= 1);
    assert.ok(outcomes.filter((o) => o.code === 0).length >= N / 2, 'most pushes went in');
  } finally {
    await a.kill();
    await b.kill();
  }
});

test('dashboard sessions live in the database: signed in at one server, the other knows the session; signed out at it, neither does', async () => {
  const { db, token } = await readyDb();
  const a = await serve(db), b = await serve(db);
  try {
    const signIn = await fetch(`${a.base}/_dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.is(signIn.status, 200, await signIn.clone().text());
    const cookie = String(signIn.headers.get('set-cookie')).split(';')[0]!;
    const { csrf } = await signIn.json() as { csrf: string };
    const who = async (srv: Served) => (await fetch(`${srv.base}/_dashboard/api/session`, { headers: { cookie } })).status;
    assert.equal([await who(a), await who(b)], [200, 200]);
    const r = await fetch(`${b.base}/_dashboard/api/signout`, { method: 'POST', headers: { cookie, 'x-agentsync-csrf': csrf, 'content-type': 'application/json' }, body: '{}' });
    assert.is(r.status, 200);
    assert.equal([await who(a), await who(b)], [401, 401]);
    const rows = await sql(db, 'SELECT key FROM sessions');
    assert.equal(rows, []);
  } finally {
    await a.kill();
    await b.kill();
  }
});

test(`kill -9 of one server during the load: the other keeps serving, clients of the dead one fail with exit 3, nothing acknowledged is lost, fsck clean`, async () => {
  const { db, token } = await readyDb();
  const a = await serve(db), b = await serve(db);
  try {
    await seed(a.url, token);
    const outcomes = await load([a.url, b.url], token, async (settled) => {
      while (settled() < 4) await new Promise((r) => setTimeout(r, 20));
      await a.kill('SIGKILL');
    });
    assert.equal(outcomes.filter((o) => o.code === 4), [], `server log:\n${b.err()}`);
    await verify(db, b.url, token, outcomes, { 1: ['STALE_REMOTE', 'PUSH_REFUSED'], 3: ['REMOTE_UNREACHABLE', 'REMOTE_BUSY'] });
    // Clients of the surviving server were not refused for its sake.
    for (const o of outcomes.filter((x) => x.i % 2 === 1)) assert.ok(o.code === 0 || o.code === 1, `pusher ${o.i} on the live server: exit ${o.code} ${o.errCode}`);
    assert.equal(await healthz(b.base), { status: 200 });
  } finally {
    await a.kill('SIGKILL');
    await b.kill();
  }
});

test('PostgreSQL restarted during the load: both servers recover without a restart; nothing acknowledged is lost', async () => {
  const { db, token } = await readyDb();
  const a = await serve(db), b = await serve(db);
  try {
    await seed(a.url, token);
    const outcomes = await load([a.url, b.url], token, async (settled) => {
      while (settled() < 4) await new Promise((r) => setTimeout(r, 20));
      await cluster!.restart();
    });
    assert.equal(outcomes.filter((o) => o.code === 4), [], `server logs:\n${a.err()}\n${b.err()}`);
    for (const srv of [a, b]) assert.is(srv.child.exitCode, null, `a server exited:\n${srv.err()}`);
    await verify(db, a.url, token, outcomes, { 1: ['STALE_REMOTE', 'PUSH_REFUSED'], 3: ['REMOTE_BUSY', 'REMOTE_UNREACHABLE'] });
    for (const srv of [a, b]) {
      assert.is(srv.child.exitCode, null);
      assert.equal(await healthz(srv.base), { status: 200 });
      const ws = tmp('agentsync-ws-');
      await must(ws, ['init', '--remote', srv.url], { AGENTSYNC_TOKEN: token });
      await must(ws, ['pull'], { AGENTSYNC_TOKEN: token });
      write(ws, `content/after-${srv.base.split(':').pop()}.md`, '# after\n');
      await must(ws, ['push'], { AGENTSYNC_TOKEN: token });
    }
  } finally {
    await a.kill();
    await b.kill();
  }
});

s.run();
