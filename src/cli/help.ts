/**
 * Help text: `agentsync help [<command>]`, `<command> --help` and the grouped top-level help.
 * The words (summary, usage lines, subcommands, examples) live here; the options are read from
 * the commands cac registered, so every option a command accepts is listed.
 * @module
 */
import type { Cli } from './main.js';

export interface CommandDoc {
  group: Group;
  summary: string;
  /** Usage lines after `agentsync `. */
  usage: string[];
  subcommands?: [string, string][];
  /** [command line, what it does]. */
  examples: [string, string][];
}

export const GROUPS = ['Start', 'Sync', 'History', 'CI', 'Server', 'Shell'] as const;
export type Group = (typeof GROUPS)[number];

const GROUP_TITLE: Record<Group, string> = {
  Start: 'set up a workspace',
  Sync: 'compare, exchange and reconcile with a remote',
  History: 'versions on the remote',
  CI: 'checks for scripts and pipelines',
  Server: 'run and administer a sync server',
  Shell: 'help and completion',
};

export const DOCS: Record<string, CommandDoc> = {
  init: {
    group: 'Start', summary: 'Create agentsync.yaml, the services/ kind folders and the local store',
    usage: ['init [--remote <url>]'],
    examples: [['agentsync init --remote ../team-remote', 'a workspace whose origin is a folder'],
      ['agentsync init --remote http://127.0.0.1:8080/acme', 'a workspace whose origin is a server tenant']],
  },
  remote: {
    group: 'Start', summary: 'List, add and remove the remotes of this workspace',
    usage: ['remote [list]', 'remote add <name> <url>', 'remote remove <name>'],
    subcommands: [['list', 'name and URL of every remote (the default)'], ['add <name> <url>', 'add a remote (a folder, file:// URL or http(s)://host:port/<tenant>)'], ['remove <name>', 'forget a remote and what was fetched from it (alias: rm)']],
    examples: [['agentsync remote add staging https://sync.example.com/acme', 'a second remote'],
      ['agentsync remote list --json', 'remotes as JSON'], ['agentsync remote remove staging', 'forget it']],
  },
  auth: {
    group: 'Start', summary: 'Store, show and forget the tokens for server remotes',
    usage: ['auth login [<url>] [--token-stdin]', 'auth status', 'auth logout [<url>] [--all]'],
    subcommands: [['login [<url>]', "check a token against the server and store it (the remote's URL by default)"], ['status', 'which remotes have a stored token'], ['logout [<url>]', 'forget the token of a URL (--all: every token)']],
    examples: [['echo "$TOKEN" | agentsync auth login --token-stdin', 'store the token for origin'],
      ['agentsync auth status --json', 'stored tokens (never their secrets)'], ['agentsync auth logout --all', 'forget every token']],
  },
  status: {
    group: 'Sync', summary: 'Three-way status of every artifact against the last fetch (offline)',
    usage: ['status [<selector>...] [--check] [--fetch] [--semantic]'],
    examples: [['agentsync status', 'what would be pushed, pulled or is in conflict'],
      ['agentsync status agents --fetch', 'fetch first, then only the agents kind'],
      ['agentsync status --check --semantic', 'exit 1 on drift, ignoring YAML format-only changes']],
  },
  fetch: {
    group: 'Sync', summary: "Download the remote's versions and the objects this store lacks",
    usage: ['fetch [--remote <name>]'],
    examples: [['agentsync fetch', 'from origin'], ['agentsync fetch --remote staging --json', 'from another remote, as JSON']],
  },
  diff: {
    group: 'Sync', summary: 'Diff of every drifted artifact: - remote, + local',
    usage: ['diff [<selector>...] [--stat]'],
    examples: [['agentsync fetch && agentsync diff', 'what changed on both sides'], ['agentsync diff agents/welcome.yaml', 'one artifact'], ['agentsync diff --stat', 'only +/- counts per file']],
  },
  push: {
    group: 'Sync', summary: 'Upload local changes as one new version',
    usage: ['push [<selector>...] [-m <message>] [--dry-run] [--draft] [--force]'],
    examples: [['agentsync push -m "New welcome agent"', 'every local change'], ['agentsync push skills --dry-run', 'what pushing the skills kind would send'], ['agentsync push --draft', 'a draft version, to deploy later']],
  },
  pull: {
    group: 'Sync', summary: 'Write remote changes into services/ (clean merges applied, conflicts refused)',
    usage: ['pull [<selector>...] [--dry-run] [--force] [--commit]'],
    examples: [['agentsync pull', 'take every remote change'], ['agentsync pull --dry-run', 'the whole plan, nothing written'], ['agentsync pull agents --commit', 'and commit the written files to git']],
  },
  sync: {
    group: 'Sync', summary: 'Reconcile local and remote artifact by artifact',
    usage: ['sync [<selector>...] [--check | --push | --pull] [--force] [-y]', 'sync local --direction to-db|from-db [-y]'],
    subcommands: [['local --direction to-db|from-db', 'one direction against the remote named local: files to it, or it to files']],
    examples: [['agentsync sync', 'interactive: push, pull, merge or skip per artifact'], ['agentsync sync --check', 'CI: exit 1 when anything drifted'], ['agentsync sync local --direction to-db -y', 'copy services/ to the remote named local']],
  },
  merge: {
    group: 'Sync', summary: 'Three-way merge one conflicting artifact; writes conflict markers when not clean',
    usage: ['merge <path>'],
    examples: [['agentsync merge agents/welcome.yaml', 'merge it, or write conflict markers'], ['agentsync merge agents/welcome.yaml --json', 'the outcome as JSON']],
  },
  resolve: {
    group: 'Sync', summary: 'Settle a merge with the local, the remote or the edited file',
    usage: ['resolve <path> --ours | --theirs | --merged'],
    examples: [['agentsync resolve agents/welcome.yaml --merged', 'keep the file as you edited it'], ['agentsync resolve agents/welcome.yaml --theirs', 'take the remote version']],
  },
  undo: {
    group: 'Sync', summary: 'Restore the local files the last pull, sync or merge replaced',
    usage: ['undo'],
    examples: [['agentsync undo', 'put back what the last pull overwrote'], ['agentsync undo --json', 'which files were restored, as JSON']],
  },
  versions: {
    group: 'History', summary: "List the remote's versions",
    usage: ['versions [--remote <name>]'],
    examples: [['agentsync versions', 'newest first, current and latest published marked'], ['agentsync versions --json', 'as JSON']],
  },
  log: {
    group: 'History', summary: 'Versions, newest first; with a path, those that changed it',
    usage: ['log [<path>]'],
    examples: [['agentsync log', 'every version'], ['agentsync log agents/welcome.yaml', 'the versions that changed one artifact']],
  },
  deploy: {
    group: 'History', summary: 'Publish a version and make it current',
    usage: ['deploy <version>'],
    examples: [['agentsync deploy 4', 'publish draft v4 and make it current'], ['agentsync deploy 4 --remote staging', 'on another remote']],
  },
  rollback: {
    group: 'History', summary: 'Make an earlier published version current (latest published stays)',
    usage: ['rollback <version>'],
    examples: [['agentsync rollback 3', 'serve v3 again'], ['agentsync rollback 3 --json', 'the new head as JSON']],
  },
  validate: {
    group: 'CI', summary: 'Check that every artifact parses and meets its schema',
    usage: ['validate'],
    examples: [['agentsync validate', 'one line per problem, exit 2 when any'], ['agentsync validate --json', 'problems as JSON']],
  },
  compile: {
    group: 'CI', summary: 'Validate every artifact and build the snapshot manifest; prints its hash',
    usage: ['compile [--sync [--remote <name>]]'],
    examples: [['agentsync compile', 'validate and print the snapshot hash (offline)'], ['agentsync compile --sync', 'warn about drift first']],
  },
  hash: {
    group: 'CI', summary: 'Print the local snapshot hash',
    usage: ['hash'],
    examples: [['agentsync hash', 'sha256:… of services/'], ['agentsync hash --json', 'with the artifact count']],
  },
  verify: {
    group: 'CI', summary: "Exit 0 when the local (or the remote's latest published) snapshot has <hash>",
    usage: ['verify <hash> [--remote [<name>]]'],
    examples: [['agentsync verify sha256:…', 'services/ is the pinned snapshot'], ['agentsync verify sha256:… --remote', "origin's latest published version is"]],
  },
  fsck: {
    group: 'CI', summary: 'Check the local store',
    usage: ['fsck'],
    examples: [['agentsync fsck', 'every object and ref checks out'], ['agentsync fsck --json', 'problems as JSON']],
  },
  gc: {
    group: 'CI', summary: 'Drop stored objects nothing reaches, and compact the store',
    usage: ['gc [--dry-run]'],
    examples: [['agentsync gc', 'drop unreachable objects, print what was freed'], ['agentsync gc --dry-run --json', 'count only, as JSON']],
  },
  serve: {
    group: 'Server', summary: 'Run the HTTP sync server on a data folder or a PostgreSQL database',
    usage: ['serve [--data <dir>] [--host <host>] [--port <port>]', 'serve --db <postgres://user@host:port/dbname> [--db-pool <n>] [--host <host>] [--port <port>]'],
    examples: [['agentsync serve --data ./agentsync-data', 'on 127.0.0.1, the default port'], ['agentsync serve --host 0.0.0.0 --port 0', 'any free port, every interface'], ['agentsync serve --db postgres://agentsync@db.internal/agentsync', 'one of several servers on one database']],
  },
  admin: {
    group: 'Server', summary: "Manage a server's tenants and tokens, and check its data",
    usage: ['admin tenant create <name>', 'admin tenant list', 'admin token create --tenant <name> [--scope read|write|admin] [--expires-in 30d] [--label <text>]', 'admin token list', 'admin token revoke <id>', 'admin fsck', 'admin gc', 'admin migrate --db <url>', 'admin copy --from <dir> --to <url>'],
    subcommands: [['tenant create <name>', 'a new tenant (its remote URL is http(s)://host:port/<name>)'], ['tenant list', 'every tenant'], ['token create', 'a token for a tenant, shown once'], ['token list', 'every token (never its secret)'], ['token revoke <id>', 'revoke a token'], ['fsck', 'check the server data folder (or database)'], ['gc', 'drop what no version reaches (uploads of the last hour are kept)'], ['migrate', 'bring a PostgreSQL database to the schema this agentsync knows'], ['copy', "move a data folder's tenants, tokens and history into a PostgreSQL database (restartable; re-checks every snapshot)"]],
    examples: [['agentsync admin tenant create acme --data ./agentsync-data', 'a tenant'], ['agentsync admin token create --tenant acme --scope write --data ./agentsync-data', 'a write token for it'], ['agentsync admin token list --json', 'tokens as JSON']],
  },
  completion: {
    group: 'Shell', summary: 'Print the completion script for bash, zsh or fish (commands, options, kinds, remotes, paths)',
    usage: ['completion bash|zsh|fish'],
    examples: [['agentsync completion bash >> ~/.bashrc', 'bash (or eval "$(agentsync completion bash)")'], ['agentsync completion zsh > ~/.zfunc/_agentsync', 'zsh, after compinit'], ['agentsync completion fish > ~/.config/fish/completions/agentsync.fish', 'fish']],
  },
  help: {
    group: 'Shell', summary: 'Show help for agentsync or one command',
    usage: ['help [<command>]'],
    examples: [['agentsync help', 'commands by group'], ['agentsync help push', 'usage, options and examples of push']],
  },
};

interface OptionLike { rawName: string; description: string; config: { default?: unknown } }

/** Options every command takes (cac's global options plus the colour switches). */
function globalOptions(cli: Cli): OptionLike[] {
  const cac = cli.globalCommand.options.filter((o) => !/--help|--version/.test(o.rawName));
  return [
    ...cac,
    { rawName: '--color=<when>', description: 'Colour: auto (the default: on a terminal, unless NO_COLOR or TERM=dumb), always or never', config: {} },
    { rawName: '--no-color', description: 'Same as --color=never', config: {} },
    ...cli.globalCommand.options.filter((o) => /--help/.test(o.rawName)),
  ];
}

function table(rows: [string, string][], indent = '  '): string {
  const w = Math.min(34, Math.max(0, ...rows.map(([a]) => a.length)));
  return rows.map(([a, b]) => `${indent}${a.padEnd(w)}  ${b}`.trimEnd() + '\n').join('');
}

function optionRows(opts: OptionLike[]): [string, string][] {
  return opts.map((o) => {
    const d = o.config.default;
    return [o.rawName, `${o.description}${d !== undefined ? ` (default: ${String(d)})` : ''}`];
  });
}

/** The top-level help: usage, commands by group, global options. */
export function topHelp(cli: Cli, version: string): string {
  const names = cli.commands.map((c) => c.name).concat(Object.keys(DOCS).filter((n) => !cli.commands.some((c) => c.name === n)));
  let s = `agentsync ${version}: keep AI-agent configuration in sync with a server, as git does a clone with its remote\n\n`;
  s += 'Usage: agentsync [-C <dir>] [--json] [--color=<when>] <command> [<args>]\n';
  for (const g of GROUPS) {
    const rows: [string, string][] = names.filter((n) => DOCS[n]?.group === g).map((n) => [n, DOCS[n]!.summary]);
    if (rows.length) s += `\n${g}: ${GROUP_TITLE[g]}\n${table(rows)}`;
  }
  s += `\nGlobal options:\n${table(optionRows(globalOptions(cli)))}`;
  s += '\nRun `agentsync help <command>` or `agentsync <command> --help` for its options and examples.\n';
  return s;
}

/** The help of one command: summary, usage, subcommands, options, examples. */
export function commandHelp(cli: Cli, name: string): string {
  const doc = DOCS[name]!;
  const cmd = cli.commands.find((c) => c.name === name);
  let s = `agentsync ${name}: ${doc.summary}\n\nUsage:\n${doc.usage.map((u) => `  agentsync ${u}\n`).join('')}`;
  if (doc.subcommands) s += `\nSubcommands:\n${table(doc.subcommands)}`;
  if (cmd?.options.length) s += `\nOptions:\n${table(optionRows(cmd.options))}`;
  s += `\nGlobal options:\n${table(optionRows(globalOptions(cli)))}`;
  s += `\nExamples:\n${doc.examples.map(([line, what]) => `  ${line}\n      ${what}\n`).join('')}`;
  return s;
}
