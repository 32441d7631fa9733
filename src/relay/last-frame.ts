/**
 * The end of a response whose caller may not be reading (test/integration/backpressure.test.ts):
 * such a caller would keep the response and its socket open forever, so after the last frame it
 * gets `idleTimeoutMs` to take the rest, then its connection is reset.
 */
import type { ServerResponse } from 'node:http';

/** Reset rather than close, so neither kernel keeps unsent bytes for a peer that does not read. */
export function resetConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (socket) socket.resetAndDestroy();
  else res.destroy();
}

/**
 * Guard `res` after its last frame was written. `untilSocketCloses`: the stream ended in error,
 * which closes its connection, and 'finish' only means the kernel took the bytes, so the guard
 * lasts until the socket itself is gone.
 */
export function guardLastFrame(res: ServerResponse, idleTimeoutMs: number, untilSocketCloses = false): void {
  if (idleTimeoutMs <= 0) return;
  const socket = res.socket;
  if (untilSocketCloses ? !socket || socket.destroyed : res.writableFinished) return;
  const t = setTimeout(() => {
    if (untilSocketCloses ? !socket!.destroyed : !res.writableFinished) resetConnection(res);
  }, idleTimeoutMs);
  t.unref?.();
  const clear = (): void => clearTimeout(t);
  if (untilSocketCloses) socket!.once('close', clear);
  else res.once('finish', clear);
  res.once('close', () => {
    if (!untilSocketCloses) clear();
  });
}
