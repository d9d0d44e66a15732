/**
 * Checks run before anything is written to a remote: every pushed artifact validates and
 * carries no leftover conflict markers.
 * @module
 */
import { fail } from '../model/errors.js';
import type { ObjectId } from '../model/hash.js';
import type { Context } from './context.js';
import type { Entry } from './status.js';
import { validateArtifacts } from './validation.js';


const OPENING = Buffer.from('<<<<<<< ');

/**
 * @param read the bytes of a pushed artifact (push reads each file once, checked against the id
 *   the scan saw, for these checks and the upload).
 */
export async function checkPushable(ctx: Context, send: Entry[], read: (path: string, id: ObjectId) => Uint8Array): Promise<void> {
  const marked: string[] = [];
  for (const e of send) {
    if (e.ids.local === null) continue;
    const b = read(e.path, e.ids.local);
    const bytes = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    if (bytes.indexOf(OPENING) < 0) continue; // the common case: no marker can be there
    const { hasConflictMarkers } = await import('../merge/index.js');
    if (hasConflictMarkers(bytes.toString('utf8'))) marked.push(e.path);
  }
  const problems = await validateArtifacts(ctx, send.filter((e) => e.ids.local !== null).map((e) => ({ path: e.path, id: e.ids.local! })), read);
  if (marked.length) fail('CONFLICT_MARKERS', `refusing to push ${marked.join(', ')}: it still has conflict markers; edit it, then \`agentsync resolve <path> --merged\``, { paths: marked });
  if (problems.length) {
    const p = problems[0]!;
    fail('VALIDATION_FAILED', `services/${p.path}:${p.line}:${p.col}: ${p.message}${problems.length > 1 ? ` (and ${problems.length - 1} more; run \`agentsync validate\`)` : ''}; nothing was pushed`, { problems });
  }
}
