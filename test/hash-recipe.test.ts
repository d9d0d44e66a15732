/**
 * The coreutils recipe of SPEC.md §2.3, taken from SPEC.md itself and run with bash in
 * `services/`, gives the hash `agentsync hash` prints — on the sample, with a link to a file
 * inside `services/`, with odd but valid names — and what the recipe could not see (a dangling
 * link, a name that is not UTF-8) is refused by the tool, never skipped silently.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, cli, needs, ok, ROOT, tmp, workspace, write } from './helpers.js';

const s = suite('hash: the SPEC §2.3 coreutils recipe agrees with agentsync hash');
s.after(() => cleanup());

const spec = readFileSync(join(ROOT, 'SPEC.md'), 'utf8');
const recipe = /CI can recompute it[\s\S]*?```sh\n([\s\S]*?)```/.exec(spec)![1]!;
const haveTools = spawnSync('bash', ['-c', 'command -v find sha256sum xargs sort sed'], { stdio: 'ignore' }).status === 0;
const t = needs(s, haveTools, 'hash recipe', 'bash, find or sha256sum missing');

function recipeHash(ws: string): string {
  const r = spawnSync('bash', ['-c', recipe], { cwd: join(ws, 'services'), encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

t('the sample, a link to a file inside services/, odd names: same hash', async () => {
  const ws = await workspace(join(tmp('agentsync-remote-'), 'remote'));
  assert.is(recipeHash(ws), (await ok(ws, 'hash', '--json')).json.snapshot);
  write(ws, 'content/blog/alias-target.md', '# target\n');
  symlinkSync('blog/alias-target.md', join(ws, 'services', 'content', 'alias.md'));
  write(ws, 'content/a b (c) é.md', '# odd\n');
  write(ws, 'playbook/deep/er/x.md', '# deep\n');
  const tool = (await ok(ws, 'hash', '--json')).json.snapshot;
  assert.is(recipeHash(ws), tool);
});

t('a dangling link and a name that is not UTF-8 are refused (PATH_UNSAFE), never skipped', async () => {
  const ws = await workspace(join(tmp('agentsync-remote-'), 'remote'));
  symlinkSync('nowhere.md', join(ws, 'services', 'content', 'dangling.md'));
  let r = await cli(ws, 'hash', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'PATH_UNSAFE');
  assert.is(r.json.error.data.path, 'content/dangling.md');
  spawnSync('rm', [join(ws, 'services', 'content', 'dangling.md')]);
  writeFileSync(Buffer.concat([Buffer.from(join(ws, 'services', 'content') + '/caf'), Buffer.from([0xe9]), Buffer.from('.md')]), '# latin-1\n');
  r = await cli(ws, 'hash', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'PATH_UNSAFE');
  assert.is(r.json.error.data.reason, 'not UTF-8');
});

s.run();
