/**
 * Timing and length knobs of the built-in simulated upstream (`src/sim/`).
 *
 * The simulator answers `sim-*` models when no provider key is configured, in-process through
 * {@link import('./handler.js').createSimFetch} and on its own port through
 * {@link import('./server.js').createSimServer} (`npm run sim`).
 */
export interface SimOptions {
  /** delay before the first chunk (ms) */
  ttftMs: number;
  /**
   * delay between content chunks (ms); 0 = as fast as possible (still yields to the event loop
   * between chunks when the writer applies backpressure)
   */
  tokenDelayMs: number;
  /** completion tokens when the request gives no max_tokens / max_completion_tokens */
  defaultMaxTokens: number;
}

/**
 * Defaults for `npm start` / `npm run sim` demos: a visible but short time to first token and a
 * typing speed of 50 tokens/s, so a 16-token answer streams in ≈ 0.45 s.
 *
 * - `ttftMs: 150`
 * - `tokenDelayMs: 20`
 * - `defaultMaxTokens: 16` (the legacy completions API's own default)
 *
 * Tests and benchmarks usually pass their own (often `0`/`0`).
 */
export const defaultSimOptions: SimOptions = Object.freeze({
  ttftMs: 150,
  tokenDelayMs: 20,
  defaultMaxTokens: 16,
});
