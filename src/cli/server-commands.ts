/**
 * Registration of `serve`, `admin` and `auth`. Handlers live in server-handlers.ts and load on
 * first use, so that everyday commands do not pay for the server's modules at start-up.
 * @module
 */
import type { Opts } from './commands.js';
import type { Io } from './io.js';
import type { Act, Cli } from './main.js';
import { DEFAULT_MAX_BODY, DEFAULT_MAX_OBJECT, DEFAULT_PORT } from '../server/defaults.js';

export function registerServerCommands(cli: Cli, io: Io, act: Act): void {
  cli.command('serve', 'Run the HTTP sync server on a data folder or a PostgreSQL database')
    .option('--host <host>', 'Address to listen on', { default: '127.0.0.1' })
    .option('--port <port>', 'Port (0: any free port; the line printed says which)', { default: DEFAULT_PORT })
    .option('--data <dir>', 'Server data folder (default $AGENTSYNC_DATA or ./agentsync-data)')
    .option('--db <url>', 'PostgreSQL instead of a data folder: postgres://user@host:port/dbname (default $AGENTSYNC_DB)')
    .option('--db-pool <n>', 'Most connections to the database', { default: 10 })
    .option('--max-body <bytes>', 'Request body cap', { default: DEFAULT_MAX_BODY })
    .option('--max-object <bytes>', 'Object size cap', { default: DEFAULT_MAX_OBJECT })
    .action(act(async (o) => (await import('./server-handlers.js')).cmdServe(io, o as Opts)));
  cli.command('admin [...args]', 'admin tenant create <name> | tenant list | token create --tenant <t> --scope read|write|admin | token list | token revoke <id> | fsck | gc | migrate --db <url> | copy --from <dir> --to <url>')
    .option('--data <dir>', 'Server data folder (default $AGENTSYNC_DATA or ./agentsync-data)')
    .option('--db <url>', 'A PostgreSQL database instead of a data folder (default $AGENTSYNC_DB)')
    .option('--from <dir>', 'copy: the server data folder to copy').option('--to <url>', 'copy: the PostgreSQL database to copy it into')
    .option('--tenant <name>', 'Tenant of the new token').option('--scope <scope>', 'read, write or admin', { default: 'write' })
    .option('--expires-in <duration>', 'e.g. 30d, 12h, never', { default: 'never' }).option('--label <text>', 'A note kept with the token')
    .action(act(async (args, o) => (await import('./server-handlers.js')).cmdAdmin(io, args as string[], o as Opts)));
  cli.command('auth [...args]', 'auth login [url] [--token-stdin] | auth status | auth logout [url]')
    .option('--remote <name>', 'Remote of this workspace (default origin)').option('--token-stdin', 'Read the token from standard input')
    .option('--all', 'logout: forget every stored token')
    .action(act(async (args, o) => (await import('./server-handlers.js')).cmdAuth(io, args as string[], o as Opts)));
}
