/**
 * The portable SHA-256 blob id (@noble/hashes, pure JavaScript): the reference for runtimes
 * without Node's crypto. It must agree with {@link blobId} byte for byte.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { ObjectId } from './hash.js';

export function blobIdPortable(bytes: Uint8Array): ObjectId {
  return bytesToHex(sha256(bytes));
}
