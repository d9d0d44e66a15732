/**
 * Tests written to kill mutants that `npm run mutate` (fixtures/mutate.ts) found surviving: each
 * pins down an exact answer of a pure function that no other suite checked closely enough.
 * Grouped by the source file they cover; test/README.md lists the survivors that remain and why.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mergeText } from '../src/merge/diff3.js';
import { deepEqual } from '../src/merge/equal.js';
import { hasConflictMarkers, mergeArtifact } from '../src/merge/index.js';
import { mergeYaml, yamlSemanticallyEqual } from '../src/merge/yaml.js';
import { diskFullError, diskFullPath, isDiskFull, mapDiskFull } from '../src/model/diskfull.js';
import { AgentsyncError, ERROR_CODES, type ErrorCode } from '../src/model/errors.js';
import { isObjectId } from '../src/model/hash.js';
import { compiledPatterns, formatOf, kindOf, resolveKinds, type Kind } from '../src/model/kinds.js';
import {
  applyChanges, decodeManifest, encodeManifest, findClash, findClashAt, isSnapshotHash, manifestLookup, patchManifest, sortedPaths, type Manifest,
} from '../src/model/manifest.js';
import { artifactPathProblem, checkArtifactPath, compareUtf8, utf8Length } from '../src/model/paths.js';
import { compileSelectors } from '../src/model/selectors.js';
import { hasControl, printable } from '../src/model/text.js';
import { authenticate, checkScope, createToken, parseDuration, publicToken, revokeToken } from '../src/server/auth.js';
import { parseBody, parseQuery, readBody, Router, serverDiskFull, statusOf, versionId } from '../src/server/router.js';
import type { Storage, TokenRecord } from '../src/server/storage.js';

const diskfull = suite('mutation kills: src/model/diskfull.ts');

diskfull('isDiskFull: the errnos, DISK_FULL itself, LevelDB text, and causes up to four levels deep', () => {
  for (const code of ['ENOSPC', 'EDQUOT', 'DISK_FULL']) assert.is(isDiskFull({ code }), true, code);
  for (const code of ['EIO', 'ENOENT', 28, undefined]) assert.is(isDiskFull({ code }), false, String(code));
  assert.is(isDiskFull({ code: 'LEVEL_IO_ERROR', message: 'IO error: /d/000005.log: No space left on device' }), true);
  assert.is(isDiskFull({ message: 'IO error: /d/LOCK: Disk quota exceeded' }), true);
  assert.is(isDiskFull({ message: 'IO error: /d/LOCK: Permission denied' }), false);
  assert.is(isDiskFull({ message: 42 }), false);
  assert.is(isDiskFull({ message: ['No space left on device'] }), false, 'only a string message is read');
  assert.is(isDiskFull({ code: ['ENOSPC'] }), false, 'only a string code is read');
  assert.is(isDiskFull(null), false);
  assert.is(isDiskFull(undefined), false);
  assert.is(isDiskFull('ENOSPC'), false);
  const nest = (depth: number) => {
    let e: unknown = { code: 'ENOSPC' };
    for (let i = 0; i < depth; i++) e = { code: 'LEVEL_IO_ERROR', cause: e };
    return e;
  };
  assert.is(isDiskFull(nest(3)), true, 'the fourth error of the chain is read');
  assert.is(isDiskFull(nest(4)), false, 'the fifth is not');
});

diskfull('diskFullPath: the error\'s path, else the file LevelDB names, else none', () => {
  assert.is(diskFullPath({ code: 'ENOSPC', path: '/w/services/a.md' }), '/w/services/a.md');
  assert.is(diskFullPath({ code: 'LEVEL_IO_ERROR', message: 'IO error: /d/000005.log: No space left on device' }), '/d/000005.log');
  assert.is(diskFullPath({ message: 'IO error: /d/MANIFEST-000002: Disk quota exceeded' }), '/d/MANIFEST-000002');
  assert.is(diskFullPath({ code: 'LEVEL_IO_ERROR', path: 7, cause: { path: '/x/y' } }), '/x/y');
  assert.is(diskFullPath({ message: 'IO error: /d/LOCK: Permission denied' }), undefined);
  assert.is(diskFullPath({ code: 'ENOSPC' }), undefined);
  assert.is(diskFullPath({ message: ['IO error: /d/x: No space left on device'] }), undefined, 'only a string message is read');
  assert.is(diskFullPath(null), undefined);
});

diskfull('diskFullError and mapDiskFull: DISK_FULL with data.path only when known; other errors untouched', () => {
  const withPath = diskFullError({ code: 'ENOSPC', path: '/w/a' });
  assert.ok(withPath instanceof AgentsyncError);
  assert.is(withPath.code, 'DISK_FULL');
  assert.equal(withPath.data, { path: '/w/a' });
  assert.equal(diskFullError({ code: 'ENOSPC' }).data, {});
  const mapped = mapDiskFull({ code: 'ENOSPC', path: '/w/b' }) as AgentsyncError;
  assert.is(mapped.code, 'DISK_FULL');
  assert.equal(mapped.data, { path: '/w/b' });
  const already = new AgentsyncError('DISK_FULL', 'x', { path: '/q' });
  assert.is(mapDiskFull(already), already);
  const other = new Error('EIO');
  assert.is(mapDiskFull(other), other);
  const mine = new AgentsyncError('STORE_CORRUPT', 'x');
  assert.is(mine.name, 'AgentsyncError');
  assert.equal(mine.toJSON(), { code: 'STORE_CORRUPT', message: 'x', data: {} });
  assert.is(mapDiskFull(mine), mine);
});

diskfull.run();

const text = suite('mutation kills: src/model/text.ts');

text('printable: every control character escaped, by name for \\n \\t \\r, else \\xNN or \\uNNNN', () => {
  assert.is(printable('a\nb\tc\rd'), 'a\\nb\\tc\\rd');
  assert.is(printable('\x00\x1b[31m\x7f\x85\x9f'), '\\x00\\x1b[31m\\x7f\\x85\\x9f');
  assert.is(printable('x\ud800y'), 'x\\ud800y');
  assert.is(printable('é € \\ 😀 \xa0'), 'é € \\ 😀 \xa0');
});

text('hasControl: C0, DEL, C1, lone surrogates; allow lets named ones pass', () => {
  assert.is(hasControl('plain é 😀'), false);
  assert.is(hasControl('a\tb'), true);
  assert.is(hasControl('a\tb', '\t'), false);
  assert.is(hasControl('a\tb\n', '\t'), true);
  assert.is(hasControl('\x7f'), true);
  assert.is(hasControl('\x85'), true);
  assert.is(hasControl('\udc00'), true);
});

text.run();

const paths = suite('mutation kills: src/model/paths.ts');

paths('utf8Length: 1, 2, 3 and 4 bytes at each boundary, lone surrogates as 3', () => {
  const cases: [string, number][] = [
    ['', 0], ['a', 1], ['\x7f', 1], ['\x80', 2], ['\u07ff', 2], ['\u0800', 3], ['€', 3], ['\uffff', 3],
    ['😀', 4], ['\ud800\udc00', 4], ['\udbff\udfff', 4], ['\ud800', 3], ['\udc00', 3], ['\udc00\udc00', 6], ['\ud7ff\udc00', 6], ['aé€😀', 10],
  ];
  for (const [s, n] of cases) {
    assert.is(utf8Length(s), n, JSON.stringify(s));
    assert.is(utf8Length(s), Buffer.byteLength(s.replace(/\p{Cs}/gu, '\ufffd')), `agrees with Buffer: ${JSON.stringify(s)}`);
  }
});

paths('artifactPathProblem: the byte limits are inclusive, counted in UTF-8 bytes', () => {
  const seg = (n: number) => 'a'.repeat(n);
  assert.is(artifactPathProblem(seg(255)), null);
  assert.ok(artifactPathProblem(seg(256)));
  assert.is(artifactPathProblem('€'.repeat(85)), null, '255 bytes in 85 characters');
  assert.ok(artifactPathProblem('€'.repeat(86)), '258 bytes in 86 characters');
  const long = (bytes: number) => `${Array.from({ length: 4 }, () => seg(200)).join('/')}/${seg(bytes - 804)}`;
  assert.is(long(1024).length, 1024);
  assert.is(artifactPathProblem(long(1024)), null);
  assert.ok(artifactPathProblem(long(1025)));
  const euros = Array.from({ length: 5 }, () => '€'.repeat(68)).join('/'); // 5 × 204 + 4 = 1024 bytes
  assert.is(artifactPathProblem(euros), null);
  assert.ok(artifactPathProblem(`${euros}a`));
});

paths('a lone surrogate is unsafe', () => {
  assert.is(codeOf(() => checkArtifactPath('agents/a\ud800.yaml')), 'PATH_UNSAFE');
  assert.is(codeOf(() => checkArtifactPath('agents/\udc00')), 'PATH_UNSAFE');
  assert.is(checkArtifactPath('agents/😀.yaml'), 'agents/😀.yaml');
});

paths('compareUtf8: byte order, not UTF-16 order; prefixes first', () => {
  assert.is(compareUtf8('a', 'a'), 0);
  assert.ok(compareUtf8('ab', 'abc') < 0);
  assert.ok(compareUtf8('abc', 'ab') > 0);
  assert.ok(compareUtf8('B', 'a') < 0);
  assert.ok(compareUtf8('z', 'é') < 0);
  assert.ok(compareUtf8('é', 'z') > 0);
  assert.ok(compareUtf8('\uffff', '😀') < 0, 'EF BF BF before F0 9F 98 80');
  assert.ok(compareUtf8('😀', '\uffff') > 0);
  assert.ok(compareUtf8('x€', 'x€a') < 0);
});

paths.run();

const manifest = suite('mutation kills: src/model/manifest.ts');

const ID = (n: number) => n.toString(16).padStart(64, '0');
const bytesOf = (text: string) => new TextEncoder().encode(text);
function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof AgentsyncError ? e.code : `not an AgentsyncError: ${String(e)}`;
  }
}

manifest('decodeManifest refuses each malformed manifest with its code', () => {
  const bad: [string, Uint8Array, string][] = [
    ['no final newline', bytesOf(`${ID(1)}  a`), 'STORE_CORRUPT'],
    ['empty path', bytesOf(`${ID(1)}  \n`), 'STORE_CORRUPT'],
    ['one space', bytesOf(`${ID(1)} a\n`), 'STORE_CORRUPT'],
    ['x instead of the first space', bytesOf(`${ID(1)}x a\n`), 'STORE_CORRUPT'],
    ['x instead of the second space', bytesOf(`${ID(1)} xa\n`), 'STORE_CORRUPT'],
    ['upper-case id', bytesOf(`${ID(1).toUpperCase().replace(/0/g, 'A')}  a\n`), 'STORE_CORRUPT'],
    ['not sorted', bytesOf(`${ID(1)}  b\n${ID(2)}  a\n`), 'STORE_CORRUPT'],
    ['twice', bytesOf(`${ID(1)}  a\n${ID(2)}  a\n`), 'STORE_CORRUPT'],
    ['a short second line', bytesOf(`${ID(1)}  a\n${ID(2)}  \n`), 'STORE_CORRUPT'],
    ['not UTF-8', new Uint8Array([...bytesOf(`${ID(1)}  a`), 0xff, 10]), 'STORE_CORRUPT'],
    ['absolute', bytesOf(`${ID(1)}  /a\n`), 'PATH_UNSAFE'],
  ];
  for (const [what, b, code] of bad) assert.is(codeOf(() => decodeManifest(b)), code, what);
  assert.equal([...decodeManifest(bytesOf(`${ID(1)}  a\n${ID(2)}  b\n`))], [['a', ID(1)], ['b', ID(2)]], 'one-character paths are fine');
  assert.equal([...decodeManifest(new Uint8Array())], []);
});

manifest('decodeManifest trusted refuses every unsafe path the full decode refuses', () => {
  const unsafe = ['/abs', '../x', './x', '.', '..', 'a/../b', 'a/./b', 'a//b', 'a/', 'a\\b', 'a\x01b', 'a\x7fb', 'x'.repeat(256), '€'.repeat(86), `a/${'y'.repeat(256)}`];
  for (const p of unsafe) {
    for (const tail of ['\n', '']) {
      const b = bytesOf(`${ID(1)}  ${p}${tail}`);
      assert.is(codeOf(() => decodeManifest(b, { trusted: true })), 'PATH_UNSAFE', `trusted ${JSON.stringify(p + tail)}`);
    }
    assert.is(codeOf(() => decodeManifest(bytesOf(`${ID(1)}  ${p}\n`))), 'PATH_UNSAFE', JSON.stringify(p));
  }
  assert.is(codeOf(() => decodeManifest(bytesOf(`${ID(1)}  \n`), { trusted: true })), 'PATH_UNSAFE', 'empty path');
  assert.is(codeOf(() => decodeManifest(bytesOf(`\n${ID(1)}  a\n`), { trusted: true })), 'PATH_UNSAFE', 'an empty first line');
  const safe = ['.hidden', 'a/.b', '€'.repeat(85), 'x'.repeat(255), 'a b/c'];
  for (const p of safe) {
    const b = bytesOf(`${ID(1)}  ${p}\n`);
    assert.equal([...decodeManifest(b, { trusted: true })], [[p, ID(1)]], `trusted ${JSON.stringify(p)}`);
    assert.equal([...decodeManifest(b)], [[p, ID(1)]], JSON.stringify(p));
  }
});

/** A seeded generator (mulberry32): the same cases every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

manifest('the byte-level paths agree with decode + Map: manifestLookup, patchManifest, findClashAt, sortedPaths', () => {
  const r = rng(20260101);
  const names = ['a', 'b', 'ab', 'a b', 'é', 'z', '€', '😀', 'a.md', 'a-b', 'A'];
  const randomPath = () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => names[Math.floor(r() * names.length)]!).join('/');
  for (let round = 0; round < 300; round++) {
    const m: Manifest = new Map();
    const n = Math.floor(r() * 12);
    for (let i = 0; i < n; i++) m.set(randomPath(), ID(Math.floor(r() * 1000)));
    const bytes = encodeManifest(m);
    const sorted = [...m.keys()].sort(compareUtf8);
    assert.equal(sortedPaths(m), sorted, 'sortedPaths');
    assert.equal([...decodeManifest(bytes).keys()], sorted, 'encode sorts by UTF-8 bytes');
    for (let k = 0; k < 8; k++) {
      const p = k < sorted.length ? sorted[k]! : randomPath();
      assert.is(manifestLookup(bytes, p), m.get(p), `lookup ${JSON.stringify(p)} in ${JSON.stringify(sorted)}`);
    }
    const changes = new Map<string, string | null>();
    for (let i = Math.floor(r() * 6); i > 0; i--) {
      const p = r() < 0.5 && sorted.length ? sorted[Math.floor(r() * sorted.length)]! : randomPath();
      changes.set(p, r() < 0.3 ? null : ID(2000 + i));
    }
    const list = [...changes].sort((x, y) => compareUtf8(x[0], y[0])).map(([path, id]) => ({ path, id }));
    const after = applyChanges(m, list);
    const patched = patchManifest(bytes, list);
    assert.ok(patched, 'sorted changes are patched');
    assert.equal(new TextDecoder().decode(patched), new TextDecoder().decode(encodeManifest(after)), `patch ${JSON.stringify(list)} on ${JSON.stringify(sorted)}`);
    if (list.length > 1) assert.is(patchManifest(bytes, [...list].reverse()), undefined, 'unsorted changes: the general route');
    const added = list.filter((c) => c.id !== null && !m.has(c.path)).map((c) => c.path);
    const clashAt = findClashAt(bytes, added);
    const clashOfAdded = added.some((p) => {
      for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) if (m.has(p.slice(0, i))) return true;
      return sorted.some((q) => q.startsWith(`${p}/`));
    });
    assert.is(clashAt !== null, clashOfAdded, `findClashAt ${JSON.stringify(added)} in ${JSON.stringify(sorted)}`);
    if (clashAt) assert.ok(m.has(clashAt.file) ? clashAt.under.startsWith(`${clashAt.file}/`) : m.has(clashAt.under) || added.includes(clashAt.under), 'the pair is a real clash');
    const clash = findClash(m);
    const real = sorted.some((p) => sorted.some((q) => q.startsWith(`${p}/`)));
    assert.is(clash !== null, real, `findClash ${JSON.stringify(sorted)}`);
    if (clash) assert.ok(m.has(clash.file) && clash.under.startsWith(`${clash.file}/`) && m.has(clash.under));
  }
});

manifest('isSnapshotHash and isObjectId: exactly the whole string, strings only', () => {
  const hex = ID(7);
  assert.is(isObjectId(hex), true);
  for (const bad of [`${hex}0`, `0${hex}`, `${hex}\n`, ` ${hex}`, hex.slice(1), hex.replace('0', 'A'), 7, null, [hex]]) assert.is(isObjectId(bad), false, JSON.stringify(bad));
  assert.is(isSnapshotHash(`sha256:${hex}`), true);
  for (const bad of [`sha256:${hex}0`, `xsha256:${hex}`, `sha256:${hex}\n`, hex, `sha256:${hex.slice(1)}`, 7, null, { toString: () => `sha256:${hex}` }]) assert.is(isSnapshotHash(bad), false, String(bad));
});

manifest.run();

const kinds = suite('mutation kills: src/model/kinds.ts, selectors.ts');

kinds('DEFAULT_KINDS and resolveKinds: exact kinds, roots, depths, schemas; overrides and removals', () => {
  const plain = (ks: Kind[]) => ks.map((k) => ({ name: k.name, pattern: k.pattern, schema: k.schema, root: k.root, depth: k.depth }));
  assert.equal(plain(resolveKinds(undefined)), [
    { name: 'agents', pattern: 'agents/*.yaml', schema: 'agent', root: 'agents', depth: 0 },
    { name: 'skills', pattern: 'skills/*.yaml', schema: 'skill', root: 'skills', depth: 0 },
    { name: 'mcp', pattern: 'mcp/*.yaml', schema: 'mcp', root: 'mcp', depth: 0 },
    { name: 'content', pattern: 'content/**/*.md', schema: 'none', root: 'content', depth: Infinity },
    { name: 'playbooks', pattern: 'playbook/**/*.md', schema: 'none', root: 'playbook', depth: Infinity },
  ]);
  const o = resolveKinds({ agents: false, skills: null, mcp: { schema: 'skill' }, notes: { pattern: 'a/b/*/c/*.txt' }, 'x_1-y': { pattern: 'x/*.yaml', schema: 'mcp' } });
  assert.equal(plain(o), [
    { name: 'mcp', pattern: 'mcp/*.yaml', schema: 'skill', root: 'mcp', depth: 0 },
    { name: 'content', pattern: 'content/**/*.md', schema: 'none', root: 'content', depth: Infinity },
    { name: 'playbooks', pattern: 'playbook/**/*.md', schema: 'none', root: 'playbook', depth: Infinity },
    { name: 'notes', pattern: 'a/b/*/c/*.txt', schema: 'none', root: 'a/b', depth: 2 },
    { name: 'x_1-y', pattern: 'x/*.yaml', schema: 'mcp', root: 'x', depth: 0 },
  ]);
  assert.is(plain(resolveKinds({ top: { pattern: '*.md' } })).at(-1)!.root, '');
  assert.is(plain(resolveKinds({ top: { pattern: '*.md' } })).at(-1)!.depth, 0);
  assert.is(plain(resolveKinds({ deep: { pattern: 'a/b/c.md' } })).at(-1)!.root, 'a/b', 'the file name is never part of the root');
  for (const bad of [[], 'x', 3, true, { Agents: { pattern: 'a/*.md' } }, { '1a': { pattern: 'a/*.md' } }, { 'a.b': { pattern: 'a/*.md' } }, { 'ab ': { pattern: 'a/*.md' } },
    { k: 'a/*.md' }, { k: ['a/*.md'] }, { k: true }, { agents: 'x' }, { agents: true }, { agents: ['agents/*.md'] }, { k: {} }, { k: { pattern: '' } }, { k: { pattern: '/a/*.md' } }, { k: { pattern: 'a/../*.md' } }, { k: { pattern: 'a/*.md', schema: 'agents' } }]) {
    assert.is(codeOf(() => resolveKinds(bad)), 'CONFIG_INVALID', JSON.stringify(bad));
  }
  for (const schema of ['agent', 'skill', 'mcp', 'none']) assert.is(resolveKinds({ k: { pattern: 'k/*.md', schema } }).at(-1)!.schema, schema);
});

kinds('kind patterns: no dot files; the cache gives the same kinds and is used only for the same pattern', () => {
  const ks = resolveKinds(undefined);
  assert.is(kindOf(ks, 'agents/a.yaml')?.name, 'agents');
  assert.is(kindOf(ks, 'agents/.a.yaml'), undefined, 'dot files are not artifacts');
  assert.is(kindOf(ks, 'content/.x/a.md'), undefined);
  assert.is(kindOf(ks, 'content/x/y/a.md')?.name, 'content');
  assert.is(kindOf(ks, 'agents/x/a.yaml'), undefined);
  const cache = compiledPatterns(ks);
  assert.is(cache.find((c) => c.pattern === 'content/**/*.md')!.depth, -1);
  const again = resolveKinds(undefined, cache);
  assert.equal(again.map((k) => [k.name, k.root, k.depth, k.re.source, k.re.flags]), ks.map((k) => [k.name, k.root, k.depth, k.re.source, k.re.flags]));
  assert.is(kindOf(again, 'content/x/a.md')?.name, 'content');
  assert.is(kindOf(again, 'agents/a.md'), undefined);
  // A cache entry is used only for its own pattern, and used as it is (it is not recompiled).
  const forged = [{ pattern: 'agents/*.yaml', root: 'forged', depth: 7, source: '^only$', flags: '' }];
  const k = resolveKinds(undefined, forged)[0]!;
  assert.equal([k.root, k.depth, k.match('only'), k.match('agents/a.yaml')], ['forged', 7, true, false]);
  const other = resolveKinds({ agents: { pattern: 'agents/**/*.yaml' } }, forged)[0]!;
  assert.equal([other.root, other.depth, other.match('agents/x/a.yaml')], ['agents', Infinity, true]);
});

kinds('formatOf: by the extension at the end only', () => {
  const cases: [string, string][] = [['a.yaml', 'yaml'], ['a.YML', 'yaml'], ['a.md', 'markdown'], ['a.Markdown', 'markdown'], ['a.yaml.txt', 'text'], ['a.md.bak', 'text'], ['a.yamlx', 'text'], ['a.mdx', 'text'], ['a', 'text']];
  for (const [p, f] of cases) assert.is(formatOf(p), f, p);
});

kinds('compileSelectors: ./ and services/ only as a prefix, trailing slashes dropped', () => {
  const ks = resolveKinds(undefined);
  const known = ['agents/a.yaml', 'content/services/x.md', 'content/a.md', 'content/b/c.md'];
  const sel = (...s: string[]) => known.filter((p) => compileSelectors(s, ks, known)(p, kindOf(ks, p)?.name));
  assert.equal(sel('./content/b//'), ['content/b/c.md']);
  assert.equal(sel('services/content/b/'), ['content/b/c.md']);
  assert.equal(sel('content/services/x.md'), ['content/services/x.md']);
  assert.equal(sel('agents'), ['agents/a.yaml']);
  assert.is(codeOf(() => compileSelectors(['content/./b'], ks, known)), 'SELECTOR_UNKNOWN');
  assert.is(codeOf(() => compileSelectors(['x/services/content/a.md'], ks, known)), 'SELECTOR_UNKNOWN');
  assert.is(codeOf(() => compileSelectors(['content/a.md/x'], ks, known)), 'SELECTOR_UNKNOWN');
});

kinds.run();

const server = suite('mutation kills: src/server/auth.ts, router.ts (no network)');

/** A storage with one tenant and the given tokens: all that createToken/authenticate read. */
function fakeStorage(): Storage & { tokens: Map<string, TokenRecord> } {
  const tokens = new Map<string, TokenRecord>();
  return {
    tokens,
    tenant: async (t: string) => t === 'acme',
    token: async (id: string) => tokens.get(id) ?? null,
    putToken: async (r: TokenRecord) => { tokens.set(r.id, r); },
  } as unknown as Storage & { tokens: Map<string, TokenRecord> };
}

async function denied(p: Promise<unknown>): Promise<{ code: string; data: Record<string, unknown> } | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return e instanceof AgentsyncError ? { code: e.code, data: e.data } : { code: `not an AgentsyncError: ${String(e)}`, data: {} };
  }
}

server('authenticate: each refusal has its code and data.reason; expiry is inclusive', async () => {
  const st = fakeStorage();
  const now = Date.parse('2026-01-01T00:00:00.000Z');
  const { token, record } = await createToken(st, { tenant: 'acme', scope: 'write', expiresInMs: 1000, now });
  assert.is(record.expiresAt, '2026-01-01T00:00:01.000Z');
  assert.is((await authenticate(st, `Bearer ${token}`, 'acme', 'read', now + 999)).id, record.id);
  assert.is((await authenticate(st, `bearer   ${token}  `, 'acme', 'write', now)).id, record.id);
  assert.is((await authenticate(st, `Bearer ${token}`, null, 'admin', now)).id, record.id, 'an unknown route needs any valid token');
  const cases: [string | undefined, number, string, Record<string, unknown>][] = [
    [undefined, now, 'AUTH_REQUIRED', { reason: 'missing' }],
    ['', now, 'AUTH_REQUIRED', { reason: 'missing' }],
    [token, now, 'AUTH_REQUIRED', { reason: 'malformed' }],
    [`Basic ${token}`, now, 'AUTH_REQUIRED', { reason: 'malformed' }],
    [`x Bearer ${token}`, now, 'AUTH_REQUIRED', { reason: 'malformed' }],
    [`Bearer ${token} x`, now, 'AUTH_REQUIRED', { reason: 'malformed' }],
    // The token whole: nothing before or after it (the secret still right).
    [`Bearer x${token}`, now, 'AUTH_REQUIRED', { reason: 'malformed' }],
    [`Bearer ${token}x`, now, 'AUTH_REQUIRED', { reason: 'malformed' }],
    [`Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, now, 'AUTH_REQUIRED', { reason: 'invalid' }],
    [`Bearer as_${'0'.repeat(16)}_${token.slice(-43)}`, now, 'AUTH_REQUIRED', { reason: 'invalid' }],
    [`Bearer ${token}`, now + 1000, 'AUTH_REQUIRED', { reason: 'expired' }],
  ];
  for (const [header, at, code, data] of cases) assert.equal(await denied(authenticate(st, header, 'acme', 'read', at)), { code, data }, String(header));
  assert.equal(await denied(authenticate(st, `Bearer ${token}`, 'other', 'read', now)), { code: 'AUTH_FORBIDDEN', data: { tenant: 'other' } });
  assert.equal(await denied(authenticate(st, `Bearer ${token}`, 'acme', 'admin', now)), { code: 'AUTH_FORBIDDEN', data: { scope: 'write', need: 'admin' } });
  const forever = await createToken(st, { tenant: 'acme', scope: 'read', expiresInMs: null, now });
  assert.is(forever.record.expiresAt, null);
  assert.is((await authenticate(st, `Bearer ${forever.token}`, 'acme', 'read', now + 1e12)).id, forever.record.id);
  st.tokens.set(record.id, { ...record, revokedAt: '2026-01-01T00:00:00.500Z' });
  assert.equal(await denied(authenticate(st, `Bearer ${token}`, 'acme', 'read', now)), { code: 'AUTH_REQUIRED', data: { reason: 'revoked' } });
  assert.equal(await denied(createToken(st, { tenant: 'nope', scope: 'read', expiresInMs: null })), { code: 'TENANT_UNKNOWN', data: { tenant: 'nope' } });
  assert.equal(await denied(revokeToken(st, 'f'.repeat(16))), { code: 'TOKEN_UNKNOWN', data: { id: 'f'.repeat(16) } });
});

server('publicToken: expired exactly at expiresAt; no hash; label only when set', () => {
  const t: TokenRecord = { id: 'a'.repeat(16), tenant: 'acme', scope: 'read', hash: 'b'.repeat(64), createdAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-02T00:00:00.000Z', revokedAt: null };
  const at = Date.parse('2026-01-02T00:00:00.000Z');
  assert.equal(publicToken(t, at - 1), { id: t.id, tenant: 'acme', scope: 'read', createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: null, expired: false });
  assert.is(publicToken(t, at).expired, true);
  assert.is(publicToken({ ...t, expiresAt: null }, at * 2).expired, false);
  assert.is(publicToken({ ...t, label: 'ci' }, at).label, 'ci');
});

server('parseDuration, checkScope: exact milliseconds; anything else is USAGE', () => {
  const cases: [string, number | null][] = [['never', null], ['30d', 30 * 86400e3], ['12h', 12 * 3600e3], ['90m', 90 * 60e3], ['3600s', 3600e3], ['2w', 14 * 86400e3], ['1y', 365 * 86400e3], [' 5 m ', 5 * 60e3]];
  for (const [s, ms] of cases) assert.is(parseDuration(s), ms, s);
  for (const s of ['', '0d', '5', 'd', '5x', 'x5d', '5dd', '5 d x', '-5d', '5.5d', '5\u00a0d\u00a0x']) assert.is(codeOf(() => parseDuration(s)), 'USAGE', JSON.stringify(s));
  for (const s of ['read', 'write', 'admin']) assert.is(checkScope(s), s);
  for (const s of ['Read', '', 'root', 3, null]) assert.is(codeOf(() => checkScope(s)), 'USAGE', String(s));
});

server('parseBody, parseQuery, versionId: REQUEST_INVALID with the exact data', () => {
  const fields = { a: { check: (v: unknown) => typeof v === 'number', what: 'a number' }, b: { check: () => true, required: false, what: 'anything' } };
  const dataOf = (fn: () => unknown) => {
    try {
      fn();
      return null;
    } catch (e) {
      return e instanceof AgentsyncError ? [e.code, e.data] : e;
    }
  };
  assert.equal(parseBody(Buffer.from('{"a":1}'), fields), { a: 1 });
  assert.equal(parseBody(Buffer.from('{"a":1,"b":null}'), fields), { a: 1, b: null });
  assert.equal(dataOf(() => parseBody(Buffer.from(''), fields)), ['REQUEST_INVALID', { reason: 'missing-field', field: 'a' }]);
  assert.equal(dataOf(() => parseBody(Buffer.from('{'), fields)), ['REQUEST_INVALID', { reason: 'json' }]);
  for (const body of ['[]', 'null', '3', '"x"']) assert.equal(dataOf(() => parseBody(Buffer.from(body), fields)), ['REQUEST_INVALID', { reason: 'json' }], body);
  assert.equal(dataOf(() => parseBody(Buffer.from('{"a":1,"c":2}'), fields)), ['REQUEST_INVALID', { reason: 'unknown-field', field: 'c' }]);
  assert.equal(dataOf(() => parseBody(Buffer.from('{"a":"1"}'), fields)), ['REQUEST_INVALID', { reason: 'bad-field', field: 'a' }]);
  assert.equal(parseQuery(new URLSearchParams('from=1&to=2'), ['from', 'to']), { from: '1', to: '2' });
  assert.equal(parseQuery(new URLSearchParams(''), []), {});
  assert.equal(dataOf(() => parseQuery(new URLSearchParams('x=1'), ['from'])), ['REQUEST_INVALID', { reason: 'unknown-field', field: 'x' }]);
  assert.equal(dataOf(() => parseQuery(new URLSearchParams('to=1&to=1'), ['to'])), ['REQUEST_INVALID', { reason: 'repeated-field', field: 'to' }]);
  for (const [s, n] of [['1', 1], ['42', 42], ['999999999999999', 999999999999999]] as const) assert.is(versionId(s, 'to'), n);
  for (const s of [undefined, '', '0', '01', '-1', '1.0', ' 1', '1 ', 'x1', '1x', '1e3', '1000000000000000']) {
    assert.equal(dataOf(() => versionId(s, 'to')), ['REQUEST_INVALID', { reason: 'bad-field', field: 'to' }], JSON.stringify(s));
  }
});

server('readBody: up to the cap is read whole; one byte over is REQUEST_TOO_LARGE, declared or not', async () => {
  const req = (chunks: string[], length?: number) => Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), { headers: length === undefined ? {} : { 'content-length': String(length) } }) as unknown as IncomingMessage;
  assert.is((await readBody(req(['ab', 'cd']), 4)).toString(), 'abcd');
  assert.is((await readBody(req(['ab', 'cd'], 4), 4)).toString(), 'abcd');
  assert.is((await readBody(req([]), 4)).length, 0);
  for (const r of [req(['ab', 'cde']), req(['abcde'], 5), req(['ab'], 5), req(['abcde', 'f'], 2)]) {
    assert.equal(await denied(readBody(r, 4)), { code: 'REQUEST_TOO_LARGE', data: { limit: 4, reason: 'body' } });
  }
});

server('Router.match and statusOf: canonical paths only, 405 for a known path, each code its status', () => {
  const noop = async () => undefined;
  const r = new Router<null>().add('GET', '/:tenant/head', noop).add('POST', '/:tenant/objects', noop);
  assert.equal(r.match('GET', '/acme/head').params, { tenant: 'acme' });
  assert.equal(r.match('GET', '/a%20b/head').params, { tenant: 'a b' });
  const routeData = (m: string, path: string) => {
    try {
      r.match(m, path);
      return null;
    } catch (e) {
      return e instanceof AgentsyncError ? [e.code, e.data] : e;
    }
  };
  // ('//head' would fill the `:tenant` of /:tenant/head with an empty name.)
  for (const path of ['//acme/head', '/acme//head', '/acme/head/', 'acme/head', '/acme', '/acme/head/x', '/%E0%A4%A/head', '//head', '/', '']) {
    assert.equal(routeData('GET', path), ['ROUTE_UNKNOWN', { method: 'GET', path }], path);
  }
  assert.equal(routeData('POST', '/acme/head'), ['ROUTE_UNKNOWN', { status: 405, method: 'POST', path: '/acme/head' }]);
  const want: Record<number, ErrorCode[]> = {
    400: ['REQUEST_INVALID', 'OBJECT_HASH_MISMATCH', 'HASH_INVALID', 'PATH_UNSAFE', 'REMOTE_PROTOCOL', 'USAGE'],
    401: ['AUTH_REQUIRED'], 403: ['AUTH_FORBIDDEN'],
    404: ['VERSION_UNKNOWN', 'TENANT_UNKNOWN', 'TOKEN_UNKNOWN', 'ROUTE_UNKNOWN'],
    409: ['STALE_REMOTE', 'DRAFT_STALE', 'VERSION_DRAFT', 'OBJECT_MISSING', 'TENANT_EXISTS'],
    413: ['REQUEST_TOO_LARGE'], 503: ['REMOTE_BUSY', 'STORE_LOCKED'], 507: ['DISK_FULL'],
  };
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const status = Number(Object.keys(want).find((k) => want[Number(k)]!.includes(code)) ?? 500);
    assert.is(statusOf(code), status, code);
  }
  assert.is(serverDiskFull().code, 'DISK_FULL');
  assert.equal(serverDiskFull().data, {});
});

server.run();

const merge = suite('mutation kills: src/merge (exact answers)');

merge('deepEqual: NaN equals NaN, primitives by value, arrays only with arrays of the same length, bytes, maps, sets, dates', () => {
  const yes: [unknown, unknown][] = [
    [NaN, NaN], [1, 1], [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }], [[1, 2], [1, 2]], [[], []], [{}, {}],
    [new Uint8Array([1, 2]), new Uint8Array([1, 2])], [new Map([['a', { x: 1 }]]), new Map([['a', { x: 1 }]])], [new Map(), new Map()],
    [new Set([1, 'a']), new Set(['a', 1])], [new Date(5), new Date(5)],
  ];
  const no: [unknown, unknown][] = [
    [NaN, 1], [1, NaN], [NaN, 'x'], [1, 2], [true, false], [1, '1'], [0, null], [null, {}], [{}, null], [undefined, null],
    [[1], [1, 2]], [[1, 2], [1]], [[1], { 0: 1 }], [{ 0: 1 }, [1]], [[1], { 0: 1, length: 1 }], [[1], [2]],
    [new Uint8Array([1]), new Uint8Array([2])], [new Uint8Array([1]), new Uint8Array([1, 0])], [new Uint8Array([1]), { 0: 1 }], [{ 0: 1, length: 1 }, new Uint8Array([1])],
    [new Map([['a', 1]]), new Map([['a', 2]])], [new Map([['a', 1]]), new Map([['b', 1]])], [new Map([['a', 1]]), new Map([['a', 1], ['b', 1]])], [new Map(), {}],
    [new Set([1]), new Set([2])], [new Set([1]), new Set([1, 2])], [new Set(), []], [new Date(5), new Date(6)], [new Date(5), 5], [{ a: 1 }, { b: 1 }], [{ a: 1 }, { a: 1, b: 1 }],
    [{ a: undefined }, { b: undefined }],
  ];
  for (const [a, b] of yes) assert.is(deepEqual(a, b), true, `${String(a)} = ${String(b)}`);
  for (const [a, b] of no) assert.is(deepEqual(a, b), false, `${String(a)} != ${String(b)}`);
});

merge('hasConflictMarkers: the three markers in order, each a whole line (CRLF too)', () => {
  assert.is(hasConflictMarkers('<<<<<<< a\nx\n=======\ny\n>>>>>>> b\n'), true);
  assert.is(hasConflictMarkers('<<<<<<< a\r\n=======\r\n>>>>>>> b'), true);
  for (const text of [
    '<<<<<<< a\nx\n========\ny\n>>>>>>> b\n', '<<<<<<< a\nx\n ======= \ny\n>>>>>>> b\n', '<<<<<<< a\nx\n=======\ny\n>>>>>>>b\n',
    '<<<<<<< a\nx\n=======\ny\nz\n', '<<<<<<<a\n=======\n>>>>>>> b\n', '=======\n<<<<<<< a\n>>>>>>> b\n', '<<<<<<< a\n=======\r\r\n>>>>>>> b\n',
  ]) assert.is(hasConflictMarkers(text), false, JSON.stringify(text));
});

merge('mergeArtifact: exact bytes of YAML conflicts (line conflict, and the whole-file block when the lines do not overlap)', () => {
  assert.equal(mergeArtifact('x.yaml', 'a: 1\n', 'a: 2', 'a: 3'), {
    clean: false, how: 'yaml', conflicts: 1, text: '<<<<<<< local\na: 2\n=======\na: 3\n>>>>>>> remote\n',
    yamlConflicts: [{ path: ['a'], reason: 'changed differently on both sides' }],
  });
  // The keys clash but the lines do not: one block holding both whole files, a missing final newline added.
  const base = 'a: 1\nb: 1\nc: 1\nd: 1\ne: 1\n';
  assert.equal(mergeArtifact('x.yaml', base, `k: 1\n${base}`, `${base}k: 2`), {
    clean: false, how: 'yaml', conflicts: 1,
    text: `<<<<<<< local\nk: 1\n${base}=======\n${base}k: 2\n>>>>>>> remote\n`,
    yamlConflicts: [{ path: ['k'], reason: 'added on both sides with different values' }],
  });
  assert.is(mergeArtifact('x.yaml', base, `${base}k: 1`, `k: 2\n${base}`).text, `<<<<<<< local\n${base}k: 1\n=======\nk: 2\n${base}>>>>>>> remote\n`);
  assert.equal(mergeArtifact('x.md', 'a\nb\nc\nd\ne\n', 'A\nb\nc\nd\ne\n', 'a\nb\nc\nd\nE\n'), { clean: true, text: 'A\nb\nc\nd\nE\n', how: 'text' });
  assert.equal(mergeArtifact('x.yaml', 'a: 1\n', 'a: 1\nb: 2\n', 'c: 3\na: 1\n'), { clean: true, text: 'c: 3\na: 1\nb: 2\n', how: 'yaml' });
  assert.equal(mergeArtifact('x.md', 'a\n', 'b\n', 'c\n'), { clean: false, how: 'text', conflicts: 1, text: '<<<<<<< local\nb\n=======\nc\n>>>>>>> remote\n' });
});

merge('mergeYaml: the merged text keeps OURS\' layout byte for byte (indent, flat or nested lists, flow padding, comments)', () => {
  const cases: [string, string, string, string][] = [
    // [base, ours, theirs, merged]
    ['a:\n  b: 1\nlist:\n- x\n- y\nz: 1\n', 'a:\n  b: 10\nlist:\n- x\n- y\nz: 1\n', 'a:\n  b: 1\nlist:\n- x\n- y\nz: 2\n', 'a:\n  b: 10\nlist:\n- x\n- y\nz: 2\n'],
    ['a:\n  b: 1\nlist:\n  - x\nz: 1\n', 'a:\n  b: 10\nlist:\n  - x\nz: 1\n', 'a:\n  b: 1\nlist:\n  - x\nz: 2\n', 'a:\n  b: 10\nlist:\n  - x\nz: 2\n'],
    // Both list styles in one file: nested wins.
    ['flat:\n- x\nnested:\n  - y\nk: 1\nz: 1\n', 'flat:\n- x\nnested:\n  - y\nk: 2\nz: 1\n', 'flat:\n- x\nnested:\n  - y\nk: 1\nz: 2\n', 'flat:\n  - x\nnested:\n  - y\nk: 2\nz: 2\n'],
    ['a:\n   b: 1\nz: 1\n', 'a:\n   b: 2\nz: 1\n', 'a:\n   b: 1\nz: 2\n', 'a:\n   b: 2\nz: 2\n'],
    ['a:\n    b: 1\nz: 1\n', 'a:\n    b: 2\nz: 1\n', 'a:\n    b: 1\nz: 2\n', 'a:\n    b: 2\nz: 2\n'],
    // An indent over 8 is written with 8.
    ['a:\n          b: 1\nz: 1\n', 'a:\n          b: 2\nz: 1\n', 'a:\n          b: 1\nz: 2\n', 'a:\n        b: 2\nz: 2\n'],
    ['f: { a: 1 }\nz: 1\n', 'f: { a: 1 }\nz: 3\n', 'f: { a: 1, b: 2 }\nz: 1\n', 'f: { a: 1, b: 2 }\nz: 3\n'],
    ['f: {a: 1}\nz: 1\n', 'f: {a: 1}\nz: 3\n', 'f: {a: 1, b: 2}\nz: 1\n', 'f: {a: 1, b: 2}\nz: 3\n'],
    ['f: [a,b]\nz: 1\n', 'f: [a,b]\nz: 3\n', 'f: [a,b,c]\nz: 1\n', 'f: [a, b, c]\nz: 3\n'],
    ['f: []\nz: 1\n', 'f: []\nz: 3\n', 'f: [1]\nz: 1\n', 'f: [ 1 ]\nz: 3\n'],
    // OURS only comments: the merged keys come after them.
    ['# x\n', '# x\n# y\n', 'a: 1\n', '# x\n# y\n\na: 1\n'],
    // A trailing comment block after a blank line keeps the blank line; one right after content gets none.
    ['name: a\ndesc: one\n', 'name: a\ndesc: one\n\n# c\n', 'name: b\ndesc: one\n', 'name: b\ndesc: one\n\n# c\n'],
    ['name: a\ndesc: one\n', 'name: a\ndesc: one\n# c\n# d\n', 'name: b\ndesc: one\n', 'name: b\ndesc: one\n# c\n# d\n'],
  ];
  for (const [base, ours, theirs, want] of cases) assert.equal(mergeYaml(base, ours, theirs), { clean: true, text: want }, ours);
  assert.is(yamlSemanticallyEqual('a: 1\nb: [1, 2]\n', 'b:\n  - 1\n  - 2\na: 1 # c\n'), true);
  assert.is(yamlSemanticallyEqual('a: 1\n', 'a: 2\n'), false);
  assert.is(yamlSemanticallyEqual('a: [\n', 'a: [\n'), false);
});

merge('mergeText: conflict markers take their line ends as git does (mixed CRLF/LF sides, missing final newlines) — the bytes of git merge-file 2.39', () => {
  // [base, ours, theirs, `git merge-file -p -L ours -L base -L theirs` output]; each is one conflict.
  const cases: [string, string, string, string][] = [
    ["a\r\nb\r\nc\r\n","a\nB\nc\n","a\r\nX\r\nc\r\n", "<<<<<<< ours\na\nB\nc\n=======\na\r\nX\r\nc\r\n>>>>>>> theirs\n"],
    ["a\nb\nc\n","a\r\nB\r\nc\r\n","a\r\nX\r\nc\r\n", "a\r\n<<<<<<< ours\nB\r\n=======\nX\r\n>>>>>>> theirs\nc\r\n"],
    ["a\r\nb\r\nc\r\n","a\r\nB\r\nc\r\n","a\nX\nc\n", "<<<<<<< ours\na\r\nB\r\nc\r\n=======\na\nX\nc\n>>>>>>> theirs\n"],
    ["a\r\nb\r\nc","a\r\nb\r\nC","a\r\nb\r\nD", "a\r\nb\r\n<<<<<<< ours\r\nC\r\n=======\r\nD\r\n>>>>>>> theirs\r\n"],
    ["a\r\nb","a\r\nB","a\r\nX", "a\r\n<<<<<<< ours\r\nB\r\n=======\r\nX\r\n>>>>>>> theirs\r\n"],
    ["b","B","X", "<<<<<<< ours\nB\n=======\nX\n>>>>>>> theirs\n"],
    ["b\r\n","B","X", "<<<<<<< ours\r\nB\r\n=======\r\nX\r\n>>>>>>> theirs\r\n"],
    ["a\r\nb\r\n","a\r\nB","a\r\nX", "a\r\n<<<<<<< ours\r\nB\r\n=======\r\nX\r\n>>>>>>> theirs\r\n"],
    ["x\r\ny\r\n","B\r\nx\r\ny\r\n","X\r\nx\r\ny\r\n", "<<<<<<< ours\r\nB\r\n=======\r\nX\r\n>>>>>>> theirs\r\nx\r\ny\r\n"],
    ["x\ny\n","B\r\nx\ny\n","X\r\nx\ny\n", "<<<<<<< ours\nB\r\n=======\nX\r\n>>>>>>> theirs\nx\ny\n"],
    ["a\nb\nc\nd\n","a\r\nB\nc\nd\n","a\r\nX\nc\nd\n", "a\r\n<<<<<<< ours\nB\n=======\nX\n>>>>>>> theirs\nc\nd\n"],
    ["","a\r\n","b\r\n", "<<<<<<< ours\na\r\n=======\nb\r\n>>>>>>> theirs\n"],
    ["","a","b", "<<<<<<< ours\na\n=======\nb\n>>>>>>> theirs\n"],
    ["p\r\n","p\r\na","p\r\nb", "p\r\n<<<<<<< ours\r\na\r\n=======\r\nb\r\n>>>>>>> theirs\r\n"],
  ];
  for (const [base, ours, theirs, git] of cases) assert.equal(mergeText(base, ours, theirs), { clean: false, text: git, conflicts: 1 }, JSON.stringify([base, ours, theirs]));
});

merge('mergeYaml: a key deleted in theirs goes, one deleted in ours stays gone when theirs changed its map, items keyed by a name that is not their first field, conflict paths inside lists', () => {
  // A key deleted in theirs while ours changed another: deleted (not kept).
  assert.equal(mergeYaml('a: 1\nb: 2\n', 'a: 10\nb: 2\n', 'a: 1\n'), { clean: true, text: 'a: 10\n' });
  // A key deleted in ours while theirs changed a sibling: stays deleted, the sibling's change comes.
  assert.equal(mergeYaml('s:\n  a: 1\n  b: 2\n', 's:\n  b: 2\n', 's:\n  a: 1\n  b: 3\n'), { clean: true, text: 's:\n  b: 3\n' });
  // `name` is the key wherever it stands in the item.
  assert.equal(
    mergeYaml('tools:\n  - enabled: true\n    name: x\n  - enabled: true\n    name: y\n', 'tools:\n  - enabled: false\n    name: x\n  - enabled: true\n    name: y\n', 'tools:\n  - enabled: true\n    name: x\n  - enabled: false\n    name: y\n'),
    { clean: true, text: 'tools:\n  - enabled: false\n    name: x\n  - enabled: false\n    name: y\n' },
  );
  // Changed in ours, deleted in theirs: the conflict names the item.
  assert.equal(mergeYaml('tools:\n  - name: x\n    v: 1\n  - name: y\n    v: 1\nk: 1\n', 'tools:\n  - name: x\n    v: 1\n  - name: y\n    v: 2\nk: 1\n', 'tools:\n  - name: x\n    v: 1\nk: 2\n'),
    { clean: false, conflicts: [{ path: ['tools', 1], reason: 'changed in ours but deleted in theirs' }] });
  // A scalar turned into a list differently on both sides is a conflict, not an item merge.
  assert.equal(mergeYaml('x: 1\n', 'x:\n  - name: a\n', 'x:\n  - name: b\n'), { clean: false, conflicts: [{ path: ['x'], reason: 'changed differently on both sides' }] });
});

merge.run();
