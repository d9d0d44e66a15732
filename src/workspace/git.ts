/**
 * git awareness (isomorphic-git, loaded on demand so everyday commands do not pay for it):
 * find the enclosing work tree, tell which files hold uncommitted work, and commit exactly the
 * files a pull wrote — other staged changes stay staged and out of the commit, like
 * `git commit -- <paths>`.
 * @module
 */
import * as nodeFs from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

type Git = typeof import('isomorphic-git');

async function loadGit(): Promise<Git> {
  const m = (await import('isomorphic-git')) as Git & { default?: Git };
  return m.default ?? m;
}

/** The enclosing git work tree (the folder holding `.git`), walking up from `dir`; null outside git. */
export function findGitRoot(dir: string): string | null {
  let d = resolve(dir);
  for (;;) {
    if (nodeFs.existsSync(join(d, '.git'))) return d;
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
}

/** `abs` as a slash-separated path inside `root`, or null when it is outside. */
function relPath(root: string, abs: string): string | null {
  const r = relative(root, abs);
  if (!r || r.startsWith('..') || resolve(root, r) !== resolve(abs)) return null;
  return r.split(sep).join('/');
}

/** Statuses that mean nothing would be lost by overwriting the working file. */
const SAFE = new Set(['unmodified', 'ignored', 'absent']);

/**
 * Which of `absPaths` hold work git could not give back if the file were overwritten: changed
 * from HEAD (in the working tree or staged), or present but untracked. One `git.status` per
 * file (with a shared cache), never a whole-tree scan. Paths outside the work tree are clean.
 */
export async function gitDirty(gitRoot: string, absPaths: readonly string[]): Promise<Set<string>> {
  const dirty = new Set<string>();
  if (absPaths.length === 0) return dirty;
  const git = await loadGit();
  const cache = {};
  for (const abs of absPaths) {
    const filepath = relPath(gitRoot, abs);
    if (filepath === null) continue;
    const s = await git.status({ fs: nodeFs, dir: gitRoot, filepath, cache });
    if (!SAFE.has(s)) dirty.add(abs);
  }
  return dirty;
}

export interface GitAuthor {
  name: string;
  email: string;
}

/**
 * The commit author: AGENTSYNC_AUTHOR / GIT_AUTHOR_NAME, else the repository's user.name, else
 * `fallbackName`; GIT_AUTHOR_EMAIL, else user.email, else `<name>@localhost`.
 */
export async function gitAuthor(gitRoot: string, fallbackName = 'agentsync', env: Record<string, string | undefined> = process.env): Promise<GitAuthor> {
  const git = await loadGit();
  const cfg = async (path: string): Promise<string | undefined> => {
    try {
      const v: unknown = await git.getConfig({ fs: nodeFs, dir: gitRoot, path });
      return typeof v === 'string' && v ? v : undefined;
    } catch {
      return undefined;
    }
  };
  const name = env.AGENTSYNC_AUTHOR || env.GIT_AUTHOR_NAME || (await cfg('user.name')) || fallbackName || 'agentsync';
  const email = env.GIT_AUTHOR_EMAIL || (await cfg('user.email')) || `${name.replace(/[^A-Za-z0-9._-]+/g, '.') || 'agentsync'}@localhost`;
  return { name, email };
}

interface TreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

/**
 * Commit the working contents of `absPaths` (absent files are committed as deletions) on top
 * of HEAD, and update the index for just those paths. Returns the new commit id. Ignored files
 * are left out. The commit holds HEAD's tree plus these paths only.
 */
export async function gitCommit(gitRoot: string, absPaths: readonly string[], message: string, author?: string | Partial<GitAuthor>, env: Record<string, string | undefined> = process.env): Promise<string> {
  const git = await loadGit();
  const dir = gitRoot;
  const fs = nodeFs;
  const cache = {};
  const changes = new Map<string, { oid: string; mode: string } | null>();
  for (const abs of absPaths) {
    const filepath = relPath(gitRoot, abs);
    if (filepath === null || filepath === '.git' || filepath.startsWith('.git/')) continue;
    const st = nodeFs.lstatSync(abs, { throwIfNoEntry: false });
    if (st?.isFile()) {
      if (await git.isIgnored({ fs, dir, filepath })) continue;
      const oid = await git.writeBlob({ fs, dir, blob: nodeFs.readFileSync(abs) });
      changes.set(filepath, { oid, mode: st.mode & 0o111 ? '100755' : '100644' });
    } else {
      changes.set(filepath, null);
    }
  }
  let head: string | null = null;
  try {
    head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
  } catch {
    head = null; // no commit yet
  }
  const rootTree = head ? (await git.readCommit({ fs, dir, oid: head, cache })).commit.tree : null;

  /** `tree` (null: empty) with `edits` (paths relative to it) applied; null when it ends up empty. */
  const rewrite = async (tree: string | null, edits: Map<string, { oid: string; mode: string } | null>): Promise<string | null> => {
    const entries = new Map<string, TreeEntry>();
    if (tree) for (const e of (await git.readTree({ fs, dir, oid: tree, cache })).tree) entries.set(e.path, e as TreeEntry);
    const sub = new Map<string, Map<string, { oid: string; mode: string } | null>>();
    for (const [p, v] of edits) {
      const i = p.indexOf('/');
      if (i < 0) {
        const old = entries.get(p);
        if (v === null) entries.delete(p);
        else entries.set(p, { path: p, oid: v.oid, type: 'blob', mode: old?.type === 'blob' && old.mode === '100755' ? '100755' : v.mode });
      } else {
        const head = p.slice(0, i);
        if (!sub.has(head)) sub.set(head, new Map());
        sub.get(head)!.set(p.slice(i + 1), v);
      }
    }
    for (const [name, e] of sub) {
      const old = entries.get(name);
      const oid = await rewrite(old?.type === 'tree' ? old.oid : null, e);
      if (oid === null) entries.delete(name);
      else entries.set(name, { path: name, oid, type: 'tree', mode: '040000' });
    }
    if (entries.size === 0) return null;
    return git.writeTree({ fs, dir, tree: [...entries.values()] });
  };
  const tree = (await rewrite(rootTree, changes)) ?? (await git.writeTree({ fs, dir, tree: [] }));
  // A version author in git's own form, `Name <email>`, is that identity as it stands.
  const ident = typeof author === 'string' ? /^(.+?) <([^<>]+)>$/.exec(author) : null;
  const who = ident ? { name: ident[1]!, email: ident[2]! } : typeof author === 'object' && author.name && author.email
    ? { name: author.name, email: author.email }
    : await gitAuthor(gitRoot, typeof author === 'string' ? author : author?.name, env);
  const oid = await git.commit({ fs, dir, message: message.endsWith('\n') ? message : `${message}\n`, author: who, tree, parent: head ? [head] : [], cache });
  // The index now agrees with the new HEAD for these paths.
  for (const [filepath, v] of changes) {
    if (v === null) await git.remove({ fs, dir, filepath, cache });
    else await git.add({ fs, dir, filepath, cache });
  }
  return oid;
}
