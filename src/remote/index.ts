/**
 * Resolving a remote URL to an implementation: a folder path or `file://` URL is a directory
 * remote; `http(s)://host:port/<tenant>` is the HTTP remote.
 * @module
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../model/errors.js';
import { lockTimeout } from '../store/db.js';
import type { ObjectId } from '../model/hash.js';
import type { CreateVersionRequest, StoredObject } from './types.js';
import type { Remote } from './types.js';

export interface RemoteOptions {
  /** Token from AGENTSYNC_TOKEN, overriding stored credentials (HTTP remotes). */
  token?: string;
  /** The environment the command runs in (credentials location, timeouts). */
  env?: Record<string, string | undefined>;
  /** Progress sink for long transfers (TTY only). */
  progress?: (done: number, total: number, what: string) => void;
}

export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** Open the remote at `url`, resolving relative folder paths against `base`. */
export function openRemote(url: string, base: string, opts: RemoteOptions = {}): Remote {
  const raw = openRaw(url, base, opts);
  return new LazyRemote(url, async () => new (await import('./checked.js')).CheckedRemote(await raw()));
}

/** How to load the remote at `url`, unchecked; the URL itself is judged at once. */
function openRaw(url: string, base: string, opts: RemoteOptions): () => Promise<Remote> {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (m && isHttpUrl(url)) return async () => new (await import('./http.js')).HttpRemote(url, opts);
  if (m && m[1]!.toLowerCase() !== 'file') {
    fail('REMOTE_URL_INVALID', `unsupported remote URL ${url}; use a folder path, file:// URL or http(s)://host:port/<tenant>`, { url });
  }
  let dir: string;
  try {
    dir = m ? fileURLToPath(url) : url;
  } catch {
    return fail('REMOTE_URL_INVALID', `invalid file URL ${url}; use file:///absolute/path`, { url });
  }
  const path = isAbsolute(dir) ? dir : resolve(base, dir);
  const waitMs = opts.env ? lockTimeout(opts.env) : undefined;
  return async () => new (await import('./dir.js')).DirectoryRemote(url, path, waitMs);
}

/**
 * A remote loaded on its first call: commands that never reach it (status, hash, diff) load
 * neither the HTTP client nor the directory remote's store at start-up.
 */
class LazyRemote implements Remote {
  private impl: Promise<Remote> | undefined;
  constructor(readonly url: string, private readonly load: () => Promise<Remote>) {}
  private get(): Promise<Remote> {
    this.impl ??= this.load();
    return this.impl;
  }
  async head() { return (await this.get()).head(); }
  async versions(after?: number) { return (await this.get()).versions(after); }
  async versionChanges(id: number) { return (await this.get()).versionChanges(id); }
  async changesBetween(from: number | null, to: number) { return (await this.get()).changesBetween(from, to); }
  async missing(ids: readonly ObjectId[]) { return (await this.get()).missing(ids); }
  async putObjects(objs: readonly StoredObject[]) { return (await this.get()).putObjects(objs); }
  async getObjects(ids: readonly ObjectId[]) { return (await this.get()).getObjects(ids); }
  async createVersion(req: CreateVersionRequest, objects?: readonly StoredObject[]) { return (await this.get()).createVersion(req, objects); }
  async deploy(id: number) { return (await this.get()).deploy(id); }
  async rollback(id: number) { return (await this.get()).rollback(id); }
  async close() {
    const r = this.impl && (await this.impl.catch(() => undefined)); // a remote that failed to load holds nothing
    if (r) await r.close();
  }
}
