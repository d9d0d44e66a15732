/**
 * Long transfers show progress on a terminal, counted over the whole transfer (not per batch),
 * and print nothing on a pipe — on both remote kinds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../src/cli/main.js';
import { cleanup, cli, tmp } from './helpers.js';
import { REMOTE_KINDS } from './remotes.js';

const N = 2500;

/** The CLI in-process with standard output a terminal (or not); returns stderr. */
async function runTty(cwd: string, tty: boolean, ...argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await run(argv, {
    cwd, env: { ...process.env, NO_COLOR: '1', AGENTSYNC_AUTHOR: 'tester' },
    stdout: () => undefined, stderr: (s) => { err += s; }, stdinTTY: false, stdoutTTY: tty,
  });
  return { code, err };
}

function lastProgress(err: string, what: string): string | undefined {
  return err.split(/[\r\n]/).filter((l) => l.startsWith(`${what}: `)).at(-1);
}

for (const kind of REMOTE_KINDS) {
  const t = suite(`progress [${kind.name}]`);
  t.after(async () => {
    await kind.stop();
    cleanup();
  });

  t('push and pull of 2500 artifacts report overall progress on a terminal, nothing on a pipe', async () => {
    const url = await kind.make();
    const a = tmp();
    mkdirSync(join(a, 'services', 'content', 'many'), { recursive: true });
    for (let i = 0; i < N; i++) writeFileSync(join(a, 'services', 'content', 'many', `doc-${i}.md`), `# Doc ${i}\n`);
    assert.is((await cli(a, 'init', '--remote', url)).code, 0);
    const up = await runTty(a, true, 'push', '-m', 'many');
    assert.is(up.code, 0);
    assert.is(lastProgress(up.err, 'uploading objects'), `uploading objects: ${N}/${N}`);
    const b = tmp();
    assert.is((await cli(b, 'init', '--remote', url)).code, 0);
    const quiet = await runTty(b, false, 'fetch');
    assert.is(quiet.code, 0);
    assert.is(quiet.err, '');
    const c = tmp();
    assert.is((await cli(c, 'init', '--remote', url)).code, 0);
    const down = await runTty(c, true, 'pull');
    assert.is(down.code, 0);
    assert.is(lastProgress(down.err, 'downloading objects'), `downloading objects: ${N}/${N}`);
  });

  t.run();
}
