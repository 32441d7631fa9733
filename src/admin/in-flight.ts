/**
 * The requests in flight, as the admin feed's `feed.hello` snapshot lists them
 * (test/integration/admin-events.test.ts): kept from the lifecycle events the feed receives,
 * bounded in count (and in bytes, since the feed clips what callers chose before it gets here).
 */
import type { LifecycleEventName, LifecycleEvents } from '../events/types.js';

/** A request in flight, as the `feed.hello` snapshot lists it. */
export interface ActiveRequest {
  id: string;
  key: string;
  model: string;
  stream: boolean;
  at: number;
  /** Response headers of a stream are out (`stream.open`). */
  streaming: boolean;
  ttftMs: number | null;
}

/** Requests tracked at most (the oldest is forgotten first). */
const ACTIVE_MAX = 10_000;
/** Requests listed in one snapshot at most (the newest). */
const SNAPSHOT_MAX = 500;

export class InFlightRequests {
  private readonly active = new Map<string, ActiveRequest>();

  /** Follow one lifecycle event (its payload already clipped). */
  track(name: LifecycleEventName, payload: unknown): void {
    switch (name) {
      case 'request.start': {
        const p = payload as LifecycleEvents['request.start'];
        if (this.active.size >= ACTIVE_MAX) this.active.delete(this.active.keys().next().value!);
        this.active.set(p.id, { id: p.id, key: p.key, model: p.model, stream: p.stream, at: p.at, streaming: false, ttftMs: null });
        break;
      }
      case 'request.first_token': {
        const p = payload as LifecycleEvents['request.first_token'];
        const a = this.active.get(p.id);
        if (a) a.ttftMs = p.ttftMs;
        break;
      }
      case 'stream.open': {
        const a = this.active.get((payload as LifecycleEvents['stream.open']).id);
        if (a) a.streaming = true;
        break;
      }
      case 'request.end':
        this.active.delete((payload as { id: string }).id);
        break;
      default:
        break;
    }
  }

  /** The newest requests in flight, oldest first. */
  snapshot(): ActiveRequest[] {
    return [...this.active.values()].slice(-SNAPSHOT_MAX);
  }
}
