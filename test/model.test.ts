/**
 * The pure model: blob ids, manifests and snapshot hashes (known-answer vectors from coreutils
 * `sha256sum`), the three-way state table, artifact path safety, selectors and kinds.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentsyncError, ERROR_CODES, EXIT } from '../src/model/errors.js';
import { blobId, isObjectId } from '../src/model/hash.js';
import { compileKind, compiledPatterns, DEFAULT_KINDS, formatOf, kindOf, resolveKinds } from '../src/model/kinds.js';
import {
  applyChanges, decodeManifest, diffManifests, encodeManifest, EMPTY_SNAPSHOT, findClash, findClashAt, isSnapshotHash, manifestLookup, patchManifest, snapshotHash, snapshotHashOf,
  type Manifest,
} from '../src/model/manifest.js';
import { artifactPathProblem, checkArtifactPath, compareUtf8 } from '../src/model/paths.js';
import { compileSelectors } from '../src/model/selectors.js';
import { classify, sideOf } from '../src/model/state.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Known answers (coreutils sha256sum). */
const V = {
  welcome: { path: 'agents/welcome.yaml', text: 'name: welcome\n', id: '2a720e5b7d7a540cdf7042697317d3dc07aa62f9573374d297c501ff906b50a9' },
  hello: { path: 'content/blog/hello.md', text: '# Hello\n', id: '90f8ec5669cd34183b9b0fdf8b94f5efb4c3672876330f4aa76088c2b4ad17be' },
  empty: { path: 'content/empty.md', text: '', id: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
  b: { path: 'skills/b.yaml', text: 'name: b\n', id: '9aa29ea4012f59d336d24b7c12ddf5dea51a5c4ba44ae92dea070ce4e893708c' },
  snap4: 'sha256:54ff1ef2b8d5a6ad46fa5bb77313243f4632c714060bc3902d2ef751688fbb81',
  extra: [
    { path: 'content/Zeta.md', text: 'Z\n' },
    { path: 'content/z.md', text: 'z\n' },
    { path: 'content/é.md', text: 'e\n' },
  ],
  snap7: 'sha256:1a77ccc72e23686726a7044a44e6404c6b6a201673b67e7cfe6d5421a15bcb94',
};

/** Run `fn`, expecting an AgentsyncError with `code`; returns it. */
function throwsCode(fn: () => unknown, code: string): AgentsyncError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, AgentsyncError, `expected AgentsyncError ${code}, got ${String(e)}`);
    assert.is((e as AgentsyncError).code, code);
    assert.is((e as AgentsyncError).exitCode, ERROR_CODES[code as keyof typeof ERROR_CODES]);
    return e as AgentsyncError;
  }
  assert.unreachable(`expected ${code} to be thrown`);
  throw new Error('unreachable');
}

function manifestOf(files: { path: string; text: string }[]): Manifest {
  return new Map(files.map((f) => [f.path, blobId(enc.encode(f.text))]));
}

const four = () => manifestOf([V.welcome, V.hello, V.empty, V.b]);

// ---------------------------------------------------------------- hashes and manifests

const hash = suite('model: blob ids and snapshots');

hash('blobId matches sha256sum known answers', () => {
  for (const f of [V.welcome, V.hello, V.empty, V.b]) assert.is(blobId(enc.encode(f.text)), f.id, f.path);
  assert.ok(isObjectId(V.welcome.id));
  assert.not.ok(isObjectId(V.welcome.id.toUpperCase()));
  assert.not.ok(isObjectId(V.welcome.id.slice(1)));
});

hash('snapshot hash of the four-file manifest', () => {
  const m = four();
  assert.is(snapshotHash(m), V.snap4);
  // The manifest is exactly sha256sum's output in C-locale order.
  const expected = [V.welcome, V.hello, V.empty, V.b].map((f) => `${f.id}  ${f.path}\n`).join('');
  assert.is(dec.decode(encodeManifest(m)), expected);
  assert.is(snapshotHashOf(enc.encode(expected)), V.snap4);
});

hash('snapshot hash with C-locale (UTF-8 byte) ordering', () => {
  const m = manifestOf([V.b, ...V.extra, V.empty, V.welcome, V.hello]); // insertion order is irrelevant
  assert.is(snapshotHash(m), V.snap7);
  const paths = dec.decode(encodeManifest(m)).trimEnd().split('\n').map((l) => l.slice(66));
  assert.equal(paths, ['agents/welcome.yaml', 'content/Zeta.md', 'content/blog/hello.md', 'content/empty.md', 'content/z.md', 'content/é.md', 'skills/b.yaml']);
});

hash('empty manifest: empty bytes, EMPTY_SNAPSHOT', () => {
  assert.is(encodeManifest(new Map()).length, 0);
  assert.is(snapshotHash(new Map()), EMPTY_SNAPSHOT);
  assert.is(EMPTY_SNAPSHOT, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(decodeManifest(new Uint8Array(0)), new Map());
  assert.ok(isSnapshotHash(V.snap4));
  assert.not.ok(isSnapshotHash(V.snap4.slice(7)));
  assert.not.ok(isSnapshotHash('sha1:' + V.welcome.id));
});

hash('compareUtf8 is byte order, not UTF-16 order', () => {
  assert.ok(compareUtf8('Z', 'a') < 0);
  assert.ok(compareUtf8('a/b', 'a0') < 0); // '/' 0x2f < '0' 0x30
  assert.ok(compareUtf8('z', 'é') < 0);
  // U+FF5E (EF BD 9E) vs U+1F600 (F0 9F 98 80): UTF-16 code units say the emoji is smaller (D83D < FF5E).
  assert.ok(compareUtf8('\uff5e', '\u{1f600}') < 0);
  assert.ok(compareUtf8('\u{1f600}', '\uff5e') > 0);
  assert.is(compareUtf8('same', 'same'), 0);
  assert.ok(compareUtf8('ab', 'abc') < 0);
});

hash('manifest round trip, including non-BMP and ordering edge cases', () => {
  const m = manifestOf([V.welcome, ...V.extra, { path: 'content/\uff5e.md', text: 'a' }, { path: 'content/\u{1f600}.md', text: 'b' }, { path: 'content/a b.md', text: 'c' }]);
  const bytes = encodeManifest(m);
  const back = decodeManifest(bytes);
  assert.equal(back, m);
  assert.equal([...back.keys()].slice(-2), ['content/\uff5e.md', 'content/\u{1f600}.md']);
  assert.equal(encodeManifest(back), bytes);
});

hash('decodeManifest rejects unsorted, duplicate and malformed manifests', () => {
  const line = (id: string, p: string) => `${id}  ${p}\n`;
  const ok = line(V.welcome.id, 'a.md') + line(V.b.id, 'b.md');
  assert.is(decodeManifest(enc.encode(ok)).size, 2);
  throwsCode(() => decodeManifest(enc.encode(line(V.b.id, 'b.md') + line(V.welcome.id, 'a.md'))), 'STORE_CORRUPT');
  throwsCode(() => decodeManifest(enc.encode(line(V.b.id, 'a.md') + line(V.welcome.id, 'a.md'))), 'STORE_CORRUPT');
  // UTF-16 order is not accepted: é (C3 A9) sorts after z.
  throwsCode(() => decodeManifest(enc.encode(line(V.b.id, 'é.md') + line(V.welcome.id, 'z.md'))), 'STORE_CORRUPT');
  throwsCode(() => decodeManifest(enc.encode(ok.slice(0, -1))), 'STORE_CORRUPT'); // no final newline
  throwsCode(() => decodeManifest(enc.encode(`${V.b.id} a.md\n`)), 'STORE_CORRUPT'); // one space
  throwsCode(() => decodeManifest(enc.encode(`${V.b.id.toUpperCase()}  a.md\n`)), 'STORE_CORRUPT');
  throwsCode(() => decodeManifest(enc.encode(`${V.b.id.slice(2)}  a.md\n`)), 'STORE_CORRUPT');
  throwsCode(() => decodeManifest(enc.encode(`${V.b.id}  \n`)), 'STORE_CORRUPT'); // empty path
  throwsCode(() => decodeManifest(enc.encode('\n')), 'STORE_CORRUPT');
  throwsCode(() => decodeManifest(new Uint8Array([0xff, 0xfe, 0x0a])), 'STORE_CORRUPT'); // not UTF-8
});

hash('decodeManifest rejects unsafe paths with PATH_UNSAFE', () => {
  for (const p of ['../etc/passwd', 'a/../b.md', '/abs.md', 'a//b.md', 'a\\b.md', 'a/./b.md', 'a\tb.md']) {
    const e = throwsCode(() => decodeManifest(enc.encode(`${V.b.id}  ${p}\n`)), 'PATH_UNSAFE');
    assert.is(e.data.path, p);
  }
});

hash('diffManifests and applyChanges', () => {
  const a = manifestOf([V.welcome, V.hello, V.empty]);
  const b = manifestOf([{ path: V.welcome.path, text: 'name: welcome2\n' }, V.hello, V.b]);
  const changes = diffManifests(a, b);
  assert.equal(changes, [
    { path: 'agents/welcome.yaml', id: blobId(enc.encode('name: welcome2\n')) },
    { path: 'content/empty.md', id: null },
    { path: 'skills/b.yaml', id: V.b.id },
  ]);
  assert.equal(applyChanges(a, changes), b);
  assert.equal(diffManifests(a, a), []);
  assert.equal(diffManifests(new Map(), a).length, 3);
  assert.equal(applyChanges(new Map(), diffManifests(new Map(), a)), a);
  // applyChanges does not mutate its input
  const before = new Map(a);
  applyChanges(a, [{ path: 'x.md', id: V.b.id }, { path: V.welcome.path, id: null }]);
  assert.equal(a, before);
  // diff is sorted by UTF-8 bytes
  const c = diffManifests(new Map(), manifestOf(V.extra));
  assert.equal(c.map((x) => x.path), ['content/Zeta.md', 'content/z.md', 'content/é.md']);
});

hash('patchManifest gives the bytes of encode(apply(decode)) and refuses unsorted changes', () => {
  const names = ['a.md', 'agents/x.yaml', 'content/Zeta.md', 'content/z.md', 'content/é.md', 'content/ü/a.md', 'mcp/m.yaml', 'skills/b.yaml', 'z/z/z.md'];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const id = (i: number) => blobId(enc.encode(String(i)));
  for (let round = 0; round < 300; round++) {
    const m: Manifest = new Map();
    for (const n of names) if (rnd() < 0.5) m.set(n, id(Math.floor(rnd() * 5)));
    const bytes = encodeManifest(m);
    const changes = names.filter(() => rnd() < 0.4).map((path) => ({ path, id: rnd() < 0.3 ? null : id(Math.floor(rnd() * 5)) }));
    const got = patchManifest(bytes, changes);
    assert.ok(got);
    assert.is(dec.decode(got), dec.decode(encodeManifest(applyChanges(m, changes))));
    for (const n of names) assert.is(manifestLookup(bytes, n), m.get(n), n);
    assert.is(manifestLookup(bytes, 'content/y.md'), undefined);
  }
  assert.is(patchManifest(new Uint8Array(0), [{ path: 'b.md', id: V.b.id }, { path: 'a.md', id: V.b.id }]), undefined);
  assert.is(patchManifest(new Uint8Array(0), [{ path: 'a.md', id: V.b.id }, { path: 'a.md', id: null }]), undefined);
});

hash.run();

// ---------------------------------------------------------------- the state table

const table = suite('model: three-way classify');
const A = 'a'.repeat(64), B = 'b'.repeat(64), C = 'c'.repeat(64);
type Row = [string, string | undefined, string | undefined, string | undefined, string, string, string];
// name, local, base, remote, local side, remote side, state
const ROWS: Row[] = [
  ['clean', A, A, A, 'unchanged', 'unchanged', 'clean'],
  ['push: local added', A, undefined, undefined, 'added', 'unchanged', 'push'],
  ['push: local modified', B, A, A, 'modified', 'unchanged', 'push'],
  ['push: local deleted', undefined, A, A, 'deleted', 'unchanged', 'push'],
  ['pull: remote added', undefined, undefined, A, 'unchanged', 'added', 'pull'],
  ['pull: remote modified', A, A, B, 'unchanged', 'modified', 'pull'],
  ['pull: remote deleted', A, A, undefined, 'unchanged', 'deleted', 'pull'],
  ['converged: both added same', A, undefined, A, 'added', 'added', 'converged'],
  ['converged: both modified same', B, A, B, 'modified', 'modified', 'converged'],
  ['converged: both deleted', undefined, A, undefined, 'deleted', 'deleted', 'converged'],
  ['conflict: add/add different', A, undefined, B, 'added', 'added', 'conflict'],
  ['conflict: modify/modify different', B, A, C, 'modified', 'modified', 'conflict'],
  ['conflict: delete/modify', undefined, A, B, 'deleted', 'modified', 'conflict'],
  ['conflict: modify/delete', B, A, undefined, 'modified', 'deleted', 'conflict'],
];
for (const [name, l, b, r, ls, rs, state] of ROWS) {
  table(name, () => {
    assert.equal(classify(l, b, r), { local: ls, remote: rs, state });
  });
}
table('absent everywhere is clean; sideOf', () => {
  assert.equal(classify(undefined, undefined, undefined), { local: 'unchanged', remote: 'unchanged', state: 'clean' });
  assert.is(sideOf(undefined, A), 'added');
  assert.is(sideOf(A, undefined), 'deleted');
  assert.is(sideOf(A, B), 'modified');
  assert.is(sideOf(A, A), 'unchanged');
});
table.run();

// ---------------------------------------------------------------- paths

const paths = suite('model: artifact paths');
paths('safe paths', () => {
  for (const p of ['agents/welcome.yaml', 'content/blog/hello.md', 'content/é.md', 'a b/c.md', '.hidden/x.md', 'a..b.md', '...']) {
    assert.is(artifactPathProblem(p), null, p);
    assert.is(checkArtifactPath(p), p);
  }
});
paths('unsafe paths', () => {
  const bad = ['', '..', '../x.md', 'a/../x.md', 'a/..', '.', './x.md', 'a/./b', 'a\\b.md', '..\\x.md', '/etc/passwd', '/', 'a//b.md', 'a/', '/a',
    'a\nb.md', 'a\rb.md', 'a\tb.md', 'a\u0000b.md', 'a\u001fb.md', 'a\u007fb.md'];
  for (const p of bad) {
    assert.type(artifactPathProblem(p), 'string', JSON.stringify(p));
    const e = throwsCode(() => checkArtifactPath(p), 'PATH_UNSAFE');
    assert.is(e.data.path, p);
    assert.is(e.exitCode, EXIT.USAGE);
  }
});
paths('length limits: 255 bytes a name, 1024 bytes a path (UTF-8), and no lone surrogate', () => {
  assert.is(artifactPathProblem(`content/${'n'.repeat(252)}.md`), null); // 255 bytes
  assert.type(artifactPathProblem(`content/${'n'.repeat(253)}.md`), 'string'); // 256
  assert.is(artifactPathProblem(`content/${'é'.repeat(126)}.md`), null); // 252 + 3
  assert.type(artifactPathProblem(`content/${'é'.repeat(127)}.md`), 'string'); // 254 + 3
  const deep = `content/${Array.from({ length: 100 }, () => 'abcdefghi').join('/')}.md`; // 8 + 999 + 3 = 1010
  assert.is(artifactPathProblem(deep), null);
  assert.type(artifactPathProblem(`content/abcdefghijklmn/${deep.slice(8)}`), 'string'); // 23 + 1002 = 1025
  assert.type(artifactPathProblem('content/a\ud800.md'), 'string');
  assert.is(artifactPathProblem('content/\u{1f600}.md'), null); // a paired surrogate is fine
});
paths('findClash and findClashAt: a file that is also a folder of another path', () => {
  const id = V.b.id;
  const m = new Map([['agents/a.yaml', id], ['agents/a.yaml.bak', id], ['agents/a.yaml/b.yaml', id], ['z.md', id]]);
  assert.equal(findClash(m), { file: 'agents/a.yaml', under: 'agents/a.yaml/b.yaml' });
  m.delete('agents/a.yaml/b.yaml');
  assert.is(findClash(m), null);
  const bytes = encodeManifest(new Map([['agents/a.yaml', id], ['agents/a.yaml-x/c.yaml', id], ['content/blog/x.md', id]]));
  assert.is(findClashAt(bytes, ['agents/b.yaml', 'content/blog/y.md', 'agents/a.yaml-x/d.yaml']), null);
  assert.equal(findClashAt(bytes, ['agents/a.yaml/b.yaml']), { file: 'agents/a.yaml', under: 'agents/a.yaml/b.yaml' });
  assert.equal(findClashAt(bytes, ['content/blog']), { file: 'content/blog', under: 'content/blog/x.md' });
  assert.equal(findClashAt(bytes, ['content']), { file: 'content', under: 'content/blog/x.md' });
});
paths('a trusted decode still refuses unsafe paths (a store written by something else)', () => {
  for (const p of ['../pwned.yaml', 'a/../../b.md', '/abs.md', 'a//b.md', 'a/', 'a\\b.md', 'a\tb.md', './a.md', `c/${'x'.repeat(300)}.md`]) {
    const e = throwsCode(() => decodeManifest(enc.encode(`${V.b.id}  ${p}\n`), { trusted: true }), 'PATH_UNSAFE');
    assert.is(e.data.path, p);
  }
  // Odd but safe paths decode.
  const ok = `${V.b.id}  a  ..\n${V.b.id}  my  /x.md\n`;
  assert.equal([...decodeManifest(enc.encode(ok), { trusted: true }).keys()], ['a  ..', 'my  /x.md']);
});
paths.run();

// ---------------------------------------------------------------- kinds and selectors

const kinds = suite('model: kinds and selectors');
const K = resolveKinds(undefined);
const known = ['agents/welcome.yaml', 'skills/b.yaml', 'content/blog/hello.md', 'content/blog/deep/x.md', 'content/empty.md', 'content/blogger.md', 'playbook/a.md'];

kinds('default kinds and kindOf', () => {
  assert.equal(K.map((k) => k.name), DEFAULT_KINDS.map((k) => k.name));
  assert.is(kindOf(K, 'agents/welcome.yaml')?.name, 'agents');
  assert.is(kindOf(K, 'agents/sub/x.yaml'), undefined); // agents/*.yaml is one level
  assert.is(kindOf(K, 'agents/welcome.yml'), undefined);
  assert.is(kindOf(K, 'skills/b.yaml')?.name, 'skills');
  assert.is(kindOf(K, 'mcp/github.yaml')?.name, 'mcp');
  assert.is(kindOf(K, 'content/a/b/c.md')?.name, 'content');
  assert.is(kindOf(K, 'content/top.md')?.name, 'content');
  assert.is(kindOf(K, 'playbook/releases/x.md')?.name, 'playbooks');
  assert.is(kindOf(K, 'notes/readme.md'), undefined);
  assert.is(kindOf(K, 'content/x.txt'), undefined);
  assert.is(kindOf(K, 'content/.hidden.md'), undefined);
  const c = compileKind({ name: 'x', pattern: 'a/b/*/c/**/*.md', schema: 'none' });
  assert.is(c.root, 'a/b');
  assert.is(c.depth, Infinity);
  assert.is(compileKind({ name: 'y', pattern: 'agents/*.yaml', schema: 'agent' }).depth, 0);
  // Kinds rebuilt from their cached compiled patterns (JSON) match exactly as the originals.
  const overrides = { prompts: { pattern: 'prompts/**/*.md' }, agents: { pattern: 'agents/*.y*ml' } };
  const fresh = resolveKinds(overrides);
  const cached = JSON.parse(JSON.stringify(compiledPatterns(fresh)));
  assert.is(cached.find((c: { pattern: string }) => c.pattern === 'prompts/**/*.md').depth, -1);
  const again = resolveKinds(overrides, cached);
  const probes = [...known, 'prompts/a/b.md', 'prompts/.x.md', 'agents/a.yml', 'agents/a.yaml', 'agents/x/a.yml', 'mcp/m.yaml', 'x.md'];
  for (const p of probes) assert.is(kindOf(again, p)?.name, kindOf(fresh, p)?.name, p);
  assert.equal(again.map((k) => [k.root, k.depth]), fresh.map((k) => [k.root, k.depth]));
  // A cached pattern for another pattern is not used.
  assert.is(compileKind({ name: 'z', pattern: 'z/*.md', schema: 'none' }, { ...cached[0], pattern: 'other' }).match('z/a.md'), true);
  assert.is(formatOf('a.yaml'), 'yaml');
  assert.is(formatOf('a.YML'), 'yaml');
  assert.is(formatOf('a.md'), 'markdown');
  assert.is(formatOf('a.txt'), 'text');
});

kinds('selectors: kind, path, services/ prefix, ./ prefix, folder, trailing slash', () => {
  const sel = (...s: string[]) => {
    const f = compileSelectors(s, K, known);
    return known.filter((p) => f(p, kindOf(K, p)?.name));
  };
  assert.equal(sel(), known);
  assert.equal(sel('agents'), ['agents/welcome.yaml']);
  assert.equal(sel('content'), ['content/blog/hello.md', 'content/blog/deep/x.md', 'content/empty.md', 'content/blogger.md']);
  assert.equal(sel('skills/b.yaml'), ['skills/b.yaml']);
  assert.equal(sel('services/skills/b.yaml'), ['skills/b.yaml']);
  assert.equal(sel('./services/skills/b.yaml'), ['skills/b.yaml']);
  // a folder selects below it, not siblings that share the prefix
  assert.equal(sel('content/blog'), ['content/blog/hello.md', 'content/blog/deep/x.md']);
  assert.equal(sel('content/blog/'), ['content/blog/hello.md', 'content/blog/deep/x.md']);
  assert.equal(sel('services/content/blog'), ['content/blog/hello.md', 'content/blog/deep/x.md']);
  assert.equal(sel('agents', 'content/empty.md'), ['agents/welcome.yaml', 'content/empty.md']);
  // a kind selects by kind, so the `playbooks` kind names the playbook/ folder
  assert.equal(sel('playbooks'), ['playbook/a.md']);
  assert.equal(sel('playbook'), ['playbook/a.md']);
});

kinds('unknown selector → SELECTOR_UNKNOWN', () => {
  for (const s of ['nope', 'agents/missing.yaml', 'content/blo', 'services/zzz']) {
    const e = throwsCode(() => compileSelectors([s], K, known), 'SELECTOR_UNKNOWN');
    assert.is(e.data.selector, s);
    assert.is(e.exitCode, EXIT.USAGE);
  }
  // one bad selector among good ones still fails
  throwsCode(() => compileSelectors(['agents', 'nope'], K, known), 'SELECTOR_UNKNOWN');
});

kinds('resolveKinds: add a kind, change a pattern, remove a kind', () => {
  const added = resolveKinds({ prompts: { pattern: 'prompts/**/*.md', schema: 'none' } });
  assert.is(added.length, DEFAULT_KINDS.length + 1);
  assert.is(kindOf(added, 'prompts/a/b.md')?.name, 'prompts');
  assert.is(kindOf(K, 'prompts/a/b.md'), undefined);
  const changed = resolveKinds({ agents: { pattern: 'agents/**/*.yml' } });
  const agents = changed.find((k) => k.name === 'agents')!;
  assert.is(agents.schema, 'agent'); // kept from the default
  assert.is(kindOf(changed, 'agents/x/y.yml')?.name, 'agents');
  assert.is(kindOf(changed, 'agents/welcome.yaml'), undefined);
  const schemaOnly = resolveKinds({ content: { schema: 'agent' } });
  assert.is(schemaOnly.find((k) => k.name === 'content')!.pattern, 'content/**/*.md');
  assert.is(schemaOnly.find((k) => k.name === 'content')!.schema, 'agent');
  const removed = resolveKinds({ mcp: null });
  assert.not.ok(removed.some((k) => k.name === 'mcp'));
  assert.is(resolveKinds(null).length, DEFAULT_KINDS.length);
});

kinds('resolveKinds: invalid overrides → CONFIG_INVALID', () => {
  const bad: unknown[] = [
    'prompts', ['prompts'], 42,
    { Prompts: { pattern: 'p/*.md' } },
    { '1x': { pattern: 'p/*.md' } },
    { prompts: 'p/*.md' },
    { prompts: ['p/*.md'] },
    { prompts: {} }, // new kind without a pattern
    { prompts: { pattern: '' } },
    { prompts: { pattern: '/abs/*.md' } },
    { prompts: { pattern: '../up/*.md' } },
    { prompts: { pattern: 'p/../../*.md' } },
    { prompts: { pattern: 7 } },
    { prompts: { pattern: 'p/*.md', schema: 'bogus' } },
  ];
  for (const o of bad) {
    const e = throwsCode(() => resolveKinds(o), 'CONFIG_INVALID');
    assert.is(e.exitCode, EXIT.USAGE);
  }
});

kinds.run();

// ---------------------------------------------------------------- errors

const errors = suite('model: errors');
errors('exit code of every error code is one of 1..4 and toJSON shape', () => {
  for (const [code, exit] of Object.entries(ERROR_CODES)) assert.ok([1, 2, 3, 4, 130].includes(exit), code);
  const e = new AgentsyncError('STALE_REMOTE', 'm', { latestPublished: 3 });
  assert.is(e.exitCode, 1);
  assert.equal(e.toJSON(), { code: 'STALE_REMOTE', message: 'm', data: { latestPublished: 3 } });
  assert.is(new AgentsyncError('REMOTE_UNREACHABLE', 'x').exitCode, EXIT.REMOTE);
  assert.is(new AgentsyncError('STORE_LOCKED', 'x').exitCode, EXIT.INTERNAL);
  assert.is(new AgentsyncError('USAGE', 'x').exitCode, EXIT.USAGE);
});
errors.run();
