/**
 * Worker thread of {@link validateArtifacts} (validation.ts): validates its share of a large set
 * of artifacts beside the main thread. Receives `{services, items: [{path, schema}]}`, reads each
 * file and answers, in order, its problems — or `null` for a file removed since the scan. Any
 * other read error ends the worker with an error: the main thread then validates that share
 * itself, where the error is reported as usual.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import type { Schema } from '../model/kinds.js';
import { validateFile, type Problem } from './validate.js';

export interface WorkerRequest { services: string; items: { path: string; schema: Schema }[] }
export type WorkerAnswer = (Problem[] | null)[];

parentPort?.once('message', (m: WorkerRequest) => {
  const out: WorkerAnswer = m.items.map((it) => validateFile(m, it.path, it.schema));
  parentPort!.postMessage(out);
});
