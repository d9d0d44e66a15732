/**
 * Versions on a remote: integer ids per remote, each a snapshot with parent, author, message,
 * time and state. Two pointers: latest published (what drift is measured against) and current
 * (what is active; rollback moves it, latest published stays).
 * @module
 */
import type { SnapshotHash } from './manifest.js';

export type VersionState = 'draft' | 'published';

export interface Version {
  id: number;
  snapshot: SnapshotHash;
  /** The latest published version this one was built on (null for the first). */
  parent: number | null;
  author: string;
  message: string;
  /** ISO 8601. */
  createdAt: string;
  state: VersionState;
  /** ISO 8601, when first published. */
  publishedAt?: string;
  /** Number of artifacts changed relative to the parent. */
  changed: number;
}

export interface Head {
  latestPublished: number | null;
  current: number | null;
  lastId: number;
}

export const EMPTY_HEAD: Head = { latestPublished: null, current: null, lastId: 0 };
