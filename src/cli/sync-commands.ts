/**
 * Registration of `sync`, `sync local` and `compile`. Handlers live in sync-handlers.ts and load
 * on first use.
 * @module
 */
import type { Opts } from './commands.js';
import type { Io } from './io.js';
import type { Act, Cli } from './main.js';

export function registerSyncCommands(cli: Cli, io: Io, act: Act): void {
  cli.command('sync [...selectors]', 'Reconcile local and remote artifact by artifact; `sync local --direction to-db|from-db` for the remote named local')
    .option('--check', 'No prompt: exit 1 when anything drifted, 0 when in sync')
    .option('--push', 'No prompt: local wins for every drifted artifact')
    .option('--pull', 'No prompt: remote wins for every drifted artifact (clean merges keep local edits)')
    .option('--accept', 'Deprecated alias of --pull')
    .option('--force', 'Allow overwriting remote changes (push) or local changes (pull)')
    .option('--remote <name>', 'Remote (default origin)')
    .option('-y, --yes', 'Answer confirmation prompts with yes')
    .option('--semantic', 'Ignore YAML drift that only changes formatting or comments')
    .option('--commit', 'Commit the files sync writes to git')
    .option('--direction <direction>', 'sync local: to-db (files → local remote) or from-db (local remote → files)')
    .option('-m, --message <message>', 'Message of the version the pushes make')
    .action(act(async (sel, o) => (await import('./sync-handlers.js')).cmdSync(io, sel as string[], o as Opts)));
  cli.command('compile', 'Validate every artifact and build the snapshot manifest; prints its hash (offline unless --sync)')
    .option('--sync', 'Run the drift check first (a warning, never a failure)')
    .option('--remote <name>', 'Remote for --sync')
    .action(act(async (o) => (await import('./sync-handlers.js')).cmdCompile(io, o as Opts)));
}
