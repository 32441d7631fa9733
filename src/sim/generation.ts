/**
 * What the three text endpoints (chat, legacy completions, responses) share once a request is
 * read: the parameters of one generated answer ({@link Gen}), its pacing, the JSON escaping of
 * tokens in hand-built frames, and the whole text for a non-streaming answer.
 */
import type { SimOptions } from './options.js';
import { readSeed, type Json, type Length } from './request.js';
import { createTokenCursor } from './text.js';

/** `system_fingerprint` of every chat and completions answer. */
export const FINGERPRINT = 'fp_sim';

/** How an answer is paced (ms). */
export interface Timing {
  /** before the first chunk */
  ttft: number;
  /** before each further content chunk */
  delay: number;
}

/** The models that ignore the timing options, one per wire format. */
export const FAST_MODELS: readonly string[] = ['sim-fast', 'sim-claude-fast', 'sim-gemini-fast'];

/**
 * The configured timing; the fast models ({@link FAST_MODELS}) ignore it (no time to first
 * token, no inter-token delay).
 */
export function timingFor(model: string, opts: SimOptions): Timing {
  if (FAST_MODELS.includes(model)) return { ttft: 0, delay: 0 };
  return { ttft: Math.max(0, opts.ttftMs), delay: Math.max(0, opts.tokenDelayMs) };
}

/** Total time a non-streaming answer of `n` tokens takes (the same as its stream). */
export function totalDelay(t: Timing, n: number): number {
  return t.ttft + Math.max(0, n - 1) * t.delay;
}

/** One answer to generate. */
export interface Gen {
  id: string;
  created: number;
  model: string;
  n: number;
  seed: string | undefined;
  finish: 'stop' | 'length';
  promptTokens: number;
  includeUsage: boolean;
  timing: Timing;
}

/**
 * The answer for a read request: `len.n` tokens from the body's seed, finishing with `length`
 * when the request set the limit (the limit is what stopped it), `stop` otherwise.
 */
export function newGen(
  id: string,
  model: string,
  len: Length,
  body: Json,
  promptTokens: number,
  includeUsage: boolean,
  opts: SimOptions,
): Gen {
  return {
    id,
    created: Math.floor(Date.now() / 1000),
    model,
    n: len.n,
    seed: readSeed(body),
    finish: len.explicit ? 'length' : 'stop',
    promptTokens,
    includeUsage,
    timing: timingFor(model, opts),
  };
}

const escapeCache = new Map<string, string>();
/** JSON string literal of a token; the vocabulary is small, so each is stringified once. */
export function esc(token: string): string {
  let e = escapeCache.get(token);
  if (e === undefined) {
    e = JSON.stringify(token);
    if (escapeCache.size < 4096) escapeCache.set(token, e);
  }
  return e;
}

/** The `n` tokens for `seed` as one string (a non-streaming answer's text). */
export function collect(n: number, seed: string | undefined): string {
  const next = createTokenCursor(seed);
  let s = '';
  for (let i = 0; i < n; i++) s += next();
  return s;
}
