/**
 * The validation verdict cache never hides a problem: a changed file is re-checked, invalid
 * files are never cached, and a schema change in agentsync.yaml invalidates earlier verdicts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
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

test.run();
