/**
 * The options each registered command accepts, read from cac's table: for the unknown-option
 * check every command line goes through, and for completion. Apart from help.ts so that a
 * command loads no help text.
 * @module
 */
import type { Cli } from './main.js';

/** Every option spelling a command accepts (`--dry-run`, `-m`, `--no-color`, …), for checks and suggestions. */
export function optionFlags(cli: Cli, name: string | null): Set<string> {
  const out = new Set<string>(['--color', '--no-color']);
  const opts = [...cli.globalCommand.options, ...(name ? cli.commands.find((c) => c.name === name)?.options ?? [] : [])];
  for (const o of opts) {
    for (const part of o.rawName.split(/[ ,]+/)) if (part.startsWith('-')) out.add(part);
  }
  return out;
}

/** Whether the option spelled `flag` (a known one) takes a value (`-C <dir>`, `--remote <name>`). */
export function takesValue(cli: Cli, name: string | null, flag: string): 'required' | 'optional' | 'none' {
  const opts = [...cli.globalCommand.options, ...(name ? cli.commands.find((c) => c.name === name)?.options ?? [] : [])];
  const o = opts.find((x) => x.rawName.split(/[ ,]+/).includes(flag));
  if (!o) return 'none';
  return o.required === true ? 'required' : o.required === false ? 'optional' : 'none';
}
