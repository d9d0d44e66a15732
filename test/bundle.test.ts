/**
 * The bundled CLI (`dist/bundle`, what `bin/agentsync.js` runs) behaves as the modules it is
 * built from (`dist/src`, what the in-process tests run): same output for the same commands,
 * including lazily loaded parts and external libraries.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../src/cli/main.js';
import { BIN, ROOT, cleanup, cli, read, tmp, workspace, write } from './helpers.js';

const t = suite('cli: the bundle');
t.after(cleanup);

function bin(cwd: string, ...args: string[]) {
  return binWith({}, cwd, ...args);
}

function binWith(env: Record<string, string>, cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', AGENTSYNC_AUTHOR: 'tester', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr, json: args.includes('--json') ? JSON.parse(r.stdout || 'null') : undefined };
}

t('bin/agentsync.js runs the bundle', () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'bundle', 'entry.js')));
  assert.match(readFileSync(BIN, 'utf8'), "import '../dist/bundle/entry.js'");
  const v = bin(ROOT, '--version');
  assert.is(v.code, 0);
  assert.ok(v.out.includes(VERSION));
});

t('the bundle and the in-process CLI agree: status, diff, validate, push, hash, errors', async () => {
  const remote = tmp();
  const ws = await workspace(remote);
  assert.is(bin(ws, 'push', '-m', 'first').code, 0);
  const p = join(ws, 'services', 'agents', 'welcome.yaml');
  writeFileSync(p + '.tmp', read(ws, 'agents/welcome.yaml') + '# edited\n');
  renameSync(p + '.tmp', p);
  write(ws, 'content/new/page.md', '# new\n');
  rmSync(join(ws, 'services', 'skills', 'sql-helper.yaml'));
  const states = (j: { entries: { path: string; state: string }[] }) => Object.fromEntries(j.entries.map((e) => [e.path, e.state]));
  const want = { 'agents/welcome.yaml': 'push', 'content/new/page.md': 'push', 'skills/sql-helper.yaml': 'push' };
  assert.equal(states(bin(ws, 'status', '--json').json), want);
  assert.equal(states((await cli(ws, 'status', '--json')).json), want);
  assert.equal(bin(ws, 'diff', '--json').json, (await cli(ws, 'diff', '--json')).json);
  assert.is(bin(ws, 'validate').code, 0); // loads the YAML library (external)
  write(ws, 'agents/broken.yaml', 'name: [unclosed\n');
  const bad = bin(ws, 'validate', '--json');
  assert.is(bad.code, 2);
  assert.equal(bad.json, (await cli(ws, 'validate', '--json')).json);
  assert.equal(bad.json.problems.map((x: { path: string }) => x.path), ['agents/broken.yaml']);
  rmSync(join(ws, 'services', 'agents', 'broken.yaml'));
  assert.is(bin(ws, 'push', '-m', 'second').code, 0);
  assert.equal(bin(ws, 'status', '--json').json.entries, []);
  assert.is(bin(ws, 'hash', '--json').json.snapshot, (await cli(ws, 'hash', '--json')).json.snapshot);
  const unknown = bin(ws, 'nosuchcommand');
  assert.is(unknown.code, 2);
  assert.match(unknown.err, '(USAGE)');
});

t('the bundle validates many artifacts with a worker thread beside the main one (its own entry, validate-worker.js)', async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'bundle', 'validate-worker.js')));
  const ws = await workspace(tmp(), { sample: false });
  for (let i = 0; i < 1100; i++) write(ws, `agents/a${String(i).padStart(4, '0')}.yaml`, `name: agent-${i}\n`);
  write(ws, 'agents/a1099.yaml', 'description: the last one has no name\n'); // in the worker's share
  const r = binWith({ AGENTSYNC_VALIDATE_THREADS: '2', AGENTSYNC_DEBUG: '1' }, ws, 'validate', '--json');
  assert.is(r.code, 2, r.err);
  assert.equal(r.json.problems.map((x: { path: string; line: number }) => [x.path, x.line]), [['agents/a1099.yaml', 1]]);
  assert.not.match(r.err, /validation worker failed/);
});

t.run();
