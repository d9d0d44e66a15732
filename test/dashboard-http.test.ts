/**
 * The dashboard's server side over plain HTTP: the page shell and its CSP, assets, sign-in
 * (cookie flags, no token echoed), CSRF and origin refusals, scopes checked on the server,
 * revocation and sign-out ending the session, the sign-in rate limit, the compare-and-swap save.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { join } from 'node:path';
import { createToken, revokeToken } from '../src/server/auth.js';
import { SIGNIN_LIMIT } from '../src/server/dashboard.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { LevelStorage } from '../src/server/storage.js';
import { cleanup, tmp } from './helpers.js';

interface Res { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }

let srv: RunningServer | undefined;
test.after(async () => {
  await srv?.close();
  cleanup();
});

async function server(): Promise<RunningServer> {
  if (srv) return srv;
  const data = join(tmp('agentsync-dash-'), 'data');
  srv = await startServer(await LevelStorage.open(data, { create: true }), { port: 0 });
  return srv;
}

function call(s: RunningServer, method: string, path: string, o: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = request(`${s.url}${path}`, { method, headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...o.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

let n = 0;
async function tenant(scope: 'read' | 'write' | 'admin' = 'write') {
  const s = await server();
  const name = `d${++n}`;
  await s.storage.createTenant(name);
  const t = await createToken(s.storage, { tenant: name, scope, expiresInMs: null, label: `${scope}-user` });
  return { s, name, token: t.token, tokenId: t.record.id };
}

/** Sign in: the cookie pair to send back and the CSRF token. */
async function signIn(s: RunningServer, token: string) {
  const r = await call(s, 'POST', '/_dashboard/api/session', { body: { token } });
  assert.is(r.status, 200, r.text);
  const set = String((r.headers['set-cookie'] as string[])[0]);
  return { cookie: set.split(';')[0]!, setCookie: set, csrf: r.json.csrf as string, res: r };
}

const post = (s: RunningServer, path: string, a: { cookie: string; csrf?: string }, body: unknown, extra: Record<string, string> = {}) =>
  call(s, 'POST', `/_dashboard/api/${path}`, { body, headers: { cookie: a.cookie, ...(a.csrf ? { 'x-agentsync-csrf': a.csrf } : {}), ...extra } });
const get = (s: RunningServer, path: string, a: { cookie: string }) => call(s, 'GET', `/_dashboard/api/${path}`, { headers: { cookie: a.cookie } });

test('the page shell: HTML without data, a CSP without inline scripts, the built assets', async () => {
  const s = await server();
  const r = await call(s, 'GET', '/');
  assert.is(r.status, 200);
  assert.ok(String(r.headers['content-type']).startsWith('text/html'));
  const policy = String(r.headers['content-security-policy']);
  const script = policy.split(';').map((x) => x.trim()).find((x) => x.startsWith('script-src'));
  assert.is(script, "script-src 'self'");
  assert.not.ok(policy.includes('unsafe-inline'));
  assert.not.ok(policy.includes('unsafe-eval'));
  assert.ok(policy.includes("default-src 'none'"));
  assert.ok(policy.includes("frame-ancestors 'none'"));
  assert.is(r.headers['x-content-type-options'], 'nosniff');
  assert.not.ok(/<script(?![^>]*\bsrc=)/.test(r.text), 'no inline script');
  const js = await call(s, 'GET', '/_dashboard/app.js');
  assert.is(js.status, 200);
  assert.ok(String(js.headers['content-type']).startsWith('text/javascript'));
  assert.ok(js.text.length > 10000);
  // The only absolute URL in the bundle is the SVG namespace: nothing is fetched from elsewhere.
  assert.equal([...new Set(js.text.match(/https?:\/\/[A-Za-z0-9./_-]+/g) ?? [])], ['http://www.w3.org/2000/svg']);
  const css = await call(s, 'GET', '/_dashboard/app.css');
  assert.is(css.status, 200);
  assert.ok(String(css.headers['content-type']).startsWith('text/css'));
  assert.is((await call(s, 'GET', '/_dashboard/nope.js')).json.error.code, 'ROUTE_UNKNOWN');
  assert.is((await call(s, 'POST', '/')).status, 405);
});

test('sign-in: a bad token is refused; a good one gives an HttpOnly SameSite=Strict cookie, never the token', async () => {
  const { s, name, token } = await tenant('write');
  let r = await call(s, 'POST', '/_dashboard/api/session', { body: { token: 'as_0000000000000000_' + 'A'.repeat(43) } });
  assert.is(r.status, 401);
  assert.is(r.json.error.code, 'AUTH_REQUIRED');
  assert.is(r.headers['set-cookie'], undefined);
  const a = await signIn(s, token);
  const attrs = a.setCookie.split(';').map((x) => x.trim());
  assert.ok(/^agentsync_session=[A-Za-z0-9_-]{43}$/.test(attrs[0]!));
  assert.ok(attrs.includes('HttpOnly'));
  assert.ok(attrs.includes('SameSite=Strict'));
  assert.ok(attrs.includes('Path=/'));
  assert.ok(attrs.some((x) => /^Max-Age=\d+$/.test(x) && Number(x.slice(8)) > 0 && Number(x.slice(8)) <= 8 * 3600));
  assert.not.ok(attrs.includes('Secure'), 'plain http: no Secure flag');
  assert.not.ok(a.res.text.includes(token.split('_')[2]!), 'the answer does not echo the secret');
  assert.not.ok(a.setCookie.includes(token.split('_')[2]!), 'the cookie is not the token');
  assert.equal({ tenant: a.res.json.tenant, scope: a.res.json.scope }, { tenant: name, scope: 'write' });
  // Behind an https proxy: Secure.
  const b = await call(s, 'POST', '/_dashboard/api/session', { body: { token }, headers: { 'x-forwarded-proto': 'https', origin: `https://${new URL(s.url).host}` } });
  assert.is(b.status, 200, b.text);
  assert.ok(String((b.headers['set-cookie'] as string[])[0]).split(';').map((x) => x.trim()).includes('Secure'));
  // The session answers who is signed in.
  r = await get(s, 'session', a);
  assert.is(r.status, 200);
  assert.is(r.json.tenant, name);
  assert.is(r.json.csrf, a.csrf);
  assert.is((await call(s, 'GET', '/_dashboard/api/session')).status, 401);
  assert.is((await get(s, 'session', { cookie: 'agentsync_session=forged' })).status, 401);
});

test('state-changing requests need the CSRF token, a JSON body and the same origin', async () => {
  const { s, token } = await tenant('write');
  const a = await signIn(s, token);
  const save = { base: null, path: 'agents/a.yaml', text: 'name: a\n', message: 'm', draft: false };
  let r = await post(s, 'save', { cookie: a.cookie }, save);
  assert.is(r.status, 403);
  assert.is(r.json.error.code, 'AUTH_FORBIDDEN');
  assert.is(r.json.error.data.reason, 'csrf');
  r = await post(s, 'save', { cookie: a.cookie, csrf: 'x'.repeat(43) }, save);
  assert.is(r.json.error.data.reason, 'csrf');
  r = await post(s, 'save', a, save, { origin: 'http://evil.example' });
  assert.is(r.status, 403);
  assert.is(r.json.error.data.reason, 'origin');
  r = await post(s, 'save', a, save, { 'sec-fetch-site': 'cross-site' });
  assert.is(r.json.error.data.reason, 'origin');
  // A form post (not JSON) is refused.
  r = await call(s, 'POST', '/_dashboard/api/save', { headers: { cookie: a.cookie, 'x-agentsync-csrf': a.csrf, 'content-type': 'application/x-www-form-urlencoded' } });
  assert.is(r.status, 415);
  assert.is((await get(s, 'versions', a)).json.versions.length, 0, 'nothing was saved');
  r = await post(s, 'save', a, save, { origin: `http://${new URL(s.url).host}` });
  assert.is(r.status, 201, r.text);
  assert.is(r.json.version.id, 1);
  assert.is(r.json.version.author, 'write-user (dashboard)');
});

test('scopes are checked on the server: read cannot save, deploy, roll back or manage tokens; write cannot manage tokens', async () => {
  const w = await tenant('write');
  const wa = await signIn(w.s, w.token);
  assert.is((await post(w.s, 'save', wa, { base: null, path: 'agents/a.yaml', text: 'name: a\n', message: 'm', draft: true })).status, 201);
  const rt = await createToken(w.s.storage, { tenant: w.name, scope: 'read', expiresInMs: null });
  const ra = await signIn(w.s, rt.token);
  assert.is((await get(w.s, 'versions', ra)).status, 200);
  for (const [path, body] of [['save', { base: null, path: 'agents/b.yaml', text: 'name: b\n', message: 'm', draft: false }], ['deploy/1', {}], ['rollback/1', {}], ['merge', { base: null, path: 'agents/a.yaml', text: 'x' }], ['tokens', { scope: 'admin' }]] as const) {
    const r = await post(w.s, path, ra, body);
    assert.is(r.status, 403, path);
    assert.equal(r.json.error.data, { scope: 'read', need: path === 'tokens' ? 'admin' : 'write' }, path);
  }
  const r = await get(w.s, 'tokens', wa);
  assert.is(r.status, 403);
  assert.equal(r.json.error.data, { scope: 'write', need: 'admin' });
  const v = await get(w.s, 'versions', ra);
  assert.equal(v.json.versions.map((x: any) => [x.id, x.state]), [[1, 'draft']]);
});

test('revoking the token or signing out makes the cookie useless', async () => {
  const { s, token, tokenId } = await tenant('write');
  const a = await signIn(s, token);
  const b = await signIn(s, token);
  assert.is((await get(s, 'versions', a)).status, 200);
  let r = await post(s, 'signout', { cookie: a.cookie }, {});
  assert.is(r.json.error.data.reason, 'csrf', 'sign-out needs the CSRF token too');
  r = await post(s, 'signout', a, {});
  assert.is(r.status, 200);
  assert.ok(String((r.headers['set-cookie'] as string[])[0]).includes('Max-Age=0'));
  r = await get(s, 'versions', a);
  assert.is(r.status, 401);
  assert.is(r.json.error.data.reason, 'session');
  assert.is((await get(s, 'versions', b)).status, 200, 'another session of the token lives on');
  await revokeToken(s.storage, tokenId);
  r = await get(s, 'versions', b);
  assert.is(r.status, 401);
  assert.is(r.json.error.data.reason, 'revoked');
  assert.is((await get(s, 'versions', b)).status, 401);
  assert.is((await call(s, 'POST', '/_dashboard/api/session', { body: { token } })).status, 401);
});

test('an admin token manages its own tenant\'s tokens (secret shown once), never another tenant\'s', async () => {
  const ad = await tenant('admin');
  const other = await tenant('write');
  const a = await signIn(ad.s, ad.token);
  let r = await post(ad.s, 'tokens', a, { scope: 'read', label: 'viewer' });
  assert.is(r.status, 201, r.text);
  const made: string = r.json.token;
  assert.ok(/^as_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(made));
  r = await get(ad.s, 'tokens', a);
  assert.is(r.json.tenant.name, ad.name);
  assert.equal(r.json.tokens.map((t: any) => t.tenant).sort(), [ad.name, ad.name]);
  assert.not.ok(r.text.includes(made.split('_')[2]!), 'the list never shows a secret');
  assert.not.ok(r.text.includes('"hash"'));
  r = await post(ad.s, `tokens/${other.tokenId}/revoke`, a, {});
  assert.is(r.json.error.code, 'TOKEN_UNKNOWN');
  assert.is((await call(ad.s, 'POST', '/_dashboard/api/session', { body: { token: other.token } })).status, 200, 'the other tenant\'s token still works');
  r = await post(ad.s, `tokens/${made.split('_')[1]}/revoke`, a, {});
  assert.is(r.status, 200);
  assert.ok(r.json.token.revokedAt);
  assert.is((await call(ad.s, 'POST', '/_dashboard/api/session', { body: { token: made } })).status, 401);
});

test('save is a compare-and-swap on the version the editor started from, validated like `agentsync validate`', async () => {
  const { s, token } = await tenant('write');
  const a = await signIn(s, token);
  const save = (base: number | null, path: string, text: string | null, draft = false) => post(s, 'save', a, { base, path, text, message: `save ${path}`, draft });
  assert.is((await save(null, 'agents/a.yaml', 'name: a\n')).json.version.id, 1);
  assert.is((await save(1, 'agents/b.yaml', 'name: b\n')).json.version.id, 2);
  // Started from 1; since then only b changed: the edit of a goes on top of 2.
  let r = await save(1, 'agents/a.yaml', 'name: a2\n');
  assert.is(r.status, 201, r.text);
  assert.is(r.json.version.parent, 2);
  // Started from 2, but a changed in 3: refused, nothing written.
  r = await save(2, 'agents/a.yaml', 'name: mine\n');
  assert.is(r.status, 409);
  assert.is(r.json.error.code, 'STALE_REMOTE');
  assert.equal(r.json.error.data, { latestPublished: 3, expected: 2, path: 'agents/a.yaml' });
  r = await post(s, 'merge', a, { base: 2, path: 'agents/a.yaml', text: 'name: mine\n' });
  assert.is(r.status, 200);
  assert.is(r.json.latestPublished, 3);
  assert.is(r.json.theirs, 'name: a2\n');
  assert.is(r.json.clean, false);
  // Invalid YAML: refused with the line, as `validate` reports it.
  r = await save(3, 'agents/c.yaml', 'name: c\n  bad: [\n');
  assert.is(r.status, 422);
  assert.is(r.json.error.code, 'VALIDATION_FAILED');
  assert.is(r.json.error.data.problems[0].path, 'agents/c.yaml');
  assert.ok(r.json.error.data.problems[0].line >= 1);
  r = await save(3, 'agents/c.yaml', 'nom: c\n');
  assert.is(r.json.error.code, 'VALIDATION_FAILED', 'an agent needs a name');
  r = await save(3, 'agents/c.yaml', '<<<<<<< local\nname: x\n=======\nname: y\n>>>>>>> remote\n');
  assert.is(r.json.error.code, 'CONFLICT_MARKERS');
  r = await post(s, 'validate', a, { path: 'agents/c.yaml', text: 'name: c\nname: d\n' });
  assert.is(r.json.problems.length, 1);
  assert.is(r.json.problems[0].line, 2);
  r = await save(3, '../etc/passwd', 'x');
  assert.is(r.status, 400);
  // Delete; the versions list is newest first with the counts.
  r = await save(3, 'agents/b.yaml', null);
  assert.is(r.json.version.id, 4);
  r = await get(s, 'versions', a);
  assert.equal(r.json.versions.map((v: any) => [v.id, v.changes, v.latest, v.current]), [[4, 1, true, true], [3, 1, false, false], [2, 1, false, false], [1, 1, false, false]]);
  r = await get(s, 'artifacts', a);
  assert.equal(r.json.artifacts.map((x: any) => [x.path, x.kind]), [['agents/a.yaml', 'agents']]);
  r = await get(s, 'artifact?path=agents%2Fa.yaml', a);
  assert.is(r.json.text, 'name: a2\n');
  assert.equal(r.json.history.map((v: any) => v.id), [3, 1]);
});

test('sign-in attempts are limited per address', async () => {
  // A server of its own, so the other tests' sign-ins are not counted.
  const data = join(tmp('agentsync-dash-'), 'data');
  const own = await startServer(await LevelStorage.open(data, { create: true }), { port: 0 });
  try {
    await own.storage.createTenant('rl');
    const good = await createToken(own.storage, { tenant: 'rl', scope: 'read', expiresInMs: null });
    assert.is((await call(own, 'POST', '/_dashboard/api/session', { body: { token: good.token } })).status, 200);
    for (let i = 0; i < SIGNIN_LIMIT; i++) {
      const r = await call(own, 'POST', '/_dashboard/api/session', { body: { token: `as_${'0'.repeat(16)}_${'B'.repeat(43)}` } });
      assert.is(r.status, 401, `attempt ${i + 1}`);
    }
    const r = await call(own, 'POST', '/_dashboard/api/session', { body: { token: good.token } });
    assert.is(r.status, 429);
    assert.is(r.json.error.code, 'AUTH_REQUIRED');
    assert.is(r.json.error.data.reason, 'rate-limited');
    assert.ok(Number(r.headers['retry-after']) >= 1);
    assert.is(r.headers['set-cookie'], undefined);
  } finally {
    await own.close();
  }
});

test.run();
