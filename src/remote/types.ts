/**
 * The remote interface every remote kind implements (directory now, HTTP next). The engine
 * talks only to this; each method maps to one step of the wire protocol in SPEC.md §6.
 * @module
 */
import type { ObjectId } from '../model/hash.js';
import type { Change } from '../model/manifest.js';
import type { Head, Version } from '../model/version.js';
import type { CreateVersionRequest } from '../store/remote-store.js';

export type { CreateVersionRequest };

export interface StoredObject {
  id: ObjectId;
  bytes: Uint8Array;
}

export interface Remote {
  readonly url: string;
  /** Pointers and last id. */
  head(): Promise<Head>;
  /** Versions with id > after, oldest first. */
  versions(after?: number): Promise<Version[]>;
  /** Changes of one version relative to its parent. */
  versionChanges(id: number): Promise<Change[]>;
  /** Changes turning version `from` (null: empty) into `to`: an incremental fetch. */
  changesBetween(from: number | null, to: number): Promise<Change[]>;
  /** Which of `ids` the remote lacks (object negotiation). */
  missing(ids: readonly ObjectId[]): Promise<ObjectId[]>;
  putObjects(objs: readonly StoredObject[]): Promise<void>;
  /** Download objects by id; throws OBJECT_MISSING when one is absent. */
  getObjects(ids: readonly ObjectId[]): Promise<StoredObject[]>;
  /**
   * The compare-and-swap create. `objects`: blobs of the new version sent with it (a small push:
   * one request instead of an upload and a create), stored with the version in the same batch or
   * transaction, so a refused create stores none (the HTTP remote uploads them first instead
   * when they pass the protocol's limits or the server predates them).
   */
  createVersion(req: CreateVersionRequest, objects?: readonly StoredObject[]): Promise<Version>;
  deploy(id: number): Promise<{ version: Version; head: Head }>;
  rollback(id: number): Promise<{ version: Version; head: Head }>;
  /** Release locks and connections. */
  close(): Promise<void>;
}

/** Bytes moved, for progress and the bench. */
export interface TransferStats {
  bytesSent: number;
  bytesReceived: number;
  requests: number;
}
