/**
 * Registration of the server commands (filled in by the server layer).
 * @module
 */
import type { Act, Cli } from './main.js';
import type { Io } from './io.js';

export function registerServerCommands(_cli: Cli, _io: Io, _act: Act): void {}
