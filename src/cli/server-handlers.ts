/**
 * The server commands: `serve`, `admin tenant|token|fsck` (on a server data folder, directly or
 * through the running server) and the client's `auth login|status|logout`.
 * @module
 */
import { resolve } from 'node:path';
import { pickRemote } from '../engine/context.js';
import { AgentsyncError, EXIT, fail, isAgentsyncError } from '../model/errors.js';
import { credentialKey, credentialsPath, readCredentials, removeToken, saveToken, storedToken } from '../remote/credentials.js';
import { HttpRemote } from '../remote/http.js';
import { isHttpUrl } from '../remote/index.js';
import { openAdmin, openDbAdmin, type Admin } from '../server/admin.js';
import { checkScope, isTokenFormat, parseDuration } from '../server/auth.js';
import { serveDataDir, serveStorage } from '../server/server.js';
import { loadWorkspace } from '../workspace/config.js';
import { cwdOf, type Opts } from './commands.js';
import { formatBytes, json, plural, type Io } from './io.js';


function dataDir(io: Io, o: Opts): string {
  const d = typeof o.data === 'string' ? o.data : io.env.AGENTSYNC_DATA || 'agentsync-data';
  return resolve(cwdOf(io, o), d);
}

/**
 * The PostgreSQL URL the command works on: `--db`, else `$AGENTSYNC_DB` unless `--data` is
 * given; undefined: the data folder.
 */
function dbUrl(io: Io, o: Opts): string | undefined {
  if (o.db !== undefined) {
    if (typeof o.db !== 'string' || !o.db) fail('USAGE', '--db needs a URL: postgres://user@host:port/dbname');
    if (typeof o.data === 'string') fail('USAGE', 'give --data <dir> or --db <url>, not both');
    return o.db;
  }
  if (typeof o.data === 'string') return undefined;
  return io.env.AGENTSYNC_DB || undefined;
}

/** How a command names its store in messages: `--data <dir>` or `--db <url without password>`. */
async function storeFlag(io: Io, o: Opts): Promise<string> {
  const url = dbUrl(io, o);
  if (!url) return `--data ${dataDir(io, o)}`;
  const { redactUrl } = await import('../server/pg-storage.js');
  return `--db ${redactUrl(url)}`;
}

function intOpt(v: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail('USAGE', `--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

// ---------------------------------------------------------------- serve

export async function cmdServe(io: Io, o: Opts): Promise<number> {
  const port = intOpt(o.port, 'port', 0, 65535);
  const opts = {
    host: String(o.host ?? '127.0.0.1'), port,
    maxBodyBytes: intOpt(o.maxBody, 'max-body', 1024), maxObjectBytes: intOpt(o.maxObject, 'max-object', 1),
    log: (s: string) => io.stderr(s),
  };
  const url = dbUrl(io, o);
  let srv: Awaited<ReturnType<typeof serveDataDir>>;
  let where: string;
  if (url) {
    const { PgStorage, redactUrl } = await import('../server/pg-storage.js');
    const pool = intOpt(o.dbPool ?? 10, 'db-pool', 1, 10000);
    srv = await serveStorage(await PgStorage.open(url, { pool, log: opts.log, cacheTokens: true }), opts);
    where = `database ${redactUrl(url)} (pool of ${pool})`;
  } else {
    const dir = dataDir(io, o);
    srv = await serveDataDir(dir, opts);
    where = `data in ${dir}`;
  }
  io.stdout(`listening on ${srv.url}\n`);
  io.stderr(`agentsync serve: ${where}; remotes are ${srv.url}/<tenant>; the dashboard is ${srv.url}/ (sign in with a token); SIGTERM or Ctrl-C stops it\n`);
  await new Promise<void>((res) => {
    const stop = () => { process.off('SIGTERM', stop); process.off('SIGINT', stop); res(); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  io.stderr('agentsync serve: stopping (finishing requests in flight)\n');
  await srv.close();
  io.stderr('agentsync serve: stopped\n');
  return EXIT.OK;
}

// ---------------------------------------------------------------- admin

async function withAdmin<T>(io: Io, o: Opts, create: boolean, fn: (a: Admin) => Promise<T>): Promise<T> {
  const url = dbUrl(io, o);
  const a = url ? await openDbAdmin(url) : await openAdmin(dataDir(io, o), { create });
  try {
    return await fn(a);
  } finally {
    await a.close();
  }
}

export async function cmdAdmin(io: Io, args: string[], o: Opts): Promise<number> {
  const [what, sub, arg] = args;
  const usage = 'usage: agentsync admin tenant create <name> | tenant list | token create --tenant <name> --scope read|write|admin [--expires-in 30d] | token list | token revoke <id> | fsck | gc  (all with --data <dir> or --db <url>) | migrate --db <url> | copy --from <dir> --to <url>';
  if (what === 'copy') {
    if (typeof o.from !== 'string' || typeof o.to !== 'string') fail('USAGE', 'usage: agentsync admin copy --from <data dir> --to postgres://user@host:port/dbname (migrate the database first)');
    const { copyToDb } = await import('../server/copy.js');
    const { redactUrl } = await import('../server/pg-storage.js');
    const from = resolve(cwdOf(io, o), o.from);
    const r = await copyToDb(from, o.to, (s) => { if (!o.json) io.stderr(s); });
    if (o.json) json(io, r);
    else {
      for (const p of r.problems) io.stderr(`${p.what}: ${p.message}\n`);
      io.stdout(r.problems.length
        ? `${r.problems.length} problem(s) in the copy (STORE_CORRUPT); see above.\n`
        : `Copied ${r.tenants} tenants, ${r.tokens} tokens, ${r.versions} new versions and ${r.objects} objects from ${from} to ${redactUrl(o.to)}; all ${r.checked} versions' snapshots re-checked in the database.\n`);
    }
    return r.problems.length ? EXIT.INTERNAL : EXIT.OK;
  }
  if (what === 'migrate') {
    const url = dbUrl(io, o);
    if (!url) fail('USAGE', 'admin migrate works on a PostgreSQL database: agentsync admin migrate --db postgres://user@host:port/dbname (a data folder needs no migration)');
    const { migrate, redactUrl } = await import('../server/pg-storage.js');
    const r = await migrate(url);
    if (o.json) json(io, r);
    else io.stdout(r.applied.length ? `Migrated ${redactUrl(url)} from schema ${r.from} to ${r.to}.\n` : `${redactUrl(url)} is at schema ${r.to}: nothing to do.\n`);
    return EXIT.OK;
  }
  if (what === 'tenant' && sub === 'create') {
    if (!arg) fail('USAGE', usage);
    // Through a running server its URL is known (server.json): the tenant's remote URL is real.
    const { t, base } = await withAdmin(io, o, true, async (a) => ({ t: await a.createTenant(arg), base: a.url }));
    const url = base ? `${base}/${t.name}` : undefined;
    if (o.json) json(io, { ...t, ...(url ? { url } : {}) });
    else {
      io.stdout(`Created tenant ${t.name}.\n`);
      io.stderr(`Its remote URL is ${url ?? `http(s)://<host>:<port>/${t.name} (the address \`agentsync serve\` listens on)`}; make a token with \`agentsync admin token create --tenant ${t.name} --scope write ${await storeFlag(io, o)}\`.\n`);
    }
    return EXIT.OK;
  }
  if (what === 'tenant' && (sub === 'list' || sub === undefined)) {
    const ts = await withAdmin(io, o, false, (a) => a.tenants());
    if (o.json) json(io, { tenants: ts });
    else for (const t of ts) io.stdout(`${t.name}\t${t.createdAt}\n`);
    return EXIT.OK;
  }
  if (what === 'token' && sub === 'create') {
    if (typeof o.tenant !== 'string') fail('USAGE', 'admin token create needs --tenant <name>');
    const scope = checkScope(o.scope);
    const expiresInMs = parseDuration(String(o.expiresIn ?? 'never'));
    const r = await withAdmin(io, o, false, (a) => a.createToken({ tenant: o.tenant as string, scope, expiresInMs, ...(typeof o.label === 'string' ? { label: o.label } : {}) }));
    if (o.json) json(io, r);
    else {
      io.stdout(`${r.token}\n`);
      io.stderr(`Token ${r.record.id} for tenant ${r.record.tenant}, scope ${r.record.scope}, ${r.record.expiresAt ? `expires ${r.record.expiresAt}` : 'never expires'}. It is shown only this once: give it to \`agentsync auth login --token-stdin\` now.\n`);
    }
    return EXIT.OK;
  }
  if (what === 'token' && (sub === 'list' || sub === undefined)) {
    const ts = await withAdmin(io, o, false, (a) => a.tokens());
    if (o.json) json(io, { tokens: ts });
    else {
      for (const t of ts) {
        const state = t.revokedAt ? `revoked ${t.revokedAt}` : t.expired ? `expired ${t.expiresAt}` : t.expiresAt ? `expires ${t.expiresAt}` : 'never expires';
        io.stdout(`${t.id}\t${t.tenant}\t${t.scope}\t${state}${t.label ? `\t${t.label}` : ''}\n`);
      }
    }
    return EXIT.OK;
  }
  if (what === 'token' && sub === 'revoke') {
    if (!arg) fail('USAGE', 'usage: agentsync admin token revoke <id> --data <dir> (or --db <url>)');
    const t = await withAdmin(io, o, false, (a) => a.revokeToken(arg));
    if (o.json) json(io, t);
    else io.stdout(`Revoked token ${t.id} (tenant ${t.tenant}).\n`);
    return EXIT.OK;
  }
  if (what === 'gc') {
    const r = await withAdmin(io, o, false, (a) => a.gc());
    if (o.json) json(io, r);
    else io.stdout(`Freed ${r.objects} object${r.objects === 1 ? '' : 's'} (${formatBytes(r.bytes)}) and ${r.manifests} manifest root${r.manifests === 1 ? '' : 's'} that no version reaches${r.kept ? `; kept ${r.kept} uploaded in the last hour (a push may be on its way)` : ''}.\n`);
    return EXIT.OK;
  }
  if (what === 'fsck') {
    const r = await withAdmin(io, o, false, (a) => a.fsck());
    if (o.json) json(io, r);
    else {
      for (const p of r.problems) io.stderr(`${p.what}: ${p.message}\n`);
      io.stdout(r.problems.length
        ? `${r.problems.length} problem(s) in ${plural(r.tenants, 'tenant')}, ${plural(r.versions, 'version')}, ${plural(r.objects, 'object')} (STORE_CORRUPT).\n`
        : `OK: ${plural(r.tenants, 'tenant')}, ${plural(r.tokens, 'token')}, ${plural(r.versions, 'version')} and ${plural(r.objects, 'object')} check out.\n`);
    }
    return r.problems.length ? EXIT.INTERNAL : EXIT.OK;
  }
  return fail('USAGE', usage);
}

// ---------------------------------------------------------------- auth

/** The URL `auth` acts on: the positional one, else the workspace's --remote (default origin). */
async function authUrl(io: Io, url: string | undefined, o: Opts): Promise<{ url: string; name?: string }> {
  if (url) {
    if (!isHttpUrl(url)) fail('USAGE', `${url} is not an http(s) remote URL; tokens are only for HTTP remotes`);
    return { url };
  }
  let ws;
  try {
    ws = await loadWorkspace(cwdOf(io, o));
  } catch (e) {
    if (isAgentsyncError(e) && e.code === 'NOT_A_WORKSPACE') fail('USAGE', 'not in a workspace: give the remote URL, e.g. `agentsync auth login http://host:7420/<tenant>`');
    throw e;
  }
  const r = pickRemote(ws, typeof o.remote === 'string' ? o.remote : undefined);
  if (!r) fail('REMOTE_UNKNOWN', 'this workspace has no remote; run `agentsync remote add origin <url>` or give the URL');
  if (!isHttpUrl(r.url)) fail('USAGE', `remote ${r.name} (${r.url}) is not an HTTP remote; it needs no token`);
  return { url: r.url, name: r.name };
}

async function readAll(s: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const c of s as AsyncIterable<Buffer | string>) text += typeof c === 'string' ? c : c.toString('utf8');
  return text;
}

/** Read a line from a terminal without echoing it. */
function promptHidden(io: Io, prompt: string): Promise<string> {
  const input = io.stdin as NodeJS.ReadStream;
  io.stderr(prompt);
  return new Promise((res, rej) => {
    let text = '';
    const raw = typeof input.setRawMode === 'function';
    if (raw) input.setRawMode(true);
    input.setEncoding('utf8');
    const done = (err?: Error) => {
      input.off('data', onData);
      if (raw) input.setRawMode(false);
      input.pause();
      io.stderr('\n');
      if (err) rej(err); else res(text);
    };
    const onData = (d: string) => {
      for (const ch of d) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new AgentsyncError('INTERRUPTED', 'interrupted at the prompt; no token was stored'));
        if (ch === '\u0004') return done(Object.assign(new Error('cancelled'), { cancelled: true }));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

async function checkToken(io: Io, url: string, token: string): Promise<{ ok: boolean; code?: string; message?: string; reason?: string }> {
  const remote = new HttpRemote(url, { token, env: { ...io.env, AGENTSYNC_HTTP_TRIES: '1' } });
  try {
    await remote.head();
    return { ok: true };
  } catch (e) {
    if (isAgentsyncError(e)) return { ok: false, code: e.code, message: e.message, ...(typeof e.data.serverMessage === 'string' ? { reason: e.data.serverMessage } : {}) };
    throw e;
  } finally {
    await remote.close();
  }
}

export async function cmdAuth(io: Io, args: string[], o: Opts): Promise<number> {
  const [sub = 'status', urlArg] = args;
  if (sub === 'login') {
    const { url } = await authUrl(io, urlArg, o);
    let token: string;
    if (o.tokenStdin) {
      if (!io.stdin) fail('USAGE', 'no standard input to read the token from');
      token = (await readAll(io.stdin)).trim();
    } else if (io.stdinTTY && io.stdin) {
      try {
        token = (await promptHidden(io, `Token for ${url}: `)).trim();
      } catch (e) {
        if (isAgentsyncError(e)) throw e;
        return fail('USAGE', 'cancelled; no token was stored');
      }
    } else {
      return fail('USAGE', 'standard input is not a terminal: pass the token with --token-stdin (e.g. `echo "$TOKEN" | agentsync auth login --token-stdin`)');
    }
    if (!isTokenFormat(token)) fail('USAGE', 'that is not an agentsync token (as_<id>_<secret>, from `agentsync admin token create`); nothing was stored');
    const check = await checkToken(io, url, token);
    if (!check.ok && (check.code === 'AUTH_REQUIRED' || check.code === 'AUTH_FORBIDDEN')) {
      // The server's reason only: the remote's own message already says "run auth login", which is what just failed.
      const tenant = url.replace(/\/+$/, '').split('/').pop();
      fail(check.code, `${url} refused that token: ${check.reason ?? (check.code === 'AUTH_FORBIDDEN' ? 'not allowed' : 'not valid')}; nothing was stored — ask the server's admin for a token for ${tenant}, then log in with it`, { url, hint: `agentsync admin token create --tenant ${tenant}` });
    }
    const path = saveToken(io.env, url, token);
    if (o.json) json(io, { url: credentialKey(url), credentials: path, verified: check.ok, ...(check.ok ? {} : { code: check.code }) });
    else if (check.ok) io.stdout(`Logged in to ${url}: the server accepted the token. Stored in ${path}.\n`);
    else {
      io.stdout(`Stored the token for ${url} in ${path}.\n`);
      io.stderr(`agentsync: could not verify it now: ${check.message}\n`);
    }
    return EXIT.OK;
  }
  if (sub === 'logout') {
    const urls: string[] = [];
    if (o.all) urls.push(...Object.keys(readCredentials(io.env).tokens));
    else urls.push((await authUrl(io, urlArg, o)).url);
    const removed = urls.filter((u) => removeToken(io.env, u));
    if (o.json) json(io, { removed: removed.map(credentialKey) });
    else if (removed.length) for (const u of removed) io.stdout(`Logged out of ${u}: its token is forgotten.\n`);
    else io.stdout(`No stored token for ${urls.join(', ') || 'any remote'}.\n`);
    return EXIT.OK;
  }
  if (sub === 'status') {
    const rows: { name?: string; url: string }[] = [];
    if (urlArg) rows.push({ url: (await authUrl(io, urlArg, o)).url });
    else {
      try {
        const ws = await loadWorkspace(cwdOf(io, o));
        for (const r of ws.remotes) if (isHttpUrl(r.url)) rows.push({ name: r.name, url: r.url });
      } catch (e) {
        if (!isAgentsyncError(e) || e.code !== 'NOT_A_WORKSPACE') throw e;
      }
      const seen = new Set(rows.map((r) => credentialKey(r.url)));
      for (const k of Object.keys(readCredentials(io.env).tokens)) if (!seen.has(k)) rows.push({ url: k });
    }
    const envToken = io.env.AGENTSYNC_TOKEN || undefined;
    const out = [];
    for (const r of rows) {
      const stored = storedToken(io.env, r.url);
      const token = envToken ?? stored;
      const source = envToken ? 'AGENTSYNC_TOKEN' : stored ? 'credentials' : 'none';
      const check = token ? await checkToken(io, r.url, token) : { ok: false, code: 'AUTH_REQUIRED', message: 'no token; run `agentsync auth login`' };
      out.push({ ...(r.name ? { name: r.name } : {}), url: credentialKey(r.url), source, ...check });
    }
    if (o.json) json(io, { credentials: credentialsPath(io.env), remotes: out });
    else {
      if (out.length === 0) io.stdout(`No HTTP remotes and no stored tokens (${credentialsPath(io.env)}).\n`);
      for (const r of out) {
        const what = r.ok ? 'OK' : r.code === 'REMOTE_UNREACHABLE' ? 'server unreachable' : `${r.message} (${r.code})`;
        io.stdout(`${r.name ? `${r.name}\t` : ''}${r.url}\ttoken: ${r.source === 'none' ? 'none' : r.source === 'credentials' ? 'stored' : 'AGENTSYNC_TOKEN'}\t${what}\n`);
      }
    }
    return out.every((r) => r.ok) ? EXIT.OK : EXIT.REMOTE;
  }
  return fail('USAGE', `unknown subcommand "auth ${sub}"; use login, status or logout`);
}
