/**
 * src/workspace/git.ts against real repositories (made with isomorphic-git, read back with it
 * and, when installed, the git CLI): finding the work tree, dirty detection, exact commits.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { findGitRoot, gitAuthor, gitCommit, gitDirty } from '../src/workspace/git.js';
import { cleanup, tmp } from './helpers.js';

const AUTHOR = { name: 't', email: 't@example.com' };
const HAS_GIT = spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0;

async function repo(files: Record<string, string>): Promise<string> {
  const dir = tmp('agentsync-git-');
  await git.init({ fs, dir, defaultBranch: 'main' });
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(join(dir, p, '..'), { recursive: true });
    fs.writeFileSync(join(dir, p), text);
    await git.add({ fs, dir, filepath: p });
  }
  if (Object.keys(files).length) await git.commit({ fs, dir, message: 'initial', author: AUTHOR });
  return dir;
}

async function fileAt(dir: string, oid: string, filepath: string): Promise<string | null> {
  try {
    const { blob } = await git.readBlob({ fs, dir, oid, filepath });
    return Buffer.from(blob).toString('utf8');
  } catch {
    return null;
  }
}

test('findGitRoot walks up to the folder holding .git; null outside', async () => {
  const dir = await repo({ 'a.txt': 'a\n' });
  fs.mkdirSync(join(dir, 'x', 'y'), { recursive: true });
  assert.is(findGitRoot(join(dir, 'x', 'y')), dir);
  assert.is(findGitRoot(dir), dir);
  const outside = tmp('agentsync-nogit-');
  // The temp folder itself is not inside a repository on a sane machine.
  if (findGitRoot('/') === null) assert.is(findGitRoot(outside), null);
});

test('gitDirty: modified, staged, untracked and deleted are dirty; clean and ignored are not', async () => {
  const dir = await repo({ 'clean.yaml': 'a: 1\n', 'mod.yaml': 'a: 1\n', 'staged.yaml': 'a: 1\n', 'gone.yaml': 'a: 1\n', '.gitignore': 'ignored.yaml\n' });
  fs.writeFileSync(join(dir, 'mod.yaml'), 'a: 2\n');
  fs.writeFileSync(join(dir, 'staged.yaml'), 'a: 3\n');
  await git.add({ fs, dir, filepath: 'staged.yaml' });
  fs.writeFileSync(join(dir, 'new.yaml'), 'a: 4\n');
  fs.writeFileSync(join(dir, 'ignored.yaml'), 'a: 5\n');
  fs.rmSync(join(dir, 'gone.yaml'));
  const names = ['clean', 'mod', 'staged', 'new', 'ignored', 'gone', 'absent'].map((n) => join(dir, `${n}.yaml`));
  const dirty = await gitDirty(dir, [...names, '/elsewhere/x.yaml']);
  assert.equal([...dirty].map((p) => p.slice(dir.length + 1)).sort(), ['gone.yaml', 'mod.yaml', 'new.yaml', 'staged.yaml']);
  assert.equal([...(await gitDirty(dir, []))], []);
});

test('gitDirty in a repository without commits: present files are untracked, hence dirty', async () => {
  const dir = await repo({});
  fs.writeFileSync(join(dir, 'a.yaml'), 'a\n');
  assert.equal([...(await gitDirty(dir, [join(dir, 'a.yaml')]))], [join(dir, 'a.yaml')]);
});

test('gitCommit commits exactly the given files (changes, additions, deletions); other staged work stays staged', async () => {
  const dir = await repo({ 'services/a.yaml': 'a: 1\n', 'services/sub/b.yaml': 'b: 1\n', 'services/c.yaml': 'c: 1\n', 'other.txt': 'o\n' });
  const head0 = await git.resolveRef({ fs, dir, ref: 'HEAD' });
  fs.writeFileSync(join(dir, 'services/a.yaml'), 'a: 2\n');
  fs.mkdirSync(join(dir, 'services/new'), { recursive: true });
  fs.writeFileSync(join(dir, 'services/new/n.yaml'), 'n: 1\n');
  fs.rmSync(join(dir, 'services/sub/b.yaml'));
  // Unrelated work: staged and unstaged edits that must not be committed.
  fs.writeFileSync(join(dir, 'other.txt'), 'staged\n');
  await git.add({ fs, dir, filepath: 'other.txt' });
  // (A different size: a same-size edit within the file system's timestamp tick of the index
  // write is invisible to git's stat check, as isomorphic-git does not smudge racy entries.)
  fs.writeFileSync(join(dir, 'services/c.yaml'), 'c: 20\n');

  const oid = await gitCommit(dir, ['services/a.yaml', 'services/new/n.yaml', 'services/sub/b.yaml'].map((p) => join(dir, p)), 'agentsync: pull from origin v3', AUTHOR);
  assert.is(await git.resolveRef({ fs, dir, ref: 'HEAD' }), oid);
  const { commit } = await git.readCommit({ fs, dir, oid });
  assert.equal(commit.parent, [head0]);
  assert.is(commit.message, 'agentsync: pull from origin v3\n');
  assert.is(commit.author.name, 't');
  assert.is(await fileAt(dir, oid, 'services/a.yaml'), 'a: 2\n');
  assert.is(await fileAt(dir, oid, 'services/new/n.yaml'), 'n: 1\n');
  assert.is(await fileAt(dir, oid, 'services/sub/b.yaml'), null);
  assert.is(await fileAt(dir, oid, 'services/c.yaml'), 'c: 1\n');
  assert.is(await fileAt(dir, oid, 'other.txt'), 'o\n');
  // Committed paths are clean now; the unrelated work is as it was.
  assert.equal([...(await gitDirty(dir, ['services/a.yaml', 'services/new/n.yaml'].map((p) => join(dir, p))))], []);
  assert.is(await git.status({ fs, dir, filepath: 'services/sub/b.yaml' }), 'absent');
  assert.is(await git.status({ fs, dir, filepath: 'other.txt' }), 'modified');
  assert.is(await git.status({ fs, dir, filepath: 'services/c.yaml' }), '*modified');
  if (HAS_GIT) {
    const fsck = spawnSync('git', ['fsck', '--strict'], { cwd: dir, encoding: 'utf8' });
    assert.is(fsck.status, 0, fsck.stderr);
    const st = spawnSync('git', ['status', '--porcelain'], { cwd: dir, encoding: 'utf8' });
    assert.equal(st.stdout.split('\n').filter(Boolean).sort(), [' M services/c.yaml', 'M  other.txt']);
  }
});

test('gitCommit makes the first commit of an empty repository', async () => {
  const dir = await repo({});
  fs.mkdirSync(join(dir, 'services'));
  fs.writeFileSync(join(dir, 'services/a.yaml'), 'a: 1\n');
  const oid = await gitCommit(dir, [join(dir, 'services/a.yaml')], 'first', AUTHOR);
  const { commit } = await git.readCommit({ fs, dir, oid });
  assert.equal(commit.parent, []);
  assert.is(await fileAt(dir, oid, 'services/a.yaml'), 'a: 1\n');
});

test('gitAuthor: environment, then repository config, then the fallback', async () => {
  const dir = await repo({});
  assert.equal(await gitAuthor(dir, 'fallback', {}), { name: 'fallback', email: 'fallback@localhost' });
  await git.setConfig({ fs, dir, path: 'user.name', value: 'Config Name' });
  await git.setConfig({ fs, dir, path: 'user.email', value: 'config@example.com' });
  assert.equal(await gitAuthor(dir, 'fallback', {}), { name: 'Config Name', email: 'config@example.com' });
  assert.equal(await gitAuthor(dir, 'fallback', { AGENTSYNC_AUTHOR: 'Env', GIT_AUTHOR_EMAIL: 'env@example.com' }), { name: 'Env', email: 'env@example.com' });
});

test.after(cleanup);
test.run();
