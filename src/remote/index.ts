/**
 * Resolving a remote URL to an implementation: a folder path or `file://` URL is a directory
 * remote; `http(s)://host:port/<tenant>` is the HTTP remote.
 * @module
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../model/errors.js';
import { CheckedRemote } from './checked.js';
import { DirectoryRemote } from './dir.js';
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
  return new CheckedRemote(openRaw(url, base, opts));
}

/** The remote at `url`, unchecked: only the server's own admin paths use it directly. */
function openRaw(url: string, base: string, opts: RemoteOptions): Remote {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (m && isHttpUrl(url)) return new LazyHttpRemote(url, opts);
  if (m && m[1]!.toLowerCase() !== 'file') {
    fail('REMOTE_URL_INVALID', `unsupported remote URL ${url}; use a folder path, file:// URL or http(s)://host:port/<tenant>`, { url });
  }
  let dir: string;
  try {
    dir = m ? fileURLToPath(url) : url;
  } catch {
    return fail('REMOTE_URL_INVALID', `invalid file URL ${url}; use file:///absolute/path`, { url });
  }
  return new DirectoryRemote(url, isAbsolute(dir) ? dir : resolve(base, dir), opts.env ? lockTimeout(opts.env) : undefined);
}

/**
 * The HTTP remote, loaded on its first call: commands that never reach the network (status,
 * hash, diff) do not pay for the HTTP client at start-up.
 */
class LazyHttpRemote implements Remote {
  private impl: Promise<Remote> | undefined;
  constructor(readonly url: string, private readonly opts: RemoteOptions) {}
  private get(): Promise<Remote> {
    this.impl ??= import('./http.js').then((m) => new m.HttpRemote(this.url, this.opts));
    return this.impl;
  }
  async head() { return (await this.get()).head(); }
  async versions(after?: number) { return (await this.get()).versions(after); }
  async versionChanges(id: number) { return (await this.get()).versionChanges(id); }
  async changesBetween(from: number | null, to: number) { return (await this.get()).changesBetween(from, to); }
  async missing(ids: readonly ObjectId[]) { return (await this.get()).missing(ids); }
  async putObjects(objs: readonly StoredObject[]) { return (await this.get()).putObjects(objs); }
  async getObjects(ids: readonly ObjectId[]) { return (await this.get()).getObjects(ids); }
  async createVersion(req: CreateVersionRequest) { return (await this.get()).createVersion(req); }
  async deploy(id: number) { return (await this.get()).deploy(id); }
  async rollback(id: number) { return (await this.get()).rollback(id); }
  async close() { if (this.impl) await (await this.impl).close(); }
}
