import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { diffStat, displayDiff } from '../src/merge/display.js';
import type { DiffLine } from '../src/merge/display.js';

const lines = (n: number, from = 1): string => Array.from({ length: n }, (_, i) => `line ${i + from}\n`).join('');
const ops = (d: DiffLine[]): string => d.map((l) => (l.op === '...' ? `...${l.count}` : `${l.op}${l.text}`)).join('|');

test('identical inputs give no lines', () => {
  assert.equal(displayDiff('a\nb\n', 'a\nb\n'), []);
  assert.equal(displayDiff('', ''), []);
  assert.equal(diffStat('a\n', 'a\n'), { added: 0, removed: 0 });
});

test('a change in the middle keeps 3 lines of context and folds the rest', () => {
  const old = lines(20);
  const neu = old.replace('line 10\n', 'line ten\n');
  const d = displayDiff(old, neu);
  assert.is(ops(d), '...6| line 7| line 8| line 9|-line 10|+line ten| line 11| line 12| line 13|...7');
  const minus = d.find((l) => l.op === '-');
  const plus = d.find((l) => l.op === '+');
  assert.equal(minus, { op: '-', text: 'line 10', oldNo: 10 });
  assert.equal(plus, { op: '+', text: 'line ten', newNo: 10 });
  assert.equal(d[1], { op: ' ', text: 'line 7', oldNo: 7, newNo: 7 });
  assert.equal(diffStat(old, neu), { added: 1, removed: 1 });
});

test('context option and a single fold between two distant changes', () => {
  const old = lines(30);
  const neu = old.replace('line 5\n', 'five\n').replace('line 25\n', 'twenty-five\n');
  const d = displayDiff(old, neu, { context: 1 });
  assert.is(ops(d), '...3| line 4|-line 5|+five| line 6|...17| line 24|-line 25|+twenty-five| line 26|...4');
  const zero = displayDiff(old, neu, { context: 0 });
  assert.is(ops(zero), '...4|-line 5|+five|...19|-line 25|+twenty-five|...5');
});

test('changes close together share their context without a fold', () => {
  const old = lines(10);
  const neu = old.replace('line 3\n', 'x\n').replace('line 8\n', 'y\n');
  assert.is(ops(displayDiff(old, neu)), ' line 1| line 2|-line 3|+x| line 4| line 5| line 6| line 7|-line 8|+y| line 9| line 10');
});

test('lines added at the start and removed at the end', () => {
  const old = lines(10);
  const neu = `new first\n${lines(8)}`;
  const d = displayDiff(old, neu);
  assert.is(ops(d), '+new first| line 1| line 2| line 3|...2| line 6| line 7| line 8|-line 9|-line 10');
  assert.equal(d[0], { op: '+', text: 'new first', newNo: 1 });
  assert.equal(d[d.length - 1], { op: '-', text: 'line 10', oldNo: 10 });
  assert.equal(diffStat(old, neu), { added: 1, removed: 2 });
});

test('empty old or new text', () => {
  assert.is(ops(displayDiff('', 'a\nb\n')), '+a|+b');
  assert.is(ops(displayDiff('a\nb\n', '')), '-a|-b');
  assert.equal(diffStat('', 'a\nb\n'), { added: 2, removed: 0 });
  assert.equal(diffStat('a\nb\n', ''), { added: 0, removed: 2 });
});

test('missing final newline is a change of the last line; CRLF is stripped for display', () => {
  assert.is(ops(displayDiff('a\nb\n', 'a\nb')), ' a|-b|+b');
  assert.is(ops(displayDiff('a\r\nb\r\n', 'a\r\nc\r\n')), ' a|-b|+c');
});

test.run();
