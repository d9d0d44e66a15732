/**
 * The CLI: `run(argv, io)` parses the command line with cac, calls one handler, renders any
 * error as one line (stack only with AGENTSYNC_DEBUG=1) and returns the exit code. Tests call
 * it in-process with a fake Io.
 * @module
 */
import { printable } from '../model/text.js';
import { cac } from 'cac';
import { diskFullError, isDiskFull } from '../model/diskfull.js';
import { AgentsyncError, EXIT, isAgentsyncError } from '../model/errors.js';
import * as c from './commands.js';
import type { ColorMode, Io } from './io.js';
import { optionFlags, takesValue } from './options.js';
import { suggest } from '../model/suggest.js';
import { registerServerCommands } from './server-commands.js';
import { registerSyncCommands } from './sync-commands.js';

export const VERSION = '0.1.0';

export type Handler = (...a: unknown[]) => Promise<number>;
export type Act = (fn: Handler) => (...a: unknown[]) => void;
export type Cli = ReturnType<typeof cac>;

function build(io: Io, setResult: (p: Promise<number>) => void) {
  const cli = cac('agentsync');
  const act = (fn: Handler) => (...a: unknown[]) => { setResult(fn(...a)); };
  cli.option('-C <dir>', 'Run as if started in <dir>');
  cli.option('--json', 'Print machine-readable JSON');

  cli.command('init', 'Create agentsync.yaml, services/ and the local store').option('--remote <url>', 'Add <url> as remote origin')
    .action(act((o) => c.cmdInit(io, o as c.Opts)));
  cli.command('remote [...args]', 'remote add <name> <url> | remote list | remote remove <name>')
    .action(act((args, o) => c.cmdRemote(io, args as string[], o as c.Opts)));
  cli.command('status [...selectors]', 'Three-way status against the last fetch (offline)')
    .option('--remote <name>', 'Remote to compare with (default origin)').option('--check', 'Exit 1 when anything drifted')
    .option('--fetch', 'Fetch first').option('--all', 'Everything (the default)')
    .option('--semantic', 'With --check: ignore YAML drift that is format only (comments, quoting, order)')
    .action(act((sel, o) => c.cmdStatus(io, sel as string[], o as c.Opts)));
  cli.command('fetch', "Download the remote's versions and the objects it lacks").option('--remote <name>', 'Remote')
    .action(act((o) => c.cmdFetch(io, o as c.Opts)));
  cli.command('diff [...selectors]', 'Coloured diff of every drifted artifact: - remote, + local')
    .option('--remote <name>', 'Remote').option('--stat', 'Only +/- counts per file').option('--all', 'Everything (the default)')
    .action(act((sel, o) => c.cmdDiff(io, sel as string[], o as c.Opts)));
  cli.command('push [...selectors]', 'Upload local changes as one new version')
    .option('--remote <name>', 'Remote').option('--all', 'Everything (the default)').option('--dry-run', 'Show what would be pushed; change nothing')
    .option('--force', 'Local wins over remote changes').option('--draft', 'Leave the version a draft').option('-m, --message <message>', 'Version message')
    .action(act((sel, o) => c.cmdPush(io, sel as string[], o as c.Opts)));
  cli.command('pull [...selectors]', 'Write remote changes into services/')
    .option('--remote <name>', 'Remote').option('--all', 'Everything (the default)').option('--dry-run', 'Show what would be pulled; change nothing')
    .option('--force', 'Remote wins over conflicting local changes (undo restores them)')
    .option('--commit', 'Commit the pulled files to git')
    .action(act((sel, o) => c.cmdPull(io, sel as string[], o as c.Opts)));
  cli.command('versions', "List the remote's versions").option('--remote <name>', 'Remote')
    .action(act((o) => c.cmdVersions(io, o as c.Opts)));
  cli.command('deploy <version>', 'Publish a version and make it current').option('--remote <name>', 'Remote')
    .action(act((v, o) => c.cmdMove(io, 'deploy', String(v), o as c.Opts)));
  cli.command('rollback <version>', 'Make a published version current (latest published stays)').option('--remote <name>', 'Remote')
    .action(act((v, o) => c.cmdMove(io, 'rollback', String(v), o as c.Opts)));
  cli.command('log [path]', 'Versions, newest first; with a path, those that changed it').option('--remote <name>', 'Remote')
    .action(act((p, o) => c.cmdLog(io, p as string | undefined, o as c.Opts)));
  cli.command('hash', 'Print the local snapshot hash').action(act((o) => c.cmdHash(io, o as c.Opts)));
  cli.command('verify <hash>', 'Exit 0 when the local (or --remote latest published) snapshot has <hash>')
    .option('--remote [name]', "Check the remote's latest published snapshot")
    .action(act((h, o) => c.cmdVerify(io, String(h), o as c.Opts)));
  cli.command('validate', 'Check that every artifact parses and meets its schema').action(act((o) => c.cmdValidate(io, o as c.Opts)));
  cli.command('undo', 'Restore the local files the last pull or merge replaced').action(act((o) => c.cmdUndo(io, o as c.Opts)));
  cli.command('merge <path>', 'Three-way merge one conflicting artifact; writes conflict markers when not clean').option('--remote <name>', 'Remote')
    .action(act((p, o) => c.cmdMerge(io, String(p), o as c.Opts)));
  cli.command('resolve <path>', 'Settle a merge: --ours, --theirs or --merged').option('--remote <name>', 'Remote')
    .option('--ours', 'Keep the local version').option('--theirs', 'Take the remote version').option('--merged', 'Keep the edited working file')
    .action(act((p, o) => c.cmdResolve(io, String(p), o as c.Opts)));
  cli.command('fsck', 'Check the local store').action(act((o) => c.cmdFsck(io, o as c.Opts)));
  cli.command('gc', 'Drop stored objects nothing reaches, and compact the store').option('--dry-run', 'Only count what would be dropped')
    .action(act((o) => c.cmdGc(io, o as c.Opts)));
  registerServerCommands(cli, io, act);
  registerSyncCommands(cli, io, act);
  cli.command('completion <shell>', 'Print the completion script for bash, zsh or fish')
    .action(act(async (shell) => { io.stdout((await import('./completion.js')).completionScript(String(shell))); return EXIT.OK; }));
  cli.help();
  cli.version(VERSION);
  return cli;
}

/** The registered commands and their options (for help checks and completion); nothing runs. */
export function commandTable(io: Io): Cli {
  return build(io, () => {});
}

/** Run one command line (without the `node agentsync` prefix); resolves to the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  let result: Promise<number> | undefined;
  const info = console.info;
  try {
    if (argv[0] === '__complete') {
      const cli = build(io, () => {});
      // The shell asks for candidates (completion.ts): never an error, one candidate a line.
      try {
        for (const c of await (await import('./completion.js')).complete(cli, io, argv.slice(1))) io.stdout(`${c}\n`);
      } catch { /* no candidates */ }
      return EXIT.OK;
    }
    const taken = takeColor(argv);
    argv = taken.argv;
    if (taken.color) io = { ...io, color: taken.color };
    const cli = build(io, (p) => { result = p; });
    const pre = preScan(cli, argv);
    if (pre.unknown !== undefined) throw await unknownCommand(cli, pre.unknown);
    if (pre.help) {
      // The help text is loaded only to be shown.
      const { DOCS, commandHelp, topHelp } = await import('./help.js');
      const name = pre.helpFor;
      if (name === null) io.stdout(topHelp(cli, VERSION));
      else if (DOCS[name]) io.stdout(commandHelp(cli, name));
      else throw await unknownCommand(cli, name);
      return EXIT.OK;
    }
    console.info = (...a: unknown[]) => io.stdout(a.join(' ') + '\n'); // cac prints the version here
    try {
      cli.parse(['node', 'agentsync', ...argv], { run: false });
      if (!cli.matchedCommand && cli.args.length && !cli.options.version) throw await unknownCommand(cli, String(cli.args[0]));
      if (!cli.matchedCommand && !cli.options.version) { io.stdout((await import('./help.js')).topHelp(cli, VERSION)); return EXIT.USAGE; }
      if (cli.options.version) return EXIT.OK;
      await cli.runMatchedCommand();
    } finally {
      console.info = info;
    }
    return result ? await result : EXIT.OK;
  } catch (e) {
    return report(e, io, json);
  }
}

/** `--color=<when>`, `--color <when>` and `--no-color` (before `--`), taken out of the command line. */
function takeColor(argv: string[]): { argv: string[]; color?: ColorMode } {
  const out: string[] = [];
  let color: ColorMode | undefined;
  const modes = ['auto', 'always', 'never'];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') { out.push(...argv.slice(i)); break; }
    if (t === '--no-color') { color = 'never'; continue; }
    if (t === '--color' || t.startsWith('--color=')) {
      let v = t === '--color' ? 'always' : t.slice('--color='.length);
      if (t === '--color' && modes.includes(argv[i + 1] ?? '')) v = argv[++i]!;
      if (!modes.includes(v)) throw new AgentsyncError('USAGE', `--color takes auto, always or never, not ${JSON.stringify(v)}`, { option: '--color', value: v });
      color = v as ColorMode;
      continue;
    }
    out.push(t);
  }
  return color ? { argv: out, color } : { argv: out };
}

const HELP_FLAGS = new Set(['-h', '--help']);

/**
 * Before cac sees the command line: find the command, answer help, and refuse an unknown
 * option with one line (and a suggestion) — cac would otherwise take `-q status` as `-q`'s
 * value and print the whole help, or name a camel-cased `--dryRun`.
 */
function preScan(cli: Cli, argv: string[]): { help: boolean; helpFor: string | null; unknown?: string } {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const help = argv.slice(0, end).some((t) => HELP_FLAGS.has(t));
  const globals = optionFlags(cli, null);
  let i = 0;
  for (; i < end; i++) {
    const t = argv[i]!;
    if (!t.startsWith('-') || t === '-') break;
    if (HELP_FLAGS.has(t)) continue;
    checkOption(cli, null, globals, t, help);
    if (!t.includes('=') && takesValue(cli, null, t) === 'required') i++;
  }
  let command = i < end ? argv[i]! : null;
  if (command === 'help') {
    const name = argv.slice(i + 1, end).find((t) => !t.startsWith('-')) ?? null;
    return { help: true, helpFor: name };
  }
  if (command !== null && !cli.commands.some((c) => c.name === command)) {
    if (help) return { help: true, helpFor: command };
    return { help: false, helpFor: null, unknown: command };
  }
  if (help) return { help: true, helpFor: command };
  if (command === null) return { help: false, helpFor: null };
  const flags = optionFlags(cli, command);
  for (let j = i + 1; j < end; j++) {
    const t = argv[j]!;
    if (!t.startsWith('-') || t === '-' || /^-\d/.test(t)) continue;
    checkOption(cli, command, flags, t, false);
    if (!t.includes('=') && takesValue(cli, command, t) === 'required') j++;
  }
  return { help: false, helpFor: null };
}

function checkOption(cli: Cli, command: string | null, flags: Set<string>, token: string, lenient: boolean): void {
  const flag = token.split('=')[0]!;
  if (flags.has(flag)) return;
  if (flag.startsWith('--no-') && flags.has(`--${flag.slice(5)}`)) return; // cac's negation of a boolean
  if (/^-[A-Za-z]/.test(flag) && !flag.startsWith('--')) {
    // -C<dir>, -m<msg>: a short option with its value attached; -yq: short flags together.
    if (flags.has(flag.slice(0, 2)) && takesValue(cli, command, flag.slice(0, 2)) !== 'none') return;
    if ([...flag.slice(1)].every((ch) => flags.has(`-${ch}`))) return;
  }
  if (lenient) return;
  const where = command ? `\`agentsync ${command}\`` : 'agentsync (before the command only global options go)';
  // Only a long option gets a suggestion: every one-letter flag is one edit from every other.
  const suggestion = flag.startsWith('--') ? suggest(flag, [...flags].filter((f) => f.startsWith('--'))) : null;
  throw new AgentsyncError('USAGE',
    `unknown option ${flag} for ${where}${suggestion ? `; did you mean ${suggestion}?` : ''} (see \`agentsync help${command ? ` ${command}` : ''}\`)`,
    { option: flag, ...(command ? { command } : {}), ...(suggestion ? { suggestion } : {}) });
}

async function unknownCommand(cli: Cli, name: string): Promise<AgentsyncError> {
  const { DOCS } = await import('./help.js');
  const names = [...cli.commands.map((c) => c.name), ...Object.keys(DOCS)];
  const suggestion = suggest(name, new Set(names));
  return new AgentsyncError('USAGE',
    `unknown command "${name}"${suggestion ? `; did you mean \`agentsync ${suggestion}\`?` : ''} (see \`agentsync help\`)`,
    { command: name, ...(suggestion ? { suggestion } : {}) });
}

function report(e: unknown, io: Io, json: boolean): number {
  const debug = !!io.env.AGENTSYNC_DEBUG && io.env.AGENTSYNC_DEBUG !== '0';
  let err: AgentsyncError;
  if (isAgentsyncError(e)) err = e;
  else if ((e as Error)?.name === 'CACError') err = new AgentsyncError('USAGE', `${(e as Error).message}; run \`agentsync --help\``);
  else {
    const code = (e as NodeJS.ErrnoException)?.code;
    const msg = (e as Error)?.message ?? String(e);
    if (code === 'EACCES' || code === 'EPERM') err = new AgentsyncError('USAGE', `${msg}: permission denied; check the file's permissions`);
    else if (isDiskFull(e)) err = diskFullError(e); // ENOSPC/EDQUOT from a file write, or LevelDB's IO error
    else err = new AgentsyncError('INTERNAL', `internal error: ${msg}; rerun with AGENTSYNC_DEBUG=1 for a stack trace and report it`);
  }
  if (json) io.stdout(JSON.stringify({ error: err.toJSON() }, null, 2) + '\n');
  // The message may quote a remote (a server's error text, a path): never let it drive the terminal.
  io.stderr(`agentsync: ${printable(err.message)} (${err.code})\n`);
  if (debug) io.stderr(`${(e as Error)?.stack ?? String(e)}\n`);
  return err.exitCode;
}

/** The process entry: real stdio, real exit code. */
export async function main(): Promise<void> {
  // A reader that goes away (`agentsync versions | head -1`) ends the command quietly, as git
  // does: no stack, exit 141 (128 + SIGPIPE, what a shell reports for git there).
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(141);
      throw e;
    });
  }
  const code = await run(process.argv.slice(2), {
    cwd: process.cwd(), env: process.env,
    stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s),
    stdin: process.stdin, stdinTTY: !!process.stdin.isTTY, stdoutTTY: !!process.stdout.isTTY,
  });
  process.exitCode = code;
}
