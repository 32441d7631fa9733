/**
 * Read tokens for resumable streams: a browser's EventSource cannot send an `Authorization`
 * header, so a page reads a stream it started with `GET /v1/streams/{id}?token=…` instead. The
 * token is an HMAC of the stream id and the key that started it, so it opens that one stream only,
 * for as long as the stream lives, and only for readers the starting key's holder gave it to.
 *
 * Stateless, so any instance sharing the configuration verifies it (a stream read through another
 * instance, README "Resumable streams"): the HMAC key is derived from the configured client keys'
 * digests, which only the configuration holds. With keys off there is nothing to prove and no
 * token is issued.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/schema.js';

export interface StreamTokens {
  /** The token for stream `id` started by `owner`. */
  sign(id: string, owner: string): string;
  /** Whether `token` is the one for (`id`, `owner`). */
  verify(id: string, owner: string, token: string): boolean;
}

/** Tokens for a configuration's keys, or null when keys are off. */
export function streamTokens(config: Pick<Config, 'keys'>): StreamTokens | null {
  if (config.keys.length === 0) return null;
  const seed = createHash('sha256').update('llm-proxy stream read tokens\0');
  for (const k of config.keys) {
    const digest = k.sha256 ?? createHash('sha256').update(k.key ?? '', 'utf8').digest('hex');
    seed.update(`${k.name}\0${digest.toLowerCase()}\0`);
  }
  const secret = seed.digest();
  const sign = (id: string, owner: string): string => createHmac('sha256', secret).update(`${id}\0${owner}`).digest('base64url');
  return {
    sign,
    verify(id, owner, token) {
      const want = Buffer.from(sign(id, owner));
      const got = Buffer.from(token);
      return got.length === want.length && timingSafeEqual(got, want);
    },
  };
}
