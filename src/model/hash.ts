/**
 * Object ids: SHA-256 of raw bytes, lower-case hex, so `sha256sum file` prints the same id.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** 64 hex digits. */
export type ObjectId = string;

const HEX64 = /^[0-9a-f]{64}$/;

/** @returns the blob id of `bytes`. @example blobId(new TextEncoder().encode('')) // 'e3b0c4...' */
export function blobId(bytes: Uint8Array): ObjectId {
  return bytesToHex(sha256(bytes));
}

export function isObjectId(s: unknown): s is ObjectId {
  return typeof s === 'string' && HEX64.test(s);
}
