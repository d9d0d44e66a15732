/**
 * A throwaway PostgreSQL cluster for tests and the bench: `initdb` into a temp folder, `pg_ctl`
 * with its unix socket in that folder (no TCP), removed by `stop()` — and, should a test leave
 * one running, when the process exits. Needs Debian's `postgresql` package (`.ci/run` installs
 * it); {@link PG_BIN} is undefined without it and the tests that need it skip visibly
 * (`needs(…, HAVE_PG, …)`).
 *
 * As root, initdb refuses to run: the cluster is made and run as the `postgres` user (the temp
 * folder is handed to it). The URL is `postgres://agentsync@localhost/<db>?host=<dir>&port=<port>`
 * (node-postgres reads a `host` starting with `/` as a socket folder).
 * @module
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';

/** The folder holding initdb, pg_ctl and postgres, or undefined when PostgreSQL is not installed. */
export const PG_BIN: string | undefined = findBin();
export const HAVE_PG = PG_BIN !== undefined;
export const NO_PG_REASON = 'PostgreSQL is not installed (initdb, pg_ctl); apt-get install postgresql — .ci/run does';

function findBin(): string | undefined {
  const ok = (d: string) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')) && existsSync(join(d, 'postgres'));
  if (process.env.AGENTSYNC_PG_BIN) return ok(process.env.AGENTSYNC_PG_BIN) ? process.env.AGENTSYNC_PG_BIN : undefined;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (ok(join(root, v, 'bin'))) return join(root, v, 'bin');
  }
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const d = r.status === 0 ? r.stdout.trim() : '';
  return d && ok(d) ? d : undefined;
}

export interface Pg {
  /** The folder holding `data/` and the socket. */
  dir: string;
  port: number;
  /** URL of the database made at start (`agentsync`). */
  url: string;
  /** URL of another database of this cluster (made by {@link createDb}). */
  urlOf(db: string): string;
  createDb(name: string): Promise<string>;
  /** Stop the cluster (fast shutdown) and remove its folder. Idempotent. */
  stop(): Promise<void>;
  /** Stop and start again (fast shutdown: sessions are cut). */
  restart(): Promise<void>;
  /** Stop the cluster without starting it again (fast shutdown). */
  down(): Promise<void>;
  /** Start a cluster that is down. */
  up(): Promise<void>;
}

const running = new Set<{ dir: string; data: string }>();
let exitHook = false;

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Run a PostgreSQL binary (as the postgres user when we are root). */
function pgRun(bin: string, args: string[]): void {
  const cmd = join(PG_BIN!, bin);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  // cwd '/': the postgres user may not be allowed into the caller's folder (initdb warns).
  const r = spawnSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/**
 * Where the cluster's folder goes: the temp folder, unless (as root) the postgres user cannot
 * reach it — a private temp folder of a test runner (mode 0700 somewhere above it, as
 * `npm run mutate` makes); then /tmp. The exit hook removes the folder either way.
 */
function pgBase(): string {
  const t = resolve(tmpdir());
  if (!asRoot) return t;
  for (let d = t; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return '/tmp';
    if (dirname(d) === d) return t;
  }
}

/**
 * Start a fresh cluster. Not durable by default (`fsync=off`: a test kills servers, not the
 * machine); `durable: true` keeps PostgreSQL's defaults (the bench).
 */
export async function startPg(opts: { durable?: boolean } = {}): Promise<Pg> {
  if (!PG_BIN) throw new Error(NO_PG_REASON);
  const dir = mkdtempSync(join(pgBase(), 'agentsync-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const entry = { dir, data };
  running.add(entry);
  if (!exitHook) {
    exitHook = true;
    // A suite that failed before its `after` hook ran must not leave a postmaster behind.
    process.on('exit', () => {
      for (const e of running) {
        try { pgRun('pg_ctl', ['-D', e.data, '-m', 'immediate', '-w', 'stop']); } catch { /* already down */ }
        rmSync(e.dir, { recursive: true, force: true });
      }
    });
  }
  const settings = [
    `-p ${port}`, `-k ${dir}`, "-c listen_addresses=''", '-c shared_buffers=16MB', '-c max_connections=200',
    ...(opts.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ].join(' ');
  const start = () => pgRun('pg_ctl', ['-D', data, '-o', settings, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  const halt = () => pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
  try {
    pgRun('initdb', ['-D', data, '-U', 'agentsync', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    start();
  } catch (e) {
    running.delete(entry);
    try { halt(); } catch { /* not started */ }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const urlOf = (db: string) => `postgres://agentsync@localhost/${db}?host=${encodeURIComponent(dir)}&port=${port}`;
  const createDb = async (name: string) => {
    const c = new pg.Client({ connectionString: urlOf('postgres') });
    await c.connect();
    try { await c.query(`CREATE DATABASE "${name}"`); } finally { await c.end(); }
    return urlOf(name);
  };
  let stopped = false;
  const url = await createDb('agentsync');
  return {
    dir, port, url, urlOf, createDb,
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(entry);
      try { halt(); } catch { /* already down */ }
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() { halt(); start(); },
    async down() { halt(); },
    async up() { start(); },
  };
}
