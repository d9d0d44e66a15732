/**
 * Everything a remote sends is hostile until checked. `CheckedRemote` wraps any remote kind and
 * checks each answer before the engine sees it: pointers and versions well formed, every path
 * in a change list safe (SPEC §1.3; `PATH_UNSAFE`, so nothing is stored or written), every id
 * 64 hex digits. Object bytes are checked against their ids where they are stored (fetch).
 * @module
 */
import { fail } from '../model/errors.js';
import { isObjectId, type ObjectId } from '../model/hash.js';
import { isSnapshotHash, type Change } from '../model/manifest.js';
import { artifactPathProblem } from '../model/paths.js';
import type { Head, Version } from '../model/version.js';
import type { CreateVersionRequest, Remote, StoredObject } from './types.js';

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
const isIdOrNull = (v: unknown) => v === null || isId(v);

function protocol(url: string, what: string): never {
  return fail('REMOTE_PROTOCOL', `the remote ${url} ${what}; nothing was stored — check the remote (\`agentsync fsck\` on a folder remote, \`agentsync admin fsck\` on a server)`, { url });
}

export function checkHead(url: string, h: unknown): Head {
  const o = h as Head;
  if (typeof h !== 'object' || h === null || !isIdOrNull(o.latestPublished) || !isIdOrNull(o.current)
    || typeof o.lastId !== 'number' || !Number.isSafeInteger(o.lastId) || o.lastId < 0
    || (o.latestPublished ?? 0) > o.lastId || (o.current ?? 0) > o.lastId) protocol(url, 'sent malformed head pointers');
  return o;
}

export function checkVersion(url: string, v: unknown): Version {
  const o = v as Version;
  if (typeof v !== 'object' || v === null || !isId(o.id) || !isSnapshotHash(o.snapshot) || !isIdOrNull(o.parent)
    || typeof o.author !== 'string' || typeof o.message !== 'string' || typeof o.createdAt !== 'string'
    || (o.state !== 'draft' && o.state !== 'published') || (o.publishedAt !== undefined && typeof o.publishedAt !== 'string')
    || typeof o.changed !== 'number' || !Number.isSafeInteger(o.changed) || o.changed < 0) {
    protocol(url, `sent a malformed version${typeof o?.id === 'number' ? ` (v${o.id})` : ''}`);
  }
  return o;
}

/** Check a change list from a remote. @throws PATH_UNSAFE for an unsafe path, REMOTE_PROTOCOL for a malformed entry. */
export function checkChanges(url: string, changes: unknown): Change[] {
  if (!Array.isArray(changes)) protocol(url, 'sent a malformed change list');
  for (const c of changes as Change[]) {
    if (typeof c !== 'object' || c === null || typeof c.path !== 'string' || (c.id !== null && !isObjectId(c.id))) protocol(url, 'sent a malformed change');
    const why = artifactPathProblem(c.path);
    if (why) {
      fail('PATH_UNSAFE', `the remote ${url} names an unsafe path ${JSON.stringify(c.path)} (it ${why}); refusing it, nothing was written — the remote's data is damaged or hostile`, { path: c.path, reason: why, url });
    }
  }
  return changes as Change[];
}

export class CheckedRemote implements Remote {
  constructor(private readonly inner: Remote) {}
  get url(): string { return this.inner.url; }
  async head() { return checkHead(this.url, await this.inner.head()); }
  async versions(after?: number) {
    const vs = await this.inner.versions(after);
    if (!Array.isArray(vs)) protocol(this.url, 'sent a malformed version list');
    let prev = after ?? 0;
    for (const v of vs) {
      checkVersion(this.url, v);
      if (v.id <= prev) protocol(this.url, 'sent versions out of order');
      prev = v.id;
    }
    return vs;
  }
  async versionChanges(id: number) { return checkChanges(this.url, await this.inner.versionChanges(id)); }
  async changesBetween(from: number | null, to: number) { return checkChanges(this.url, await this.inner.changesBetween(from, to)); }
  async missing(ids: readonly ObjectId[]) {
    const m = await this.inner.missing(ids);
    if (!Array.isArray(m) || !m.every(isObjectId)) protocol(this.url, 'sent a malformed list of missing objects');
    return m;
  }
  putObjects(objs: readonly StoredObject[]) { return this.inner.putObjects(objs); }
  async getObjects(ids: readonly ObjectId[]) {
    const got = await this.inner.getObjects(ids);
    if (!Array.isArray(got) || got.length !== ids.length || got.some((o, i) => o?.id !== ids[i] || !(o.bytes instanceof Uint8Array))) protocol(this.url, 'sent objects that were not asked for');
    return got;
  }
  async createVersion(req: CreateVersionRequest, objects?: readonly StoredObject[]) { return checkVersion(this.url, await this.inner.createVersion(req, objects)); }
  async deploy(id: number) { const r = await this.inner.deploy(id); checkVersion(this.url, r?.version); checkHead(this.url, r.head); return r; }
  async rollback(id: number) { const r = await this.inner.rollback(id); checkVersion(this.url, r?.version); checkHead(this.url, r.head); return r; }
  close() { return this.inner.close(); }
}
