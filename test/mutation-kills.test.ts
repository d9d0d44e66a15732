/**
 * Tests written to kill mutants that `npm run mutate` (fixtures/mutate.ts) found surviving: each
 * pins down an exact answer of a pure function that no other suite checked closely enough.
 * Grouped by the source file they cover; test/README.md lists the survivors that remain and why.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { diskFullError, diskFullPath, isDiskFull, mapDiskFull } from '../src/model/diskfull.js';
import { AgentsyncError } from '../src/model/errors.js';
import { artifactPathProblem, compareUtf8, utf8Length } from '../src/model/paths.js';
import { hasControl, printable, printableLines } from '../src/model/text.js';

const diskfull = suite('mutation kills: src/model/diskfull.ts');

diskfull('isDiskFull: the errnos, DISK_FULL itself, LevelDB text, and causes up to four levels deep', () => {
  for (const code of ['ENOSPC', 'EDQUOT', 'DISK_FULL']) assert.is(isDiskFull({ code }), true, code);
  for (const code of ['EIO', 'ENOENT', 28, undefined]) assert.is(isDiskFull({ code }), false, String(code));
  assert.is(isDiskFull({ code: 'LEVEL_IO_ERROR', message: 'IO error: /d/000005.log: No space left on device' }), true);
  assert.is(isDiskFull({ message: 'IO error: /d/LOCK: Disk quota exceeded' }), true);
  assert.is(isDiskFull({ message: 'IO error: /d/LOCK: Permission denied' }), false);
  assert.is(isDiskFull({ message: 42 }), false);
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

text('printableLines: split on \\n, tabs kept, other controls escaped', () => {
  assert.equal(printableLines('a\tb\nc\x1bd\r'), ['a\tb', 'c\\x1bd\\r']);
  assert.equal(printableLines(''), ['']);
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
    ['😀', 4], ['\udbff\udfff', 4], ['\ud800', 3], ['\udc00', 3], ['\ud800a', 4], ['aé€😀', 10],
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
