/**
 * Workspaces for the engine tests that call engine functions directly: an empty workspace on a new
 * directory remote, two clones of one remote, and the workspace's engine context.
 */
import { join } from 'node:path';
import { openContext, type Context } from '../src/engine/context.js';
import { ok, tmp, workspace, write } from './helpers.js';

/** A directory remote path (created by the first push) and an empty workspace on it. */
export async function emptyWs(remote = join(tmp('agentsync-mk-remote-'), 'remote')): Promise<{ remote: string; ws: string }> {
  return { remote, ws: await workspace(remote, { sample: false }) };
}

/** A pushes `files` to a new directory remote; B is a clone of it, pulled. */
export async function twoClones(files: Record<string, string>): Promise<{ a: string; b: string; remote: string }> {
  const { ws: a, remote } = await emptyWs();
  for (const [path, text] of Object.entries(files)) write(a, path, text);
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  return { a, b, remote };
}

/** Run `fn` with the workspace's engine context, closed after. */
export async function withCtx<T>(ws: string, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const ctx = await openContext({ cwd: ws, env: { ...process.env, AGENTSYNC_LOCK_TIMEOUT_MS: '3000' } });
  try { return await fn(ctx); } finally { await ctx.close(); }
}
