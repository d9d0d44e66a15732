import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { mergeYaml, yamlSemanticallyEqual } from '../src/merge/yaml.js';
import { hasConflictMarkers, mergeArtifact } from '../src/merge/index.js';

const BASE = `# Agent: helper
name: helper
model: gpt-4 # pinned
tools:
  - name: search
    enabled: true
  - name: fetch
    enabled: false
settings:
  temperature: 0.2
  limits:
    max_tokens: 100
    timeout: 30
`;

const edit = (text: string, ...pairs: [string, string][]): string =>
  pairs.reduce((t, [from, to]) => {
    if (!t.includes(from)) throw new Error(`fixture lacks ${from}`);
    return t.replace(from, to);
  }, text);

interface Row {
  name: string;
  base?: string;
  ours: string;
  theirs: string;
  /** Expected merged value (clean), or conflict paths. */
  value?: unknown;
  conflicts?: (string | number)[][];
  contains?: string[];
}

const ROWS: Row[] = [
  {
    name: 'non-overlapping key edits on both sides',
    ours: edit(BASE, ['temperature: 0.2', 'temperature: 0.7']),
    theirs: edit(BASE, ['model: gpt-4 # pinned', 'model: gpt-5 # pinned']),
    value: { ...parse(BASE), model: 'gpt-5', settings: { temperature: 0.7, limits: { max_tokens: 100, timeout: 30 } } },
    contains: ['# Agent: helper', 'model: gpt-5'],
  },
  {
    name: 'list items matched by name merge field by field',
    ours: edit(BASE, ['    enabled: true', '    enabled: false\n    timeout: 5']),
    theirs: edit(BASE, ['  - name: fetch\n    enabled: false', '  - name: fetch\n    enabled: true']),
    value: {
      ...parse(BASE),
      tools: [{ name: 'search', enabled: false, timeout: 5 }, { name: 'fetch', enabled: true }],
    },
  },
  {
    name: 'list items added on each side by name, theirs in its relative position',
    ours: edit(BASE, ['    enabled: false\nsettings', '    enabled: false\n  - name: mail\n    enabled: true\nsettings']),
    theirs: edit(BASE, ['  - name: fetch', '  - name: browse\n    enabled: true\n  - name: fetch']),
    value: {
      ...parse(BASE),
      tools: [
        { name: 'search', enabled: true }, { name: 'browse', enabled: true },
        { name: 'fetch', enabled: false }, { name: 'mail', enabled: true },
      ],
    },
  },
  {
    name: 'list item removed on one side, untouched on the other',
    ours: BASE,
    theirs: edit(BASE, ['  - name: fetch\n    enabled: false\n', '']),
    value: { ...parse(BASE), tools: [{ name: 'search', enabled: true }] },
  },
  {
    name: 'list item removed on one side, changed on the other',
    ours: edit(BASE, ['  - name: fetch\n    enabled: false\n', '']),
    theirs: edit(BASE, ['  - name: fetch\n    enabled: false', '  - name: fetch\n    enabled: true']),
    conflicts: [['tools', 1]],
  },
  {
    name: 'scalar changed differently on both sides',
    ours: edit(BASE, ['max_tokens: 100', 'max_tokens: 200']),
    theirs: edit(BASE, ['max_tokens: 100', 'max_tokens: 300']),
    conflicts: [['settings', 'limits', 'max_tokens']],
  },
  {
    name: 'same change on both sides',
    ours: edit(BASE, ['timeout: 30', 'timeout: 60']),
    theirs: edit(BASE, ['timeout: 30', 'timeout: 60']),
    value: { ...parse(BASE), settings: { temperature: 0.2, limits: { max_tokens: 100, timeout: 60 } } },
  },
  {
    name: 'key added on both sides with the same value',
    ours: `${BASE}owner: ops\n`,
    theirs: `${BASE}owner: ops\n`,
    value: { ...parse(BASE), owner: 'ops' },
  },
  {
    name: 'key added on both sides with different values',
    ours: `${BASE}owner: ops\n`,
    theirs: `${BASE}owner: dev\n`,
    conflicts: [['owner']],
  },
  {
    name: 'key added on one side, nested key edited on the other',
    ours: edit(BASE, ['  temperature: 0.2', '  temperature: 0.2\n  top_p: 0.9']),
    theirs: edit(BASE, ['timeout: 30', 'timeout: 45']),
    value: { ...parse(BASE), settings: { temperature: 0.2, top_p: 0.9, limits: { max_tokens: 100, timeout: 45 } } },
  },
  {
    name: 'key deleted on one side, unchanged on the other',
    ours: edit(BASE, ['  temperature: 0.2\n', '']),
    theirs: edit(BASE, ['name: helper', 'name: helper2']),
    value: { ...parse(BASE), name: 'helper2', settings: { limits: { max_tokens: 100, timeout: 30 } } },
  },
  {
    name: 'key deleted on one side, modified on the other',
    ours: edit(BASE, ['    timeout: 30\n', '']),
    theirs: edit(BASE, ['timeout: 30', 'timeout: 90']),
    conflicts: [['settings', 'limits', 'timeout']],
  },
  {
    name: 'map replaced by scalar on one side, edited on the other',
    ours: edit(BASE, ['  limits:\n    max_tokens: 100\n    timeout: 30\n', '  limits: none\n']),
    theirs: edit(BASE, ['timeout: 30', 'timeout: 31']),
    conflicts: [['settings', 'limits']],
  },
  {
    name: 'plain list changed on one side is taken whole',
    base: 'tags: [a, b]\nname: x\n',
    ours: 'tags: [a, b]\nname: y\n',
    theirs: 'tags: [a, b, c]\nname: x\n',
    value: { tags: ['a', 'b', 'c'], name: 'y' },
  },
  {
    name: 'plain list changed differently on both sides',
    base: 'tags:\n  - a\n  - b\n',
    ours: 'tags:\n  - a\n  - c\n',
    theirs: 'tags:\n  - a\n  - d\n',
    conflicts: [['tags']],
  },
  {
    name: 'items keyed by id',
    base: 'servers:\n  - id: 1\n    url: a\n  - id: 2\n    url: b\n',
    ours: 'servers:\n  - id: 1\n    url: A\n  - id: 2\n    url: b\n',
    theirs: 'servers:\n  - id: 1\n    url: a\n  - id: 2\n    url: B\n',
    value: { servers: [{ id: 1, url: 'A' }, { id: 2, url: 'B' }] },
  },
  {
    name: 'comments on untouched parts survive, theirs comments come along',
    base: '# top comment\na: 1 # keep me\nb: 2\n\n# about c\nc: 3\n',
    ours: '# top comment\na: 1 # keep me\nb: 20\n\n# about c\nc: 3\n',
    theirs: '# top comment\na: 1 # keep me\nb: 2\n\n# about c\nc: 30 # changed remotely\n',
    value: { a: 1, b: 20, c: 30 },
    contains: ['# top comment', '# keep me', '# about c', '# changed remotely'],
  },
  {
    name: 'nested maps added on both sides merge by key',
    base: 'a: 1\n',
    ours: 'a: 1\nenv:\n  X: 1\n',
    theirs: 'a: 1\nenv:\n  Y: 2\n',
    value: { a: 1, env: { X: 1, Y: 2 } },
  },
];

for (const row of ROWS) {
  test(`mergeYaml: ${row.name}`, () => {
    const r = mergeYaml(row.base ?? BASE, row.ours, row.theirs);
    if (row.conflicts) {
      assert.is(r.clean, false);
      assert.ok('conflicts' in r, 'reports conflicts');
      if ('conflicts' in r) assert.equal(r.conflicts.map((c) => c.path), row.conflicts);
      return;
    }
    assert.ok(r.clean, `clean: ${JSON.stringify(r)}`);
    if (!r.clean) return;
    assert.equal(parse(r.text), row.value);
    for (const s of row.contains ?? []) assert.ok(r.text.includes(s), `output keeps ${JSON.stringify(s)}:\n${r.text}`);
  });
}

test('mergeYaml: a side unchanged returns the other text verbatim', () => {
  const ours = edit(BASE, ['model: gpt-4 # pinned', "model:   'gpt-4'   # pinned"]);
  assert.equal(mergeYaml(BASE, ours, BASE), { clean: true, text: ours });
  assert.equal(mergeYaml(BASE, BASE, ours), { clean: true, text: ours });
});

test('mergeYaml: unparseable input', () => {
  assert.equal(mergeYaml(BASE, 'a: [1, 2\n', BASE), { clean: false, unparseable: true });
  assert.equal(mergeYaml('a: b: c\n', BASE, BASE), { clean: false, unparseable: true });
  assert.equal(mergeYaml(BASE, BASE, 'a: 1\na: 2\n'), { clean: false, unparseable: true });
});

test('mergeYaml: empty documents', () => {
  const r = mergeYaml('', 'a: 1\n', '');
  assert.equal(r, { clean: true, text: 'a: 1\n' });
  const r2 = mergeYaml('', 'a: 1\n', 'b: 2\n');
  assert.ok(r2.clean && parse(r2.text).a === 1 && parse(r2.text).b === 2);
});

test('yamlSemanticallyEqual', () => {
  assert.ok(yamlSemanticallyEqual('a: 1\nb: 2\n', 'a: 1 # note\n\nb: 2\n'), 'comment and blank line');
  assert.ok(yamlSemanticallyEqual('a: 1\nb: 2\n', 'b: 2\na: 1\n'), 'key order');
  assert.ok(yamlSemanticallyEqual("a: 'x'\nb: [1, 2]\n", 'a: "x"\nb:\n  - 1\n  - 2\n'), 'quoting and flow style');
  assert.not.ok(yamlSemanticallyEqual('a: 1\n', 'a: 2\n'), 'real change');
  assert.not.ok(yamlSemanticallyEqual('a: 1\n', "a: '1'\n"), 'number vs string');
  assert.not.ok(yamlSemanticallyEqual('a: [1\n', 'a: [1\n'), 'unparseable');
});

test('mergeArtifact: YAML merges by key where lines would conflict', () => {
  const base = 'a: 1\nb: 2\n';
  const r = mergeArtifact('agents/x.yaml', base, 'a: 10\nb: 2\n', 'a: 1\nb: 20\n');
  assert.equal(r, { clean: true, text: 'a: 10\nb: 20\n', how: 'yaml' });
});

test('mergeArtifact: YAML conflict gives markers and yamlConflicts', () => {
  const r = mergeArtifact('agents/x.yml', 'a: 1\n', 'a: 2\n', 'a: 3\n');
  assert.is(r.clean, false);
  if (r.clean) return;
  assert.is(r.how, 'yaml');
  assert.equal(r.yamlConflicts?.map((c) => c.path), [['a']]);
  assert.is(r.text, '<<<<<<< local\na: 2\n=======\na: 3\n>>>>>>> remote\n');
  assert.is(r.conflicts, 1);
  assert.ok(hasConflictMarkers(r.text));
});

test('mergeArtifact: YAML key clash on distant lines is still a conflict', () => {
  const r = mergeArtifact('x.yaml', 'a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n', 'k: 1\na: 1\nb: 2\nc: 3\nd: 4\ne: 5\n', 'a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nk: 2\n');
  assert.is(r.clean, false);
  if (!r.clean) assert.ok(hasConflictMarkers(r.text));
});

test('mergeArtifact: unparseable YAML falls back to the line merge', () => {
  const base = 'a: [\nb: 1\nx: 1\ny: 1\nc: 1\n';
  const r = mergeArtifact('x.yaml', base, base.replace('b: 1', 'b: 2'), base.replace('c: 1', 'c: 2'));
  assert.equal(r, { clean: true, text: 'a: [\nb: 2\nx: 1\ny: 1\nc: 2\n', how: 'text' });
});

test('mergeArtifact: markdown merges by line with local/remote labels', () => {
  const r = mergeArtifact('content/a.md', '# T\n\nbody\n', '# T\n\nmine\n', '# T\n\ntheirs\n');
  assert.equal(r, { clean: false, text: '# T\n\n<<<<<<< local\nmine\n=======\ntheirs\n>>>>>>> remote\n', how: 'text', conflicts: 1 });
  const ok = mergeArtifact('content/a.md', '# T\n\nbody\n', '# Title\n\nbody\n', '# T\n\nbody\nmore\n');
  assert.equal(ok, { clean: true, text: '# Title\n\nbody\nmore\n', how: 'text' });
});

test('hasConflictMarkers', () => {
  assert.ok(hasConflictMarkers('x\n<<<<<<< local\na\n=======\nb\n>>>>>>> remote\n'));
  assert.ok(hasConflictMarkers('<<<<<<< local\r\na\r\n=======\r\nb\r\n>>>>>>> remote\r\n'));
  assert.not.ok(hasConflictMarkers('<<<<<<< local\na\n>>>>>>> remote\n'), 'no separator');
  assert.not.ok(hasConflictMarkers('=======\n<<<<<<< a\n>>>>>>> b\n'), 'wrong order');
  assert.not.ok(hasConflictMarkers('plain text\n'));
});

test('a trailing local comment keeps its spacing: no blank line added (git merge-file adds none), one kept', () => {
  const base = 'name: a\ndesc: one\n';
  const theirs = 'name: b\ndesc: one\n';
  for (const [ours, want] of [
    ['name: a\ndesc: one\n# trailing local comment\n', 'name: b\ndesc: one\n# trailing local comment\n'],
    ['name: a\ndesc: one\n# two\n# lines\n', 'name: b\ndesc: one\n# two\n# lines\n'],
    ['name: a\ndesc: one\n\n# after a blank line\n', 'name: b\ndesc: one\n\n# after a blank line\n'],
  ] as const) {
    const r = mergeArtifact('agents/a.yaml', base, ours, theirs);
    assert.is(r.clean, true);
    assert.is(r.text, want);
  }
});

test.run();
