/**
 * The validation verdict cache never hides a problem: a changed file is re-checked, invalid
 * files are never cached, and a schema change in agentsync.yaml invalidates earlier verdicts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blobId } from '../src/model/hash.js';
import { openDb } from '../src/store/db.js';
import { cleanup, cli, tmp, workspace, write } from './helpers.js';

test.after(cleanup);

test('verdicts are cached by bytes, format and schema; problems always surface', async () => {
  const ws = await workspace(join(tmp(), 'remote'), { sample: false });
  write(ws, 'agents/a.yaml', 'name: a\n');
  write(ws, 'content/doc.md', '---\ntitle: Doc\n---\n# Doc\n');
  assert.equal((await cli(ws, 'validate', '--json')).json, { artifacts: 2, problems: [] });
  assert.equal((await cli(ws, 'validate', '--json')).json, { artifacts: 2, problems: [] }); // from the cache
  // an edit changes the blob id: checked again
  write(ws, 'agents/a.yaml', 'description: no name\n');
  let r = await cli(ws, 'validate', '--json');
  assert.is(r.code, 2);
  assert.equal(r.json.problems.map((p: any) => p.path), ['agents/a.yaml']);
  // an invalid verdict is never cached
  r = await cli(ws, 'validate', '--json');
  assert.equal(r.json.problems.map((p: any) => p.path), ['agents/a.yaml']);
  // pushing refuses it too, via the same cache
  assert.is((await cli(ws, 'push', '--json')).json.error.code, 'VALIDATION_FAILED');
  write(ws, 'agents/a.yaml', 'name: a\n');
  assert.is((await cli(ws, 'validate')).code, 0);
  // the same bytes under a stricter schema are checked again
  const cfg = join(ws, 'agentsync.yaml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8') + 'kinds:\n  content: { pattern: "content/**/*.md", schema: agent }\n');
  r = await cli(ws, 'validate', '--json');
  assert.is(r.code, 2);
  assert.equal(r.json.problems.map((p: any) => p.path), ['content/doc.md']);
});

test('schema keys are read without converting the document; aliases and collections still judged right', async () => {
  const ws = await workspace(join(tmp(), 'remote'), { sample: false });
  write(ws, 'agents/alias.yaml', 'base: &n welcome\nname: *n\n');
  write(ws, 'agents/list.yaml', 'name: [a, b]\n');
  write(ws, 'agents/number.yaml', 'name: 42\n');
  write(ws, 'mcp/aliased-url.yaml', 'u: &u https://example.test\nname: m\nurl: *u\n');
  write(ws, 'mcp/none.yaml', 'name: m\n');
  write(ws, 'agents/broken.yaml', 'name: a\nname: b\n');
  const r = await cli(ws, 'validate', '--json');
  assert.equal(r.json.problems.map((p: any) => [p.path, p.line]).sort(), [['agents/broken.yaml', 2], ['agents/list.yaml', 1], ['agents/number.yaml', 1], ['mcp/none.yaml', 1]]);
});

test('verdicts live one key each, found by key for a few artifacts and by range for many', async () => {
  const ws = await workspace(join(tmp(), 'remote'), { sample: false });
  for (let i = 0; i < 300; i++) write(ws, `content/p${i}.md`, `# page ${i}\n`);
  write(ws, 'agents/bad.yaml', 'description: no name\n');
  const bad = blobId(readFileSync(join(ws, 'services', 'agents', 'bad.yaml')));
  assert.equal((await cli(ws, 'validate', '--json')).json.problems.map((p: any) => p.path), ['agents/bad.yaml']);
  const keys = async () => {
    const db = await openDb(join(ws, '.agentsync'));
    try { return (await db.keys({ gte: 'valid!', lt: 'valid"' }).all()); } finally { await db.close(); }
  };
  const found = await keys();
  assert.is(found.length, 300);
  assert.ok(found.every((k) => /^valid!v1 markdown none [0-9a-f]{64}$/.test(k)));
  // A verdict planted for the invalid file shows that the cache is read in both ways.
  const db = await openDb(join(ws, '.agentsync'));
  try { await db.put(`valid!v1 yaml agent ${bad}`, new Uint8Array(0)); } finally { await db.close(); }
  assert.equal((await cli(ws, 'validate', '--json')).json.problems, []); // 301 artifacts: the range
  write(ws, 'agents/new.yaml', 'name: new\n');
  const pushed = await cli(ws, 'push', 'agents', '--json'); // 2 artifacts: by key
  assert.is(pushed.code, 0, pushed.out + pushed.err);
  assert.is((await keys()).length, 302);
});

test('many artifacts are validated by worker threads beside the main one: the same problems, in the same order, as on one thread', async () => {
  const { validationStats } = await import('../src/engine/validation.js');
  const problems = async (threads: string) => {
    const ws = await workspace(join(tmp(), 'remote'), { sample: false });
    for (let i = 0; i < 1200; i++) write(ws, `agents/a${String(i).padStart(4, '0')}.yaml`, i % 400 === 7 ? `description: agent ${i} has no name\n` : `name: agent-${i}\nmodel: m\n`);
    write(ws, 'agents/a0600.yaml', 'name: agent\nmodel: [unclosed\n');
    process.env.AGENTSYNC_VALIDATE_THREADS = threads;
    try {
      const r = await cli(ws, 'validate', '--json');
      assert.is(r.code, 2, r.err);
      return r.json.problems as { path: string; line: number; col: number; message: string }[];
    } finally {
      delete process.env.AGENTSYNC_VALIDATE_THREADS;
    }
  };
  const before = { ...validationStats };
  const one = await problems('1');
  assert.equal(validationStats, before, 'one thread: no worker');
  assert.equal(one.map((p) => [p.path, p.line]), [['agents/a0007.yaml', 1], ['agents/a0407.yaml', 1], ['agents/a0600.yaml', 3], ['agents/a0807.yaml', 1]]);
  const three = await problems('3');
  assert.equal([validationStats.workerShares - before.workerShares, validationStats.fallbacks - before.fallbacks], [2, 0], 'two workers took a share each');
  assert.equal(three, one);
  // A hostile or silly AGENTSYNC_VALIDATE_THREADS: capped at 8 threads (7 workers); not a
  // positive integer, the default; the answer never changes.
  const mid = { ...validationStats };
  assert.equal(await problems('1e9'), one);
  assert.equal([validationStats.workerShares - mid.workerShares, validationStats.fallbacks - mid.fallbacks], [7, 0], 'at most 8 threads');
  for (const bad of ['-3', '0', '2.5', 'x\u001b[2J']) assert.equal(await problems(bad), one, bad);
});

test.run();
