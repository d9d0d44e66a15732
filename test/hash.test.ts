/** The native and portable blob-id implementations agree, on known answers and random bytes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blobId, isObjectId } from '../src/model/hash.js';
import { blobIdPortable } from '../src/model/hash-portable.js';

const enc = new TextEncoder();

test('known answers (coreutils sha256sum)', () => {
  const cases: [string, string][] = [
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['name: welcome\n', '2a720e5b7d7a540cdf7042697317d3dc07aa62f9573374d297c501ff906b50a9'],
    ['# Hello\n', '90f8ec5669cd34183b9b0fdf8b94f5efb4c3672876330f4aa76088c2b4ad17be'],
  ];
  for (const [text, id] of cases) {
    assert.is(blobId(enc.encode(text)), id);
    assert.is(blobIdPortable(enc.encode(text)), id);
  }
});

test('native and portable agree on random inputs of many sizes', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
  for (const n of [1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096, 100_000]) {
    const b = new Uint8Array(n).map(() => rnd());
    const id = blobId(b);
    assert.ok(isObjectId(id));
    assert.is(blobIdPortable(b), id, `size ${n}`);
  }
});

test.run();
