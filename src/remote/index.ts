/**
 * Resolving a remote URL to an implementation: a folder path or `file://` URL is a directory
 * remote; `http(s)://host:port/<tenant>` is the HTTP remote.
 * @module
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../model/errors.js';
import { DirectoryRemote } from './dir.js';
import { lockTimeout } from '../store/db.js';
import { HttpRemote } from './http.js';
import type { Remote } from './types.js';

export interface RemoteOptions {
  /** Token from AGENTSYNC_TOKEN, overriding stored credentials (HTTP remotes). */
  token?: string;
  /** The environment the command runs in (credentials location, timeouts). */
  env?: Record<string, string | undefined>;
  /** Progress sink for long transfers (TTY only). */
  progress?: (done: number, total: number, what: string) => void;
}

export type RemoteFactory = (url: string, opts: RemoteOptions) => Remote;

/** Registered by the HTTP layer (kept out of the directory-only code path). */
const schemes = new Map<string, RemoteFactory>();
export function registerScheme(scheme: string, f: RemoteFactory): void {
  schemes.set(scheme, f);
}

export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** Open the remote at `url`, resolving relative folder paths against `base`. */
export function openRemote(url: string, base: string, opts: RemoteOptions = {}): Remote {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (m && isHttpUrl(url)) return new HttpRemote(url, opts);
  if (m && m[1]!.toLowerCase() !== 'file') {
    const f = schemes.get(m[1]!.toLowerCase());
    if (!f) fail('REMOTE_URL_INVALID', `unsupported remote URL ${url}; use a folder path, file:// URL or http(s)://host:port/<tenant>`, { url });
    return f(url, opts);
  }
  let dir: string;
  try {
    dir = m ? fileURLToPath(url) : url;
  } catch {
    return fail('REMOTE_URL_INVALID', `invalid file URL ${url}; use file:///absolute/path`, { url });
  }
  return new DirectoryRemote(url, isAbsolute(dir) ? dir : resolve(base, dir), opts.env ? lockTimeout(opts.env) : undefined);
}
