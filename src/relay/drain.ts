/**
 * After `[DONE]` (issue 6): read what little may follow (the chunked terminator) so the upstream
 * connection goes back to the keep-alive pool; destroying the body would close it.
 */
import type { Readable } from 'node:stream';

/** Most bytes, and longest time, read after [DONE] before the upstream is cut instead. */
const DRAIN_MAX_BYTES = 64 * 1024;
const DRAIN_MAX_MS = 1_000;

/** Consume the end of a finished upstream body, within bounds; destroy it past them. */
export function drainRest(body: Readable): void {
  if (body.readableEnded || body.destroyed) return;
  let bytes = 0;
  const timer = setTimeout(() => body.destroy(), DRAIN_MAX_MS);
  timer.unref?.();
  body.on('data', (chunk: Uint8Array) => {
    bytes += chunk.length;
    if (bytes > DRAIN_MAX_BYTES) body.destroy();
  });
  body.once('close', () => clearTimeout(timer));
  body.on('error', () => undefined);
  body.resume();
}
