/**
 * Test helpers: temp folders, workspaces from the sample fixture, and the CLI run in-process
 * with captured output.
 */
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'uvu';
import { run } from '../src/cli/main.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SAMPLE = join(ROOT, 'fixtures', 'sample');
export const BIN = join(ROOT, 'bin', 'agentsync.js');

const made: string[] = [];
export function tmp(prefix = 'agentsync-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
export function cleanup(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
  json: any;
}

/** Run the CLI in-process in `cwd`. */
export async function cli(cwd: string, ...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await run(argv, {
    cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, AGENTSYNC_AUTHOR: 'tester', AGENTSYNC_LOCK_TIMEOUT_MS: '3000' },
    stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stdinTTY: false, stdoutTTY: false,
  });
  let json: unknown;
  if (argv.includes('--json')) { try { json = JSON.parse(out); } catch { json = undefined; } }
  return { code, out, err, json };
}

/** A workspace at a new temp folder, with `services/` copied from the sample fixture when `sample`. */
export async function workspace(remote: string, opts: { sample?: boolean } = {}): Promise<string> {
  const dir = tmp('agentsync-ws-');
  if (opts.sample !== false) cpSync(join(SAMPLE, 'services'), join(dir, 'services'), { recursive: true });
  const r = await cli(dir, 'init', '--remote', remote);
  if (r.code !== 0) throw new Error(`init failed: ${r.err}`);
  return dir;
}

export function write(ws: string, rel: string, text: string): void {
  const p = join(ws, 'services', rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
}

export function read(ws: string, rel: string): string | null {
  const p = join(ws, 'services', rel);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
}

/** Entries of `status --json` as {path: state}. */
export async function states(ws: string, ...args: string[]): Promise<Record<string, string>> {
  const r = await cli(ws, 'status', '--json', ...args);
  if (r.code !== 0 && r.code !== 1) throw new Error(`status failed: ${r.err}`);
  return Object.fromEntries((r.json.entries as { path: string; state: string }[]).map((e) => [e.path, e.state]));
}

/** Run the CLI and require exit 0 (the failure message carries stderr). */
export async function ok(cwd: string, ...argv: string[]): Promise<CliResult> {
  const r = await cli(cwd, ...argv);
  if (r.code !== 0) throw new Error(`agentsync ${argv.join(' ')} exited ${r.code}: ${r.err}`);
  return r;
}

/** Workspaces A and B on a fresh directory remote holding the sample as v1 (A pushed, B pulled). */
export async function pair(): Promise<{ remote: string; a: string; b: string }> {
  const remote = join(tmp('agentsync-remote-'), 'remote');
  const a = await workspace(remote);
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  await ok(b, 'pull');
  return { remote, a, b };
}

/**
 * Register tests that need something this machine may lack: when `have` is false each is
 * registered as skipped (counted in uvu's `Skipped:` total) and one line says which suite
 * skipped and why — never a silent pass.
 */
export function needs(t: Test<any>, have: boolean, suiteName: string, reason: string): (name: string, fn: (ctx: any) => void | Promise<void>) => void {
  if (have) return (name, fn) => t(name, fn);
  let said = false;
  return (name, fn) => {
    if (!said) { process.stderr.write(`skipped: ${suiteName} (${reason})\n`); said = true; }
    t.skip(name, fn);
  };
}
