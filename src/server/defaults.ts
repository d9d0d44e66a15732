/**
 * Server defaults, in a module of their own so the CLI can show them without loading the server.
 * @module
 */
export const DEFAULT_PORT = 7420;
export const DEFAULT_MAX_BODY = 32 * 1024 * 1024;
export const DEFAULT_MAX_OBJECT = 1024 * 1024;
