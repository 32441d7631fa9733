/**
 * Stream ids. The id is the only thing a reader needs besides its key, so it must be
 * unguessable: 128 random bits, url-safe (it goes in a path and in the frames' `id:`).
 */
import { randomBytes } from 'node:crypto';

/** `s_` + 16 random bytes in base64url (22 characters, no padding). */
export function newStreamId(): string {
  return `s_${randomBytes(16).toString('base64url')}`;
}

/**
 * Strict format check for route input (it also becomes part of Redis keys, so nothing else may
 * pass). The 22nd character carries only 2 of the 128 bits: base64url of 16 bytes ends in A, Q, g or w.
 */
const STREAM_ID = /^s_[A-Za-z0-9_-]{21}[AQgw]$/;
export function isStreamId(s: unknown): s is string {
  return typeof s === 'string' && STREAM_ID.test(s);
}
