/**
 * The dashboard in real Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
 * browser download), against a real server on 127.0.0.1, with the CLI on the other side:
 * read views, an edit published in the page reaching a workspace byte for byte, a CLI push
 * appearing after a reload, the stale-save conflict, read-only tokens, inert XSS artifacts,
 * deploy/rollback, diff, tokens, sign-out; the whole edit flow with the keyboard alone; create and
 * delete. Without Chromium every test is a visible skip.
 *
 * Set AGENTSYNC_DASHBOARD_SCREENSHOTS=<dir> to keep the screenshots (the README's comes from it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { applyChanges } from '../src/model/manifest.js';
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

/** The paths of the tenant's latest published version, read from the server's storage. */
async function latestPaths(s: RunningServer, tenant: string): Promise<string[]> {
  const store = s.storage.remote(tenant);
  const { latestPublished } = await store.head();
  return latestPublished === null ? [] : [...applyChanges(new Map(), await store.changesBetween(null, latestPublished)).keys()].sort();
}

/** What has keyboard focus, and whether it shows a focus ring (the editor's ring is on its .cm-editor). */
async function focusState(p: Page): Promise<{ where: string; ring: boolean }> {
  return p.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return { where: 'body', ring: false };
    const box = (el.closest('.cm-editor') as HTMLElement | null) ?? el;
    const cs = getComputedStyle(box);
    const name = el.getAttribute('aria-label') ?? (el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null) ?? el.textContent ?? '';
    return { where: `${el.tagName.toLowerCase()} ${name.slice(0, 40)}`, ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 };
  });
}

/**
 * Press `key` (Tab, or Shift+Tab) until `target` has focus; every element focused on the way
 * must show a focus ring. Fails when `target` is not reached in `max` presses.
 */
async function tabTo(p: Page, target: Locator, key = 'Tab', max = 40): Promise<void> {
  await target.waitFor();
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await p.keyboard.press(key);
    let f = await focusState(p);
    // The editor marks itself focused (.cm-focused) on its next update, not in the focus event.
    if (!f.ring && f.where !== 'body') f = await p.waitForFunction(() => document.activeElement?.closest('.cm-focused') !== null, undefined, { timeout: 2000 }).then(() => focusState(p), () => f);
    seen.push(f.where);
    assert.ok(f.ring, `no visible focus on ${f.where}`);
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  assert.unreachable(`${key} never reached the target; focus went: ${seen.join(' → ')}`);
}

const isFocused = (l: Locator) => l.evaluate((el) => el === document.activeElement);

async function shot(p: Page, name: string): Promise<void> {
  const dir = shots ?? tmp('agentsync-shots-');
  mkdirSync(dir, { recursive: true });
  await p.screenshot({ path: join(dir, `dashboard-${name}.png`), fullPage: true });
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

it('XSS artifacts, messages and authors render inert; a read token sees no edit controls and the server refuses its writes', async () => {
  const t = await pushedTenant('read');
  const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
  write(t.ws, 'agents/evil.yaml', `name: "${evil.replace(/"/g, '\\"')}"\npersona: ${JSON.stringify(evil)}\n`);
  write(t.ws, 'content/evil.md', `# ${evil}\n\n${evil}\n`);
  const r = await t.cli('push', '-m', evil.replace(/\n/g, ' '), '--json');
  assert.is(r.code, 0, r.err);
  const p = await page();
  const dialogs: string[] = [];
  p.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  try {
    await signIn(p, t.s, t.token);
    for (const path of ['agents/evil.yaml', 'content/evil.md']) {
      await p.getByRole('link', { name: path, exact: true }).click();
      const text = await p.getByRole('textbox', { name: `Text of ${path}` }).innerText();
      assert.ok(text.includes('<script>window.__pwned = 1</script>'), 'shown as text');
      await p.getByRole('link', { name: 'Artifacts', exact: true }).click();
    }
    await p.getByRole('link', { name: 'Versions' }).click();
    assert.ok((await p.locator('tbody tr').first().innerText()).includes('<img src=x onerror='));
    await p.getByRole('link', { name: 'v2' }).click();
    await p.getByRole('heading', { name: 'Version 2' }).waitFor();
    assert.is(await p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? 0), 0);
    assert.is(await p.locator('main script, main img').count(), 0);
    assert.equal(dialogs, []);
    // Read scope: no edit, deploy, rollback or new-artifact controls anywhere.
    assert.is(await p.getByRole('button', { name: /^(Deploy|Roll back)$/ }).count(), 0);
    await p.getByRole('link', { name: 'Artifacts', exact: true }).click();
    assert.is(await p.getByRole('link', { name: 'New artifact' }).count(), 0);
    await p.getByRole('link', { name: 'agents/evil.yaml', exact: true }).click();
    await p.getByRole('heading', { name: 'agents/evil.yaml' }).waitFor();
    assert.is(await p.getByRole('button', { name: /^(Edit|Delete|Publish|Save draft)$/ }).count(), 0);
    assert.is(await p.getByRole('link', { name: 'Tokens' }).count(), 0);
    // And the server refuses what the page does not offer, even from the page's own session.
    const status = await p.evaluate(async () => {
      const me = await (await fetch('/_dashboard/api/session')).json() as { csrf: string };
      const res = await fetch('/_dashboard/api/save', { method: 'POST', headers: { 'content-type': 'application/json', 'x-agentsync-csrf': me.csrf }, body: JSON.stringify({ base: 2, path: 'agents/x.yaml', text: 'name: x\n', message: 'm', draft: false }) });
      return [res.status, (await res.json()).error.code];
    });
    assert.equal(status, [403, 'AUTH_FORBIDDEN']);
    assert.is((await t.cli('versions', '--json')).json.versions.length, 2);
  } finally {
    await p.close();
  }
});

it('deploy a draft, roll back, diff two versions, admin tokens, sign out', async () => {
  const t = await pushedTenant('admin');
  const p = await page();
  try {
    await signIn(p, t.s, t.token);
    // A draft saved in the page, then deployed from its version page.
    await p.goto(`${t.s.url}/#/edit/1/${encodeURIComponent('mcp/github.yaml')}`);
    await p.getByRole('textbox', { name: 'Content' }).click();
    await p.keyboard.press('Control+End');
    await p.keyboard.insertText('note: drafted\n');
    await p.getByLabel('Message').fill('a draft');
    await p.getByRole('button', { name: 'Save draft' }).click();
    await p.waitForURL(/#\/artifact\/2\//);
    await p.goto(`${t.s.url}/#/version/2`);
    await p.getByRole('button', { name: 'Deploy' }).click();
    await p.getByRole('button', { name: 'Deploy' }).waitFor({ state: 'detached' });
    let r = await t.cli('versions', '--json');
    assert.equal(r.json.versions.map((v: any) => [v.id, v.state]).sort((a: number[], b: number[]) => a[0]! - b[0]!), [[1, 'published'], [2, 'published']]);
    assert.is((await t.cli('status', '--fetch', '--json')).json.entries.filter((e: any) => e.state !== 'unchanged').length, 1);
    // Roll back to version 1: current moves there.
    await p.goto(`${t.s.url}/#/version/1`);
    await p.getByRole('button', { name: 'Roll back' }).click();
    await p.getByRole('button', { name: 'Roll back' }).waitFor({ state: 'detached' });
    assert.ok((await p.locator('.badges').first().innerText()).includes('current'));
    const head = await t.s.storage.remote(t.name).head();
    assert.equal(head, { latestPublished: 2, current: 1, lastId: 2 });
    // Diff 1 → 2, unified and side by side.
    await p.goto(`${t.s.url}/#/diff/1/2`);
    await p.getByRole('heading', { name: 'modified mcp/github.yaml' }).waitFor();
    assert.ok((await p.locator('pre.diff .add').allInnerTexts()).some((x) => x.startsWith('+note: drafted')));
    await p.getByLabel('side by side').check();
    await p.getByRole('button', { name: 'Show diff' }).click();
    await p.locator('table.sbs td.add', { hasText: 'note: drafted' }).waitFor();
    await shot(p, 'diff');
    // Tokens: create one (shown once), it works; revoke it, it does not.
    await p.getByRole('link', { name: 'Tokens' }).click();
    await p.getByLabel('Scope').selectOption('read');
    await p.getByLabel('Label').fill('viewer');
    await p.getByRole('button', { name: 'Create token' }).click();
    const made = (await p.locator('output.secret').innerText()).trim();
    assert.ok(/^as_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(made));
    const id = made.split('_')[1]!;
    assert.is((await (await fetch(`${t.s.url}/${t.name}/head`, { headers: { authorization: `Bearer ${made}` } })).status), 200);
    await p.getByRole('button', { name: `Revoke ${id}` }).click();
    await p.getByRole('button', { name: `Revoke ${id}` }).waitFor({ state: 'detached' });
    assert.is((await (await fetch(`${t.s.url}/${t.name}/head`, { headers: { authorization: `Bearer ${made}` } })).status), 401);
    // Sign out: the cookie the browser had is useless afterwards.
    const cookie = (await p.context().cookies()).find((c) => c.name === 'agentsync_session')!;
    assert.ok(cookie.httpOnly);
    assert.is(cookie.sameSite, 'Strict');
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.getByRole('button', { name: 'Sign in' }).waitFor();
    const after = await fetch(`${t.s.url}/_dashboard/api/versions`, { headers: { cookie: `agentsync_session=${cookie.value}` } });
    assert.is(after.status, 401);
    await p.goto(`${t.s.url}/#/versions`);
    await p.getByRole('button', { name: 'Sign in' }).waitFor();
  } finally {
    await p.close();
  }
});

it('the keyboard alone: sign in, open an artifact, edit, leave the editor (Escape, Tab), publish; the CLI pulls exactly those bytes; deploy and roll back', async () => {
  const t = await pushedTenant('write');
  const path = join(t.ws, 'services', 'agents', 'welcome.yaml');
  const before = readFileSync(path, 'utf8');
  const firstLine = before.slice(0, before.indexOf('\n'));
  const typed = `${firstLine} Edited at the keyboard.${before.slice(firstLine.length)}keyboard_note: typed key by key\n`;
  const p = await page();
  try {
    await p.goto(`${t.s.url}/`);
    const token = p.getByLabel('Token');
    await token.waitFor();
    assert.ok(await isFocused(token), 'the Token field has focus on arrival');
    await p.keyboard.type(t.token);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Artifacts of version 1' }).waitFor();
    // Filter, then Tab to the one link left, Enter.
    await tabTo(p, p.getByLabel('Filter by path'));
    await p.keyboard.type('welcome');
    const link = p.getByRole('link', { name: 'agents/welcome.yaml', exact: true });
    await tabTo(p, link, 'Tab', 1);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'agents/welcome.yaml' }).waitFor();
    await tabTo(p, p.getByRole('button', { name: 'Edit' }));
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Edit agents/welcome.yaml' }).waitFor();
    const editor = p.getByRole('textbox', { name: 'Content' });
    await tabTo(p, editor);
    await p.keyboard.press('Control+Home');
    await p.keyboard.press('End');
    await p.keyboard.type(' Edited at the keyboard.');
    await p.keyboard.press('Control+End');
    await p.keyboard.type('keyboard_note: typed key by key');
    await p.keyboard.press('Enter');
    // Tab indents inside the editor (focus stays), Shift+Tab unindents; Escape then Tab leaves.
    await p.keyboard.press('Tab');
    assert.ok(await isFocused(editor), 'Tab indents: focus stays in the editor');
    await p.keyboard.press('Shift+Tab');
    assert.ok(await isFocused(editor), 'Shift+Tab unindents: focus stays in the editor');
    await p.keyboard.press('Escape');
    await p.keyboard.press('Tab');
    const message = p.getByLabel('Message');
    assert.ok(await isFocused(message), `Escape then Tab moves to the Message field, not ${(await focusState(p)).where}`);
    await p.keyboard.press('Control+A');
    await p.keyboard.type('typed at the keyboard');
    await tabTo(p, p.getByRole('button', { name: 'Publish' }));
    await p.keyboard.press('Enter');
    await p.waitForURL(/#\/artifact\/2\//);
    await p.getByRole('heading', { name: 'agents/welcome.yaml' }).waitFor();
    // The CLI side: exactly those bytes, with that message.
    let r = await t.cli('status', '--fetch', '--json');
    assert.equal(r.json.entries, [{ path: 'agents/welcome.yaml', kind: 'agents', local: 'unchanged', remote: 'modified', state: 'pull' }]);
    r = await t.cli('pull', '--json');
    assert.is(r.code, 0, r.err);
    assert.is(readFileSync(path, 'utf8'), typed);
    r = await t.cli('versions', '--json');
    assert.equal(r.json.versions.map((v: any) => [v.id, v.state, v.message]), [[1, 'published', 'first'], [2, 'published', 'typed at the keyboard']]);
    // Deploy a draft the CLI pushed, from the Versions view, by keyboard (Space on the button).
    write(t.ws, 'mcp/github.yaml', readFileSync(join(t.ws, 'services', 'mcp', 'github.yaml'), 'utf8') + 'note: drafted\n');
    assert.is((await t.cli('push', '--draft', '-m', 'a draft', '--json')).code, 0);
    await tabTo(p, p.getByRole('link', { name: 'Versions', exact: true }), 'Shift+Tab');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Versions' }).waitFor();
    await tabTo(p, p.getByRole('link', { name: 'v3', exact: true }));
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Version 3' }).waitFor();
    await tabTo(p, p.getByRole('button', { name: 'Deploy' }));
    await p.keyboard.press('Space');
    await p.getByRole('status').waitFor();
    assert.equal(await t.s.storage.remote(t.name).head(), { latestPublished: 3, current: 3, lastId: 3 });
    assert.ok(await isFocused(p.getByRole('heading', { name: 'Version 3' })), `focus after deploy: ${(await focusState(p)).where}`);
    // Roll back to version 1 the same way (Enter on the button).
    await tabTo(p, p.getByRole('link', { name: 'Versions', exact: true }), 'Shift+Tab');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Versions' }).waitFor();
    await tabTo(p, p.getByRole('link', { name: 'v1', exact: true }));
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Version 1' }).waitFor();
    await tabTo(p, p.getByRole('button', { name: 'Roll back' }));
    await p.keyboard.press('Enter');
    await p.getByRole('status').waitFor();
    assert.equal(await t.s.storage.remote(t.name).head(), { latestPublished: 3, current: 1, lastId: 3 });
    assert.ok(await isFocused(p.getByRole('heading', { name: 'Version 1' })), `focus after rollback: ${(await focusState(p)).where}`);
  } finally {
    await p.close();
  }
});

it('create and delete in the page: the remote\'s latest version has the new artifact and not the deleted one; status says pull (remote deleted); a draft delete publishes nothing; read scope has no Delete and the server refuses one', async () => {
  const t = await pushedTenant('write');
  const p = await page();
  try {
    await signIn(p, t.s, t.token);
    // Create.
    await p.getByRole('link', { name: 'New artifact' }).click();
    await p.getByRole('heading', { name: 'New artifact' }).waitFor();
    await p.getByLabel('Path').fill('agents/created.yaml');
    await p.getByRole('textbox', { name: 'Content' }).click();
    await p.keyboard.insertText('name: created\ndescription: made in the page\n');
    await p.getByLabel('Message').fill('create one');
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.waitForURL(/#\/artifact\/2\/agents%2Fcreated\.yaml$/);
    assert.ok((await latestPaths(t.s, t.name)).includes('agents/created.yaml'));
    let r = await t.cli('pull', '--json');
    assert.is(r.code, 0, r.err);
    assert.equal(r.json.pulled, [{ path: 'agents/created.yaml', state: 'pull', remote: 'added' }]);
    assert.is(readFileSync(join(t.ws, 'services', 'agents', 'created.yaml'), 'utf8'), 'name: created\ndescription: made in the page\n');
    // Delete, published: asked in the page (message focused), no browser dialog.
    const dialogs: string[] = [];
    p.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    await p.goto(`${t.s.url}/#/artifact/2/${encodeURIComponent('agents/welcome.yaml')}`);
    await p.getByRole('button', { name: 'Delete' }).click();
    const message = p.getByLabel('Message');
    await message.waitFor();
    assert.ok(await isFocused(message), 'the delete message has focus');
    await message.fill('remove welcome');
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.waitForURL(/#\/version\/3$/);
    await p.getByRole('heading', { name: 'Version 3' }).waitFor();
    assert.equal(await p.locator('main ul li').allInnerTexts(), ['deleted agents/welcome.yaml']);
    const all = (await latestPaths(t.s, t.name));
    assert.is(all.length, 16, 'sample 16 + created - welcome');
    assert.not.ok(all.includes('agents/welcome.yaml'));
    assert.ok(all.includes('agents/created.yaml'));
    r = await t.cli('status', '--fetch', '--json');
    assert.equal(r.json.entries, [{ path: 'agents/welcome.yaml', kind: 'agents', local: 'unchanged', remote: 'deleted', state: 'pull' }]);
    r = await t.cli('versions', '--json');
    assert.equal(r.json.versions.map((v: any) => [v.id, v.state, v.message]), [[1, 'published', 'first'], [2, 'published', 'create one'], [3, 'published', 'remove welcome']]);
    r = await t.cli('pull', '--json');
    assert.is(r.code, 0, r.err);
    assert.not.ok(existsSync(join(t.ws, 'services', 'agents', 'welcome.yaml')));
    // Escape closes the question (focus back on Delete); a draft delete publishes nothing.
    await p.goto(`${t.s.url}/#/artifact/3/${encodeURIComponent('skills/blog-writer.yaml')}`);
    const del = p.getByRole('button', { name: 'Delete' });
    await del.click();
    await p.getByLabel('Message').waitFor();
    await p.keyboard.press('Escape');
    await p.getByLabel('Message').waitFor({ state: 'detached' });
    assert.ok(await isFocused(del), 'Escape gives focus back to Delete');
    await del.click();
    await p.getByRole('button', { name: 'Save draft' }).click();
    await p.waitForURL(/#\/version\/4$/);
    assert.equal(await t.s.storage.remote(t.name).head(), { latestPublished: 3, current: 3, lastId: 4 });
    assert.ok((await latestPaths(t.s, t.name)).includes('skills/blog-writer.yaml'), 'a draft changes no published version');
    assert.is((await t.cli('sync', '--check', '--json')).code, 0);
    assert.equal(dialogs, []);
  } finally {
    await p.close();
  }
  // Read scope: no Delete in the page, and the server refuses a delete from its session.
  const read = (await createToken(t.s.storage, { tenant: t.name, scope: 'read', expiresInMs: null, label: 'viewer' })).token;
  const q = await page();
  try {
    await signIn(q, t.s, read);
    await q.getByRole('link', { name: 'agents/created.yaml', exact: true }).click();
    await q.getByRole('heading', { name: 'agents/created.yaml' }).waitFor();
    assert.is(await q.getByRole('button', { name: /^(Delete|Edit)$/ }).count(), 0);
    const refused = await q.evaluate(async () => {
      const me = await (await fetch('/_dashboard/api/session')).json() as { csrf: string };
      const res = await fetch('/_dashboard/api/save', { method: 'POST', headers: { 'content-type': 'application/json', 'x-agentsync-csrf': me.csrf }, body: JSON.stringify({ base: 3, path: 'agents/created.yaml', text: null, message: 'm', draft: false }) });
      return [res.status, (await res.json()).error.code];
    });
    assert.equal(refused, [403, 'AUTH_FORBIDDEN']);
    assert.is((await t.s.storage.remote(t.name).head()).lastId, 4);
  } finally {
    await q.close();
  }
});

test.run();
