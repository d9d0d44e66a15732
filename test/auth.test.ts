/**
 * Auth over a real server: missing, wrong-tenant, read-only, revoked and expired tokens all
 * fail with exit 3 (AUTH_REQUIRED / AUTH_FORBIDDEN); tokens are stored hashed on the server and
 * in a 0600 credentials file outside the workspace on the client.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createToken } from '../src/server/auth.js';
import { credentialsPath } from '../src/remote/credentials.js';
import { cleanup, tmp, workspace, write } from './helpers.js';
import { cliWith, httpRemote, httpServer, httpTenant } from './remotes.js';

test.after(async () => {
  await httpRemote.stop();
  cleanup();
});

/** A fresh credentials home, so each test starts logged out. */
const home = () => ({ XDG_CONFIG_HOME: tmp('agentsync-xdg-'), AGENTSYNC_TOKEN: undefined, AGENTSYNC_HTTP_BACKOFF_MS: '1' });

async function dataDir(): Promise<string> {
  return join((await httpServer()).data, 'data');
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)]);
}

test('no token: exit 3, AUTH_REQUIRED, for reads and writes', async () => {
  const { url } = await httpTenant();
  const env = home();
  const ws = await workspace(url);
  for (const argv of [['fetch'], ['push'], ['pull'], ['status', '--fetch'], ['versions']]) {
    const r = await cliWith(ws, env, [...argv, '--json']);
    assert.is(r.code, 3, argv.join(' '));
    assert.is(r.json.error.code, 'AUTH_REQUIRED');
  }
});

test('auth login stores the token in a 0600 file outside the workspace; push works; logout forgets it', async () => {
  const { url, token } = await httpTenant();
  const env = home();
  const ws = await workspace(url);
  let r = await cliWith(ws, env, ['auth', 'login', '--token-stdin', '--json'], `${token}\n`);
  assert.is(r.code, 0, r.err);
  assert.is(r.json.verified, true);
  const file = credentialsPath(env);
  assert.is(r.json.credentials, file);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.ok(readFileSync(file, 'utf8').includes(token));
  assert.not.ok(readFileSync(join(ws, 'agentsync.yaml'), 'utf8').includes(token));
  assert.not.ok(allFiles(ws).some((f) => readFileSync(f).includes(token)));
  r = await cliWith(ws, env, ['push', '--json']);
  assert.is(r.code, 0, r.err);
  r = await cliWith(ws, env, ['auth', 'status', '--json']);
  assert.is(r.code, 0);
  assert.is(r.json.remotes[0].name, 'origin');
  assert.is(r.json.remotes[0].source, 'credentials');
  assert.is(r.json.remotes[0].ok, true);
  r = await cliWith(ws, env, ['auth', 'logout', '--json']);
  assert.is(r.code, 0);
  assert.is(r.json.removed.length, 1);
  assert.not.ok(readFileSync(file, 'utf8').includes(token));
  r = await cliWith(ws, env, ['fetch', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_REQUIRED');
  r = await cliWith(ws, env, ['auth', 'status', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.remotes[0].source, 'none');
});

test('auth login: a refused token is not stored; no terminal needs --token-stdin; a non-token is refused', async () => {
  const { url } = await httpTenant();
  const other = await httpTenant();
  const env = home();
  const ws = await workspace(url);
  let r = await cliWith(ws, env, ['auth', 'login', '--token-stdin', '--json'], other.token);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_FORBIDDEN');
  r = await cliWith(ws, env, ['auth', 'login', '--token-stdin', '--json'], 'as_0123456789abcdef_' + 'A'.repeat(43));
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_REQUIRED');
  r = await cliWith(ws, env, ['auth', 'status', '--json']);
  assert.is(r.json.remotes[0].source, 'none');
  r = await cliWith(ws, env, ['auth', 'login', '--json']);
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'USAGE');
  r = await cliWith(ws, env, ['auth', 'login', '--token-stdin', '--json'], 'hunter2');
  assert.is(r.code, 2);
  // Outside a workspace the URL is given.
  r = await cliWith(tmp(), env, ['auth', 'login', other.url, '--token-stdin', '--json'], other.token);
  assert.is(r.code, 0, r.err);
});

test('a token for another tenant: exit 3, AUTH_FORBIDDEN', async () => {
  const { url } = await httpTenant();
  const other = await httpTenant();
  const ws = await workspace(url);
  const r = await cliWith(ws, { ...home(), AGENTSYNC_TOKEN: other.token }, ['push', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_FORBIDDEN');
});

test('a read token fetches and pulls but cannot push, deploy or roll back', async () => {
  const { url, tenant } = await httpTenant('write');
  const writer = await workspace(url);
  assert.is((await cliWith(writer, {}, ['push'])).code, 0);
  const h = await httpServer();
  const { token: readToken } = await createToken(h.server.storage, { tenant, scope: 'read', expiresInMs: null });
  const env = { ...home(), AGENTSYNC_TOKEN: readToken };
  const ws = await workspace(url, { sample: false });
  let r = await cliWith(ws, env, ['pull', '--json']);
  assert.is(r.code, 0, r.err);
  assert.is(r.json.pulled.length > 0, true);
  write(ws, 'agents/welcome.yaml', 'name: welcome\ndescription: read-only edit\ninstructions: hi\n');
  r = await cliWith(ws, env, ['push', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_FORBIDDEN');
  for (const op of ['deploy', 'rollback']) {
    r = await cliWith(ws, env, [op, '1', '--json']);
    assert.is(r.code, 3);
    assert.is(r.json.error.code, 'AUTH_FORBIDDEN');
  }
});

test('a revoked token (revoked while the server runs) and an expired token: exit 3, AUTH_REQUIRED', async () => {
  const { url, tenant } = await httpTenant();
  const env = home();
  const ws = await workspace(url);
  const data = await dataDir();
  let r = await cliWith(tmp(), env, ['admin', 'token', 'create', '--tenant', tenant, '--scope', 'write', '--data', data]);
  assert.is(r.code, 0, r.err);
  const token = r.out.trim();
  assert.match(token, /^as_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.is(r.out, token + '\n'); // alone on stdout
  assert.is((await cliWith(ws, env, ['auth', 'login', '--token-stdin'], token)).code, 0);
  assert.is((await cliWith(ws, env, ['fetch'])).code, 0);
  const id = token.slice(3, 19);
  r = await cliWith(tmp(), env, ['admin', 'token', 'revoke', id, '--data', data, '--json']);
  assert.is(r.code, 0, r.err);
  assert.ok(r.json.revokedAt);
  r = await cliWith(ws, env, ['fetch', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_REQUIRED');
  assert.is(r.json.error.data.reason, 'revoked');
  r = await cliWith(ws, env, ['auth', 'status', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.remotes[0].ok, false);

  const h = await httpServer();
  const expired = await createToken(h.server.storage, { tenant, scope: 'write', expiresInMs: 86400e3, now: Date.now() - 2 * 86400e3 });
  r = await cliWith(ws, { ...env, AGENTSYNC_TOKEN: expired.token }, ['push', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_REQUIRED');
  assert.is(r.json.error.data.reason, 'expired');
  r = await cliWith(tmp(), env, ['admin', 'token', 'list', '--data', data, '--json']);
  const listed = r.json.tokens.find((t: { id: string }) => t.id === expired.record.id);
  assert.is(listed.expired, true);
  assert.is(r.json.tokens.find((t: { id: string }) => t.id === id).revokedAt !== null, true);
});

test('AGENTSYNC_TOKEN overrides the stored token', async () => {
  const { url, token } = await httpTenant();
  const env = home();
  const ws = await workspace(url);
  assert.is((await cliWith(ws, env, ['auth', 'login', '--token-stdin'], token)).code, 0);
  const r = await cliWith(ws, { ...env, AGENTSYNC_TOKEN: 'as_0123456789abcdef_' + 'B'.repeat(43) }, ['fetch', '--json']);
  assert.is(r.code, 3);
  assert.is(r.json.error.code, 'AUTH_REQUIRED');
});

test('the server stores tokens hashed: no token or secret in any file of the data folder', async () => {
  const data = join(tmp(), 'data');
  const env = home();
  let r = await cliWith(tmp(), env, ['admin', 'tenant', 'create', 'acme', '--data', data]);
  assert.is(r.code, 0, r.err);
  const tokens: string[] = [];
  for (const scope of ['read', 'write', 'admin']) {
    r = await cliWith(tmp(), env, ['admin', 'token', 'create', '--tenant', 'acme', '--scope', scope, '--expires-in', '30d', '--data', data]);
    assert.is(r.code, 0, r.err);
    tokens.push(r.out.trim());
  }
  r = await cliWith(tmp(), env, ['admin', 'token', 'list', '--data', data, '--json']);
  assert.equal(r.json.tokens.map((t: { scope: string }) => t.scope).sort(), ['admin', 'read', 'write']);
  assert.not.ok(JSON.stringify(r.json).includes('hash'));
  const files = allFiles(data);
  assert.ok(files.length > 0);
  for (const t of tokens) {
    const secret = t.slice(20);
    for (const f of files) assert.not.ok(readFileSync(f).includes(secret), `${f} holds a token secret`);
  }
  r = await cliWith(tmp(), env, ['admin', 'token', 'create', '--tenant', 'nosuch', '--data', data, '--json']);
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'TENANT_UNKNOWN');
  r = await cliWith(tmp(), env, ['admin', 'token', 'create', '--tenant', 'acme', '--scope', 'root', '--data', data]);
  assert.is(r.code, 2);
  r = await cliWith(tmp(), env, ['admin', 'tenant', 'create', 'acme', '--data', data, '--json']);
  assert.is(r.json.error.code, 'TENANT_EXISTS');
  r = await cliWith(tmp(), env, ['admin', 'tenant', 'create', 'Bad_Name', '--data', data]);
  assert.is(r.code, 2);
});

test.run();
