import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeText } from '../src/merge/diff3.js';
import { prng } from '../fixtures/generate.js';
import { needs } from './helpers.js';

const hasGit = spawnSync('git', ['--version']).status === 0;


const ALPHABET = ['a', 'b', 'c', 'd', 'e', '', '}', '{', 'x y', '  a', '-'];

interface Case { base: string; ours: string; theirs: string }

function genCase(rnd: () => number): Case {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const alpha = ALPHABET.slice(0, 2 + Math.floor(rnd() * (ALPHABET.length - 1)));
  const n = Math.floor(rnd() * 10);
  const base: string[] = [];
  for (let i = 0; i < n; i++) base.push(pick(alpha));
  const mutate = (src: string[]): string[] => {
    const out = [...src];
    const edits = Math.floor(rnd() * 4);
    for (let e = 0; e < edits; e++) {
      const op = rnd();
      const at = Math.floor(rnd() * (out.length + 1));
      if (op < 0.35) out.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(alpha)));
      else if (op < 0.65) out.splice(at, 1 + Math.floor(rnd() * 2));
      else if (at < out.length) out[at] = pick(alpha);
    }
    return out;
  };
  const crlf = rnd() < 0.1;
  const join = (lines: string[]): string => {
    if (lines.length === 0) return '';
    const eol = crlf ? '\r\n' : '\n';
    const text = lines.join(eol);
    return rnd() < 0.75 ? text + eol : text;
  };
  return { base: join(base), ours: join(mutate(base)), theirs: join(mutate(base)) };
}

interface GitResult { rc: number; out: string }

/** Runs `git merge-file -p` on every case in one shell, two at a time. */
function gitMergeAll(cases: Case[]): GitResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'agentsync-merge-'));
  try {
    cases.forEach((c, i) => {
      const d = join(dir, String(i));
      mkdirSync(d);
      writeFileSync(join(d, 'base'), c.base);
      writeFileSync(join(d, 'ours'), c.ours);
      writeFileSync(join(d, 'theirs'), c.theirs);
    });
    const script = 'cd "$1" && git merge-file -p -L ours -L base -L theirs ours base theirs > out 2>/dev/null; echo $? > rc';
    execFileSync('sh', ['-c', `ls | xargs -P 2 -I{} sh -c '${script}' sh {}`], { cwd: dir, stdio: 'ignore' });
    return cases.map((_, i) => ({
      rc: Number(readFileSync(join(dir, String(i), 'rc'), 'utf8').trim()),
      out: readFileSync(join(dir, String(i), 'out'), 'utf8'),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Larger files with many edits, to reach xdiff's cost cut-offs (ec >= mxcost). */
function genBigCase(rnd: () => number): Case {
  const size = Math.floor(rnd() * 5000);
  const alph = 2 + Math.floor(rnd() * 300);
  const pick = (): string => {
    const k = Math.floor(rnd() * alph);
    return k % 7 === 0 ? '' : `l${k}`;
  };
  const base = Array.from({ length: size }, pick);
  const mutate = (src: string[]): string[] => {
    const out = [...src];
    const edits = Math.floor(rnd() * (rnd() < 0.5 ? 400 : 20));
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * (out.length + 1));
      const op = rnd();
      if (op < 0.4) out.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rnd() * 30) }, pick));
      else if (op < 0.7) out.splice(at, 1 + Math.floor(rnd() * 30));
      else out[at] = pick();
    }
    return out;
  };
  const join = (lines: string[]): string => lines.join('\n') + (rnd() < 0.8 ? '\n' : '');
  return { base: join(base), ours: join(mutate(base)), theirs: join(mutate(base)) };
}

const show = (c: Case): string => {
  const s = JSON.stringify(c);
  return s.length > 2000 ? `${s.slice(0, 2000)}...` : s;
};

function compareWithGit(cases: Case[]): number {
  const results = gitMergeAll(cases);
  let clean = 0;
  cases.forEach((c, i) => {
    const git = results[i]!;
    const ours = mergeText(c.base, c.ours, c.theirs);
    if (git.rc === 0) {
      clean++;
      assert.ok(ours.clean, `expected clean merge for ${show(c)}`);
      assert.is(ours.text, git.out, `clean text differs for ${show(c)}`);
    } else {
      assert.not.ok(ours.clean, `expected conflict for ${show(c)}`);
      assert.is(Math.min(ours.conflicts, 127), git.rc, `conflict count differs for ${show(c)}`);
      assert.is(ours.text, git.out, `conflict text differs for ${show(c)}`);
    }
  });
  return clean;
}

const gitTest = needs(test, hasGit, 'merge-text: git merge-file comparisons', 'git is not on PATH; .ci/run installs it');

gitTest('random three-way merges match git merge-file byte for byte', () => {
  const count = Number(process.env.AGENTSYNC_MERGE_CASES ?? 1500);
  const rnd = prng(Number(process.env.AGENTSYNC_MERGE_SEED ?? 20240601));
  const cases = Array.from({ length: count }, () => genCase(rnd));
  const clean = compareWithGit(cases);
  assert.ok(clean > count / 5 && clean < count, `a useful mix of clean (${clean}) and conflicted cases`);
});

gitTest('large random merges match git merge-file byte for byte', () => {
  const rnd = prng(Number(process.env.AGENTSYNC_MERGE_SEED ?? 7));
  const cases = Array.from({ length: Number(process.env.AGENTSYNC_MERGE_BIG ?? 24) }, () => genBigCase(rnd));
  compareWithGit(cases);
});

test('non-overlapping edits merge cleanly', () => {
  const r = mergeText('a\nb\nc\nd\ne\n', 'A\nb\nc\nd\ne\n', 'a\nb\nc\nd\nE\n');
  assert.equal(r, { clean: true, text: 'A\nb\nc\nd\nE\n', conflicts: 0 });
});

test('identical changes on both sides are not a conflict', () => {
  const r = mergeText('a\nb\n', 'a\nX\n', 'a\nX\n');
  assert.equal(r, { clean: true, text: 'a\nX\n', conflicts: 0 });
});

test('one side unchanged returns the other side verbatim', () => {
  assert.equal(mergeText('a\n', 'a\n', 'b'), { clean: true, text: 'b', conflicts: 0 });
  assert.equal(mergeText('a\n', 'c\r\n', 'a\n'), { clean: true, text: 'c\r\n', conflicts: 0 });
  assert.equal(mergeText('', '', ''), { clean: true, text: '', conflicts: 0 });
});

test('conflicting edits get git-style markers and labels', () => {
  const r = mergeText('a\nb\nc\n', 'a\nours\nc\n', 'a\ntheirs\nc\n', { ours: 'local', theirs: 'remote' });
  assert.is(r.clean, false);
  assert.is(r.conflicts, 1);
  assert.is(r.text, 'a\n<<<<<<< local\nours\n=======\ntheirs\n>>>>>>> remote\nc\n');
});

test('a side without final newline gets one inside the conflict block', () => {
  const r = mergeText('a\nb', 'a\nx', 'a\ny');
  assert.is(r.text, 'a\n<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n');
});

test('CRLF files get CRLF conflict markers', () => {
  const r = mergeText('a\r\nb\r\n', 'a\r\nx\r\n', 'a\r\ny\r\n');
  assert.is(r.text, 'a\r\n<<<<<<< ours\r\nx\r\n=======\r\ny\r\n>>>>>>> theirs\r\n');
});

test('conflicts are refined to the lines that differ', () => {
  const r = mergeText('1\n2\n3\n4\n5\n6\n7\n8\n', '1\nA\n3\n4\n5\n6\nB\n8\n', '1\nA\n3\n4\n5\n6\nC\n8\n');
  assert.is(r.conflicts, 1);
  assert.is(r.text, '1\nA\n3\n4\n5\n6\n<<<<<<< ours\nB\n=======\nC\n>>>>>>> theirs\n8\n');
});

test.run();
