import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { editOne, generateWorkspace, kindCounts } from '../fixtures/generate.js';

const N = 1000;
const tmp = mkdtempSync(join(tmpdir(), 'agentsync-gen-'));

/** All files under `dir`, as sorted `/`-separated paths relative to it. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...walk(dir, p));
    else out.push(p);
  }
  return out.sort();
}

function snapshot(dir: string): Map<string, string> {
  const services = join(dir, 'services');
  return new Map(walk(services).map((p) => [p, readFileSync(join(services, p), 'utf8')]));
}

function frontMatter(path: string, text: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(text);
  assert.ok(m, `${path}: front matter`);
  return parse(m[1]!, { uniqueKeys: true }) as Record<string, unknown>;
}

function kindOfPath(p: string): keyof ReturnType<typeof kindCounts> {
  if (/^agents\/[^/]+\.yaml$/.test(p)) return 'agents';
  if (/^skills\/[^/]+\.yaml$/.test(p)) return 'skills';
  if (/^mcp\/[^/]+\.yaml$/.test(p)) return 'mcp';
  if (/^content\/.+\.md$/.test(p)) return 'content';
  if (/^playbook\/.+\.md$/.test(p)) return 'playbook';
  throw new Error(`unexpected file ${p}`);
}

/** Checks every artifact parses and meets its kind's minimal schema. */
function checkValid(files: Map<string, string>): void {
  for (const [p, text] of files) {
    if (p.endsWith('.yaml')) {
      const v = parse(text, { uniqueKeys: true }) as Record<string, unknown>;
      assert.type(v.name, 'string', `${p}: name`);
      assert.ok((v.name as string).length > 0, `${p}: non-empty name`);
      if (p.startsWith('mcp/')) assert.ok(typeof v.command === 'string' || typeof v.url === 'string', `${p}: command or url`);
      if (p.startsWith('agents/')) {
        assert.type(v.persona, 'string', `${p}: persona`);
        assert.ok(Array.isArray(v.tools) && v.tools.every((t: { name?: unknown }) => typeof t.name === 'string'), `${p}: tools`);
      }
      if (p.startsWith('skills/')) assert.ok(Array.isArray(v.inputs), `${p}: inputs`);
    } else {
      assert.type(frontMatter(p, text).title, 'string', `${p}: title`);
    }
  }
}

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('same seed writes the same bytes; another seed differs', () => {
  generateWorkspace(join(tmp, 'a'), N, 7);
  generateWorkspace(join(tmp, 'b'), N, 7);
  generateWorkspace(join(tmp, 'c'), N, 8);
  const a = snapshot(join(tmp, 'a'));
  const b = snapshot(join(tmp, 'b'));
  const c = snapshot(join(tmp, 'c'));
  assert.equal([...a.keys()], [...b.keys()]);
  for (const [p, text] of a) assert.ok(b.get(p) === text, `${p} differs between two runs with the same seed`);
  assert.not.equal([...a.entries()], [...c.entries()]);
});

test('counts per kind, sizes and folder fan-out', () => {
  const files = snapshot(join(tmp, 'a'));
  assert.is(files.size, N);
  const want = kindCounts(N);
  assert.equal(want, { agents: 250, skills: 200, mcp: 50, playbook: 100, content: 400 });
  const got = { agents: 0, skills: 0, mcp: 0, playbook: 0, content: 0 };
  const perFolder = new Map<string, number>();
  for (const [p, text] of files) {
    got[kindOfPath(p)]++;
    const bytes = Buffer.byteLength(text);
    assert.ok(bytes >= 500 && bytes <= 3000, `${p}: ${bytes} bytes`);
    const folder = p.slice(0, p.lastIndexOf('/'));
    perFolder.set(folder, (perFolder.get(folder) ?? 0) + 1);
  }
  assert.equal(got, want);
  const contentFolders = [...perFolder].filter(([f]) => f.startsWith('content/'));
  assert.ok(contentFolders.length >= 3, 'content is spread over several folders');
  assert.ok(contentFolders.every(([, k]) => k <= 50), 'at most 50 files per content folder');
  assert.ok([...perFolder.keys()].some((f) => f.split('/').length >= 4), 'some folders are nested');
});

test('every artifact parses and has the fields its kind needs', () => {
  checkValid(snapshot(join(tmp, 'a')));
});

test('small workspaces are exact too', () => {
  for (const n of [0, 1, 7, 21]) {
    const d = join(tmp, `small-${n}`);
    generateWorkspace(d, n);
    const files = n === 0 ? new Map<string, string>() : snapshot(d);
    assert.is(files.size, n);
    checkValid(files);
  }
});

test('editOne changes exactly one artifact, keeps it valid and is deterministic', () => {
  const d = join(tmp, 'a');
  const before = snapshot(d);
  const seen: string[] = [];
  for (let seed = 1; seed <= 12; seed++) {
    const prev = snapshot(d);
    const rel = editOne(d, seed);
    seen.push(rel);
    const next = snapshot(d);
    const changed = [...next].filter(([p, t]) => prev.get(p) !== t).map(([p]) => p);
    assert.equal(changed, [rel]);
    assert.ok(next.get(rel)!.length > prev.get(rel)!.length, 'an edit grows the file');
    checkValid(new Map([[rel, next.get(rel)!]]));
  }
  assert.ok(new Set(seen).size > 3, 'edits hit different artifacts');
  // The same edit sequence on an identical workspace picks the same files.
  const b = join(tmp, 'b');
  const rels: string[] = [];
  for (let seed = 1; seed <= 12; seed++) rels.push(editOne(b, seed));
  assert.equal(rels, seen);
  assert.equal(snapshot(b), snapshot(d));
  assert.is(snapshot(d).size, before.size);
});

test('editOne works on the hand-written sample workspace and fails on an empty one', () => {
  const d = join(tmp, 'sample');
  cpSync(fileURLToPath(new URL('../../fixtures/sample', import.meta.url)), d, { recursive: true });
  const before = snapshot(d);
  checkValid(before);
  const rel = editOne(d, 3);
  const after = snapshot(d);
  assert.ok(after.get(rel) !== before.get(rel));
  checkValid(after);
  assert.throws(() => editOne(join(tmp, 'empty'), 1), /no artifact/);
});

test.run();
