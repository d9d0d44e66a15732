/**
 * The workspace: a folder with `agentsync.yaml` (remotes, kind overrides, size cap) and
 * artifacts under `services/`. Found by walking up from the current directory, like git.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Document } from 'yaml';
import { fail } from '../model/errors.js';
import { resolveKinds, type CompiledPattern, type Kind } from '../model/kinds.js';
import { suggest } from '../model/suggest.js';
import { atomicWrite } from './fsio.js';

export const CONFIG_FILE = 'agentsync.yaml';
export const STORE_DIR = '.agentsync';
export const SERVICES_DIR = 'services';
export const DEFAULT_MAX_FILE_SIZE = 1024 * 1024;
const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface RemoteConfig {
  name: string;
  url: string;
}

export interface Workspace {
  root: string;
  services: string;
  storeDir: string;
  configPath: string;
  remotes: RemoteConfig[];
  kinds: Kind[];
  maxFileSize: number;
  /** Top-level keys of agentsync.yaml that mean nothing to agentsync (the CLI warns), with the closest known key. */
  unknownKeys?: { key: string; suggestion: string | null }[];
}

/** The top-level keys agentsync.yaml may hold. */
export const CONFIG_KEYS = ['remotes', 'kinds', 'maxFileSize'] as const;

/** Walk up from `start` to the folder holding agentsync.yaml. @throws AgentsyncError NOT_A_WORKSPACE */
export function findRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, CONFIG_FILE))) return dir;
    const up = dirname(dir);
    if (up === dir) fail('NOT_A_WORKSPACE', `no ${CONFIG_FILE} in ${resolve(start)} or any parent folder; run \`agentsync init\` first`, { cwd: start });
    dir = up;
  }
}

/** Parse agentsync.yaml keeping comments (loads the YAML library on demand). */
export async function readConfigDoc(path: string): Promise<Document> {
  const { parseDocument } = await import('./yaml-parse.js');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail('CONFIG_INVALID', `cannot read ${path}: ${(e as Error).message}`);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const [line, col] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : [0, 0];
    fail('CONFIG_INVALID', `${path}:${line}:${col}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '')}; fix the YAML`, { line, col });
  }
  return doc;
}

/** The workspace described by the parsed `agentsync.yaml`; `compiled` are cached kind patterns. */
export function parseConfig(root: string, value: unknown, compiled?: readonly CompiledPattern[]): Workspace {
  const configPath = join(root, CONFIG_FILE);
  const raw = (value ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('CONFIG_INVALID', `${configPath}: the top level must be a map`);
  const remotes: RemoteConfig[] = [];
  const r = raw.remotes ?? {};
  if (typeof r !== 'object' || r === null || Array.isArray(r)) fail('CONFIG_INVALID', `${configPath}: \`remotes\` must be a map of name to {url}`);
  for (const [name, v] of Object.entries(r as Record<string, unknown>)) {
    const url = typeof v === 'string' ? v : (v as { url?: unknown } | null)?.url;
    if (!REMOTE_NAME.test(name) || typeof url !== 'string' || !url) fail('CONFIG_INVALID', `${configPath}: remote ${JSON.stringify(name)} needs a \`url\``);
    checkRemoteUrl(url);
    remotes.push({ name, url });
  }
  const max = raw.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  if (typeof max !== 'number' || !Number.isInteger(max) || max <= 0) fail('CONFIG_INVALID', `${configPath}: \`maxFileSize\` must be a positive number of bytes`);
  const unknownKeys = Object.keys(raw).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k)).map((key) => ({ key, suggestion: suggest(key, CONFIG_KEYS) }));
  return {
    root, configPath, services: join(root, SERVICES_DIR), storeDir: join(root, STORE_DIR),
    remotes, kinds: resolveKinds(raw.kinds, compiled), maxFileSize: max,
    ...(unknownKeys.length ? { unknownKeys } : {}),
  };
}

export async function loadWorkspace(cwd: string): Promise<Workspace> {
  const root = findRoot(cwd);
  return parseConfig(root, (await readConfigDoc(join(root, CONFIG_FILE))).toJS());
}

/** What the config cache keys on: the file's identity and stat. */
export function configStamp(root: string): string {
  const st = statSync(join(root, CONFIG_FILE), { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : '';
}

/**
 * A remote URL must not carry credentials (`http://TOKEN@host/tenant`): agentsync.yaml is
 * committed to git. The URL is not echoed back (it holds the secret).
 * @throws REMOTE_URL_INVALID
 */
export function checkRemoteUrl(url: string): void {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return;
  let u: URL;
  try { u = new URL(url); } catch { return; } // not a URL: refused where it is opened
  if (u.username || u.password) {
    u.username = ''; u.password = '';
    fail('REMOTE_URL_INVALID', `a remote URL must not hold a token or password (agentsync.yaml is committed with your code); use ${u.href.replace(/\/$/, '')} and store the token with \`agentsync auth login\``, { url: u.href.replace(/\/$/, ''), reason: 'credentials' });
  }
}

export function checkRemoteName(name: string): void {
  if (!REMOTE_NAME.test(name)) fail('USAGE', `remote name ${JSON.stringify(name)} must start with a letter or digit and use only letters, digits, . _ -`);
}

/** Add or remove a remote, keeping the file's comments and layout. */
export async function editRemotes(ws: Workspace, edit: { add?: RemoteConfig; remove?: string }): Promise<void> {
  const doc = await readConfigDoc(ws.configPath);
  if (edit.add) {
    checkRemoteName(edit.add.name);
    checkRemoteUrl(edit.add.url);
    if (ws.remotes.some((r) => r.name === edit.add!.name)) fail('REMOTE_EXISTS', `remote ${edit.add.name} already exists; \`agentsync remote remove ${edit.add.name}\` first`, { remote: edit.add.name });
    if (!doc.has('remotes') || doc.get('remotes') === null) doc.set('remotes', doc.createNode({}));
    doc.setIn(['remotes', edit.add.name], doc.createNode({ url: edit.add.url }));
  }
  if (edit.remove) {
    if (!ws.remotes.some((r) => r.name === edit.remove)) fail('REMOTE_UNKNOWN', `no remote named ${edit.remove}; \`agentsync remote list\` shows them`, { remote: edit.remove });
    doc.deleteIn(['remotes', edit.remove]);
  }
  atomicWrite(ws.configPath, doc.toString());
}

export const CONFIG_TEMPLATE = `# agentsync workspace configuration
# Remotes: a folder path, file:// URL, or http(s)://host:port/<tenant>. "origin" is the default.
remotes: {}
# Kinds (defaults shown in SPEC.md) can be added or changed, e.g.:
# kinds:
#   prompts: { pattern: "prompts/**/*.md", schema: none }
# Artifacts larger than this many bytes are refused.
maxFileSize: ${DEFAULT_MAX_FILE_SIZE}
`;
