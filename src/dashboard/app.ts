/**
 * The dashboard page (runs in the browser; bundled by src/build/bundle.ts into
 * dist/bundle/dashboard/app.js). Everything is built with DOM calls and `textContent`: no
 * server or artifact text ever becomes HTML. The session cookie is HttpOnly; this script only
 * holds the CSRF token (in memory) that every state-changing request sends in a header.
 * Views are chosen by the location hash (#/versions, #/artifacts/…, #/artifact/…, …).
 */
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from '@codemirror/view';
import { defaultKeymap, history as cmHistory, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { yaml } from '@codemirror/lang-yaml';
import { markdown } from '@codemirror/lang-markdown';

interface Version {
  id: number; parent: number | null; author: string; message: string; createdAt: string; state: 'draft' | 'published';
  changes: number; latest: boolean; current: boolean;
}
interface Me { tenant: string; scope: 'read' | 'write' | 'admin'; label: string; csrf: string }
interface Problem { line: number; col: number; message: string }
interface DiffLine { op: ' ' | '-' | '+' | '...'; text?: string; count?: number }
class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public data: Record<string, unknown>) { super(message); }
}

const nonce = document.querySelector('meta[name="csp-nonce"]')?.getAttribute('content') ?? '';
const app = document.getElementById('app')!;
let me: Me | null = null;

// ------------------------------------------------------------------ DOM helpers (text only)
type Child = Node | string | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}
const link = (href: string, text: string, attrs: Record<string, string> = {}) => h('a', { href, ...attrs }, text);
const enc = (s: string) => encodeURIComponent(s);
const canWrite = () => me !== null && me.scope !== 'read';

function alertBox(msg: string, ...extra: Child[]): HTMLElement {
  return h('div', { role: 'alert', class: 'alert' }, msg, ...extra);
}

/** After an action redraws the view, keyboard focus goes to its heading (never lost to <body>), with a status line. */
function settle(said: string): void {
  const h1 = app.querySelector('h1');
  h1?.after(h('p', { role: 'status' }, said));
  (h1 as HTMLElement | null)?.focus();
}

// ------------------------------------------------------------------ API
async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method === 'POST') {
    headers['content-type'] = 'application/json';
    if (me) headers['x-agentsync-csrf'] = me.csrf;
  }
  const res = await fetch(`/_dashboard/api/${path}`, { method, headers, credentials: 'same-origin', ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}) });
  const data = await res.json().catch(() => ({})) as { error?: { code: string; message: string; data?: Record<string, unknown> } };
  if (!res.ok) {
    const e = data.error ?? { code: 'INTERNAL', message: `HTTP ${res.status}` };
    if (res.status === 401 && path !== 'session') { me = null; }
    throw new ApiError(res.status, e.code, e.message, e.data ?? {});
  }
  return data as T;
}

// ------------------------------------------------------------------ views
/** Bumped by every navigation: a view whose data arrives after the next navigation draws nothing. */
let gen = 0;

function frame(g: number, title: string, ...content: Child[]): void {
  if (g !== gen) return;
  const nav = h('nav', { 'aria-label': 'Main' },
    link('#/artifacts', 'Artifacts'), ' ', link('#/versions', 'Versions'), ' ', link('#/diff', 'Diff'),
    me?.scope === 'admin' ? link('#/tokens', 'Tokens') : null,
    h('span', { class: 'who' }, `${me?.tenant ?? ''} · ${me?.scope ?? ''}`),
    h('button', { type: 'button', onclick: () => void signOut() }, 'Sign out'));
  app.replaceChildren(h('header', {}, h('strong', {}, 'agentsync'), nav), h('h1', {}, title), ...content.filter((c): c is Node | string => !!c));
  app.querySelector('h1')?.setAttribute('tabindex', '-1');
}

function signInView(error?: string): void {
  const token = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const form = h('form', { class: 'signin' },
    h('h1', {}, 'Sign in to agentsync'),
    h('label', { for: 'token' }, 'Token'), token,
    h('button', { type: 'submit' }, 'Sign in'),
    error ? alertBox(error) : null);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      try {
        me = await api<Me>('POST', 'session', { token: token.value });
        token.value = '';
        if (location.hash === '' || location.hash === '#/') location.hash = '#/artifacts';
        else void route();
      } catch (err) {
        signInView((err as Error).message);
      }
    })();
  });
  app.replaceChildren(form);
  token.focus();
}

async function signOut(): Promise<void> {
  try { await api('POST', 'signout', {}); } catch { /* signed out either way */ }
  me = null;
  location.hash = '#/';
  signInView();
}

function badges(v: Version): HTMLElement {
  return h('span', { class: 'badges' },
    h('span', { class: `badge ${v.state}` }, v.state),
    v.latest ? h('span', { class: 'badge latest' }, 'latest') : null,
    v.current ? h('span', { class: 'badge current' }, 'current') : null);
}

async function versionsView(): Promise<void> {
  const g = gen;
  const { versions } = await api<{ versions: Version[] }>('GET', 'versions');
  const rows = versions.map((v) => h('tr', {},
    h('td', {}, link(`#/version/${v.id}`, `v${v.id}`)), h('td', {}, badges(v)), h('td', {}, v.author), h('td', { class: 'msg' }, v.message),
    h('td', {}, h('time', { datetime: v.createdAt }, new Date(v.createdAt).toLocaleString())), h('td', {}, String(v.changes))));
  frame(g, 'Versions', versions.length === 0 ? h('p', {}, 'No versions yet: push from a workspace or create an artifact.') : h('table', {},
    h('thead', {}, h('tr', {}, ...['Version', 'State', 'Author', 'Message', 'Time', 'Changes'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...rows)));
}

async function versionView(id: number): Promise<void> {
  const g = gen;
  const { version: v, changes } = await api<{ version: Version; changes: { path: string; id: string | null; change: string }[] }>('GET', `changes?version=${id}`);
  const status = h('div', {});
  const act = (op: 'deploy' | 'rollback') => async () => {
    try {
      await api('POST', `${op}/${v.id}`, {});
      await versionView(id);
      if (g === gen) settle(op === 'deploy' ? `Version ${v.id} deployed: it is published and current.` : `Rolled back: version ${v.id} is current.`);
    } catch (e) { status.replaceChildren(alertBox((e as Error).message)); }
  };
  frame(g, `Version ${v.id}`,
    h('p', {}, badges(v), ` by ${v.author}, ${new Date(v.createdAt).toLocaleString()}`),
    h('p', { class: 'msg' }, v.message),
    canWrite() ? h('p', {},
      v.state === 'draft' ? h('button', { type: 'button', onclick: act('deploy') }, 'Deploy') : null,
      v.state === 'published' && !v.current ? h('button', { type: 'button', onclick: act('rollback') }, 'Roll back') : null) : null,
    status,
    h('p', {}, link(`#/artifacts/${v.id}`, 'Artifacts of this version'), ' · ', link(`#/diff/${v.parent ?? 'none'}/${v.id}`, 'Diff with its parent')),
    h('h2', {}, 'Changes'),
    h('ul', {}, ...changes.map((c) => h('li', {}, h('span', { class: `change ${c.change}` }, c.change), ' ',
      c.id === null ? c.path : link(`#/artifact/${v.id}/${enc(c.path)}`, c.path)))));
}

async function artifactsView(version?: number): Promise<void> {
  const g = gen;
  const r = await api<{ version: Version | null; artifacts: { path: string; kind: string }[] }>('GET', `artifacts${version ? `?version=${version}` : ''}`);
  const filter = h('input', { id: 'filter', type: 'search', autocomplete: 'off' });
  const list = h('div', {});
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const groups = new Map<string, string[]>();
    for (const a of r.artifacts) if (!q || a.path.toLowerCase().includes(q)) (groups.get(a.kind) ?? groups.set(a.kind, []).get(a.kind)!).push(a.path);
    list.replaceChildren(...[...groups].map(([kind, paths]) => h('section', {}, h('h2', {}, kind),
      h('ul', {}, ...paths.map((p) => h('li', {}, link(`#/artifact/${r.version!.id}/${enc(p)}`, p)))))));
  };
  filter.addEventListener('input', draw);
  draw();
  frame(g, r.version ? `Artifacts of version ${r.version.id}` : 'Artifacts',
    r.version ? h('p', {}, badges(r.version), ' ', r.version.message) : h('p', {}, 'Nothing published yet.'),
    canWrite() ? h('p', {}, link('#/new', 'New artifact')) : null,
    h('label', { for: 'filter' }, 'Filter by path'), filter, list);
}

function language(path: string): Extension {
  return /\.ya?ml$/i.test(path) ? yaml() : /\.(md|markdown)$/i.test(path) ? markdown() : [];
}

function viewer(path: string, text: string): HTMLElement {
  const host = h('div', { class: 'code' });
  new EditorView({
    parent: host,
    state: EditorState.create({
      doc: text,
      extensions: [EditorView.cspNonce.of(nonce), lineNumbers(), syntaxHighlighting(defaultHighlightStyle), language(path),
        EditorState.readOnly.of(true), EditorView.editable.of(false), EditorView.contentAttributes.of({ 'aria-label': `Text of ${path}` })],
    }),
  });
  return host;
}

interface ArtifactR { version: Version; path: string; text: string; kind: string; history: Version[] }

async function artifactView(version: number, path: string): Promise<void> {
  const g = gen;
  const r = await api<ArtifactR>('GET', `artifact?version=${version}&path=${enc(path)}`);
  const status = h('div', {});
  const confirmBox = h('div', {});
  const deleteButton = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'delete-confirm' }, 'Delete');
  /** Delete asks in the page (not a browser dialog): a message, then a draft or a published version without the artifact. */
  const askDelete = () => {
    const message = h('input', { id: 'message', autocomplete: 'off', value: `delete ${path}` });
    const del = (draft: boolean) => async () => {
      status.replaceChildren();
      try {
        const { version: v } = await api<{ version: Version }>('POST', 'save', { base: r.version.id, path, text: null, message: message.value, draft });
        location.hash = `#/version/${v.id}`;
      } catch (e) { status.replaceChildren(alertBox((e as Error).message)); }
    };
    const close = () => { confirmBox.replaceChildren(); deleteButton.setAttribute('aria-expanded', 'false'); deleteButton.focus(); };
    const form = h('form', { id: 'delete-confirm', class: 'confirm', 'aria-label': `Delete ${path}` },
      h('p', {}, `Delete ${path}? The new version will not have it.`),
      h('p', {}, h('label', { for: 'message' }, 'Message'), message),
      h('p', {}, h('button', { type: 'button', onclick: () => void del(true)() }, 'Save draft'), ' ',
        h('button', { type: 'submit' }, 'Publish'), ' ',
        h('button', { type: 'button', onclick: close }, 'Cancel')));
    form.addEventListener('submit', (e) => { e.preventDefault(); void del(false)(); });
    form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); close(); } });
    confirmBox.replaceChildren(form);
    deleteButton.setAttribute('aria-expanded', 'true');
    message.focus();
    message.select();
  };
  deleteButton.addEventListener('click', askDelete);
  frame(g, path,
    h('p', {}, `${r.kind} · version ${r.version.id} `, badges(r.version)),
    canWrite() ? h('p', {}, h('button', { type: 'button', onclick: () => { location.hash = `#/edit/${r.version.id}/${enc(path)}`; } }, 'Edit'), ' ',
      deleteButton) : null,
    confirmBox,
    status,
    viewer(path, r.text),
    h('h2', {}, 'History'),
    h('ul', {}, ...r.history.map((v) => h('li', {}, link(`#/artifact/${v.id}/${enc(path)}`, `v${v.id}`), ' ', badges(v), ` ${v.author}: ${v.message}`))));
}

function diffList(lines: DiffLine[]): HTMLElement {
  return h('pre', { class: 'diff' }, ...lines.map((l) => l.op === '...'
    ? h('span', { class: 'fold' }, `… ${l.count} unchanged lines\n`)
    : h('span', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'ctx' }, `${l.op}${l.text}\n`)));
}

/** The editor: an existing artifact (version, path) or a new one (path typed in). */
async function editView(version: number | null, path: string | null): Promise<void> {
  const g = gen;
  let base: number | null = version;
  let text = '';
  if (path !== null && version !== null) text = (await api<ArtifactR>('GET', `artifact?version=${version}&path=${enc(path)}`)).text;
  else base = (await api<{ versions: Version[] }>('GET', 'versions')).versions.find((v) => v.latest)?.id ?? null;
  const pathInput = path === null ? h('input', { id: 'path', autocomplete: 'off', placeholder: 'agents/name.yaml' }) : null;
  const message = h('input', { id: 'message', autocomplete: 'off', value: path ? `edit ${path}` : '' });
  const status = h('div', {});
  const problemsBox = h('div', {});
  const host = h('div', { class: 'code editor' });
  const hint = h('p', { id: 'editor-keys', class: 'hint' }, 'In the editor Tab indents and Shift+Tab unindents; to leave it with the keyboard press Escape, then Tab (or Shift+Tab). Ctrl+M makes Tab move focus until pressed again.');
  const pathOf = () => path ?? pathInput!.value.trim();
  let view: EditorView;
  let timer: number | undefined;
  const check = async (): Promise<Problem[]> => {
    const p = pathOf();
    if (!p) return [];
    const { problems } = await api<{ problems: Problem[] }>('POST', 'validate', { path: p, text: view.state.doc.toString() });
    const doc = view.state.doc;
    const diags: Diagnostic[] = problems.map((pr) => {
      const line = doc.line(Math.min(Math.max(1, pr.line), doc.lines));
      const from = Math.min(line.from + Math.max(0, pr.col - 1), line.to);
      return { from, to: Math.max(from, line.to), severity: 'error', message: pr.message };
    });
    view.dispatch(setDiagnostics(view.state, diags));
    problemsBox.replaceChildren(...(problems.length ? [alertBox('Not valid:', h('ul', {}, ...problems.map((pr) => h('li', {}, `line ${pr.line}, column ${pr.col}: ${pr.message}`))))] : []));
    return problems;
  };
  view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: text,
      extensions: [EditorView.cspNonce.of(nonce), lineNumbers(), highlightActiveLine(), drawSelection(), cmHistory(), keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        syntaxHighlighting(defaultHighlightStyle), language(path ?? ''), lintGutter(), EditorView.contentAttributes.of({ 'aria-label': 'Content', 'aria-describedby': 'editor-keys' }),
        EditorView.updateListener.of((u) => { if (u.docChanged) { clearTimeout(timer); timer = window.setTimeout(() => void check().catch(() => undefined), 400); } })],
    }),
  });
  const save = (draft: boolean) => async () => {
    status.replaceChildren();
    const p = pathOf();
    try {
      if (!p) { status.replaceChildren(alertBox('Give the artifact a path, e.g. agents/name.yaml.')); return; }
      if ((await check()).length) return;
      const { version: v } = await api<{ version: Version }>('POST', 'save', { base, path: p, text: view.state.doc.toString(), message: message.value, draft });
      location.hash = `#/artifact/${v.id}/${enc(p)}`;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'STALE_REMOTE') await conflict(p);
      else status.replaceChildren(alertBox((e as Error).message));
    }
  };
  /** Someone published this artifact since the editor opened: show it, offer reapply or discard. */
  const conflict = async (p: string) => {
    const m = await api<{ latestPublished: number | null; clean: boolean; text: string; diff: DiffLine[] }>('POST', 'merge', { base, path: p, text: view.state.doc.toString() });
    status.replaceChildren(alertBox(`${p} was changed by version ${m.latestPublished} since you opened it. Nothing was saved. What changed there:`,
      diffList(m.diff),
      h('p', {}, m.clean ? 'Your edit merges cleanly on top of it.' : 'Your edit conflicts with it: reapplying puts conflict markers in the text to resolve before saving.'),
      h('button', { type: 'button', onclick: () => {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: m.text } });
        base = m.latestPublished;
        status.replaceChildren(h('p', { role: 'status' }, `Your edit is reapplied on version ${m.latestPublished}; review it and save again.`));
        view.focus();
      } }, 'Reapply my edit'), ' ',
      h('button', { type: 'button', onclick: () => { location.hash = `#/artifact/${m.latestPublished}/${enc(p)}`; } }, 'Discard')));
    (status.querySelector('button') as HTMLButtonElement | null)?.focus();
  };
  frame(g, path ? `Edit ${path}` : 'New artifact',
    base !== null ? h('p', {}, `Editing on version ${base}.`) : null,
    pathInput ? h('p', {}, h('label', { for: 'path' }, 'Path'), pathInput) : null,
    hint, host, problemsBox,
    h('p', {}, h('label', { for: 'message' }, 'Message'), message),
    h('p', {}, h('button', { type: 'button', onclick: () => void save(true)() }, 'Save draft'), ' ',
      h('button', { type: 'button', onclick: () => void save(false)() }, 'Publish'), ' ',
      h('button', { type: 'button', onclick: () => { history.back(); } }, 'Cancel')),
    status);
}

async function diffView(from?: string, to?: string, path?: string): Promise<void> {
  const g = gen;
  const { versions } = await api<{ versions: Version[] }>('GET', 'versions');
  const opt = (sel: string | undefined, none: boolean) => [...(none ? [h('option', { value: 'none', selected: sel === 'none' }, '(empty)')] : []),
    ...versions.map((v) => h('option', { value: String(v.id), selected: sel === String(v.id) }, `v${v.id} ${v.state}`))];
  const a = h('select', { id: 'from' }, ...opt(from ?? String(versions[1]?.id ?? 'none'), true));
  const b = h('select', { id: 'to' }, ...opt(to ?? String(versions[0]?.id ?? ''), false));
  const p = h('input', { id: 'diffpath', autocomplete: 'off', value: path ?? '' });
  const side = h('input', { id: 'side', type: 'checkbox' });
  const out = h('div', {});
  const show = async () => {
    if (!b.value) return;
    try {
      const q = `from=${enc(a.value)}&to=${enc(b.value)}${p.value.trim() ? `&path=${enc(p.value.trim())}` : ''}`;
      const r = await api<{ files: { path: string; change: string; lines: DiffLine[] }[] }>('GET', `diff?${q}`);
      out.replaceChildren(...(r.files.length ? r.files.map((f) => h('section', {}, h('h2', {}, `${f.change} ${f.path}`), side.checked ? sideBySide(f.lines) : diffList(f.lines))) : [h('p', {}, 'No differences.')]));
    } catch (e) { out.replaceChildren(alertBox((e as Error).message)); }
  };
  frame(g, 'Diff',
    h('p', {}, h('label', { for: 'from' }, 'From'), a, ' ', h('label', { for: 'to' }, 'To'), b, ' ', h('label', { for: 'diffpath' }, 'Only path'), p, ' ',
      h('label', {}, side, ' side by side'), ' ', h('button', { type: 'button', onclick: () => void show() }, 'Show diff')),
    out);
  if (b.value) await show();
}

function sideBySide(lines: DiffLine[]): HTMLElement {
  const rows: HTMLElement[] = [];
  for (const l of lines) {
    if (l.op === '...') rows.push(h('tr', { class: 'fold' }, h('td', { colspan: '2' }, `… ${l.count} unchanged lines`)));
    else if (l.op === ' ') rows.push(h('tr', {}, h('td', { class: 'ctx' }, l.text!), h('td', { class: 'ctx' }, l.text!)));
    else if (l.op === '-') rows.push(h('tr', {}, h('td', { class: 'del' }, l.text!), h('td', {})));
    else rows.push(h('tr', {}, h('td', {}), h('td', { class: 'add' }, l.text!)));
  }
  return h('table', { class: 'sbs' }, h('tbody', {}, ...rows));
}

async function tokensView(): Promise<void> {
  const g = gen;
  const r = await api<{ tenant: { name: string; createdAt: string }; tokens: { id: string; scope: string; label?: string; createdAt: string; expiresAt: string | null; revokedAt: string | null; expired: boolean }[] }>('GET', 'tokens');
  const status = h('div', {});
  const scope = h('select', { id: 'scope' }, ...['read', 'write', 'admin'].map((s) => h('option', { value: s }, s)));
  const label = h('input', { id: 'label', autocomplete: 'off' });
  const create = async () => {
    try {
      const t = await api<{ token: string }>('POST', 'tokens', { scope: scope.value, ...(label.value.trim() ? { label: label.value.trim() } : {}) });
      await tokensView();
      const shown = h('output', { class: 'secret' }, t.token);
      const box = h('div', { role: 'status', tabindex: '-1' }, 'New token (shown once, copy it now): ', shown);
      app.append(box);
      box.focus();
    } catch (e) { status.replaceChildren(alertBox((e as Error).message)); }
  };
  const revoke = (id: string) => async () => {
    try { await api('POST', `tokens/${id}/revoke`, {}); await tokensView(); settle(`Token ${id} revoked.`); } catch (e) { status.replaceChildren(alertBox((e as Error).message)); }
  };
  frame(g, `Tenant ${r.tenant.name}`,
    h('p', {}, `Created ${new Date(r.tenant.createdAt).toLocaleString()}.`),
    h('h2', {}, 'Tokens'),
    h('table', {}, h('thead', {}, h('tr', {}, ...['Id', 'Scope', 'Label', 'Created', 'Expires', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...r.tokens.map((t) => h('tr', {}, h('td', {}, t.id), h('td', {}, t.scope), h('td', {}, t.label ?? ''), h('td', {}, t.createdAt), h('td', {}, t.expiresAt ?? 'never'),
        h('td', {}, t.revokedAt ? 'revoked' : t.expired ? 'expired' : 'active'),
        h('td', {}, t.revokedAt ? null : h('button', { type: 'button', 'aria-label': `Revoke ${t.id}`, onclick: () => void revoke(t.id)() }, 'Revoke')))))),
    h('h2', {}, 'New token'),
    h('p', {}, h('label', { for: 'scope' }, 'Scope'), scope, ' ', h('label', { for: 'label' }, 'Label'), label, ' ', h('button', { type: 'button', onclick: () => void create() }, 'Create token')),
    status);
}

// ------------------------------------------------------------------ routing
async function route(): Promise<void> {
  const g = ++gen;
  if (!me) {
    try { me = await api<Me>('GET', 'session'); } catch { signInView(); return; }
  }
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const num = (s: string | undefined) => (s && /^\d+$/.test(s) ? Number(s) : undefined);
  const rest = (i: number) => decodeURIComponent(parts.slice(i).join('/'));
  try {
    switch (parts[0]) {
      case 'versions': await versionsView(); break;
      case 'version': await versionView(num(parts[1])!); break;
      case 'artifact': await artifactView(num(parts[1])!, rest(2)); break;
      case 'edit': if (canWrite()) await editView(num(parts[1])!, rest(2)); else await artifactView(num(parts[1])!, rest(2)); break;
      case 'new': if (canWrite()) await editView(null, null); else await artifactsView(); break;
      case 'diff': await diffView(parts[1], parts[2], parts[3] ? rest(3) : undefined); break;
      case 'tokens': await tokensView(); break;
      case 'artifacts': await artifactsView(num(parts[1])); break;
      default: await artifactsView();
    }
    if (g === gen) (app.querySelector('h1') as HTMLElement | null)?.focus();
  } catch (e) {
    if (g !== gen) return;
    if (e instanceof ApiError && e.status === 401) { me = null; signInView(e.message); return; }
    frame(g, 'Error', alertBox((e as Error).message));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
