/**
 * The torture suite's short run (`AGENTSYNC_TORTURE_SHORT=1 node dist/fixtures/torture.js`, a
 * few runs of each row) as a child process: every row of its table must be ok (or skipped,
 * for the disk-full rows without root). The full run is `npm run torture`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

interface Row { test: string; runs: number; expected: string; happened: string; ok: boolean | 'skipped' }

let rows: Row[] = [];
let child: ChildProcess | undefined;
let out = '';
const dir = mkdtempSync(join(tmpdir(), 'agentsync-torture-test-'));

test.before(async () => {
  const file = join(dir, 'rows.json');
  child = spawn(process.execPath, [join(ROOT, 'dist', 'fixtures', 'torture.js')], {
    env: { ...process.env, AGENTSYNC_TORTURE_SHORT: '1', AGENTSYNC_TORTURE_JSON: file }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await new Promise<void>((r) => child!.on('close', () => r()));
  child = undefined;
  if (existsSync(file)) rows = JSON.parse(readFileSync(file, 'utf8')) as Row[];
});

test.after(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

// One test per row of the table (by the row's number), so a failure names the row.
const ROWS = ['1. ', '2a.', '2b.', '3. ', '4. hostile directory', '4. hostile HTTP', '5a.', '5b.', '6a.', '6b.', '6c.', '6d.', '7a.', '7b.', '8. ', '9. '];

for (const prefix of ROWS) {
  test(`torture row ${prefix.trim()}`, () => {
    const mine = rows.filter((r) => r.test.startsWith(prefix));
    assert.ok(mine.length > 0, `no row "${prefix}" in the torture table:\n${out.slice(-3000)}`);
    for (const r of mine) {
      assert.ok(r.ok === true || r.ok === 'skipped', `${r.test}\n  expected: ${r.expected}\n  happened: ${r.happened}`);
      if (r.ok === true) assert.ok(r.runs > 0, `${r.test}: no run`);
    }
  });
}

test('the torture table has no row this file does not know', () => {
  const unknown = rows.filter((r) => !ROWS.some((p) => r.test.startsWith(p)));
  assert.equal(unknown.map((r) => r.test), []);
});

test.run();
