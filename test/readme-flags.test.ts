/**
 * The README speaks to users: every flag it shows exists. Each `agentsync <command> …` line of
 * its code blocks and each row of its command table names only options that command (or every
 * command) takes — so the README cannot drift from the CLI.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandTable } from '../src/cli/main.js';
import { ROOT } from './helpers.js';

const IO = { cwd: '/', env: {}, stdout: () => {}, stderr: () => {}, stdinTTY: false, stdoutTTY: false };
const cli = commandTable(IO);
/** Long and short flags a cac option line declares (`-m, --message <message>` → --message, -m). */
const flagsOf = (raw: string): string[] => raw.split(/[ ,]+/).filter((w) => /^--?[a-zA-Z]/.test(w));
const GLOBAL = new Set(['--color', '--no-color', '--json', '-C', '-h', '--help', '-v', '--version', ...cli.globalCommand.options.flatMap((o) => flagsOf(o.rawName))]);
const byCommand = new Map(cli.commands.map((c) => [c.name, new Set(c.options.flatMap((o) => flagsOf(o.rawName)))]));

/** [command, flags] for every usage the README shows. */
function usages(): { where: string; command: string; flags: string[] }[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out: { where: string; command: string; flags: string[] }[] = [];
  const flags = (s: string) => [...s.matchAll(/(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])/g)].map((m) => m[1]!);
  for (const line of text.split('\n')) {
    const code = /^agentsync ([a-z]+)(.*?)(?:#.*)?$/.exec(line.trim());
    if (code) {
      for (const part of line.split('&&')) {
        const m = /agentsync ([a-z]+)(.*?)(?:#.*)?$/.exec(part.trim());
        if (m) out.push({ where: part.trim(), command: m[1]!, flags: flags(m[2]!) });
      }
      continue;
    }
    const row = /^\| `([a-z]+)[ `]([^|]*)\|/.exec(line);
    if (row && byCommand.has(row[1]!)) {
      // A row may show several commands (`versions`, `log [path]`, …): check each backticked usage.
      for (const u of line.split('|')[1]!.matchAll(/`([a-z]+)((?: [^`]*)?)`/g)) {
        if (byCommand.has(u[1]!)) out.push({ where: u[0], command: u[1]!, flags: flags(u[2] ?? '') });
      }
    }
  }
  return out;
}

test('every flag the README shows is an option of its command (or a global one)', () => {
  const seen = usages();
  assert.ok(seen.length >= 15, `found only ${seen.length} usages in the README`);
  const wrong = seen.flatMap((u) => u.flags.filter((f) => !GLOBAL.has(f) && !byCommand.get(u.command)?.has(f)).map((f) => `${u.where}: ${f}`));
  assert.equal(wrong, []);
});

test('the check can fail: a flag no command takes is reported', () => {
  assert.not.ok(byCommand.get('push')!.has('--dryrun'));
  assert.ok(byCommand.get('push')!.has('--dry-run'));
});

test.run();
