/**
 * The remote kinds every contract/scenario test runs against. Each `make()` returns a fresh,
 * empty remote URL; `stop()` releases what it started.
 */
import { join } from 'node:path';
import { tmp } from './helpers.js';

export interface RemoteKind {
  name: string;
  make(): Promise<string>;
  stop(): Promise<void>;
}

export const dirRemote: RemoteKind = {
  name: 'directory',
  async make() { return join(tmp('agentsync-remote-'), 'remote'); },
  async stop() {},
};

/** Filled in by the HTTP layer: a real `serve` on an ephemeral loopback port. */
export const REMOTE_KINDS: RemoteKind[] = [dirRemote];
