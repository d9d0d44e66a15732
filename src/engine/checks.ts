/**
 * Checks run before anything is written to a remote: every pushed artifact validates and
 * carries no leftover conflict markers.
 * @module
 */
import { fail } from '../model/errors.js';
import { kindOf } from '../model/kinds.js';
import { readArtifact } from '../workspace/scan.js';
import type { Context } from './context.js';
import type { Entry } from './status.js';
import type { Problem } from './validate.js';


export async function checkPushable(ctx: Context, send: Entry[]): Promise<void> {
  // Loaded here, not at start-up: the YAML parser is only needed when something is pushed.
  const { validateArtifact } = await import('./validate.js');
  const { hasConflictMarkers } = await import('../merge/index.js');
  const problems: Problem[] = [];
  const marked: string[] = [];
  for (const e of send) {
    if (e.ids.local === null) continue;
    const bytes = readArtifact(ctx.ws, e.path);
    const kind = kindOf(ctx.ws.kinds, e.path);
    problems.push(...validateArtifact(e.path, bytes, kind?.schema ?? 'none'));
    if (hasConflictMarkers(Buffer.from(bytes).toString('utf8'))) marked.push(e.path);
  }
  if (marked.length) fail('CONFLICT_MARKERS', `refusing to push ${marked.join(', ')}: it still has conflict markers; edit it, then \`agentsync resolve <path> --merged\``, { paths: marked });
  if (problems.length) {
    const p = problems[0]!;
    fail('VALIDATION_FAILED', `services/${p.path}:${p.line}:${p.col}: ${p.message}${problems.length > 1 ? ` (and ${problems.length - 1} more; run \`agentsync validate\`)` : ''}; nothing was pushed`, { problems });
  }
}
