/**
 * The stream relay's shared vocabulary (docs/ARCHITECTURE.md "The stream pipeline"): its options,
 * why a stream was stopped, and how one upstream body ended.
 */
import type { EndReason } from '../events/types.js';
import type { ProxyError } from '../errors.js';
import { SHUTDOWN, type CancelSignal } from '../util/cancel.js';

/** Timing knobs (config `server.*`), one object per app. */
export interface RelayOptions {
  keepAliveMs: number;
  idleTimeoutMs: number;
  maxStreamDurationMs: number;
  /** Largest single upstream event accepted (a 1 MiB event must pass: test/integration/faults.test.ts). */
  maxEventBytes: number;
  /** The configuration's secrets, scrubbed from relayed upstream headers (src/logging/secrets.ts). */
  secrets: readonly string[];
  now(): number;
  /** Told when the caller side stops a stream (max duration is an abuse-limit refusal, src/http/abuse-limits.ts). */
  onStop?(reason: StopReason): void;
}

/** Why a stream was stopped before its upstream finished. */
export type StopReason = 'client' | 'client_stalled' | 'idle' | 'shutdown' | 'max_duration';

/**
 * The abort reason the caller side gives the request's {@link Canceller}: one frozen object per
 * reason (no Error, whose stack trace costs on every stop).
 */
export interface RelayStop {
  readonly stop: Exclude<StopReason, 'shutdown'>;
}

const STOPS: { readonly [K in RelayStop['stop']]: RelayStop } = {
  client: Object.freeze({ stop: 'client' }),
  client_stalled: Object.freeze({ stop: 'client_stalled' }),
  idle: Object.freeze({ stop: 'idle' }),
  max_duration: Object.freeze({ stop: 'max_duration' }),
};

/** The abort reason for `reason`. */
export function relayStop(reason: RelayStop['stop']): RelayStop {
  return STOPS[reason];
}

/**
 * Why the request was cancelled, or null if it was not: the one place cancellation is read
 * (whoever stopped first, the caller side or shutdown, set the reason when it aborted).
 */
export function stopReasonOf(signal: CancelSignal): StopReason | null {
  if (!signal.aborted) return null;
  const r = signal.reason;
  if (r === SHUTDOWN) return 'shutdown';
  if (typeof r === 'object' && r !== null && 'stop' in r) return (r as RelayStop).stop;
  return 'client';
}

/** How one upstream body ended. */
export type PumpResult =
  | { kind: 'done' }
  | { kind: 'ended'; reason: EndReason; error: ProxyError | null }
  /** Failed before any data reached the caller: the caller may retry elsewhere (test/integration/failover.test.ts). */
  | { kind: 'retryable'; error: ProxyError };
