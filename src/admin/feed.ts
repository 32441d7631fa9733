/**
 * The live feed behind `GET /admin/events` (test/integration/admin-events.test.ts): lifecycle
 * events from the bus, as named SSE events with ids, kept in a bounded ring for `Last-Event-ID`
 * replay.
 *
 * Memory and speed, whatever the subscribers do:
 * - The relay never waits on the feed: the feed takes events from the bus through
 *   `subscribeQueued` (a bounded queue drained on a later tick; overflow is dropped and counted
 *   in `bus.dropped`, exported as a metric). Encoding happens there, once per event, not per
 *   connection.
 * - Encoded frames go into one {@link RingBuffer} of `admin.bufferSize` frames, shared by every
 *   connection. A connection is just a cursor into it (`nextSeq`): it is written from the ring
 *   while its socket holds less than `maxBufferedBytes`, and resumed from the ring on `drain`. A
 *   slow client therefore costs at most that many bytes; if it falls so far behind that its
 *   cursor was evicted, it is sent `feed.gap` with the number of events it missed (counted in
 *   {@link AdminFeed.stats}), and continues from the oldest event held. A client blocked for
 *   `stallMs` is disconnected (its EventSource reconnects and replays from the ring).
 * - At most `maxConnections` feed connections; the in-flight snapshot is capped too.
 * - What a caller chose (a model name) and error texts are clipped before they are kept
 *   (src/util/clip.ts), so the ring and the snapshot are bounded in bytes, not only in count.
 *
 * Events of the feed's own, besides the bus's lifecycle events:
 * - `budget.update` `{budget, spentUsd, limitUsd, at}`: a spend budget after an admission or settle
 *   (the bus event of the same name, from src/events/bus.ts `withBudgetEvents`), coalesced to at
 *   most one per budget per `budgetCoalesceMs`, always the latest value; `feed.hello` lists the
 *   latest of every budget seen (test/integration/feed-budgets.test.ts).
 * - `stream.progress` `{at, intervalMs, chunks, streams}`: every `progressMs` while streams are open,
 *   the content chunks (≈ tokens) written to callers in that interval. The feed samples each open
 *   stream's counter (`stream.open`'s `chunksWritten`) on its own timer, so the relay does nothing
 *   per token for it; a stream's last chunks are counted at its `request.end`.
 *
 * Ids are `<instance>-<n>`: `n` counts events from 1 in this process, `instance` changes at every
 * start. A `Last-Event-ID` from this instance resumes after `n`; one from another instance (the
 * proxy restarted) replays everything this instance still holds; no id means live events only.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import type { EventBus } from '../events/bus.js';
import type { LifecycleEventName, LifecycleEvents, RequestRecord } from '../events/types.js';
import { encodeEvent } from '../sse/encoder.js';
import { feedFields } from '../logging/record.js';
import { clip, ERROR_TEXT_MAX, MODEL_TEXT_MAX } from '../util/clip.js';
import { RingBuffer } from './ring.js';
import { BudgetCoalescer } from './budget-coalescer.js';
import { StreamProgressSampler } from './stream-progress.js';
import { InFlightRequests } from './in-flight.js';
import { FeedConnection, type FeedSource } from './feed-connection.js';

export type { ActiveRequest } from './in-flight.js';

/** The bus events the feed publishes, under the same names. */
export const FEED_EVENTS = [
  'request.start',
  'request.first_token',
  'stream.open',
  'stream.close',
  'request.rate_limited',
  'upstream.failed',
  'request.end',
] as const satisfies readonly LifecycleEventName[];

/** Tunables of {@link AdminFeed}; the first two come from config `admin.*`. */
export interface FeedOptions {
  /** Events kept for replay. */
  bufferSize: number;
  /** Idle time after which a `: keep-alive` comment is written; 0 = none. */
  keepAliveMs: number;
  /** The `retry:` hint: how long an EventSource waits before reconnecting. */
  retryMs?: number;
  /** Bus queue bound (events waiting to be encoded). */
  maxQueue?: number;
  /** Bytes a connection may have buffered before the feed stops writing to it. */
  maxBufferedBytes?: number;
  maxConnections?: number;
  /** A connection blocked this long is closed. */
  stallMs?: number;
  /** Least time between two `budget.update` events of one budget. */
  budgetCoalesceMs?: number;
  /** Period of `stream.progress` while streams are open. */
  progressMs?: number;
}


/** Counters for tests, metrics and the hello event. */
export interface FeedStats {
  published: number;
  /** Events a slow or late client did not get because the ring had moved past them. */
  missed: number;
  /** Connections closed because they stayed blocked for `stallMs`. */
  stalledClosed: number;
  /** Connections refused for `maxConnections`. */
  refused: number;
}

/** A published event; its payload is not changed after publishing (the bus's records are final). */
interface RingEvent {
  name: string;
  data: unknown;
  frame: string | null;
}

/**
 * A bus event's payload with its `model` and `error` texts clipped: a copy when one was too long
 * (the bus's payloads are shared with other listeners), else the payload itself.
 */
function clipped(payload: unknown): unknown {
  const p = payload as { model?: unknown; error?: unknown };
  const model = typeof p.model === 'string' && p.model.length > MODEL_TEXT_MAX ? clip(p.model, MODEL_TEXT_MAX) : undefined;
  const error = typeof p.error === 'string' && p.error.length > ERROR_TEXT_MAX ? clip(p.error, ERROR_TEXT_MAX) : undefined;
  if (model === undefined && error === undefined) return payload;
  const out: Record<string, unknown> = { ...(payload as Record<string, unknown>) };
  if (model !== undefined) out.model = model;
  if (error !== undefined) out.error = error;
  return out;
}

/** The feed. Call {@link start} to subscribe it, {@link close} to end every connection. */
export class AdminFeed implements FeedSource {
  readonly instance: string;
  readonly startedAt: number;
  readonly stats: FeedStats = { published: 0, missed: 0, stalledClosed: 0, refused: 0 };
  /** Events kept for replay, encoded on first send: most events are never sent to anyone. */
  private readonly ring: RingBuffer<RingEvent>;
  private readonly conns = new Set<FeedConnection>();
  private readonly inFlight = new InFlightRequests();
  private readonly opts: Required<FeedOptions>;
  private unsubscribe: (() => void) | null = null;
  private readonly budgets: BudgetCoalescer;
  private readonly progress: StreamProgressSampler;

  constructor(
    private readonly bus: EventBus,
    private readonly clock: Clock,
    opts: FeedOptions,
  ) {
    this.opts = { retryMs: 1000, maxQueue: 10_000, maxBufferedBytes: 256 * 1024, maxConnections: 32, stallMs: 60_000, budgetCoalesceMs: 250, progressMs: 1000, ...opts };
    this.startedAt = clock.now();
    this.instance = `${this.startedAt.toString(36)}${randomBytes(3).toString('hex')}`;
    this.ring = new RingBuffer<RingEvent>(opts.bufferSize);
    this.budgets = new BudgetCoalescer(clock, this.opts.budgetCoalesceMs, (u) => this.publish('budget.update', u));
    this.progress = new StreamProgressSampler(clock, this.opts.progressMs, (p) => this.publish('stream.progress', p));
  }

  /** Subscribe to the bus (queued: the relay never waits for the feed). */
  start(): void {
    if (this.unsubscribe) return;
    const offQueued = this.bus.subscribeQueued(FEED_EVENTS, (name, payload) => this.onLifecycle(name, payload), { maxQueue: this.opts.maxQueue });
    // Inline, and only a Map write (and at most one timer armed): it runs inside the limiter's
    // admission and settle; the publishing happens on the timer.
    const offBudget = this.bus.on('budget.update', (u) => this.budgets.report(u));
    this.unsubscribe = () => {
      offQueued();
      offBudget();
    };
  }

  /** Unsubscribe and end every connection. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.budgets.close();
    this.progress.close();
    for (const c of this.conns) {
      c.drop();
      c.res.end();
    }
  }

  /** Open connections. */
  get connections(): number {
    return this.conns.size;
  }

  /** At `maxConnections`: a new connection would be refused. */
  get full(): boolean {
    return this.conns.size >= this.opts.maxConnections;
  }

  /** The id of event number `seq`. */
  idFor(seq: number): string {
    return `${this.instance}-${seq}`;
  }

  /** Bytes a connection has buffered (socket included): for tests of the bound. */
  bufferedBytes(): number[] {
    return [...this.conns].map((c) => c.res.writableLength);
  }

  /**
   * Publish a named event to the ring and every connection. The bus events arrive here; other
   * modules may publish their own names too. Returns the event's number.
   */
  publish(name: string, data: unknown): number {
    const seq = this.ring.push({ name, data, frame: null });
    this.stats.published++;
    for (const c of this.conns) c.pump();
    return seq;
  }

  /**
   * Serve one SSE connection on `res` (head not sent yet): the hello event with the `retry:`
   * hint, then the replay `lastEventId` asks for, then live events.
   */
  connect(res: ServerResponse, lastEventId: string | undefined): void {
    if (this.full) throw new Error('admin feed is full');
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const conn = new FeedConnection(res, this.resumeFrom(lastEventId), this, this.clock, this.opts);
    this.conns.add(conn);
    conn.start(encodeEvent({ event: 'feed.hello', retry: this.opts.retryMs, data: JSON.stringify(this.hello()) }));
  }

  /** Count a refused connection (the route answers 503). */
  refused(): void {
    this.stats.refused++;
  }

  private onLifecycle(name: LifecycleEventName, payload: unknown): void {
    let data: unknown;
    if (name === 'request.end') {
      data = feedFields(payload as RequestRecord);
      this.progress.ended(payload as RequestRecord);
    } else if (name === 'stream.open') {
      const p = payload as LifecycleEvents['stream.open'];
      if (p.chunksWritten) this.progress.opened(p.id, p.chunksWritten);
      // Without the counter's closure: the ring must not keep the exchange alive.
      data = clipped({ id: p.id, model: p.model, modelLabel: p.modelLabel });
    } else {
      data = clipped(payload);
    }
    this.inFlight.track(name, data);
    this.publish(name, data);
  }

  private hello(): Record<string, unknown> {
    const last = this.ring.lastSeq;
    return {
      instance: this.instance,
      startedAt: this.startedAt,
      now: this.clock.now(),
      lastId: last > 0 ? this.idFor(last) : null,
      oldestId: this.ring.size > 0 ? this.idFor(this.ring.oldestSeq) : null,
      bufferSize: this.ring.capacity,
      active: this.inFlight.snapshot(),
      budgets: this.budgets.values(),
      droppedByBus: this.bus.dropped,
      missed: this.stats.missed,
    };
  }

  /** The first event number to send for a `Last-Event-ID` (see the module comment). */
  private resumeFrom(lastEventId: string | undefined): number {
    const live = this.ring.lastSeq + 1;
    const m = lastEventId ? /^([0-9a-z]+)-(\d{1,15})$/.exec(lastEventId) : null;
    if (!m) return live;
    if (m[1] !== this.instance) return 1;
    const seq = Number(m[2]);
    return seq > this.ring.lastSeq ? live : seq + 1;
  }

  // FeedSource: what the connections read.

  get lastSeq(): number {
    return this.ring.lastSeq;
  }

  get oldestSeq(): number {
    return this.ring.oldestSeq;
  }

  missed(n: number): void {
    this.stats.missed += n;
  }

  stalled(): void {
    this.stats.stalledClosed++;
  }

  closed(conn: FeedConnection): void {
    this.conns.delete(conn);
  }

  /** Event number `seq` as an SSE frame (encoded once, when first sent), or undefined if evicted. */
  frameOf(seq: number): string | undefined {
    const e = this.ring.get(seq);
    if (e === undefined) return undefined;
    e.frame ??= encodeEvent({ event: e.name, id: this.idFor(seq), data: JSON.stringify(e.data) });
    return e.frame;
  }
}
