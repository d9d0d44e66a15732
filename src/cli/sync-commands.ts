/**
 * Registration of the sync commands (filled in by the sync layer).
 * @module
 */
import type { Act, Cli } from './main.js';
import type { Io } from './io.js';

export function registerSyncCommands(_cli: Cli, _io: Io, _act: Act): void {}
