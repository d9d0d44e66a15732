/**
 * Issue 12, second half: refusal advice that never goes in circles (`data.hint`), server-side
 * messages that name the running server, install onto PATH from the packed tarball, and the
 * CI recipe of docs/ci.md run against a real `serve`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, ROOT, SAMPLE, cleanup, cli, needs, ok, pair, tmp, workspace, write } from './helpers.js';
import { cliWith, httpRemote, httpTenant } from './remotes.js';

const children: ChildProcess[] = [];
test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) { const gone = exited(c); c.kill('SIGTERM'); await gone; }
  await httpRemote.stop();
  cleanup();
});

const exited = (c: ChildProcess) => new Promise<{ code: number | null; signal: string | null }>((r) => {
  if (c.exitCode !== null || c.signalCode !== null) r({ code: c.exitCode, signal: c.signalCode });
  else c.on('exit', (code, signal) => r({ code, signal }));
});

/** `agentsync serve` as a child on a free port; resolves with its URL once it listens. */
function serve(data: string, bin = BIN): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

/** Stop a serve child and wait for it. */
async function stop(c: ChildProcess): Promise<void> {
  const gone = exited(c);
  c.kill('SIGTERM');
  await gone;
}

const P = 'playbook/rotate-api-keys.md';

/** A and B on one remote with P changed on both sides (a conflict in B). */
async function conflicted() {
  const { remote, a, b } = await pair();
  write(a, P, '# A\n');
  await ok(a, 'push', '-m', 'a');
  write(b, P, '# B\n');
  await ok(b, 'fetch');
  return { remote, a, b };
}

/** The refusal's hint: present, an agentsync (or git) command, and not `refused` again. */
function hintOf(r: { json: any }, refused: RegExp): string {
  const hint = r.json?.error?.data?.hint;
  assert.type(hint, 'string', JSON.stringify(r.json));
  assert.not.match(hint, refused, `hint ${hint} repeats the refused step`);
  return hint;
}

test('a conflict refused by sync --pull, sync --push, push or pull points at merge, not at the other direction', async () => {
  const { b } = await conflicted();
  for (const argv of [['sync', '--pull'], ['sync', '--push'], ['push'], ['pull']]) {
    const r = await cli(b, ...argv, '--json');
    assert.is(r.code, 1, argv.join(' '));
    assert.is(r.json.error.code, argv.includes('--pull') || argv[0] === 'pull' ? 'PULL_REFUSED' : 'PUSH_REFUSED');
    // Neither direction resolves a conflict without --force: the hint is neither.
    assert.is(hintOf(r, /^agentsync (sync|push|pull)\b/), `agentsync merge ${P}`);
  }
  // The hint works: merge takes the artifact out of the refused state.
  const m = await cli(b, 'merge', P, '--json');
  assert.ok(m.code === 0 || m.code === 1, m.err);
  await ok(b, 'resolve', P, '--ours');
  await ok(b, 'push', '-m', 'resolved');
});

test('a conflict with a deletion (nothing to merge) points at diff; merge itself refused points at diff', async () => {
  const { b } = await conflicted();
  rmSync(join(b, 'services', P));
  let r = await cli(b, 'push', '--json');
  assert.is(r.json.error.code, 'PUSH_REFUSED');
  assert.is(hintOf(r, /^agentsync (push|pull|merge)\b/), `agentsync diff ${P}`);
  r = await cli(b, 'merge', P, '--json');
  assert.is(r.json.error.code, 'NOT_MERGEABLE');
  assert.is(hintOf(r, /^agentsync merge\b/), `agentsync diff ${P}`);
});

test('sync --push over a remote-only change points at pull; sync --pull over a local-only change at push', async () => {
  const { a, b } = await pair();
  write(a, P, '# A\n');
  await ok(a, 'push', '-m', 'a');
  await ok(b, 'fetch');
  let r = await cli(b, 'sync', '--push', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'PUSH_REFUSED');
  assert.is(hintOf(r, /^agentsync (sync|push)\b/), `agentsync pull ${P}`);
  write(a, 'playbook/mine.md', '# mine\n');
  r = await cli(a, 'sync', '--pull', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'PULL_REFUSED');
  assert.is(hintOf(r, /^agentsync (sync|pull)\b/), 'agentsync push playbook/mine.md');
});

test('deploy or rollback of a missing version points at versions; rollback of a draft at deploy; a stale draft at pull', async () => {
  const { a, b } = await pair();
  for (const op of ['deploy', 'rollback']) {
    const r = await cli(a, op, '4', '--json');
    assert.is(r.code, 2);
    assert.is(r.json.error.code, 'VERSION_UNKNOWN');
    assert.is(hintOf(r, /^agentsync (deploy|rollback)\b/), 'agentsync versions');
  }
  write(a, P, '# draft\n');
  await ok(a, 'push', '--draft', '-m', 'draft');
  let r = await cli(a, 'rollback', '2', '--json');
  assert.is(r.json.error.code, 'VERSION_DRAFT');
  assert.is(hintOf(r, /^agentsync rollback\b/), 'agentsync deploy 2');
  write(b, 'playbook/other.md', '# other\n');
  await ok(b, 'push', '-m', 'moves latest');
  r = await cli(a, 'deploy', '2', '--json');
  assert.is(r.code, 1);
  assert.is(r.json.error.code, 'DRAFT_STALE');
  assert.is(hintOf(r, /^agentsync deploy\b/), 'agentsync pull');
});

test('auth login with a refused token: one message naming the URL once, a hint that is not auth login', async () => {
  const { url } = await httpTenant();
  const other = await httpTenant();
  const ws = await workspace(url);
  const home = { XDG_CONFIG_HOME: join(ws, '.xdg') };
  for (const [token, code] of [[other.token, 'AUTH_FORBIDDEN'], ['as_0123456789abcdef_' + 'A'.repeat(43), 'AUTH_REQUIRED']] as const) {
    const r = await cliWith(ws, home, ['auth', 'login', '--token-stdin', '--json'], token);
    assert.is(r.code, 3);
    assert.is(r.json.error.code, code);
    // Not wrapped: the remote's own error (which names the URL and says "auth login") is not inside it.
    assert.is(r.json.error.message.split(url).length - 1, 1, r.json.error.message);
    const tenant = url.split('/').pop();
    assert.is(hintOf(r, /auth login/), `agentsync admin token create --tenant ${tenant}`);
  }
});

// ---------------------------------------------------------------- server-side messages

test('admin tenant create while serve runs gives the real remote URL; a second serve names the running one', async () => {
  const data = join(tmp(), 'data');
  // No server: the URL is not known, so none is claimed.
  let r = await cli(tmp(), 'admin', 'tenant', 'create', 'first', '--data', data, '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.json.url, undefined);
  const s = await serve(data);
  try {
    r = await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data, '--json');
    assert.is(r.code, 0, r.err);
    assert.is(r.json.name, 'acme');
    assert.is(r.json.url, `${s.url}/acme`);
    // The URL works: a token for it reaches that tenant.
    const tok = await cli(tmp(), 'admin', 'token', 'create', '--tenant', 'acme', '--scope', 'write', '--data', data);
    const ws = await workspace(r.json.url, { sample: false });
    const login = await cliWith(ws, { XDG_CONFIG_HOME: join(ws, '.xdg') }, ['auth', 'login', '--token-stdin', '--json'], tok.out.trim());
    assert.is(login.code, 0, login.err);
    assert.is(login.json.verified, true);

    // A second serve on the same data folder: STORE_LOCKED naming the running server.
    r = await cli(tmp(), 'serve', '--port', '0', '--data', data, '--json');
    assert.is(r.code, 4);
    assert.is(r.json.error.code, 'STORE_LOCKED');
    assert.is(r.json.error.data.pid, s.child.pid);
    assert.is(r.json.error.data.url, s.url);
    // The first server is untouched.
    assert.is(s.child.exitCode, null);
  } finally {
    await stop(s.child);
  }
});

// ---------------------------------------------------------------- install onto PATH

const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
const npmTest = needs(test, npm.status === 0, 'cli-conventions2 install', 'npm is not on PATH');

npmTest('the packed tarball installs with npm install -g into a prefix; its agentsync runs --version, status and serve with the dashboard', async () => {
  const dir = tmp('agentsync-install-');
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  assert.is(pack.status, 0, pack.stderr);
  const tarball = join(dir, JSON.parse(pack.stdout)[0].filename as string);
  const prefix = join(dir, 'prefix');
  // The README's command (scripts are not needed: the tarball holds the built bundle).
  const inst = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: dir, encoding: 'utf8' });
  assert.is(inst.status, 0, inst.stderr);
  const bin = join(prefix, 'bin', 'agentsync');
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.is(version.status, 0, version.stderr);
  assert.ok(version.stdout.includes(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version), version.stdout);

  const ws = join(dir, 'ws');
  cpSync(join(SAMPLE, 'services'), join(ws, 'services'), { recursive: true });
  const init = spawnSync(bin, ['init', '--remote', join(dir, 'remote')], { cwd: ws, encoding: 'utf8' });
  assert.is(init.status, 0, init.stderr);
  const status = spawnSync(bin, ['status', '--json'], { cwd: ws, encoding: 'utf8' });
  assert.is(status.status, 0, status.stderr);
  const entries = JSON.parse(status.stdout).entries as { state: string }[];
  assert.is(entries.length, readdirSync(join(SAMPLE, 'services'), { recursive: true }).filter((f) => /\.(ya?ml|md)$/.test(String(f))).length);
  assert.ok(entries.every((e) => e.state === 'push'));

  // Everything the bundle needs at run time is in the package: the dashboard's assets too.
  const installed = join(prefix, 'lib', 'node_modules', 'agentsync', 'bin', 'agentsync.js');
  const s = await serve(join(dir, 'data'), installed);
  try {
    const r = await fetch(`${s.url}/_dashboard/app.js`);
    assert.is(r.status, 200);
    assert.is(Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(ROOT, 'dist', 'bundle', 'dashboard', 'app.js'))), true);
  } finally {
    await stop(s.child);
  }
});

// ---------------------------------------------------------------- docs/ci.md

const ciDoc = readFileSync(join(ROOT, 'docs', 'ci.md'), 'utf8');
const recipe = /## The checks, as a plain shell recipe[\s\S]*?```sh\n([\s\S]*?)```/.exec(ciDoc)![1]!;
const workflow = /## GitHub Actions[\s\S]*?```yaml\n([\s\S]*?)```/.exec(ciDoc)![1]!;
const haveBash = spawnSync('bash', ['-c', 'true']).status === 0;
const bashTest = needs(test, haveBash, 'cli-conventions2 ci recipe', 'bash is not on PATH');

test('the GitHub Actions workflow runs the same commands as the shell recipe, with the token from the secret', () => {
  const wf = parseYaml(workflow);
  const step = (wf.jobs.config.steps as any[]).find((st) => st.name === 'Check the configuration');
  assert.is(step.run.trim(), recipe.trim());
  assert.is(step.env.AGENTSYNC_TOKEN, '${{ secrets.AGENTSYNC_TOKEN }}');
  assert.ok((wf.jobs.config.steps as any[]).some((st) => /npm install -g/.test(st.run ?? '')));
});

bashTest('docs/ci.md recipe against a real serve: in sync 0, local drift 1, wrong pin 1, bad token 3, remote drift 1, server down 3', async () => {
  const data = join(tmp(), 'data');
  const s = await serve(data);
  try {
    let r = await cli(tmp(), 'admin', 'tenant', 'create', 'acme', '--data', data, '--json');
    assert.is(r.code, 0, r.err);
    const url = r.json.url as string;
    const token = async (scope: string) => (await cli(tmp(), 'admin', 'token', 'create', '--tenant', 'acme', '--scope', scope, '--data', data)).out.trim();
    const writeToken = await token('write');
    const readToken = await token('read');
    const empty = tmp('agentsync-xdg-');
    const as = (t: string) => ({ AGENTSYNC_TOKEN: t, XDG_CONFIG_HOME: empty });
    // The team's workspace publishes v1.
    const team = await workspace(url);
    r = await cliWith(team, as(writeToken), ['push', '-m', 'v1']);
    assert.is(r.code, 0, r.err);
    const pin = (await ok(team, 'hash', '--json')).json.snapshot as string;
    // The CI checkout: a fresh clone has agentsync.yaml and services/, no .agentsync/.
    const ci = tmp('agentsync-ci-');
    cpSync(join(team, 'agentsync.yaml'), join(ci, 'agentsync.yaml'));
    cpSync(join(team, 'services'), join(ci, 'services'), { recursive: true });
    // `agentsync` on PATH, as after the install step.
    const binDir = tmp('agentsync-bin-');
    writeFileSync(join(binDir, 'agentsync'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(join(binDir, 'agentsync'), 0o755);
    const job = (env: Record<string, string>) => {
      const res = spawnSync('bash', ['-c', recipe], {
        cwd: ci, encoding: 'utf8',
        env: { PATH: `${binDir}:${process.env.PATH}`, HOME: empty, XDG_CONFIG_HOME: empty, NO_COLOR: '1', AGENTSYNC_HTTP_TRIES: '1', ...env },
      });
      return { code: res.status, err: res.stderr };
    };
    const good = { AGENTSYNC_TOKEN: readToken, AGENTSYNC_PIN: pin };

    let j = job(good);
    assert.is(j.code, 0, j.err);
    // Local drift: a file of the checkout differs.
    const f = join(ci, 'services', P);
    const before = readFileSync(f);
    writeFileSync(f, '# changed in the repository only\n');
    j = job(good);
    assert.is(j.code, 1, j.err);
    writeFileSync(f, before);
    assert.is(job(good).code, 0);
    // A wrong pin (a valid hash, not this snapshot); and no pin at all is not a pass.
    j = job({ ...good, AGENTSYNC_PIN: 'sha256:' + '0'.repeat(64) });
    assert.is(j.code, 1, j.err);
    assert.is.not(job({ AGENTSYNC_TOKEN: readToken }).code, 0);
    // A bad token: the server refuses it.
    j = job({ ...good, AGENTSYNC_TOKEN: 'as_0123456789abcdef_' + 'A'.repeat(43) });
    assert.is(j.code, 3, j.err);
    // Remote drift: the server publishes a change the repository does not have.
    write(team, 'playbook/new.md', '# from the dashboard\n');
    r = await cliWith(team, as(writeToken), ['push', '-m', 'v2']);
    assert.is(r.code, 0, r.err);
    j = job(good);
    assert.is(j.code, 1, j.err);
    // The server down.
    await stop(s.child);
    j = job(good);
    assert.is(j.code, 3, j.err);
  } finally {
    await stop(s.child);
  }
});

test.run();
