/**
 * Every failure agentsync reports is an {@link AgentsyncError}: a stable `code`, the process
 * exit code it maps to, structured `data` for tests and `--json`, and a one-line message that
 * says what is wrong and what to do next. SPEC.md lists every code.
 * @module
 */

/** Exit codes (SPEC.md "Exit codes"). */
export const EXIT = {
  OK: 0,
  DRIFT: 1,
  USAGE: 2,
  REMOTE: 3,
  INTERNAL: 4,
  /** Ctrl-C at a prompt: 128 + SIGINT, what a shell reports for an interrupted command. */
  INTERRUPTED: 130,
} as const;

/** Every error code, with the exit code it maps to. */
export const ERROR_CODES = {
  // 1: drift, conflict, refused
  CONFLICT: EXIT.DRIFT,
  PUSH_REFUSED: EXIT.DRIFT,
  PULL_REFUSED: EXIT.DRIFT,
  STALE_REMOTE: EXIT.DRIFT,
  DRAFT_STALE: EXIT.DRIFT,
  VERIFY_MISMATCH: EXIT.DRIFT,
  NOTHING_TO_UNDO: EXIT.DRIFT,
  UNDO_STALE: EXIT.DRIFT,
  CONFLICT_MARKERS: EXIT.DRIFT,
  GIT_DIRTY: EXIT.DRIFT,
  NOT_MERGEABLE: EXIT.DRIFT,
  PATH_BLOCKED: EXIT.DRIFT,
  // 2: usage, config, validation
  USAGE: EXIT.USAGE,
  NOT_A_WORKSPACE: EXIT.USAGE,
  CONFIG_INVALID: EXIT.USAGE,
  REMOTE_UNKNOWN: EXIT.USAGE,
  REMOTE_EXISTS: EXIT.USAGE,
  REMOTE_URL_INVALID: EXIT.USAGE,
  SELECTOR_UNKNOWN: EXIT.USAGE,
  PATH_UNSAFE: EXIT.USAGE,
  FILE_TOO_LARGE: EXIT.USAGE,
  VALIDATION_FAILED: EXIT.USAGE,
  VERSION_UNKNOWN: EXIT.USAGE,
  HASH_INVALID: EXIT.USAGE,
  NOT_A_REMOTE: EXIT.USAGE,
  TENANT_UNKNOWN: EXIT.USAGE,
  TENANT_EXISTS: EXIT.USAGE,
  TOKEN_UNKNOWN: EXIT.USAGE,
  NOT_IN_CONFLICT: EXIT.USAGE,
  VERSION_DRAFT: EXIT.USAGE,
  // 3: remote unreachable or auth
  REMOTE_UNREACHABLE: EXIT.REMOTE,
  REMOTE_BUSY: EXIT.REMOTE,
  REMOTE_PROTOCOL: EXIT.REMOTE,
  AUTH_REQUIRED: EXIT.REMOTE,
  AUTH_FORBIDDEN: EXIT.REMOTE,
  REQUEST_INVALID: EXIT.REMOTE,
  REQUEST_TOO_LARGE: EXIT.REMOTE,
  OBJECT_HASH_MISMATCH: EXIT.REMOTE,
  ROUTE_UNKNOWN: EXIT.REMOTE,
  // 4: store corrupt or internal
  STORE_LOCKED: EXIT.INTERNAL,
  STORE_CORRUPT: EXIT.INTERNAL,
  DISK_FULL: EXIT.INTERNAL,
  OBJECT_MISSING: EXIT.INTERNAL,
  INTERNAL: EXIT.INTERNAL,
  // 130: interrupted
  INTERRUPTED: EXIT.INTERRUPTED,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The one error class the engine throws. The CLI renders it; the engine never prints. */
export class AgentsyncError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'AgentsyncError';
    this.code = code;
    this.data = data;
    this.exitCode = ERROR_CODES[code];
  }

  toJSON(): { code: ErrorCode; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

/** Shorthand used across layers. */
export function fail(code: ErrorCode, message: string, data?: Record<string, unknown>): never {
  throw new AgentsyncError(code, message, data);
}

export function isAgentsyncError(e: unknown): e is AgentsyncError {
  return e instanceof AgentsyncError;
}
