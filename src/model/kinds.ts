/**
 * Kinds of artifact: a name, a glob relative to `services/`, and the minimal schema its files
 * must meet. Defaults follow SystemPrompt's table; `agentsync.yaml` may add or change kinds.
 * @module
 */
import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';
import { fail } from './errors.js';

// picomatch loads on first use: a workspace whose kinds come from the config cache never needs it.
let pm: typeof picomatchType | undefined;
const picomatch = (): typeof picomatchType => (pm ??= createRequire(import.meta.url)('picomatch') as typeof picomatchType);

export type Schema = 'agent' | 'skill' | 'mcp' | 'none';
export type Format = 'yaml' | 'markdown' | 'text';

export interface KindSpec {
  name: string;
  /** Glob relative to services/, e.g. `content/**\/*.md`. */
  pattern: string;
  schema: Schema;
}

export const DEFAULT_KINDS: readonly KindSpec[] = [
  { name: 'agents', pattern: 'agents/*.yaml', schema: 'agent' },
  { name: 'skills', pattern: 'skills/*.yaml', schema: 'skill' },
  { name: 'mcp', pattern: 'mcp/*.yaml', schema: 'mcp' },
  { name: 'content', pattern: 'content/**/*.md', schema: 'none' },
  { name: 'playbooks', pattern: 'playbook/**/*.md', schema: 'none' },
];

const NAME = /^[a-z][a-z0-9_-]*$/;
const SCHEMAS: readonly Schema[] = ['agent', 'skill', 'mcp', 'none'];

/** A compiled kind: where to walk and how to test a path. */
export interface Kind extends KindSpec {
  /** Directory (relative to services/, '' for services/ itself) below which matches can be. */
  root: string;
  /** Maximum directory depth below root, or Infinity with `**`. */
  depth: number;
  /** The pattern compiled (picomatch), kept so that it can be cached as text. */
  re: RegExp;
  match: (path: string) => boolean;
}

/** What a compiled pattern is, as JSON (depth -1 is Infinity). */
export interface CompiledPattern {
  pattern: string;
  root: string;
  depth: number;
  source: string;
  flags: string;
}

export function compileKind(spec: KindSpec, cached?: CompiledPattern): Kind {
  if (cached && cached.pattern === spec.pattern) {
    const re = new RegExp(cached.source, cached.flags);
    return { ...spec, root: cached.root, depth: cached.depth < 0 ? Infinity : cached.depth, re, match: (p: string) => re.test(p) };
  }
  const segs = spec.pattern.split('/');
  const rootSegs: string[] = [];
  for (const s of segs.slice(0, -1)) {
    if (picomatch().scan(s).isGlob) break;
    rootSegs.push(s);
  }
  const rest = segs.slice(rootSegs.length);
  const depth = rest.includes('**') ? Infinity : rest.length - 1;
  const re = picomatch().makeRe(spec.pattern, { dot: false });
  return { ...spec, root: rootSegs.join('/'), depth, re, match: (p: string) => re.test(p) };
}

/** The compiled patterns of `kinds`, for a cache. */
export function compiledPatterns(kinds: readonly Kind[]): CompiledPattern[] {
  return kinds.map((k) => ({ pattern: k.pattern, root: k.root, depth: k.depth === Infinity ? -1 : k.depth, source: k.re.source, flags: k.re.flags }));
}

/**
 * Merge default kinds with the overrides of `agentsync.yaml` (`kinds: {name: {pattern, schema}}`).
 * @throws AgentsyncError CONFIG_INVALID
 */
export function resolveKinds(overrides: unknown, cached: readonly CompiledPattern[] = []): Kind[] {
  const specs = new Map(DEFAULT_KINDS.map((k) => [k.name, { ...k }]));
  if (overrides !== undefined && overrides !== null) {
    if (typeof overrides !== 'object' || Array.isArray(overrides)) fail('CONFIG_INVALID', 'agentsync.yaml: `kinds` must be a map of kind name to {pattern, schema}');
    for (const [name, v] of Object.entries(overrides as Record<string, unknown>)) {
      if (!NAME.test(name)) fail('CONFIG_INVALID', `agentsync.yaml: kind name ${JSON.stringify(name)} must be lower-case letters, digits, - or _`);
      if (v === null || v === false) { specs.delete(name); continue; }
      if (typeof v !== 'object' || Array.isArray(v)) fail('CONFIG_INVALID', `agentsync.yaml: kind ${name} must be a map with a \`pattern\``);
      const o = v as Record<string, unknown>;
      const prev = specs.get(name);
      const pattern = o.pattern ?? prev?.pattern;
      const schema = o.schema ?? prev?.schema ?? 'none';
      if (typeof pattern !== 'string' || pattern === '' || pattern.startsWith('/') || pattern.split('/').includes('..')) {
        fail('CONFIG_INVALID', `agentsync.yaml: kind ${name} needs a \`pattern\` relative to services/, like "prompts/**/*.md"`);
      }
      if (!SCHEMAS.includes(schema as Schema)) fail('CONFIG_INVALID', `agentsync.yaml: kind ${name} has schema ${JSON.stringify(schema)}; use one of ${SCHEMAS.join(', ')}`);
      specs.set(name, { name, pattern, schema: schema as Schema });
    }
  }
  const byPattern = new Map(cached.map((c) => [c.pattern, c]));
  return [...specs.values()].map((k) => compileKind(k, byPattern.get(k.pattern)));
}

/** The first kind whose pattern matches `path`, or undefined (the file is not an artifact). */
export function kindOf(kinds: readonly Kind[], path: string): Kind | undefined {
  for (const k of kinds) if (k.match(path)) return k;
  return undefined;
}

export function formatOf(path: string): Format {
  if (/\.ya?ml$/i.test(path)) return 'yaml';
  if (/\.(md|markdown)$/i.test(path)) return 'markdown';
  return 'text';
}
