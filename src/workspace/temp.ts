/**
 * Temp files of atomic writes: their names, and telling a killed process's leftovers.
 * @module
 */
import { join } from 'node:path';

let seq = 0;

/**
 * A temp file's name beside its target: short whatever the target's name (a 255-byte name must
 * still be writable), starting with `.` (never an artifact), naming the process that owns it so
 * that a later command can remove the leftovers of a killed one ({@link isDeadTemp}).
 */
export function tempName(dir: string): string {
  return join(dir, `.agentsync-${process.pid}-${++seq}.tmp`);
}

/** Temp files of this and earlier versions (`.<name>.agentsync-PID-N.tmp`): the owner's pid. */
const TEMP = /^\.(?:.*\.)?agentsync-(\d{1,10})-\d+\.tmp$/s;

/** True when `name` is an agentsync temp file whose process no longer runs (a kill -9 leftover). */
export function isDeadTemp(name: string): boolean {
  const m = TEMP.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false; // alive
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

