/**
 * Fairness under contention, with real processes (`node bin/agentsync.js`): N pushers, each in
 * its own clone, each adding a different file, all started at once with a plain `push` (no
 * selector) — on a directory remote (the LevelDB lock, waited on with backoff) and on an HTTP
 * remote served by a real `serve` process. Every push must exit 0 on its first invocation (the
 * others' versions are remote-only changes elsewhere: the push goes on top of them), every
 * version must be there exactly once, and the final snapshot must hold every file.
 *
 * N is `AGENTSYNC_TORTURE_PUSHERS` (default 12, to keep `npm test` fast; the target is 50).
 * With the variable set, one summary line per kind is printed on stderr: first-try success,
 * the worst run of consecutive refusals, internal CAS retries, and the time taken.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanup, tmp } from './helpers.js';

const N = Number(process.env.AGENTSYNC_TORTURE_PUSHERS) > 0 ? Math.floor(Number(process.env.AGENTSYNC_TORTURE_PUSHERS)) : 12;
const REPORT = process.env.AGENTSYNC_TORTURE_PUSHERS !== undefined;
/** Attempts per pusher after a refused first try (to measure the worst run of refusals). */
const MAX_ATTEMPTS = 30;

interface Proc { code: number | null; out: string; err: string }

function run(cwd: string, argv: string[], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, ...argv], {
    cwd, env: { ...process.env, NO_COLOR: '1', AGENTSYNC_AUTHOR: 'tester', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((res) => child.on('close', (code) => res({ code, out, err })));
}

async function must(cwd: string, argv: string[], env: Record<string, string> = {}): Promise<Proc> {
  const r = await run(cwd, argv, env);
  if (r.code !== 0) throw new Error(`agentsync ${argv.join(' ')} exited ${r.code}: ${r.err}`);
  return r;
}

function write(ws: string, rel: string, text: string): void {
  const p = join(ws, 'services', rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
}

/** A `serve` process on an ephemeral port with tenant `acme`; the URL and a write token. */
async function serve(): Promise<{ child: ChildProcess; url: string; token: string }> {
  const data = join(tmp(), 'data');
  await must(tmp(), ['admin', 'tenant', 'create', 'acme', '--data', data]);
  const token = (await must(tmp(), ['admin', 'token', 'create', '--tenant', 'acme', '--scope', 'write', '--data', data])).out.trim();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, url: `${url}/acme`, token };
}

interface Outcome {
  firstTry: boolean;
  /** Longest run of refused invocations (0 when the first one went through). */
  worstRun: number;
  /** Error codes of the refused invocations. */
  codes: string[];
  versionId: number;
  retries: number;
  /** Duration of the invocation that went through, ms. */
  ms: number;
}

/** Push until it goes through (bounded), recording the refusals. */
async function pusher(ws: string, i: number, env: Record<string, string>): Promise<Outcome> {
  const codes: string[] = [];
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const t0 = Date.now();
    const r = await run(ws, ['push', '--json'], { ...env, AGENTSYNC_AUTHOR: `pusher-${i}` });
    if (r.code === 0) {
      const j = JSON.parse(r.out);
      assert.equal(j.pushed.map((e: { path: string }) => e.path), [`content/pushers/p${i}.md`]);
      return { firstTry: attempt === 0, worstRun: attempt, codes, versionId: j.version.id, retries: j.retries, ms: Date.now() - t0 };
    }
    assert.match(r.err, /^agentsync: .+ \([A-Z_]+\)\n$/, r.err);
    codes.push(JSON.parse(r.out).error.code);
  }
  throw new Error(`pusher ${i} never got its version in: ${codes.join(', ')}`);
}

const KINDS: { name: string; remote(): Promise<{ url: string; env: Record<string, string>; stop(): Promise<void> }> }[] = [
  {
    name: 'directory',
    // The remote's LevelDB lock is waited on with backoff up to AGENTSYNC_LOCK_TIMEOUT_MS: 30 s
    // here (the push's own CAS bound) unless the environment sets it, so that a loaded machine
    // does not turn a long queue into REMOTE_BUSY.
    async remote() { return { url: join(tmp('agentsync-remote-'), 'remote'), env: { AGENTSYNC_LOCK_TIMEOUT_MS: process.env.AGENTSYNC_LOCK_TIMEOUT_MS ?? '30000' }, async stop() {} }; },
  },
  {
    name: 'http (serve)',
    async remote() {
      const s = await serve();
      return {
        url: s.url, env: { AGENTSYNC_TOKEN: s.token },
        async stop() {
          if (s.child.exitCode === null && s.child.signalCode === null) {
            const gone = new Promise((r) => s.child.on('exit', r));
            s.child.kill('SIGTERM');
            await gone;
          }
        },
      };
    },
  },
];

const t = suite(`contention [${N} pushers, subprocesses]`);
t.after(cleanup);

for (const kind of KINDS) {
  t(`${kind.name}: ${N} concurrent plain pushes of distinct files all exit 0 first try; every version once; every file in the final snapshot`, async () => {
    const remote = await kind.remote();
    try {
      const env = remote.env;
      const seed = tmp('agentsync-ws-');
      write(seed, 'agents/seed.yaml', 'name: seed\n');
      await must(seed, ['init', '--remote', remote.url], env);
      await must(seed, ['push'], env);
      // One clone, copied N times (each copy a full workspace with the same base and fetch record).
      const template = tmp('agentsync-ws-');
      await must(template, ['init', '--remote', remote.url], env);
      await must(template, ['pull'], env);
      const wss: string[] = [];
      for (let i = 0; i < N; i++) {
        const ws = join(tmp('agentsync-ws-'), 'ws');
        cpSync(template, ws, { recursive: true });
        write(ws, `content/pushers/p${i}.md`, `# pusher ${i}\n`);
        wss.push(ws);
      }
      const t0 = Date.now();
      const outcomes = await Promise.all(wss.map((ws, i) => pusher(ws, i, env)));
      const ms = Date.now() - t0;
      const first = outcomes.filter((o) => o.firstTry).length;
      const worst = Math.max(...outcomes.map((o) => o.worstRun));
      if (REPORT) {
        const codes = [...new Set(outcomes.flatMap((o) => o.codes))];
        process.stderr.write(`\n[contention] ${kind.name}: ${N} pushers, first try ${first}/${N} (${((100 * first) / N).toFixed(1)}%), worst consecutive refusals ${worst}, CAS retries total ${outcomes.reduce((s, o) => s + o.retries, 0)} (max ${Math.max(...outcomes.map((o) => o.retries))}), refusal codes [${codes.join(', ')}], slowest push ${Math.max(...outcomes.map((o) => o.ms))} ms, all done in ${ms} ms\n`);
      }

      // Every version exactly once, one chain of published versions.
      const check = tmp('agentsync-ws-');
      await must(check, ['init', '--remote', remote.url], env);
      await must(check, ['pull'], env);
      const vs = JSON.parse((await must(check, ['versions', '--json'], env)).out);
      assert.is(vs.versions.length, N + 1);
      assert.is(vs.latestPublished, N + 1);
      for (let k = 1; k < vs.versions.length; k++) {
        assert.equal([vs.versions[k].state, vs.versions[k].parent], ['published', vs.versions[k - 1].id]);
      }
      const authors = vs.versions.slice(1).map((v: { author: string }) => v.author).sort();
      assert.equal(authors, Array.from({ length: N }, (_, i) => `pusher-${i}`).sort());
      outcomes.forEach((o, i) => assert.is(vs.versions.find((v: { id: number }) => v.id === o.versionId)?.author, `pusher-${i}`));
      // The final snapshot holds every file, byte for byte.
      assert.is(readFileSync(join(check, 'services', 'agents', 'seed.yaml'), 'utf8'), 'name: seed\n');
      for (let i = 0; i < N; i++) assert.is(readFileSync(join(check, 'services', 'content', 'pushers', `p${i}.md`), 'utf8'), `# pusher ${i}\n`);
      // Fairness: every push went through on its first invocation.
      const refused = outcomes.flatMap((o, i) => (o.firstTry ? [] : [`pusher ${i}: ${o.codes.join(', ')}`]));
      assert.equal(refused, [], `first-try refusals: ${refused.join('; ')}`);
    } finally {
      await remote.stop();
    }
  });
}

t.run();
