/**
 * The HTTP remote in the client: a whole round between two workspaces through a real server,
 * network failures (exit 3, REMOTE_UNREACHABLE), timeouts, retries of idempotent requests, and
 * createVersion never half-created nor duplicated when the connection drops.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { blobId } from '../src/model/hash.js';
import { encodeManifest, snapshotHashOf } from '../src/model/manifest.js';
import { HttpRemote } from '../src/remote/http.js';
import { cleanup, cli, read, workspace, write } from './helpers.js';
import { cliWith, httpRemote, httpTenant } from './remotes.js';

const enc = new TextEncoder();

test.after(async () => {
  await httpRemote.stop();
  cleanup();
});

/** A loopback port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listen(s: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

/**
 * A proxy in front of the real server. `drop(req)` decides per request: 'pass', 'before'
 * (cut the connection without forwarding) or 'after' (forward, then cut before answering).
 */
async function proxy(target: string, drop: (method: string, path: string) => 'pass' | 'before' | 'after'): Promise<{ url: string; close(): Promise<void> }> {
  const s = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const what = drop(req.method!, new URL(req.url!, 'http://x').pathname);
    if (what === 'before') { req.socket.destroy(); return; }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length') headers[k] = v;
    const body = Buffer.concat(chunks);
    const r = await fetch(target + req.url, { method: req.method!, headers, ...(body.length ? { body } : {}) });
    const out = Buffer.from(await r.arrayBuffer());
    if (what === 'after') { req.socket.destroy(); return; }
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(out);
  });
  const port = await listen(s);
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }) };
}

const fast = { AGENTSYNC_HTTP_BACKOFF_MS: '1' };

test('two workspaces, one server: the whole round over HTTP', async () => {
  const url = await httpRemote.make();
  const a = await workspace(url);
  const b = await workspace(url, { sample: false });
  let r = await cli(a, 'push', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.version.id, 1);
  r = await cli(b, 'pull', '--json');
  assert.is(r.code, 0, r.err);
  assert.is((await cli(a, 'hash')).out, (await cli(b, 'hash')).out);
  write(b, 'agents/welcome.yaml', 'name: welcome\ndescription: changed in b\ninstructions: hi\n');
  r = await cli(b, 'push', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.objectsSent, 1);
  r = await cli(a, 'status', '--fetch', '--json');
  assert.equal(r.json.entries.map((e: { path: string; state: string }) => [e.path, e.state]), [['agents/welcome.yaml', 'pull']]);
  r = await cli(a, 'pull', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(read(a, 'agents/welcome.yaml'), read(b, 'agents/welcome.yaml'));
  const hash = (await cli(a, 'hash')).out.trim();
  r = await cli(a, 'verify', hash, '--remote');
  assert.is(r.code, 0, r.err);
  r = await cli(a, 'rollback', '1', '--json');
  assert.is(r.code, 0, r.err);
  assert.equal(r.json.head, { latestPublished: 2, current: 1, lastId: 2 });
  r = await cli(a, 'deploy', '2', '--json');
  assert.equal(r.json.head, { latestPublished: 2, current: 2, lastId: 2 });
  r = await cli(a, 'log', 'agents/welcome.yaml', '--json');
  assert.equal(r.json.versions.map((v: { id: number; change: string }) => [v.id, v.change]), [[1, 'added'], [2, 'modified']]);
  // Concurrent edits of different files: the second push refetches and lands on top.
  write(a, 'skills/sql-helper.yaml', read(a, 'skills/sql-helper.yaml') + '# from a\n');
  write(b, 'mcp/github.yaml', read(b, 'mcp/github.yaml') + '# from b\n');
  assert.is((await cli(a, 'push')).code, 0);
  r = await cli(b, 'push', 'mcp', '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.version.id, 4);
  // Both edit the same file: push refused, conflict shown.
  write(a, 'agents/welcome.yaml', 'name: welcome\ndescription: a again\ninstructions: hi\n');
  write(b, 'agents/welcome.yaml', 'name: welcome\ndescription: b again\ninstructions: hi\n');
  assert.is((await cli(a, 'push', 'agents/welcome.yaml')).code, 0);
  r = await cli(b, 'push', 'agents/welcome.yaml', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'PUSH_REFUSED');
  const ver = await cli(b, 'versions', '--json');
  assert.is(ver.json.versions.length, 5);
});

test('network failure: fetch, push, pull, status --fetch and verify --remote exit 3 with REMOTE_UNREACHABLE', async () => {
  const port = await deadPort();
  const ws = await workspace(`http://127.0.0.1:${port}/acme`);
  const hash = (await cli(ws, 'hash')).out.trim();
  for (const argv of [['fetch'], ['push'], ['pull'], ['status', '--fetch'], ['verify', hash, '--remote'], ['versions'], ['deploy', '1'], ['auth', 'status']]) {
    const r = await cliWith(ws, { ...fast, AGENTSYNC_TOKEN: 'as_0123456789abcdef_' + 'C'.repeat(43) }, [...argv, '--json']);
    assert.is(r.code, 3, argv.join(' '));
    if (argv[0] !== 'auth') assert.is(r.json.error.code, 'REMOTE_UNREACHABLE', argv.join(' '));
    else assert.is(r.json.remotes[0].code, 'REMOTE_UNREACHABLE');
  }
  // A malformed URL is a usage error.
  const bad = await workspace('http://127.0.0.1:1/Not_A_Tenant');
  const r = await cli(bad, 'fetch', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'REMOTE_URL_INVALID');
});

test('a server that never answers: the request times out, exit 3', async () => {
  const held: Socket[] = [];
  const s = createNetServer((sock) => { held.push(sock); });
  const port = await listen(s);
  const ws = await workspace(`http://127.0.0.1:${port}/acme`);
  const r = await cliWith(ws, { ...fast, AGENTSYNC_HTTP_TIMEOUT_MS: '100', AGENTSYNC_HTTP_TRIES: '2' }, ['fetch', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'REMOTE_UNREACHABLE');
  for (const h of held) h.destroy();
  await new Promise<void>((res) => s.close(() => res()));
});

test('idempotent requests are retried after a dropped connection', async () => {
  const { url, token, tenant } = await httpTenant();
  let drops = 0;
  const p = await proxy(new URL(url).origin, (m) => (m === 'GET' || m === 'POST') && drops++ < 2 ? 'after' : 'pass');
  const remote = new HttpRemote(`${p.url}/${tenant}`, { token, env: fast });
  assert.equal(await remote.head(), { latestPublished: null, current: null, lastId: 0 });
  assert.is(drops, 3);
  assert.is(remote.stats.requests, 3);
  await p.close();
});

function req(expected: number | null, path: string, text: string, draft = false) {
  const id = blobId(enc.encode(text));
  return { bytes: enc.encode(text), id, body: { expected, changes: [{ path, id }], snapshot: snapshotHashOf(encodeManifest(new Map([[path, id]]))), author: 'tester', message: `add ${path}`, draft } };
}

test('createVersion: the answer lost after the server created it — found, not duplicated', async () => {
  const { url, token, tenant } = await httpTenant();
  const direct = new HttpRemote(url, { token, env: fast });
  const p = await proxy(new URL(url).origin, (m, path) => m === 'POST' && path.endsWith('/versions') ? 'after' : 'pass');
  const remote = new HttpRemote(`${p.url}/${tenant}`, { token, env: fast });
  const r = req(null, 'agents/a.yaml', 'name: a\n');
  await remote.putObjects([{ id: r.id, bytes: r.bytes }]);
  const v = await remote.createVersion(r.body);
  assert.is(v.id, 1);
  assert.is(v.snapshot, r.body.snapshot);
  assert.is((await direct.versions(0)).length, 1);
  await p.close();
});

test('createVersion: the request lost before the server saw it — resent once, created once', async () => {
  const { url, token, tenant } = await httpTenant();
  let n = 0;
  const p = await proxy(new URL(url).origin, (m, path) => m === 'POST' && path.endsWith('/versions') && n++ === 0 ? 'before' : 'pass');
  const remote = new HttpRemote(`${p.url}/${tenant}`, { token, env: fast });
  const r = req(null, 'agents/a.yaml', 'name: a\n');
  await remote.putObjects([{ id: r.id, bytes: r.bytes }]);
  const v = await remote.createVersion(r.body);
  assert.is(v.id, 1);
  assert.is((await remote.versions(0)).length, 1);
  await p.close();
});

test('createVersion: a draft whose request was lost is not resent blindly (exit 3, nothing created)', async () => {
  const { url, token, tenant } = await httpTenant();
  const p = await proxy(new URL(url).origin, (m, path) => m === 'POST' && path.endsWith('/versions') ? 'before' : 'pass');
  const remote = new HttpRemote(`${p.url}/${tenant}`, { token, env: fast });
  const r = req(null, 'agents/a.yaml', 'name: a\n', true);
  await remote.putObjects([{ id: r.id, bytes: r.bytes }]);
  try {
    await remote.createVersion(r.body);
    assert.unreachable('should have failed');
  } catch (e) {
    assert.is((e as { code: string }).code, 'REMOTE_UNREACHABLE');
    assert.is((e as { exitCode: number }).exitCode, 3);
  }
  assert.is((await remote.versions(0)).length, 0);
  await p.close();
});

test('push --draft whose create answer is lost after the server made the draft: found on re-read, one draft — never resent (planted: a draft resent after a lost request)', async () => {
  const { url, token, tenant } = await httpTenant();
  const direct = new HttpRemote(url, { token, env: fast });
  // Only the first POST /versions is cut, after the server created the draft: a resend would go through.
  let cut = 0;
  const p = await proxy(new URL(url).origin, (m, path) => m === 'POST' && path.endsWith('/versions') && cut++ === 0 ? 'after' : 'pass');
  try {
    const ws = await workspace(`${p.url}/${tenant}`);
    const r = await cliWith(ws, { ...fast, AGENTSYNC_TOKEN: token }, ['push', '--draft', '--json']);
    // SPEC §6: the client re-reads the versions, finds its draft and returns it (exit 0); it is never resent.
    assert.is(r.code, 0, r.err);
    assert.is(cut, 1);
    const vs = await direct.versions(0);
    assert.equal(vs.map((v) => [v.id, v.state]), [[1, 'draft']]);
    assert.equal([r.json.version.id, r.json.version.state], [1, 'draft']);
    // The request lost before the server saw it (on a fresh connection): not found on re-read, so
    // the draft is not resent — exit 3 REMOTE_UNREACHABLE and no second draft (a resend would make one).
    let cut2 = 0;
    const p2 = await proxy(new URL(url).origin, (m, path) => m === 'POST' && path.endsWith('/versions') && [0, 1].includes(cut2++) ? 'before' : 'pass');
    try {
      const remote = new HttpRemote(`${p2.url}/${tenant}`, { token, env: fast });
      const d = req(null, 'agents/b.yaml', 'name: b\n', true);
      await direct.putObjects([{ id: d.id, bytes: d.bytes }]);
      try {
        await remote.createVersion(d.body);
        assert.unreachable('a lost draft request must fail, not be resent');
      } catch (e) {
        assert.is((e as { code: string }).code, 'REMOTE_UNREACHABLE');
      }
      assert.is(cut2, 1);
      assert.equal((await direct.versions(0)).map((v) => [v.id, v.state]), [[1, 'draft']]);
      // The same loss on a kept-alive connection (as when the server closed it as idle): the
      // re-read finds nothing, so the request cannot have arrived — resent once, one draft.
      const again = await remote.createVersion(d.body);
      assert.is(cut2, 3);
      assert.equal([again.id, again.state], [2, 'draft']);
      assert.equal((await direct.versions(0)).map((v) => [v.id, v.state]), [[1, 'draft'], [2, 'draft']]);
      await remote.close();
    } finally {
      await p2.close();
    }
  } finally {
    await p.close();
    await direct.close();
  }
});

test('push through a connection that drops the answer of createVersion: one version, exit 0', async () => {
  const { url, token, tenant } = await httpTenant();
  const p = await proxy(new URL(url).origin, (m, path) => m === 'POST' && path.endsWith('/versions') ? 'after' : 'pass');
  const ws = await workspace(`${p.url}/${tenant}`);
  const r = await cliWith(ws, { ...fast, AGENTSYNC_TOKEN: token }, ['push', '--json']);
  assert.is(r.code, 0, r.err);
  assert.is(r.json.version.id, 1);
  assert.is((await new HttpRemote(url, { token, env: fast }).versions(0)).length, 1);
  assert.is((await cliWith(ws, { AGENTSYNC_TOKEN: token }, ['status', '--json'])).json.entries.length, 0);
  await p.close();
});

test('large transfers count bytes; batches stay under the caps', async () => {
  const { url, token } = await httpTenant();
  const remote = new HttpRemote(url, { token, env: fast });
  const objs = Array.from({ length: 2500 }, (_, i) => { const b = enc.encode(`object ${i}\n`); return { id: blobId(b), bytes: b }; });
  const missing = await remote.missing(objs.map((o) => o.id));
  assert.is(missing.length, 2500);
  for (let i = 0; i < objs.length; i += 1000) await remote.putObjects(objs.slice(i, i + 1000));
  assert.equal(await remote.missing(objs.map((o) => o.id)), []);
  const got = await remote.getObjects(objs.map((o) => o.id));
  assert.equal(got.map((o) => o.id), objs.map((o) => o.id));
  assert.ok(remote.stats.bytesSent > 2500 * 36);
  assert.ok(remote.stats.bytesReceived > 2500 * 36);
});


/**
 * A logging proxy in front of the real server: every request as `METHOD path` (a create also
 * `+objects` when it carries objects). With `old`, it answers a create that carries objects as a
 * server from before they existed does (400 REQUEST_INVALID, unknown field), forwarding nothing.
 */
async function logged(target: string, old: boolean): Promise<{ url: string; log: string[]; close(): Promise<void> }> {
  const log: string[] = [];
  const s = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const path = new URL(req.url!, 'http://x').pathname;
    const inline = req.method === 'POST' && path.endsWith('/versions') && 'objects' in JSON.parse(body.toString('utf8'));
    log.push(`${req.method} ${path.replace(/^\/[^/]+/, '')}${inline ? ' +objects' : ''}`);
    if (old && inline) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'REQUEST_INVALID', message: 'unknown field "objects" in the request body', data: { reason: 'unknown-field', field: 'objects' } } }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length') headers[k] = v;
    const r = await fetch(target + req.url, { method: req.method!, headers, ...(body.length ? { body } : {}) });
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  const port = await listen(s);
  return { url: `http://127.0.0.1:${port}`, log, close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }) };
}

/** A tenant, a logging proxy before its server (`old`: as a server before objects sent with a create), a workspace through it that has pushed once. */
async function pushedOnce(old: boolean) {
  const { url, token, tenant } = await httpTenant();
  const p = await logged(new URL(url).origin, old);
  const ws = await workspace(`${p.url}/${tenant}`);
  const r = await cliWith(ws, { AGENTSYNC_TOKEN: token }, ['push', '--json']);
  assert.is(r.code, 0, r.err);
  /** Write `text` at `path` and push it, the proxy's log emptied first. */
  const push = async (path: string, text: string) => {
    write(ws, path, text);
    p.log.length = 0;
    const pushed = await cliWith(ws, { AGENTSYNC_TOKEN: token }, ['push', '--json']);
    assert.is(pushed.code, 0, pushed.err);
    return pushed;
  };
  /** The uploads and creates the proxy saw. */
  const writes = () => p.log.filter((l) => l.startsWith('POST /versions') || l === 'POST /objects');
  return { url, token, tenant, p, ws, push, writes };
}

test('a small push sends its new blobs with the create: no upload request, the blob stored, one version', async () => {
  const { url, token, p, ws, push, writes } = await pushedOnce(false);
  try {
    let r = await push('agents/welcome.yaml', 'name: welcome\ndescription: sent with the create\ninstructions: hi\n');
    assert.equal([r.json.version.id, r.json.objectsSent], [2, 1]);
    assert.ok(p.log.includes('POST /versions +objects'), p.log.join(', '));
    assert.not.ok(p.log.includes('POST /objects'), p.log.join(', '));
    // Over 12 KiB the blobs are uploaded first (base64 would cost more than 4 KB extra).
    await push('content/big.md', '# big\n' + 'x'.repeat(13 * 1024) + '\n');
    assert.equal(writes(), ['POST /objects', 'POST /versions']);
    // The blobs are on the server: a second workspace pulls them.
    const b = await workspace(url, { sample: false });
    r = await cliWith(b, { AGENTSYNC_TOKEN: token }, ['pull', '--json']);
    assert.is(r.code, 0, r.err);
    assert.is(read(b, 'agents/welcome.yaml'), read(ws, 'agents/welcome.yaml'));
    assert.is(read(b, 'content/big.md'), read(ws, 'content/big.md'));
  } finally {
    await p.close();
  }
});

test('a server that predates objects sent with a create: refused before anything is written, the client uploads, then creates — exit 0, one version; the same remote then uploads first', async () => {
  const { url, token, tenant, p, push, writes } = await pushedOnce(true);
  try {
    const r = await push('agents/welcome.yaml', 'name: welcome\ndescription: to an old server\ninstructions: hi\n');
    assert.is(r.json.version.id, 2);
    assert.equal(writes(), ['POST /versions +objects', 'POST /objects', 'POST /versions']);
    assert.is((await new HttpRemote(url, { token, env: fast }).versions(0)).length, 2);
    // In one process the remote remembers: the next create uploads first.
    const remote = new HttpRemote(`${p.url}/${tenant}`, { token, env: fast });
    const one = (text: string) => ({ id: blobId(enc.encode(text)), bytes: enc.encode(text) });
    const head = await remote.head();
    const base = new Map((await remote.changesBetween(null, head.latestPublished!)).map((c) => [c.path, c.id!]));
    const send = async (text: string, expected: number) => {
      const o = one(text);
      base.set(`content/${text}.md`, o.id);
      return remote.createVersion({ expected, changes: [{ path: `content/${text}.md`, id: o.id }], snapshot: snapshotHashOf(encodeManifest(base)), author: 't', message: 'm', draft: false }, [o]);
    };
    p.log.length = 0;
    const v3 = await send('x', 2);
    await send('y', v3.id);
    assert.equal(p.log.filter((l) => l.startsWith('POST')), ['POST /versions +objects', 'POST /objects', 'POST /versions', 'POST /objects', 'POST /versions']);
  } finally {
    await p.close();
  }
});

test.run();
