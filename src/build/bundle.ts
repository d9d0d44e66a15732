/**
 * Build step: bundle the CLI from tsc's output (`dist/src`) into `dist/bundle` with esbuild, one
 * ES module per lazily loaded part (code splitting). The command line then loads a handful of
 * files instead of about a hundred modules: `status` at 10k artifacts starts about 15 ms sooner.
 * The level stack's JavaScript is bundled too; its native binding stays in node_modules and is
 * loaded from there. The YAML library is bundled into its own lazily loaded chunk (push validates
 * with it: one file loads much faster than its ~80 modules); isomorphic-git and the prompts stay
 * external. Not part of the CLI at run time.
 * @module
 */
import { build } from 'esbuild';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
rmSync(join(root, 'dist', 'bundle'), { recursive: true, force: true }); // no chunk of an earlier build left over

await build({
  absWorkingDir: root,
  // The validation worker (engine/validate-worker.ts) is its own entry, beside entry.js, where
  // `new URL('./validate-worker.js', import.meta.url)` finds it from any chunk.
  entryPoints: ['dist/src/cli/entry.js', 'dist/src/engine/validate-worker.js'],
  entryNames: '[name]',
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Bundled CommonJS (the level stack) calls require() for Node's built-ins.
  banner: { js: "import { createRequire as __agentsyncRequire } from 'node:module'; const require = __agentsyncRequire(import.meta.url);" },
  // pg (node-postgres, only for `--db`) stays external too: its optional pg-native is not installed.
  external: ['isomorphic-git', '@inquirer/prompts', 'pg'],
  plugins: [{
    name: 'native-binding',
    setup(b) {
      // classic-level finds its prebuilt binary next to its own files: keep that one module external.
      b.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (a) => (a.importer.includes('classic-level') ? { path: 'classic-level/binding.js', external: true } : undefined));
    },
  }],
  logLevel: 'warning',
});

// The dashboard page (src/dashboard): one browser module with CodeMirror bundled in, and its
// stylesheet, served by `agentsync serve` from dist/bundle/dashboard. Nothing is fetched at run time.
await build({
  absWorkingDir: root,
  entryPoints: ['src/dashboard/app.ts'],
  outfile: 'dist/bundle/dashboard/app.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'src', 'dashboard', 'app.css'), join(root, 'dist', 'bundle', 'dashboard', 'app.css'));
