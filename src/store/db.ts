/**
 * Opening a LevelDB store with a bounded wait on its lock. LevelDB allows one open handle per
 * database across processes; a second agentsync process retries for a while, then fails with
 * one clear line instead of hanging or crashing.
 * @module
 */
import { Level } from 'level';
import { diskFullError, isDiskFull } from '../model/diskfull.js';
import { fail, type ErrorCode } from '../model/errors.js';

export type Db = Level<string, Uint8Array>;

export interface OpenOptions {
  /** How long to wait for another process's lock, in ms (default AGENTSYNC_LOCK_TIMEOUT_MS or 10000). */
  waitMs?: number;
  /** Error code when the wait runs out. */
  lockedCode?: ErrorCode;
  /** What to tell the user is busy. */
  what?: string;
  createIfMissing?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock wait from an environment's AGENTSYNC_LOCK_TIMEOUT_MS (default 10 s). */
export function lockTimeout(env: Record<string, string | undefined> = process.env): number {
  const raw = env.AGENTSYNC_LOCK_TIMEOUT_MS;
  const v = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(v) && v >= 0 ? v : 10000;
}

function isLocked(e: unknown): boolean {
  const err = e as { code?: string; cause?: { code?: string; message?: string } };
  // classic-level reports a held LOCK file as LEVEL_LOCKED; older builds only say so in the text.
  return err?.cause?.code === 'LEVEL_LOCKED' || /: already held by process|LOCK: Resource temporarily unavailable/.test(err?.cause?.message ?? '');
}

/** Open (or create) the database at `dir`, waiting on its lock with backoff. */
export async function openDb(dir: string, opts: OpenOptions = {}): Promise<Db> {
  const deadline = Date.now() + (opts.waitMs ?? lockTimeout());
  let delay = 10;
  for (;;) {
    const db: Db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: opts.createIfMissing ?? true });
    try {
      await db.open();
      return db;
    } catch (e) {
      // Opening writes (a new log, a manifest): on a full disk that fails, and the store is fine.
      if (isDiskFull(e)) throw diskFullError(e);
      if (!isLocked(e)) {
        const cause = (e as { cause?: Error }).cause;
        fail('STORE_CORRUPT', `cannot open the store at ${dir}: ${cause?.message ?? (e as Error).message}; run \`agentsync fsck\``, { dir });
      }
      if (Date.now() >= deadline) {
        fail(opts.lockedCode ?? 'STORE_LOCKED', `${opts.what ?? 'the store'} at ${dir} is in use by another agentsync process; wait for it to finish and try again`, { dir });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 200);
    }
  }
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function jsonValue(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v));
}

export function parseJson<T>(b: Uint8Array | undefined, what: string): T | undefined {
  if (b === undefined) return undefined;
  try {
    return JSON.parse(dec.decode(b)) as T;
  } catch {
    return fail('STORE_CORRUPT', `${what} in the store is not valid JSON; run \`agentsync fsck\``);
  }
}

/**
 * Compact the whole database (LevelDB merges its files and drops deleted and overwritten
 * values), so that space freed by gc is given back to the file system.
 */
export async function compactAll(db: Db): Promise<void> {
  const c = (db as unknown as { compactRange?: (a: string, b: string) => Promise<void> }).compactRange;
  if (c) await c.call(db, '\u0000', '\uffff');
}

/** A version id as 10 decimal digits, so that keys sort by id. */
export const pad = (n: number) => String(n).padStart(10, '0');

/** The store format this code writes: 2 = manifests as chunk trees (SPEC §3.1). */
export const STORE_FORMAT = '2';
