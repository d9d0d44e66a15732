/**
 * Shell completion. `agentsync completion bash|zsh|fish` prints a small script that asks the
 * CLI itself for candidates (`agentsync __complete <words so far…> <current word>`, as gh does),
 * so commands, options, subcommands, kinds, remote names and artifact paths are always those
 * of this version and this workspace.
 * @module
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fail } from '../model/errors.js';
import { SERVICES_DIR, findRoot, loadWorkspace } from '../workspace/config.js';
import { DOCS } from './help.js';
import { optionFlags, takesValue } from './options.js';
import type { Io } from './io.js';
import type { Cli } from './main.js';

const SELECTOR_COMMANDS = new Set(['status', 'diff', 'push', 'pull', 'sync', 'log', 'merge', 'resolve']);

/** Fixed words after a command (and after a subcommand). */
const SUBS: Record<string, string[]> = {
  remote: ['list', 'add', 'remove'], auth: ['login', 'status', 'logout'], admin: ['tenant', 'token', 'fsck'],
  'admin tenant': ['create', 'list'], 'admin token': ['create', 'list', 'revoke'], completion: ['bash', 'zsh', 'fish'],
};

/** Values of options with a fixed set of them. */
const VALUES: Record<string, string[]> = {
  '--color': ['auto', 'always', 'never'], '--scope': ['read', 'write', 'admin'], '--direction': ['to-db', 'from-db'],
};

/**
 * Candidates for the last of `words` (the words after `agentsync`, the last one being
 * completed, possibly empty). bash splits `--color=al` into `--color`, `=`, `al`: then the
 * candidates are the bare values.
 */
export async function complete(cli: Cli, io: Io, words: string[]): Promise<string[]> {
  const cur = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const commandNames = [...new Set([...cli.commands.map((c) => c.name).filter((n) => !n.startsWith('_')), ...Object.keys(DOCS)])];
  // bash's split of `--opt=value`
  if (before.at(-1) === '=' || cur === '=') {
    const opt = cur === '=' ? before.at(-1) : before.at(-2);
    const vals = VALUES[opt ?? ''] ?? [];
    return cur === '=' ? vals : vals.filter((v) => v.startsWith(cur));
  }
  // Find the command and the positionals, skipping options and their values.
  let command: string | null = null;
  let dir = io.cwd;
  const positionals: string[] = [];
  for (let i = 0; i < before.length; i++) {
    const w = before[i]!;
    if (w.startsWith('-')) {
      if (w === '-C' && before[i + 1] !== undefined) dir = resolve(dir, before[i + 1]!);
      if (!w.includes('=') && takesValue(cli, command, w) === 'required') i++;
      continue;
    }
    if (command === null) command = w;
    else positionals.push(w);
  }
  const prev = before.at(-1);
  if (prev && prev.startsWith('-') && !prev.includes('=') && takesValue(cli, command, prev) === 'required') {
    if (prev === '--remote') return (await remoteNames(dir)).filter((n) => n.startsWith(cur));
    if (VALUES[prev]) return VALUES[prev]!.filter((v) => v.startsWith(cur));
    return []; // a folder, a number, free text: the shell's own file completion
  }
  if (prev === '--remote' && command === 'verify') return (await remoteNames(dir)).filter((n) => n.startsWith(cur));
  if (cur.startsWith('-')) {
    if (cur.startsWith('--color=')) return VALUES['--color']!.map((v) => `--color=${v}`).filter((v) => v.startsWith(cur));
    const flags = [...optionFlags(cli, command)].filter((f) => f.startsWith('--') || cur.length <= 1 || !cur.startsWith('--'));
    return [...new Set([...flags, '--help'])].filter((f) => f.startsWith(cur)).sort();
  }
  if (command === null) return commandNames.filter((n) => n.startsWith(cur)).sort();
  if (command === 'help') return positionals.length ? [] : commandNames.filter((n) => n.startsWith(cur)).sort();
  const subKey = positionals.length === 1 && SUBS[`${command} ${positionals[0]}`] ? `${command} ${positionals[0]}` : positionals.length === 0 ? command : null;
  const subs = subKey ? SUBS[subKey] ?? [] : [];
  if (command === 'remote' && positionals[0] === 'remove' && positionals.length === 1) return (await remoteNames(dir)).filter((n) => n.startsWith(cur));
  if (!SELECTOR_COMMANDS.has(command)) return subs.filter((s) => s.startsWith(cur));
  const extra = command === 'sync' && positionals.length === 0 ? ['local'] : [];
  return [...extra.filter((s) => s.startsWith(cur)), ...(await selectors(dir, cur))];
}

async function remoteNames(dir: string): Promise<string[]> {
  try {
    return (await loadWorkspace(dir)).remotes.map((r) => r.name);
  } catch {
    return [];
  }
}

/** Kind names, and the files and folders under services/ (relative to the current folder when inside it) that start with `cur`. */
async function selectors(dir: string, cur: string): Promise<string[]> {
  let ws;
  try {
    ws = await loadWorkspace(dir);
  } catch {
    return [];
  }
  const services = join(findRoot(dir), SERVICES_DIR);
  const here = relative(services, dir);
  const base = here === '' || here.startsWith('..') || isAbsolute(here) ? services : dir;
  const out: string[] = [];
  if (!cur.includes('/') && base === services) for (const k of ws.kinds) if (k.name.startsWith(cur)) out.push(k.name);
  const slash = cur.lastIndexOf('/');
  const folder = slash < 0 ? '' : cur.slice(0, slash + 1);
  const stripped = base === services ? folder.replace(/^services\//, '') : folder;
  let names: string[] = [];
  try { names = readdirSync(join(base, stripped)); } catch { return out; }
  for (const n of names.sort()) {
    if (n.startsWith('.')) continue;
    const full = folder + n;
    if (!full.startsWith(cur)) continue;
    const st = statSync(join(base, stripped, n), { throwIfNoEntry: false });
    if (!st) continue;
    const cand = st.isDirectory() ? `${full}/` : full;
    if (!out.includes(cand) && !out.includes(full)) out.push(cand);
  }
  return out;
}

/** The completion script for `shell`. */
export function completionScript(shell: string): string {
  if (shell === 'bash') {
    return `# agentsync completion for bash: eval "$(agentsync completion bash)" in ~/.bashrc
_agentsync() {
  local IFS=$'\\n'
  local cur=\${COMP_WORDS[COMP_CWORD]}
  COMPREPLY=($(agentsync __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} == */ ]]; then compopt -o nospace 2>/dev/null; fi
  return 0
}
complete -o default -o bashdefault -F _agentsync agentsync
`;
  }
  if (shell === 'zsh') {
    return `#compdef agentsync
# agentsync completion for zsh: eval "$(agentsync completion zsh)" in ~/.zshrc (after compinit)
_agentsync() {
  local -a cands dirs words2
  local c
  cands=("\${(@f)$(agentsync __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for c in $cands; do
    [[ -z $c ]] && continue
    if [[ $c == */ ]]; then compadd -Q -S '' -- $c; else compadd -Q -- $c; fi
  done
  (( \${#cands} )) || _files
}
compdef _agentsync agentsync
`;
  }
  if (shell === 'fish') {
    return `# agentsync completion for fish: agentsync completion fish > ~/.config/fish/completions/agentsync.fish
function __agentsync_complete
    set -l words (commandline -opc)
    agentsync __complete $words[2..-1] (commandline -ct) 2>/dev/null
end
complete -c agentsync -f -a '(__agentsync_complete)'
`;
  }
  return fail('USAGE', `no completion for ${JSON.stringify(shell)}; use bash, zsh or fish`, { shell });
}
