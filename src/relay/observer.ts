/**
 * The contract between the SSE relay and what observes the events it relays (usage and
 * tokens; reading common payloads from the upstream's bytes). Pure types and two helpers.
 */

/**
 * "Forward the payload without `cut` characters that sit just before its last `keep`" (`,"usage":null`
 * before the closing brace). Both parts must be ASCII, so characters are bytes and the relay
 * can cut the upstream's bytes instead of re-encoding the payload (docs/ARCHITECTURE.md "Performance rules").
 */
export interface TrimTail {
  readonly cut: number;
  readonly keep: number;
}

/** Decides, per upstream event, whether it reaches the caller (usage-chunk stripping). */
export interface StreamObserver {
  /**
   * Called for every event except `[DONE]`: returns the payload to forward — normally `data`
   * itself, the same string, which lets the relay forward the upstream's bytes as they came — a
   * {@link TrimTail} of it, another string, or null to swallow the event. `now` is monotonic ms.
   */
  onEvent(data: string, now: number): string | TrimTail | null;
  /**
   * Like {@link onEvent}, for a plain text delta whose `content` the caller already knows (a
   * translator built it: src/relay/stages.ts `TranslateOut.data`). Optional: without it the
   * payload goes to `onEvent`.
   */
  onContent?(data: string, content: string, now: number): string | TrimTail | null;
  /**
   * True once an event carried the first token. The relay writes out what it has at that moment
   * instead of at the end of the upstream read, so the caller's time to first token does not
   * wait for the rest of a large read to be relayed (`npm run bench -- --only latency`).
   */
  readonly sawFirstToken?: boolean;
}

/** "Forward the payload as it came." */
export const UNCHANGED: TrimTail = { cut: 0, keep: 0 };

/** Reads common payloads from the upstream's bytes, without decoding them (docs/ARCHITECTURE.md "Performance rules"). */
export interface ByteObserver {
  /**
   * The payload is bytes [start, end) of `buf` (valid UTF-8, one line). Returns what to forward
   * ({@link UNCHANGED}, a trim, null to swallow) or undefined to have the payload decoded and
   * given to `onEvent` instead. Must not have observed the event when it returns undefined.
   */
  onBytes(buf: Buffer, start: number, end: number, now: number): TrimTail | null | undefined;
}

/** The payload with a {@link TrimTail} applied. */
export function trimmed(data: string, t: TrimTail): string {
  return data.slice(0, data.length - t.cut - t.keep) + data.slice(data.length - t.keep);
}
