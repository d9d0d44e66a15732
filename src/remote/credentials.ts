/**
 * Client credentials: tokens for HTTP remotes, kept outside every workspace in
 * `$XDG_CONFIG_HOME/agentsync/credentials.json` (default `~/.config/agentsync/…`), mode 0600,
 * written atomically, keyed by the remote's normalised URL. `AGENTSYNC_TOKEN` overrides it.
 * Format: `{ "version": 1, "tokens": { "<url>": { "token": "as_…", "savedAt": "<ISO>" } } }`.
 * @module
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../model/errors.js';
import { atomicWrite } from '../workspace/fsio.js';

export type Env = Record<string, string | undefined>;

export interface CredentialEntry {
  token: string;
  savedAt: string;
}

export interface CredentialsFile {
  version: 1;
  tokens: Record<string, CredentialEntry>;
}

/** Where credentials live for this environment. */
export function credentialsPath(env: Env = {}): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && xdg.startsWith('/') ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'agentsync', 'credentials.json');
}

/** `HTTP://Host:80/acme/` → `http://host/acme`: the key credentials are stored under. */
export function credentialKey(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('REMOTE_URL_INVALID', `invalid remote URL ${url}; use http(s)://host:port/<tenant>`, { url });
  }
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

export function readCredentials(env: Env = {}): CredentialsFile {
  const p = credentialsPath(env);
  if (!existsSync(p)) return { version: 1, tokens: {} };
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as CredentialsFile;
    if (v && typeof v === 'object' && v.tokens && typeof v.tokens === 'object') return { version: 1, tokens: v.tokens };
  } catch { /* reported below */ }
  return fail('CONFIG_INVALID', `${p} is not a valid credentials file; delete it and run \`agentsync auth login\` again`, { path: p });
}

function writeCredentials(env: Env, c: CredentialsFile): string {
  const p = credentialsPath(env);
  mkdirSync(join(p, '..'), { recursive: true, mode: 0o700 });
  atomicWrite(p, JSON.stringify(c, null, 2) + '\n', 0o600);
  return p;
}

/** The stored token for `url`, if any. */
export function storedToken(env: Env, url: string): string | undefined {
  const p = credentialsPath(env);
  if (!existsSync(p)) return undefined;
  return readCredentials(env).tokens[credentialKey(url)]?.token;
}

/** Store `token` for `url`; returns the file's path. */
export function saveToken(env: Env, url: string, token: string): string {
  const c = readCredentials(env);
  c.tokens[credentialKey(url)] = { token, savedAt: new Date().toISOString() };
  return writeCredentials(env, c);
}

/** Forget the token for `url`; false when there was none. */
export function removeToken(env: Env, url: string): boolean {
  const c = readCredentials(env);
  const k = credentialKey(url);
  if (!c.tokens[k]) return false;
  delete c.tokens[k];
  writeCredentials(env, c);
  return true;
}
