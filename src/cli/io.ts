/**
 * The CLI's window on the world, injected so that tests drive it in-process: no direct use of
 * process.stdout, process.cwd or process.exit below this layer.
 * @module
 */
import { userInfo } from 'node:os';
import pc from 'picocolors';

export interface Io {
  cwd: string;
  env: Record<string, string | undefined>;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin?: NodeJS.ReadableStream;
  /** Standard input is an interactive terminal. */
  stdinTTY: boolean;
  /** Standard output is an interactive terminal (progress, colour). */
  stdoutTTY: boolean;
  /** `--color=<when>` / `--no-color` from the command line; unset means auto. */
  color?: ColorMode;
}

export type ColorMode = 'auto' | 'always' | 'never';

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Colour on or off: `--color=always|never` (`--no-color`) first; in auto mode FORCE_COLOR
 * (anything but `0` forces it on, `0` off), else on only for a terminal without NO_COLOR and
 * with a TERM other than `dumb`.
 */
export function colorOn(io: Io): boolean {
  if (io.color === 'always') return true;
  if (io.color === 'never') return false;
  const force = io.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0';
  return io.stdoutTTY && !io.env.NO_COLOR && io.env.TERM !== 'dumb';
}

export function colors(io: Io): Colors {
  return pc.createColors(colorOn(io));
}

/** The OS user: $USER (or $USERNAME), else the password database's name. */
function osUser(io: Io): string {
  let user = 'unknown';
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  return io.env.USER || io.env.USERNAME || user;
}

/**
 * `git config --get <key>` in `dir` (repository, global and system config, as git reads them);
 * without a git program, the repository's own config (isomorphic-git). Undefined when unset.
 */
async function gitConfig(io: Io, dir: string, key: string): Promise<string | undefined> {
  try {
    // Loaded here: node:child_process costs every command a few ms to load, and few need it.
    const { execFileSync } = await import('node:child_process');
    const v = execFileSync('git', ['config', '--get', key], { cwd: dir, env: io.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8', timeout: 5000 }).trim();
    return v || undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return undefined; // git ran: the key is unset
  }
  try {
    const m = (await import('isomorphic-git')) as typeof import('isomorphic-git') & { default?: typeof import('isomorphic-git') };
    const v: unknown = await (m.default ?? m).getConfig({ fs: await import('node:fs'), dir, path: key });
    return typeof v === 'string' && v ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The author recorded on a version, first that is set:
 * 1. `AGENTSYNC_AUTHOR` — an explicit choice for this run (a CI job, a bot) wins;
 * 2. when the workspace is in a git work tree, git's identity: `GIT_AUTHOR_NAME` or
 *    `user.name`, with `<GIT_AUTHOR_EMAIL or user.email>` when there is one;
 * 3. the OS user.
 */
export async function author(io: Io, root: string): Promise<string> {
  if (io.env.AGENTSYNC_AUTHOR) return io.env.AGENTSYNC_AUTHOR;
  const { findGitRoot } = await import('../workspace/git.js');
  const gitRoot = findGitRoot(root);
  if (gitRoot) {
    const name = io.env.GIT_AUTHOR_NAME || (await gitConfig(io, gitRoot, 'user.name'));
    if (name) {
      const email = io.env.GIT_AUTHOR_EMAIL || (await gitConfig(io, gitRoot, 'user.email'));
      return email ? `${name} <${email}>` : name;
    }
  }
  return osUser(io);
}

/**
 * One warning line on stderr, `agentsync: warning: <what> (<CODE>)`: something the command did
 * not do or could not find, said instead of ignored. The exit code is not changed.
 */
export function warn(io: Io, message: string, code: string): void {
  io.stderr(`agentsync: warning: ${message} (${code})\n`);
}

/** `3 minutes ago` style age of an ISO time. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`;
  return `${Math.round(h / 24)} days ago`;
}

export function json(io: Io, v: unknown): void {
  io.stdout(JSON.stringify(v, null, 2) + '\n');
}

/** `1 tenant`, `2 tenants`. */
export function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** `1536` → `1.5 KiB`: sizes for people (binary units, one decimal above KiB). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)} ${units[u]}`;
}
