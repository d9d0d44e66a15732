/**
 * The remote kinds every contract/scenario test runs against. Each `make()` returns a fresh,
 * empty remote URL; `stop()` releases what it started.
 *
 * The HTTP kind starts one real server in-process on an ephemeral loopback port (fresh data
 * folder), and each `make()` creates a new tenant with a `write` token. Tokens reach the CLI
 * the way a user's do: stored in a credentials file under a temporary XDG_CONFIG_HOME that
 * make() sets in process.env (test/helpers.ts `cli()` passes process.env), keyed by the remote
 * URL, so several remotes in one test each have their own token. stop() closes the server,
 * restores XDG_CONFIG_HOME and removes both folders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { suite, type Test } from 'uvu';
import { needs, tmp, type CliResult } from './helpers.js';
import { HAVE_PG, NO_PG_REASON, startPg, type Pg } from './pg.js';
import { run } from '../src/cli/main.js';
import { saveToken } from '../src/remote/credentials.js';
import { createToken } from '../src/server/auth.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { LevelStorage } from '../src/server/storage.js';
import { PgStorage, migrate } from '../src/server/pg-storage.js';

export interface RemoteKind {
  name: string;
  /** Why this kind cannot run on this machine (its tests are skipped visibly); undefined: it can. */
  skip?: string;
  make(): Promise<string>;
  stop(): Promise<void>;
}

export const dirRemote: RemoteKind = {
  name: 'directory',
  async make() { return join(tmp('agentsync-remote-'), 'remote'); },
  async stop() {},
};

interface HttpState {
  server: RunningServer;
  data: string;
  xdg: string;
  prevXdg: string | undefined;
}

let http: HttpState | undefined;
let tenants = 0;

/** Start (once) the shared in-process server and point XDG_CONFIG_HOME at a fresh folder. */
export async function httpServer(): Promise<HttpState> {
  if (http) return http;
  // Not tmp(): helpers' cleanup() must not delete a live server's store.
  const data = mkdtempSync(join(tmpdir(), 'agentsync-server-'));
  const xdg = mkdtempSync(join(tmpdir(), 'agentsync-xdg-'));
  const storage = await LevelStorage.open(join(data, 'data'), { create: true });
  const server = await startServer(storage, { port: 0, dataDir: join(data, 'data') });
  http = { server, data, xdg, prevXdg: process.env.XDG_CONFIG_HOME };
  process.env.XDG_CONFIG_HOME = xdg;
  return http;
}

/** A new tenant on the shared server and a token for it; returns the remote URL (token stored). */
export async function httpTenant(scope: 'read' | 'write' | 'admin' = 'write'): Promise<{ url: string; token: string; tenant: string }> {
  const h = await httpServer();
  const tenant = `t${process.pid}-${++tenants}`;
  await h.server.storage.createTenant(tenant);
  const { token } = await createToken(h.server.storage, { tenant, scope, expiresInMs: null });
  const url = `${h.server.url}/${tenant}`;
  saveToken({ XDG_CONFIG_HOME: h.xdg }, url, token);
  return { url, token, tenant };
}

export const httpRemote: RemoteKind = {
  name: 'http',
  async make() { return (await httpTenant('write')).url; },
  async stop() {
    const h = http;
    if (!h) return;
    http = undefined;
    await h.server.close();
    if (h.prevXdg === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = h.prevXdg;
    rmSync(h.data, { recursive: true, force: true });
    rmSync(h.xdg, { recursive: true, force: true });
  },
};

export const REMOTE_KINDS: RemoteKind[] = [dirRemote, httpRemote];

interface PgState {
  pg: Pg;
  server: RunningServer;
  xdg: string;
  prevXdg: string | undefined;
}
let pgState: PgState | undefined;

/**
 * HTTP to a server on PostgreSQL: a throwaway cluster (test/pg.ts), migrated, one in-process
 * server on it; each make() is a new tenant with a write token, as for `http`.
 */
export const pgRemote: RemoteKind = {
  name: 'http+postgres',
  ...(HAVE_PG ? {} : { skip: NO_PG_REASON }),
  async make() {
    if (!pgState) {
      const pg = await startPg();
      try {
        await migrate(pg.url);
        const storage = await PgStorage.open(pg.url);
        const server = await startServer(storage, { port: 0 });
        const xdg = mkdtempSync(join(tmpdir(), 'agentsync-xdg-'));
        pgState = { pg, server, xdg, prevXdg: process.env.XDG_CONFIG_HOME };
        process.env.XDG_CONFIG_HOME = xdg;
      } catch (e) {
        await pg.stop();
        throw e;
      }
    }
    const h = pgState;
    const tenant = `t${process.pid}-${++tenants}`;
    await h.server.storage.createTenant(tenant);
    const { token } = await createToken(h.server.storage, { tenant, scope: 'write', expiresInMs: null });
    const url = `${h.server.url}/${tenant}`;
    saveToken({ XDG_CONFIG_HOME: h.xdg }, url, token);
    return url;
  },
  async stop() {
    const h = pgState;
    if (!h) return;
    pgState = undefined;
    try {
      await h.server.close();
    } finally {
      await h.pg.stop();
      if (h.prevXdg === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = h.prevXdg;
      rmSync(h.xdg, { recursive: true, force: true });
    }
  },
};

/** The kinds the contract suites (cli, scenario, merge flow) run against. */
export const CONTRACT_KINDS: RemoteKind[] = [dirRemote, httpRemote, pgRemote];

/**
 * A suite for `kind`: uvu's own, or, when the kind cannot run here, one whose every test is
 * registered as skipped (counted, and one line says why) — never a silent pass.
 */
export function kindSuite(name: string, kind: RemoteKind): Test {
  const s = suite(name);
  if (!kind.skip) return s;
  const skipped = needs(s, false, name, kind.skip);
  return Object.assign(skipped, { before: s.before, after: s.after, only: s.only, skip: s.skip, run: s.run }) as unknown as Test;
}

/** Like helpers' `cli()`, with extra environment (undefined removes a variable) and optional stdin text. */
export async function cliWith(cwd: string, env: Record<string, string | undefined>, argv: string[], stdin?: string): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await run(argv, {
    cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, AGENTSYNC_AUTHOR: 'tester', AGENTSYNC_LOCK_TIMEOUT_MS: '3000', ...env },
    stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stdinTTY: false, stdoutTTY: false,
    ...(stdin !== undefined ? { stdin: Readable.from([Buffer.from(stdin)]) } : {}),
  });
  let json: unknown;
  if (argv.includes('--json')) { try { json = JSON.parse(out); } catch { json = undefined; } }
  return { code, out, err, json };
}
