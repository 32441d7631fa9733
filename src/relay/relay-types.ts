/**
 * The stream relay's contract with the request it serves (src/relay/sse-relay.ts): its options,
 * what it asks of its owner, and how an attempt ends.
 */
import type { EndReason } from '../events/types.js';
import type { ProxyError } from '../errors.js';

/** Timing knobs (config `server.*`). */
export interface RelayOptions {
  keepAliveMs: number;
  idleTimeoutMs: number;
  maxStreamDurationMs: number;
  /** Largest single upstream event accepted (a 1 MiB event must pass: test/integration/faults.test.ts). */
  maxEventBytes: number;
  now(): number;
  /** Told when the stream is stopped (max duration is an abuse-limit refusal, src/http/abuse-limits.ts). */
  onStop?(reason: StopReason): void;
}

/**
 * The request a relay serves: what the relay asks of it. One object per stream (two closures
 * cost more heap per open stream, bench/heap.ts).
 */
export interface RelayOwner {
  /** Headers to send on commit (computed late so server-timing knows the upstream's TTFB). */
  headersOnCommit(): Record<string, string>;
  /** Counts the bytes of each write to the caller. */
  onWrite(bytes: number): void;
}

/** Why the relay stopped the upstream itself. */
export type StopReason = 'client' | 'client_stalled' | 'idle' | 'shutdown' | 'max_duration';

/** How one upstream attempt ended. */
export type PumpResult =
  | { kind: 'done' }
  | { kind: 'ended'; reason: EndReason; error: ProxyError | null }
  /** Failed before any data reached the caller: the caller may retry elsewhere (test/integration/failover.test.ts). */
  | { kind: 'retryable'; error: ProxyError };
