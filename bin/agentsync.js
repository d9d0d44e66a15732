#!/usr/bin/env node
// The agentsync CLI entry. `npm install` builds dist/ (tsc) and bundles the CLI into
// dist/bundle (esbuild); src/cli/entry.ts is what runs.
import '../dist/bundle/entry.js';
