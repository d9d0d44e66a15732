/**
 * An open workspace: config, local store, and the chosen remote (opened on first use).
 * Every engine operation takes a Context and returns data; nothing here prints.
 * @module
 */
import { fail } from '../model/errors.js';
import { compiledPatterns, type CompiledPattern } from '../model/kinds.js';
import { openRemote, type RemoteOptions } from '../remote/index.js';
import type { Remote } from '../remote/types.js';
import { LocalStore } from '../store/local.js';
import { CONFIG_FILE, STORE_DIR, configStamp, findRoot, parseConfig, readConfigDoc, type RemoteConfig, type Workspace } from '../workspace/config.js';
import { join } from 'node:path';
import { dec, jsonValue, lockTimeout } from '../store/db.js';

export interface Context {
  ws: Workspace;
  store: LocalStore;
  /** The selected remote's config (undefined when the workspace has none and none was asked for). */
  remoteConfig: RemoteConfig | undefined;
  remote(): Remote;
  close(): Promise<void>;
  /** Progress of long transfers (set on terminals only): done and total over the whole transfer. */
  progress?: ((done: number, total: number, what: string) => void) | undefined;
}

export interface ContextOptions extends RemoteOptions {
  cwd: string;
  remote?: string | undefined;
}

export async function openContext(opts: ContextOptions): Promise<Context> {
  const root = findRoot(opts.cwd);
  const store = await LocalStore.open(join(root, STORE_DIR), lockTimeout(opts.env));
  let ws: Workspace;
  let remoteConfig: RemoteConfig | undefined;
  try {
    ws = await cachedWorkspace(root, store);
    remoteConfig = pickRemote(ws, opts.remote);
  } catch (e) {
    await store.close();
    throw e;
  }
  let remote: Remote | undefined;
  return {
    ws, store, remoteConfig, progress: opts.progress,
    remote() {
      if (!remoteConfig) fail('REMOTE_UNKNOWN', 'this workspace has no remote; run `agentsync remote add origin <url>`');
      remote ??= openRemote(remoteConfig.url, ws.root, opts);
      return remote;
    },
    async close() {
      try {
        if (remote) await remote.close();
      } finally {
        await store.close();
      }
    },
  };
}

/** The named remote, or `origin`, or the only one. */
export function pickRemote(ws: Workspace, name: string | undefined): RemoteConfig | undefined {
  if (name) {
    const r = ws.remotes.find((x) => x.name === name);
    if (!r) fail('REMOTE_UNKNOWN', `no remote named ${name}; \`agentsync remote list\` shows them`, { remote: name });
    return r;
  }
  return ws.remotes.find((x) => x.name === 'origin') ?? (ws.remotes.length === 1 ? ws.remotes[0] : undefined);
}

export function remoteName(ctx: Context): string {
  if (!ctx.remoteConfig) fail('REMOTE_UNKNOWN', 'this workspace has no remote; run `agentsync remote add origin <url>`');
  return ctx.remoteConfig.name;
}

/**
 * The parsed agentsync.yaml, cached in the store under `config` keyed by the file's stat, so
 * that everyday commands do not load the YAML parser.
 */
async function cachedWorkspace(root: string, store: LocalStore): Promise<Workspace> {
  const stamp = configStamp(root);
  const hit = await store.db.get('config');
  let cached: { value: unknown; kinds?: CompiledPattern[] } | undefined;
  if (hit) {
    try {
      const c = JSON.parse(dec.decode(hit)) as { stamp: string; value: unknown; kinds?: CompiledPattern[] };
      if (c.stamp === stamp) cached = c;
    } catch { /* a damaged cache is rebuilt below */ }
  }
  const value = cached ? cached.value : (await readConfigDoc(join(root, CONFIG_FILE))).toJS();
  const ws = parseConfig(root, value, cached?.kinds);
  // (Entries of earlier versions have no compiled kinds: written again with them.)
  if (!cached?.kinds) await store.db.put('config', jsonValue({ stamp, value, kinds: compiledPatterns(ws.kinds) }));
  return ws;
}
