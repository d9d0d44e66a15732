/**
 * The CLI's conventions, the ones users bring from git and gh: help per command with usage,
 * options and examples; "did you mean" for a mistyped command, option or selector; unknown
 * options as one line; selectors relative to the current folder inside services/; warnings
 * instead of silence; colour switches; Ctrl-C at a prompt; the version author; completion.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commandTable, run } from '../src/cli/main.js';
import { DOCS, GROUPS } from '../src/cli/help.js';
import { parseConfig } from '../src/workspace/config.js';
import { BIN, cleanup, cli, needs, ok, pair, states, tmp, workspace, write } from './helpers.js';
import { HAS_PTY, KEY, runPty } from './pty.js';

test.after(cleanup);

const IO = { cwd: '/', env: {}, stdout: () => {}, stderr: () => {}, stdinTTY: false, stdoutTTY: false };
const commands = commandTable(IO).commands;

/** The single stderr line of a refusal, with its code. */
function oneErrorLine(err: string, code: string): void {
  const lines = err.split('\n').filter(Boolean);
  assert.is(lines.length, 1, err);
  assert.match(lines[0]!, new RegExp(`^agentsync: .+ \\(${code}\\)$`));
}

/** The lines of one `Name:` section of a help text. */
function section(text: string, name: string): string[] {
  const lines = text.split('\n');
  const i = lines.indexOf(`${name}:`);
  if (i < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(i + 1)) { if (!l) break; out.push(l); }
  return out;
}

// ---------------------------------------------------------------- help

test('help: top level groups every command once under Start, Sync, History, CI, Server', async () => {
  const r = await cli(tmp(), '--help');
  assert.is(r.code, 0);
  assert.is((await cli(tmp(), 'help')).out, r.out);
  const listed: string[] = [];
  const lines = r.out.split('\n');
  for (const g of ['Start', 'Sync', 'History', 'CI', 'Server']) assert.ok(lines.some((l) => l.startsWith(`${g}: `)), `group ${g}`);
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\w+): /.exec(lines[i]!);
    if (!head || !(GROUPS as readonly string[]).includes(head[1]!)) continue;
    for (let j = i + 1; j < lines.length && lines[j]; j++) listed.push(lines[j]!.trim().split(/\s+/)[0]!);
  }
  assert.equal([...listed].sort(), [...new Set([...commands.map((c) => c.name), ...Object.keys(DOCS)])].sort());
  assert.not.match(r.out, /For more info/);
});

test('help: every command has usage, every option, and 2-3 examples; help <cmd> equals <cmd> --help', async () => {
  const dir = tmp();
  for (const name of new Set([...commands.map((c) => c.name), ...Object.keys(DOCS)])) {
    const a = await cli(dir, 'help', name);
    assert.is(a.code, 0, name);
    if (name !== 'help') {
      const b = await cli(dir, name, '--help');
      const h = await cli(dir, name, '-h');
      assert.is(b.code, 0, name);
      assert.is(b.out, a.out, name);
      assert.is(h.out, a.out, name);
    }
    const usage = section(a.out, 'Usage');
    assert.ok(usage.length >= 1 && usage.every((l) => l.startsWith(`  agentsync ${name}`)), `${name}: ${usage.join('|')}`);
    const examples = section(a.out, 'Examples').filter((l) => l.startsWith('  agentsync '));
    assert.ok(examples.length >= 2 && examples.length <= 3, `${name}: ${examples.length} examples`);
    assert.ok(examples.every((l) => l.startsWith(`  agentsync ${name}`) || l.includes(`&& agentsync ${name}`) || l.includes(`| agentsync ${name}`)), name);
    const opts = section(a.out, 'Options').map((l) => l.trim());
    for (const o of commands.find((c) => c.name === name)?.options ?? []) {
      assert.ok(opts.some((l) => l.startsWith(o.rawName)), `${name}: option ${o.rawName} missing`);
    }
    const globals = section(a.out, 'Global options').map((l) => l.trim().split(/\s{2,}/)[0]);
    for (const g of ['-C <dir>', '--json', '--color=<when>', '--no-color']) assert.ok(globals.includes(g), `${name}: ${g}`);
  }
});

test('help: remote, admin, auth and sync list their subcommands', async () => {
  const want: Record<string, string[]> = {
    remote: ['list', 'add', 'remove'], admin: ['tenant create', 'tenant list', 'token create', 'token list', 'token revoke', 'fsck'],
    auth: ['login', 'status', 'logout'], sync: ['local'],
  };
  for (const [name, subs] of Object.entries(want)) {
    const r = await cli(tmp(), 'help', name);
    const listed = section(r.out, 'Subcommands').map((l) => l.trim());
    for (const s of subs) assert.ok(listed.some((l) => l.startsWith(s)), `${name} ${s}`);
  }
  // `sync local --help` is sync's help (where local is described).
  assert.is((await cli(tmp(), 'sync', 'local', '--help')).out, (await cli(tmp(), 'help', 'sync')).out);
});

test('help of an unknown command: USAGE, exit 2, with a suggestion', async () => {
  const r = await cli(tmp(), 'help', 'verfy', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'USAGE');
  assert.is(r.json.error.data.suggestion, 'verify');
});

// ---------------------------------------------------------------- mistakes

test('a mistyped command: one line, exit 2, did you mean status', async () => {
  const r = await cli(tmp(), 'stauts');
  assert.is(r.code, 2);
  oneErrorLine(r.err, 'USAGE');
  assert.is(r.out, '');
  const j = await cli(tmp(), 'stauts', '--json');
  assert.equal(j.json.error.data, { command: 'stauts', suggestion: 'status' });
  const far = await cli(tmp(), 'xyzzyq', '--json');
  assert.is(far.code, 2);
  assert.equal(far.json.error.data, { command: 'xyzzyq' });
});

test('a mistyped option: did you mean --dry-run, exit 2, one line', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  const r = await cli(ws, 'pull', '--dryrun', '--json');
  assert.is(r.code, 2);
  assert.equal(r.json.error.data, { option: '--dryrun', command: 'pull', suggestion: '--dry-run' });
  const plain = await cli(ws, 'push', '--mesage', 'x');
  assert.is(plain.code, 2);
  oneErrorLine(plain.err, 'USAGE');
  const j = await cli(ws, 'push', '--mesage', 'x', '--json');
  assert.is(j.json.error.data.suggestion, '--message');
});

test('an unknown option before the command: one line, exit 2, no help on stdout', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  const r = await cli(ws, '-q', 'status');
  assert.is(r.code, 2);
  assert.is(r.out, '');
  oneErrorLine(r.err, 'USAGE');
  const j = await cli(ws, '--jsn', 'status', '--json');
  assert.is(j.code, 2);
  assert.equal(j.json.error.data, { option: '--jsn', suggestion: '--json' });
  // Global options before the command still work.
  assert.is((await cli(tmp(), '-C', ws, '--json', 'status')).code, 0);
});

test('a mistyped selector: SELECTOR_UNKNOWN with the closest kind or path', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  const r = await cli(ws, 'status', 'agent', '--json');
  assert.is(r.code, 2);
  assert.is(r.json.error.code, 'SELECTOR_UNKNOWN');
  assert.equal(r.json.error.data, { selector: 'agent', suggestion: 'agents' });
  const p = await cli(ws, 'diff', 'agents/welcom.yaml', '--json');
  assert.equal(p.json.error.data, { selector: 'agents/welcom.yaml', suggestion: 'agents/welcome.yaml' });
  const none = await cli(ws, 'status', 'qqqqqqqq', '--json');
  assert.equal(none.json.error.data, { selector: 'qqqqqqqq' });
});

// ---------------------------------------------------------------- relative selectors

test('inside services/, selectors are relative to the current folder (as git pathspecs)', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  await ok(ws, 'push');
  write(ws, 'agents/welcome.yaml', 'name: welcome\nedited: true\n');
  write(ws, 'skills/sql-helper.yaml', 'name: sql-helper\nedited: true\n');
  const agents = join(ws, 'services', 'agents');
  const paths = (r: { json: { entries: { path: string }[] } }) => r.json.entries.map((e) => e.path);
  assert.equal(paths(await ok(agents, 'status', 'welcome.yaml', '--json')), ['agents/welcome.yaml']);
  assert.equal(paths(await ok(agents, 'status', '.', '--json')), ['agents/welcome.yaml']);
  assert.equal(paths(await ok(agents, 'status', '../skills', '--json')), ['skills/sql-helper.yaml']);
  assert.equal(paths(await ok(join(ws, 'services'), 'status', 'agents/welcome.yaml', '--json')), ['agents/welcome.yaml']);
  // -C into services/agents is the same as starting there.
  assert.equal(paths(await ok(ws, '-C', 'services/agents', 'status', 'welcome.yaml', '--json')), ['agents/welcome.yaml']);
  // At the root nothing changes: paths are relative to services/.
  assert.equal(paths(await ok(ws, 'status', 'agents/welcome.yaml', '--json')), ['agents/welcome.yaml']);
  // A path relative to the folder that names nothing is still refused.
  const bad = await cli(agents, 'status', 'agents/welcome.yaml', '--json');
  assert.is(bad.json.error.code, 'SELECTOR_UNKNOWN');
  // push and log take the same relative paths.
  const pushed = await ok(agents, 'push', 'welcome.yaml', '--json');
  assert.equal(pushed.json.pushed.map((e: { path: string }) => e.path), ['agents/welcome.yaml']);
  assert.equal(await states(ws), { 'skills/sql-helper.yaml': 'push' });
  const log = await ok(agents, 'log', 'welcome.yaml', '--json');
  assert.equal(log.json.versions.map((v: { id: number }) => v.id), [1, 2]);
  const diff = await ok(join(ws, 'services', 'skills'), 'diff', 'sql-helper.yaml', '--json');
  assert.equal(diff.json.entries.map((b: { path: string }) => b.path), ['skills/sql-helper.yaml']);
});

// ---------------------------------------------------------------- warnings

/** The warning lines of stderr, as their codes. */
function warnings(err: string): string[] {
  return err.split('\n').filter((l) => l.startsWith('agentsync: warning: ')).map((l) => /\(([A-Z_]+)\)$/.exec(l)?.[1] ?? l);
}

test('pull --commit outside a git work tree: one GIT_NONE warning, the pull still happens', async () => {
  const remote = join(tmp(), 'remote');
  const a = await workspace(remote);
  await ok(a, 'push');
  const b = await workspace(remote, { sample: false });
  const r = await ok(b, 'pull', '--commit', '--json');
  assert.equal(warnings(r.err), ['GIT_NONE']);
  assert.is(r.err.split('\n').filter(Boolean).length, 1);
  assert.is(r.json.commit, null);
  assert.equal(await states(b), {});
  // Without --commit, or with nothing to commit into, no warning.
  assert.equal(warnings((await ok(b, 'pull')).err), []);
});

test('log of a path no version held and no local file: PATH_UNKNOWN warning, exit 0', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  await ok(ws, 'push');
  const r = await ok(ws, 'log', 'agents/nope.yaml', '--json');
  assert.equal(r.json.versions, []);
  assert.equal(warnings(r.err), ['PATH_UNKNOWN']);
  const folder = await ok(ws, 'log', 'agents');
  assert.equal(warnings(folder.err), ['PATH_NOT_ARTIFACT']);
  const known = await ok(ws, 'log', 'agents/welcome.yaml');
  assert.equal(warnings(known.err), []);
  // A new local file that no version holds yet: its log is empty, which is no mistake.
  write(ws, 'agents/fresh.yaml', 'name: fresh\n');
  assert.equal(warnings((await ok(ws, 'log', 'agents/fresh.yaml')).err), []);
});

test('an unknown key in agentsync.yaml: one CONFIG_KEY_UNKNOWN warning per command, with did you mean', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  const cfg = join(ws, 'agentsync.yaml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8') + 'remtoes:\n  staging: ../elsewhere\n');
  const r = await ok(ws, 'status');
  assert.equal(warnings(r.err), ['CONFIG_KEY_UNKNOWN']);
  assert.equal(parseConfig(ws, { remotes: {}, remtoes: {}, zzzz: 1 }).unknownKeys, [{ key: 'remtoes', suggestion: 'remotes' }, { key: 'zzzz', suggestion: null }]);
  assert.equal(warnings((await ok(ws, 'remote', 'list')).err), ['CONFIG_KEY_UNKNOWN']);
  // From the config cache too (the second status reads the cached value).
  assert.equal(warnings((await ok(ws, 'status')).err), ['CONFIG_KEY_UNKNOWN']);
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/remtoes:[\s\S]*$/, ''));
  assert.equal(warnings((await ok(ws, 'status')).err), []);
});

// ---------------------------------------------------------------- colour

/** `status` in `ws` with this environment and terminal; whether its output holds colour codes, and the exit code. */
async function coloured(ws: string, env: Record<string, string | undefined>, tty: boolean, ...argv: string[]): Promise<{ code: number; colour: boolean }> {
  let out = '';
  let err = '';
  const code = await run(argv.length ? argv : ['status'], {
    cwd: ws, env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm-256color', AGENTSYNC_AUTHOR: 'tester', ...env },
    stdout: (x) => { out += x; }, stderr: (x) => { err += x; }, stdinTTY: false, stdoutTTY: tty,
  });
  return { code, colour: (out + err).includes('\x1b[') };
}

test('colour: auto on a terminal; TERM=dumb, NO_COLOR, a pipe turn it off; FORCE_COLOR and --color win', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  write(ws, 'agents/welcome.yaml', 'name: welcome\nedited: true\n');
  const cases: [Record<string, string>, boolean, string[], boolean][] = [
    [{}, true, ['status'], true],
    [{ TERM: 'dumb' }, true, ['status'], false],
    [{ NO_COLOR: '1' }, true, ['status'], false],
    [{}, false, ['status'], false],
    [{ FORCE_COLOR: '1' }, false, ['status'], true],
    [{ FORCE_COLOR: '1', TERM: 'dumb' }, true, ['status'], true],
    [{ FORCE_COLOR: '0' }, true, ['status'], false],
    [{ NO_COLOR: '1' }, false, ['status', '--color=always'], true],
    [{ NO_COLOR: '1' }, false, ['--color', 'always', 'status'], true],
    [{ NO_COLOR: '1' }, false, ['status', '--color'], true],
    [{ FORCE_COLOR: '1' }, true, ['status', '--no-color'], false],
    [{}, true, ['--color=never', 'status'], false],
    [{ TERM: 'dumb' }, true, ['status', '--color=auto'], false],
    [{}, true, ['diff', '--color=never'], false],
    [{}, false, ['diff', '--color=always'], true],
  ];
  for (const [env, tty, argv, want] of cases) {
    const r = await coloured(ws, env, tty, ...argv);
    assert.is(r.code, 0, `${JSON.stringify(env)} tty=${tty} ${argv.join(' ')}`);
    assert.is(r.colour, want, `${JSON.stringify(env)} tty=${tty} ${argv.join(' ')}`);
  }
  const bad = await cli(ws, 'status', '--color=sometimes', '--json');
  assert.is(bad.code, 2);
  assert.equal(bad.json.error.data, { option: '--color', value: 'sometimes' });
  // Every command takes the switches (they are global): none of these is an unknown option.
  for (const argv of [['versions'], ['remote', 'list'], ['hash'], ['validate'], ['log'], ['fsck']]) {
    assert.is((await cli(ws, ...argv, '--no-color')).code, 0, argv.join(' '));
    assert.is((await cli(ws, '--color=always', ...argv)).code, 0, argv.join(' '));
  }
});

// ---------------------------------------------------------------- Ctrl-C

test('Ctrl-C at the hidden token prompt of auth login: INTERRUPTED, exit 130, one line, nothing stored', async () => {
  const config = tmp('agentsync-xdg-');
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  const running = run(['auth', 'login', 'http://127.0.0.1:9/acme', '--json'], {
    cwd: tmp(), env: { ...process.env, XDG_CONFIG_HOME: config, NO_COLOR: '1' },
    stdout: (x) => { out += x; }, stderr: (x) => { err += x; }, stdin, stdinTTY: true, stdoutTTY: true,
  });
  stdin.write('as_abc\u0003');
  const code = await running;
  assert.is(code, 130);
  assert.is(JSON.parse(out).error.code, 'INTERRUPTED');
  oneErrorLine(err.replace(/^Token for [^\n]*\n/, ''), 'INTERRUPTED');
  assert.equal(readdirSync(config), []);
});

const pty = needs(test, HAS_PTY, 'cli-conventions pty', 'python3 with the pty module is missing');
pty('Ctrl-C at the confirmation of sync local: INTERRUPTED, exit 130, nothing synced', async () => {
  const { a } = await pair();
  const local = join(tmp('agentsync-local-'), 'db');
  await ok(a, 'remote', 'add', 'local', local);
  const r = await runPty(['node', BIN, 'sync', 'local', '--direction', 'to-db'], {
    cwd: a, env: { AGENTSYNC_AUTHOR: 'pty-tester', NO_COLOR: undefined, FORCE_COLOR: undefined }, steps: [{ expect: 'to local?', send: KEY.ctrlC }],
  });
  assert.is(r.error, undefined, r.transcript);
  assert.is(r.code, 130, r.transcript);
  assert.match(r.transcript, /agentsync: [^\n]*\(INTERRUPTED\)/);
  const v = await ok(a, 'versions', '--remote', 'local', '--json');
  assert.equal(v.json.versions, []);
});

// ---------------------------------------------------------------- version author

const HAS_GIT = spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0;

/** `push` in `ws` with exactly this identity environment (no AGENTSYNC_AUTHOR, no GIT_AUTHOR_*, an empty HOME unless given). */
async function pushAs(ws: string, env: Record<string, string | undefined>): Promise<string> {
  const home = tmp('agentsync-home-');
  let err = '';
  const code = await run(['push', '-m', 'x'], {
    cwd: ws, env: {
      ...process.env, NO_COLOR: '1', AGENTSYNC_AUTHOR: undefined, GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined,
      HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: undefined, ...env,
    },
    stdout: () => {}, stderr: (x) => { err += x; }, stdinTTY: false, stdoutTTY: false,
  });
  assert.is(code, 0, err);
  const v = (await ok(ws, 'versions', '--json')).json.versions as { author: string }[];
  return v[v.length - 1]!.author;
}

test('version author outside git: AGENTSYNC_AUTHOR when set, else the OS user', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  assert.is(await pushAs(ws, { USER: 'os-person' }), 'os-person');
  write(ws, 'agents/welcome.yaml', 'name: welcome\nv: 2\n');
  assert.is(await pushAs(ws, { USER: 'os-person', AGENTSYNC_AUTHOR: 'ci-bot' }), 'ci-bot');
});

const withGit = needs(test, HAS_GIT, 'cli-conventions git author', 'git is not installed');
withGit('version author in a git work tree: git user.name <user.email>; AGENTSYNC_AUTHOR wins; global config counts', async () => {
  const remote = join(tmp(), 'remote');
  const ws = await workspace(remote);
  const git = (...a: string[]) => assert.is(spawnSync('git', a, { cwd: ws, stdio: 'ignore', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } }).status, 0, a.join(' '));
  git('init', '-q');
  git('config', 'user.name', 'Ada Lovelace');
  git('config', 'user.email', 'ada@example.com');
  assert.is(await pushAs(ws, { USER: 'os-person' }), 'Ada Lovelace <ada@example.com>');
  write(ws, 'agents/welcome.yaml', 'name: welcome\nv: 2\n');
  assert.is(await pushAs(ws, { USER: 'os-person', AGENTSYNC_AUTHOR: 'ci-bot' }), 'ci-bot');
  write(ws, 'agents/welcome.yaml', 'name: welcome\nv: 3\n');
  assert.is(await pushAs(ws, { USER: 'os-person', GIT_AUTHOR_NAME: 'Env Name', GIT_AUTHOR_EMAIL: 'env@example.com' }), 'Env Name <env@example.com>');
  // Only a global identity (~/.gitconfig), no repository one.
  const other = await workspace(remote, { sample: false });
  assert.is(spawnSync('git', ['init', '-q'], { cwd: other }).status, 0);
  const home = tmp('agentsync-home-');
  writeFileSync(join(home, '.gitconfig'), '[user]\n\tname = Global Person\n');
  write(other, 'agents/other.yaml', 'name: other\n');
  assert.is(await pushAs(other, { USER: 'os-person', HOME: home }), 'Global Person');
  // A git work tree without any identity: the OS user.
  const bare = await workspace(remote, { sample: false });
  assert.is(spawnSync('git', ['init', '-q'], { cwd: bare }).status, 0);
  write(bare, 'agents/bare.yaml', 'name: bare\n');
  assert.is(await pushAs(bare, { USER: 'os-person' }), 'os-person');
});

// ---------------------------------------------------------------- completion

const HAS_BASH = spawnSync('bash', ['-c', 'true'], { stdio: 'ignore' }).status === 0;
const withBash = needs(test, HAS_BASH, 'cli-conventions completion', 'bash is not installed');

withBash('completion bash: sourced in bash, _agentsync completes commands, options, values, remotes, kinds and paths', async () => {
  const ws = await workspace(join(tmp(), 'remote'));
  await ok(ws, 'remote', 'add', 'staging', join(tmp(), 'staging'));
  const bin = tmp('agentsync-bin-');
  writeFileSync(join(bin, 'agentsync'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  const cases: [string, string[], string, string[]][] = [
    ['.', ['agentsync', 'sta'], '1', ['status']],
    ['.', ['agentsync', 'status', 'ag'], '2', ['agents']],
    ['.', ['agentsync', 'status', 'agents/wel'], '2', ['agents/welcome.yaml']],
    ['.', ['agentsync', 'push', '--dr'], '2', ['--draft', '--dry-run']],
    ['.', ['agentsync', 'pull', '--remote', ''], '3', ['origin', 'staging']],
    ['.', ['agentsync', 'remote', ''], '2', ['list', 'add', 'remove']],
    ['.', ['agentsync', 'status', '--color', '=', 'al'], '4', ['always']],
    ['.', ['agentsync', 'completion', ''], '2', ['bash', 'zsh', 'fish']],
    ['services/agents', ['agentsync', 'diff', 'wel'], '2', ['welcome.yaml']],
  ];
  const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  let script = 'set -e\nsource <(agentsync completion bash)\n';
  for (const [where, words, cword] of cases) {
    script += `(cd ${q(where)} && COMP_WORDS=(${words.map(q).join(' ')}) && COMP_CWORD=${cword} && COMPREPLY=() && _agentsync && printf '%s\\n' "\${COMPREPLY[@]}"; echo '--')\n`;
  }
  const r = spawnSync('bash', ['-c', script], { cwd: ws, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1' } });
  assert.is(r.status, 0, r.stderr);
  const got = r.stdout.split('--\n').slice(0, -1).map((b) => b.split('\n').filter(Boolean));
  assert.equal(got, cases.map((c) => c[3]));
});

test('completion zsh and fish print their scripts; another shell is USAGE', async () => {
  for (const sh of ['bash', 'zsh', 'fish']) {
    const r = await cli(tmp(), 'completion', sh);
    assert.is(r.code, 0, sh);
    assert.ok(r.out.includes('agentsync __complete'), sh);
  }
  const bad = await cli(tmp(), 'completion', 'tcsh', '--json');
  assert.is(bad.code, 2);
  assert.equal(bad.json.error.data, { shell: 'tcsh' });
});

test.run();
