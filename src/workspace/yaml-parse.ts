/**
 * The YAML parser, behind a module of our own so that `config.ts` can load it on demand with a
 * dynamic import that the bundle resolves like any other (a dynamic import of the CommonJS
 * package itself would have only a default export there).
 * @module
 */
export { parseDocument } from 'yaml';
