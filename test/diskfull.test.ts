/**
 * A full disk: a small tmpfs is filled with a filler file, then push and pull (directory remote)
 * and a push to an HTTP server whose data folder is on it must fail with DISK_FULL (exit 4),
 * leave stores that `fsck` accepts, and work again once the filler is deleted — the server
 * without a restart, and without losing the writes it acknowledged afterwards; and the server
 * storage must clear LevelDB's sticky error state after a failed flush to a table by itself.
 *
 * Mounting needs root. Otherwise the suite prints one `skipped:` line and registers no test.
 */
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, statfsSync, writeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobId } from '../src/model/hash.js';
import { createToken } from '../src/server/auth.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { LevelStorage } from '../src/server/storage.js';
import { SAMPLE, cleanup, cli, needs, ok, tmp, type CliResult } from './helpers.js';
import { cliWith } from './remotes.js';

/**
 * tmpfs size: room for the sample (16 small artifacts) and a 256 KiB one in a workspace and its
 * stores, and for a server store whose 4 MiB LevelDB write buffer must be flushed to a table.
 */
const SIZE = '16m';
/** The incompressible artifact every push and pull here moves (the write that does not fit). */
const BIG = 'content/docs/big.md';
const BIG_BYTES = 256 * 1024;

function mountTmpfs(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'agentsync-diskfull-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE}`, 'tmpfs', dir], { stdio: 'ignore' });
  if (r.error || r.status !== 0) { rmdirSync(dir); return undefined; }
  return dir;
}

let mounted = false;
function unmount(dir: string): void {
  if (!mounted) return;
  mounted = false;
  spawnSync('umount', [dir], { stdio: 'ignore' });
  spawnSync('umount', ['-l', dir], { stdio: 'ignore' }); // (lazily, should something still hold it)
  try { rmdirSync(dir); } catch { /* still mounted: left for the OS */ }
}

const ROOT = mountTmpfs();
if (!ROOT) {
  const s = suite('diskfull');
  needs(s, false, 'diskfull', 'needs root to mount a tmpfs')('push, pull and serve on a full disk', () => {});
  s.run();
} else {
  mounted = true;
  // Whatever happens to the run, the tmpfs does not outlive it.
  process.on('exit', () => unmount(ROOT));
  register(ROOT);
}

/** Fill the filesystem at `root` with `<root>/filler` until only `leave` bytes are free. */
function fill(root: string, leave = 0): void {
  free(root);
  const { bavail, bsize } = statfsSync(root);
  let want = Math.max(0, bavail * bsize - leave);
  const fd = openSync(join(root, 'filler'), 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    while (want > 0) {
      try { want -= writeSync(fd, chunk, 0, Math.min(chunk.length, want)); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function free(root: string): void {
  rmSync(join(root, 'filler'), { force: true });
}

/** Deterministic incompressible text (LevelDB compresses its tables). */
function bigText(): string {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '# Big\n\n';
  while (s.length < BIG_BYTES) {
    let line = '';
    for (let i = 0; i < 79; i++) line += alphabet[rnd() % alphabet.length];
    s += line + '\n';
  }
  return s;
}
const BIG_TEXT = bigText();

/** A workspace at `dir` with the sample and the big artifact, on `remote`. */
async function makeWorkspace(dir: string, remote: string, withFiles: boolean): Promise<string> {
  mkdirSync(dir, { recursive: true });
  if (withFiles) {
    cpSync(join(SAMPLE, 'services'), join(dir, 'services'), { recursive: true });
    writeFileSync(join(dir, 'services', BIG), BIG_TEXT);
  }
  await ok(dir, 'init', '--remote', remote);
  return dir;
}

/** Every file under `services/` (relative path → bytes as text), temp files included. */
function files(ws: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const d of readdirSync(join(ws, 'services', rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) walk(r);
      else out[r] = readFileSync(join(ws, 'services', r), 'utf8');
    }
  };
  walk('');
  return out;
}

function assertDiskFull(r: CliResult): void {
  assert.is(r.code, 4, r.err);
  assert.is(r.json?.error?.code, 'DISK_FULL', r.err);
  assert.match(r.err, /^agentsync: [^\n]+ \(DISK_FULL\)\n$/);
}

/** The workspace's snapshot hash. */
async function localHash(ws: string, env: Record<string, string> = {}): Promise<string> {
  return (await cliWith(ws, env, ['hash', '--json'])).json.snapshot;
}

function register(root: string): void {
  test.after(() => {
    free(root);
    cleanup();
    unmount(root);
  });
  test.after.each(() => {
    free(root);
    for (const f of readdirSync(root)) rmSync(join(root, f), { recursive: true, force: true });
  });

  test('push to a directory remote on a full disk: DISK_FULL; after freeing space push works and fsck passes', async () => {
    const ws = await makeWorkspace(join(root, 'ws'), join(root, 'remote'), true);
    fill(root, 128 * 1024); // room to open the stores, not to store the big artifact
    assertDiskFull(await cli(ws, 'push', '--json'));
    // Still full, even opening the store (LevelDB writes a new log) fails: DISK_FULL, not STORE_CORRUPT.
    fill(root);
    assertDiskFull(await cli(ws, 'fsck', '--json'));
    free(root);
    const f = await cli(ws, 'fsck', '--json');
    assert.is(f.code, 0, f.err);
    assert.equal(f.json.problems, []);
    await ok(ws, 'push');
    const hash = await localHash(ws);
    const v = await cli(ws, 'verify', hash, '--remote', '--json');
    assert.is(v.code, 0, v.err);
    assert.is((await cli(ws, 'fsck')).code, 0);
    const st = await cli(ws, 'status', '--json');
    assert.equal(st.json.entries, []);
  });

  test('pull on a full disk: DISK_FULL, no file half-written; after freeing space pull works and fsck passes', async () => {
    const remote = join(tmp('agentsync-remote-'), 'remote');
    const a = await makeWorkspace(tmp('agentsync-ws-'), remote, true);
    await ok(a, 'push');
    const want = files(a);
    const b = await makeWorkspace(join(root, 'b'), remote, false);
    const before = files(b);
    fill(root, 128 * 1024);
    assertDiskFull(await cli(b, 'pull', '--json'));
    // Pull writes every file to a temp file first: none was renamed into place, none is left.
    assert.equal(files(b), before);
    free(root);
    const f = await cli(b, 'fsck', '--json');
    assert.is(f.code, 0, f.err);
    assert.equal(f.json.problems, []);
    await ok(b, 'pull');
    assert.equal(files(b), want);
    assert.is(await localHash(b), await localHash(a));
    assert.is((await cli(b, 'fsck')).code, 0);
  });

  test('push to a server whose disk is full: DISK_FULL (HTTP 507); after freeing space the same server takes the push, and keeps it', async () => {
    const data = join(root, 'data');
    let storage = await LevelStorage.open(data, { create: true });
    let srv: RunningServer | undefined = await startServer(storage, { port: 0 });
    try {
      await storage.createTenant('acme');
      const { token } = await createToken(storage, { tenant: 'acme', scope: 'write', expiresInMs: null });
      const env = { AGENTSYNC_TOKEN: token };
      const ws = tmp('agentsync-ws-');
      await makeWorkspace(ws, `${srv.url}/acme`, true);
      fill(root, 128 * 1024);
      const r1 = await cliWith(ws, env, ['push', '--json']);
      assertDiskFull(r1);
      assert.is(r1.json.error.data.status, 507);
      // Still full: the server answers DISK_FULL again (it cannot reopen its store yet), not INTERNAL.
      assertDiskFull(await cliWith(ws, env, ['push', '--json']));
      free(root);
      const r2 = await cliWith(ws, env, ['push', '--json']);
      assert.is(r2.code, 0, r2.err);
      assert.is(r2.json.version.id, 1);
      const hash = await localHash(ws, env);
      assert.is((await cliWith(ws, env, ['verify', hash, '--remote'])).code, 0);
      // The acknowledged push survives a restart (LevelDB replays its log after the torn record).
      await srv.close();
      srv = undefined;
      storage = await LevelStorage.open(data);
      const head = await storage.remote('acme').head();
      assert.equal(head, { latestPublished: 1, current: 1, lastId: 1 });
      assert.is((await storage.remote('acme').version(1)).snapshot, hash);
      const fsck = await storage.fsck();
      assert.equal(fsck.problems, []);
      assert.is(fsck.versions, 1);
    } finally {
      if (srv) await srv.close();
      else await storage.close().catch(() => {});
    }
  });

  test('server store: a failed flush to a table (a sticky LevelDB error) is cleared by the storage itself once space is freed', async () => {
    const data = join(root, 'data');
    let storage = await LevelStorage.open(data, { create: true });
    try {
      await storage.createTenant('acme');
      const t = storage.remote('acme');
      // Room for LevelDB's 4 MiB write buffer in its log, not for the table it is then flushed to:
      // the flush fails in the background and LevelDB refuses every write after it.
      fill(root, 4600 * 1024);
      let failed: unknown;
      for (let i = 0; i < 200 && failed === undefined; i++) {
        const b = randomBytes(50 * 1024);
        await t.putObjects([{ id: blobId(b), bytes: b }]).catch((e: unknown) => { failed = e; });
      }
      assert.is((failed as { code?: string })?.code, 'LEVEL_IO_ERROR', String(failed));
      free(root);
      // The same storage, no restart: the next writes succeed.
      const kept = randomBytes(100);
      await t.putObjects([{ id: blobId(kept), bytes: kept }]);
      await storage.createTenant('beta');
      await storage.close();
      storage = await LevelStorage.open(data);
      assert.equal((await storage.tenants()).map((x) => x.name), ['acme', 'beta']);
      assert.equal(await storage.remote('acme').missing([blobId(kept)]), []);
      assert.equal((await storage.fsck()).problems, []);
    } finally {
      await storage.close();
    }
  });

  test.run();
}
