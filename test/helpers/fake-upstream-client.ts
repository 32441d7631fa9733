/**
 * An {@link UpstreamClient} without sockets, for unit tests of the relay and the attempt loop
 * (test/unit/sse-relay.test.ts). Each `send` becomes a {@link FakeCall} the test answers by hand:
 * a head (whose hook runs synchronously before `send` resolves, as both transports do,
 * src/upstream/transport.ts `onResponse`), then body chunks pushed one upstream read at a time,
 * an end or a break; or a transport failure. The caller's abort ends the call as the real client
 * does: a rejection with the abort's reason before the head, a broken body after it.
 *
 * Two body modes, as the relay meets them: `direct` is the proxy's own HTTP/1.1 client
 * (`UpstreamResponse.direct`, read from inside the socket read, paused by returning false) and
 * `stream` a Node `Readable` (`node:http`, the simulator, fetch).
 */
import { Readable } from 'node:stream';
import type { UpstreamCall, UpstreamClient } from '../../src/upstream/client.js';
import type { BodySink, DirectBody, UpstreamResponse } from '../../src/upstream/transport.js';
import { settle } from './fake-timers.js';

export type BodyMode = 'direct' | 'stream';

/** One upstream body the test writes into. */
export class FakeBody implements DirectBody {
  /**
   * As node:http's IncomingMessage (its `_destroy`): an error it is destroyed with is emitted
   * only if someone listens for it a tick later, not thrown as an uncaught 'error'.
   */
  readonly readable = new Readable({
    read() {},
    destroy(err, cb) {
      process.nextTick(() => cb(this.listenerCount('error') === 0 ? null : err));
    },
  });
  private sink: BodySink | null = null;
  /** Chunks held while the direct reader is paused (or not attached yet). */
  private held: Buffer[] = [];
  private endHeld = false;
  /** The direct reader asked to pause (its caller's socket is full). */
  paused = false;
  resumes = 0;
  private finished = false;
  private destroyedDirect = false;

  constructor(readonly mode: BodyMode) {}

  /** For {@link UpstreamResponse.direct}. */
  attach(sink: BodySink): DirectBody {
    this.sink = sink;
    return this;
  }

  /** The reader stopped taking data (paused by backpressure, or never attached). */
  get waiting(): boolean {
    return this.mode === 'direct' ? this.paused || this.held.length > 0 : this.readable.readableLength > 0;
  }

  /** Closed before its end (the upstream connection is not reused). */
  get cut(): boolean {
    return this.mode === 'direct' ? this.destroyedDirect : this.readable.destroyed && !this.readable.readableEnded;
  }

  /** One upstream read. */
  push(text: string): void {
    const chunk = Buffer.from(text);
    if (this.mode === 'stream') {
      this.readable.push(chunk);
      return;
    }
    if (this.finished || this.destroyedDirect) return;
    if (this.sink === null || this.paused || this.held.length > 0) this.held.push(chunk);
    else this.paused = !this.sink.data(chunk);
  }

  /** The upstream ends the body cleanly. */
  end(): void {
    if (this.mode === 'stream') {
      this.readable.push(null);
      return;
    }
    if (this.held.length > 0 || this.paused) this.endHeld = true;
    else this.finishDirect();
  }

  /** The connection breaks mid-body. */
  fail(err: Error): void {
    if (this.mode === 'stream') {
      this.readable.destroy(err);
      return;
    }
    if (this.finished) return;
    this.finished = true;
    this.sink?.error(err);
  }

  // DirectBody: the reader's side.

  resume(): void {
    this.resumes++;
    this.paused = false;
    while (this.held.length > 0 && !this.paused && !this.destroyedDirect && this.sink !== null) this.paused = !this.sink.data(this.held.shift()!);
    if (this.endHeld && this.held.length === 0 && !this.paused) this.finishDirect();
  }

  destroy(): void {
    if (this.destroyedDirect) return;
    this.destroyedDirect = true;
    if (!this.finished) {
      this.finished = true;
      this.sink?.error(new Error('body destroyed'));
    }
  }

  private finishDirect(): void {
    if (this.finished) return;
    this.finished = true;
    this.sink?.end();
  }
}

/** One `send`, answered by the test. */
export class FakeCall {
  body: FakeBody | null = null;
  private answered = false;

  constructor(
    readonly request: UpstreamCall,
    private readonly mode: BodyMode,
    private readonly resolve: (res: UpstreamResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    request.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  get upstream(): string {
    return this.request.upstreamName;
  }

  /** The request was aborted (the relay stopped, the caller left). */
  get aborted(): boolean {
    return this.request.signal.aborted;
  }

  /** Send the head; returns the body to push into (an error status's body is a Readable). */
  respond(status = 200, headers: Record<string, string> = {}): FakeBody {
    if (this.answered) throw new Error('already answered');
    this.answered = true;
    const ok = status >= 200 && status < 300;
    const body = new FakeBody(ok ? this.mode : 'stream');
    this.body = body;
    const res: UpstreamResponse = {
      status,
      ok,
      headers: new Headers({ 'content-type': ok ? 'text/event-stream' : 'application/json', ...headers }),
      body: body.readable,
    };
    if (body.mode === 'direct') res.direct = (sink) => body.attach(sink);
    this.request.onResponse?.(res);
    this.resolve(res);
    return body;
  }

  /** An error status with a JSON error body (read whole by src/relay/upstream-response.ts). */
  respondError(status: number, headers: Record<string, string> = {}, message = `upstream says ${status}`): void {
    const body = this.respond(status, headers);
    body.push(JSON.stringify({ error: { message, type: 'upstream_error', param: null, code: null } }));
    body.end();
  }

  /** The transport fails before a head (connection refused, reset). */
  fail(err: Error): void {
    if (this.answered) throw new Error('already answered');
    this.answered = true;
    this.reject(err);
  }

  private readonly onAbort = (): void => {
    const reason = this.request.signal.reason;
    if (!this.answered) {
      this.answered = true;
      this.reject(reason);
    } else this.body?.fail(reason instanceof Error ? reason : new Error('aborted'));
  };
}

export class FakeUpstreamClient implements UpstreamClient {
  readonly calls: FakeCall[] = [];

  constructor(private readonly mode: BodyMode = 'direct') {}

  send(call: UpstreamCall): Promise<UpstreamResponse> {
    return new Promise<UpstreamResponse>((resolve, reject) => {
      this.calls.push(new FakeCall(call, this.mode, resolve, reject));
    });
  }

  /** The `n`-th call (from 0), once the relay has made it; throws if it does not come. */
  async call(n: number): Promise<FakeCall> {
    for (let i = 0; i < 20 && this.calls.length <= n; i++) await settle(1);
    const c = this.calls[n];
    if (c === undefined) throw new Error(`upstream call #${n} was not made (${this.calls.length} made)`);
    return c;
  }

  async close(): Promise<void> {}
}
