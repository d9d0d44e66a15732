/**
 * A server test that fails on purpose and leaves its server running (no cleanup): the harness
 * test runs it in a child and checks that the run still ends, failing. Not part of `npm test`'s
 * discovery (its name does not end in `.test.js`).
 */
import { createServer } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const s = suite('harness: a failing server test');
s('fails with its server still listening', async () => {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  setInterval(() => {}, 1000); // and a timer nobody clears
  assert.is(1, 2, 'this test fails on purpose');
});
s.run();
