/**
 * The dashboard in real Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
 * browser download), against a real server on 127.0.0.1, with the CLI on the other side:
 * read views, an edit published in the page reaching a workspace byte for byte, a CLI push
 * appearing after a reload, the stale-save conflict, read-only tokens, inert XSS artifacts,
 * deploy/rollback, diff, tokens, sign-out. Without Chromium every test is a visible skip.
 *
 * Set AGENTSYNC_DASHBOARD_SCREENSHOTS=<dir> to keep the screenshots (the README's comes from it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createToken } from '../src/server/auth.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { LevelStorage } from '../src/server/storage.js';
import { cleanup, needs, tmp, workspace, write } from './helpers.js';
import { cliWith } from './remotes.js';

const CHROMIUM = '/usr/bin/chromium';
const it = needs(test, existsSync(CHROMIUM), 'dashboard in Chromium', `no ${CHROMIUM}; apt-get install chromium`);

let srv: RunningServer | undefined;
let ctx: BrowserContext | undefined;
const shots = process.env.AGENTSYNC_DASHBOARD_SCREENSHOTS;

test.after(async () => {
  await ctx?.close().catch(() => undefined);
  await srv?.close();
  cleanup();
});

async function server(): Promise<RunningServer> {
  srv ??= await startServer(await LevelStorage.open(join(tmp('agentsync-dash-'), 'data'), { create: true }), { port: 0 });
  return srv;
}

/** A fresh page in a fresh browser context (no cookies from another test). */
async function page(): Promise<Page> {
  if (!ctx) {
    ctx = await chromium.launchPersistentContext(tmp('agentsync-chromium-'), {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1200, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  }
  await ctx.clearCookies();
  const p = await ctx.newPage();
  p.setDefaultTimeout(15000);
  return p;
}

let n = 0;
/** A tenant with the sample pushed as v1 by a workspace; the workspace's CLI env. */
async function pushedTenant(scope: 'read' | 'write' | 'admin' = 'write') {
  const s = await server();
  const name = `b${++n}`;
  await s.storage.createTenant(name);
  const cliToken = (await createToken(s.storage, { tenant: name, scope: 'write', expiresInMs: null, label: 'cli' })).token;
  const token = (await createToken(s.storage, { tenant: name, scope, expiresInMs: null, label: `${scope}-web` })).token;
  const url = `${s.url}/${name}`;
  const ws = await workspace(url);
  const env = { AGENTSYNC_TOKEN: cliToken, XDG_CONFIG_HOME: tmp('agentsync-xdg-') };
  const r = await cliWith(ws, env, ['push', '-m', 'first', '--json']);
  if (r.code !== 0) throw new Error(r.err);
  return { s, name, token, ws, env, cli: (...argv: string[]) => cliWith(ws, env, argv) };
}

async function signIn(p: Page, s: RunningServer, token: string): Promise<void> {
  await p.goto(`${s.url}/`);
  await p.getByLabel('Token').fill(token);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
}

async function shot(p: Page, name: string): Promise<void> {
  const dir = shots ?? tmp('agentsync-shots-');
  mkdirSync(dir, { recursive: true });
  await p.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

it('read views: artifacts by kind, filter, one artifact as text, versions newest first, a version\'s changes; the token stays out of the page', async () => {
  const t = await pushedTenant('write');
  write(t.ws, 'agents/welcome.yaml', readFileSync(join(t.ws, 'services', 'agents', 'welcome.yaml'), 'utf8') + '# second\n');
  assert.is((await t.cli('push', '-m', 'second', '--json')).code, 0);
  const p = await page();
  try {
    await signIn(p, t.s, t.token);
    await p.getByRole('heading', { name: 'Artifacts of version 2' }).waitFor();
    for (const kind of ['agents', 'skills', 'mcp']) assert.ok(await p.getByRole('heading', { name: kind, exact: true }).isVisible(), kind);
    assert.is(await p.getByRole('link', { name: /\.ya?ml$|\.md$/ }).count(), 16);
    await p.getByLabel('Filter by path').fill('mcp/');
    assert.is(await p.getByRole('link', { name: /^mcp\// }).count(), 3);
    assert.is(await p.getByRole('link', { name: /^agents\// }).count(), 0);
    await p.getByLabel('Filter by path').fill('');
    await shot(p, 'artifacts');
    await p.getByRole('link', { name: 'agents/welcome.yaml', exact: true }).click();
    await p.getByRole('heading', { name: 'agents/welcome.yaml' }).waitFor();
    const text = await p.getByRole('textbox', { name: 'Text of agents/welcome.yaml' }).innerText();
    assert.ok(text.includes('# second'));
    assert.ok(text.includes('name: welcome'));
    assert.ok(await p.getByRole('button', { name: 'Edit' }).isVisible());
    assert.is(await p.getByRole('link', { name: 'v2' }).count() + await p.getByRole('link', { name: 'v1' }).count(), 2, 'history: both versions changed it');
    await p.getByRole('link', { name: 'Versions' }).click();
    await p.getByRole('heading', { name: 'Versions' }).waitFor();
    const rows = await p.locator('tbody tr').allInnerTexts();
    assert.is(rows.length, 2);
    assert.ok(rows[0]!.startsWith('v2'));
    assert.ok(rows[0]!.includes('second') && rows[0]!.includes('latest') && rows[0]!.includes('current') && rows[0]!.includes('published'));
    assert.ok(rows[1]!.startsWith('v1') && rows[1]!.includes('16'));
    await shot(p, 'versions');
    await p.getByRole('link', { name: 'v2' }).click();
    await p.getByRole('heading', { name: 'Version 2' }).waitFor();
    assert.equal(await p.locator('main ul li').allInnerTexts(), ['modified agents/welcome.yaml']);
    // The token is nowhere the page can reach.
    const html = await p.content();
    assert.not.ok(html.includes(t.token));
    assert.is(await p.evaluate(() => window.localStorage.length + window.sessionStorage.length), 0);
    assert.not.ok(await p.evaluate(() => document.cookie.includes('agentsync_session')), 'HttpOnly: scripts cannot read the cookie');
    assert.not.ok(p.url().includes(t.token));
  } finally {
    await p.close();
  }
});

it('end to end: a persona edited and published in the page reaches the workspace byte for byte; a CLI push appears after a reload', async () => {
  const t = await pushedTenant('write');
  const before = readFileSync(join(t.ws, 'services', 'agents', 'welcome.yaml'), 'utf8');
  const typed = before.replace(/persona:[\s\S]*?\n(?=\S)/, 'persona: >\n  You greet people in the browser, <b>warmly</b> & briefly.\n');
  assert.not.equal(typed, before);
  const p = await page();
  try {
    await signIn(p, t.s, t.token);
    await p.getByRole('link', { name: 'agents/welcome.yaml', exact: true }).click();
    await p.getByRole('button', { name: 'Edit' }).click();
    const editor = p.getByRole('textbox', { name: 'Content' });
    await editor.click();
    await p.keyboard.press('Control+A');
    await p.keyboard.insertText(typed);
    await p.getByLabel('Message').fill('warmer welcome');
    await shot(p, 'editor');
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.getByRole('heading', { name: 'agents/welcome.yaml' }).waitFor();
    await p.waitForURL(/#\/artifact\/2\//);
    // The CLI sees exactly that artifact changed remotely, and pull writes the typed bytes.
    let r = await t.cli('sync', '--check', '--json');
    assert.is(r.code, 1);
    r = await t.cli('status', '--fetch', '--json');
    const drifted = (r.json.entries as { path: string; state: string }[]).filter((e) => e.state !== 'unchanged');
    assert.equal(drifted.map((e) => [e.path, e.state]), [['agents/welcome.yaml', 'pull']]);
    r = await t.cli('pull', '--json');
    assert.is(r.code, 0, r.err);
    assert.is(readFileSync(join(t.ws, 'services', 'agents', 'welcome.yaml'), 'utf8'), typed);
    r = await t.cli('versions', '--json');
    assert.is(r.code, 0);
    // The reverse: a CLI push shows after a reload.
    write(t.ws, 'agents/from-cli.yaml', 'name: from-cli\n');
    assert.is((await t.cli('push', '-m', 'from the terminal', '--json')).code, 0);
    await p.goto(`${t.s.url}/#/artifacts`);
    await p.getByRole('link', { name: 'agents/from-cli.yaml', exact: true }).click();
    assert.ok((await p.getByRole('textbox', { name: 'Text of agents/from-cli.yaml' }).innerText()).includes('name: from-cli'));
  } finally {
    await p.close();
  }
});

it('validation errors show at their line before saving; nothing is saved', async () => {
  const t = await pushedTenant('write');
  const p = await page();
  try {
    await signIn(p, t.s, t.token);
    await p.goto(`${t.s.url}/#/edit/1/${encodeURIComponent('agents/welcome.yaml')}`);
    await p.getByRole('textbox', { name: 'Content' }).click();
    await p.keyboard.press('Control+A');
    await p.keyboard.insertText('name: a\nname: b\n');
    await p.getByRole('button', { name: 'Publish' }).click();
    const alert = p.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.innerText()).includes('line 2'));
    assert.is((await t.cli('sync', '--check', '--json')).code, 0, 'nothing was published');
  } finally {
    await p.close();
  }
});

it('stale save: the CLI publishes the same artifact meanwhile; the page shows the conflict and loses nothing the CLI published; reapply merges', async () => {
  const t = await pushedTenant('write');
  const path = join(t.ws, 'services', 'agents', 'welcome.yaml');
  const before = readFileSync(path, 'utf8');
  const p = await page();
  try {
    await signIn(p, t.s, t.token);
    await p.goto(`${t.s.url}/#/edit/1/${encodeURIComponent('agents/welcome.yaml')}`);
    const editor = p.getByRole('textbox', { name: 'Content' });
    await editor.click();
    await p.keyboard.press('Control+End');
    await p.keyboard.insertText('web_note: from the page\n');
    // Meanwhile the CLI publishes a change to the same artifact.
    const cliText = before.replace(/^name: .*$/m, (l) => `${l}\ncli_note: from the terminal`);
    write(t.ws, 'agents/welcome.yaml', cliText);
    assert.is((await t.cli('push', '-m', 'cli edit', '--json')).code, 0);
    await p.getByLabel('Message').fill('web edit');
    await p.getByRole('button', { name: 'Publish' }).click();
    const alert = p.getByRole('alert');
    await alert.waitFor();
    const said = await alert.innerText();
    assert.ok(said.includes('version 2'));
    assert.ok(said.includes('+cli_note: from the terminal'), 'the diff of what the CLI published is shown');
    await shot(p, 'conflict');
    let r = await t.cli('versions', '--json');
    assert.is(r.json.versions.length, 2, 'the stale save wrote nothing');
    // Reapply: the edit merged on top of version 2, then published.
    await p.getByRole('button', { name: 'Reapply my edit' }).click();
    await p.getByRole('status').waitFor();
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.waitForURL(/#\/artifact\/3\//);
    r = await t.cli('pull', '--json');
    assert.is(r.code, 0, r.err);
    const merged = readFileSync(path, 'utf8');
    assert.ok(merged.includes('cli_note: from the terminal'), 'nothing the CLI published is lost');
    assert.ok(merged.includes('web_note: from the page'));
    // Discard: back to what is published, nothing saved.
    await p.goto(`${t.s.url}/#/edit/1/${encodeURIComponent('agents/welcome.yaml')}`);
    await p.getByRole('textbox', { name: 'Content' }).click();
    await p.keyboard.press('Control+End');
    await p.keyboard.insertText('other: x\n');
    await p.getByRole('button', { name: 'Save draft' }).click();
    await p.getByRole('alert').waitFor();
    await p.getByRole('button', { name: 'Discard' }).click();
    await p.waitForURL(/#\/artifact\/3\//);
    r = await t.cli('versions', '--json');
    assert.is(r.json.versions.length, 3);
  } finally {
    await p.close();
  }
});

test.run();
