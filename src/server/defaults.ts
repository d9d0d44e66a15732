/**
 * Server defaults, in a module of their own so the CLI can show them without loading the server.
 * @module
 */
export const DEFAULT_PORT = 7420;
export const DEFAULT_MAX_BODY = 32 * 1024 * 1024;
export const DEFAULT_MAX_OBJECT = 1024 * 1024;
/** Most objects in one upload request (the client sends at most 2 000). */
export const MAX_BATCH_OBJECTS = 10000;
/** Largest request head (request line and headers) the server reads: Node's default. */
export const MAX_HEADER_BYTES = 16 * 1024;
