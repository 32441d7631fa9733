/**
 * A caller's response without a socket, for unit tests of the stream relay
 * (test/unit/sse-relay.test.ts). It records what node:http's `ServerResponse` would send — the
 * head, every write, the end — and plays the caller: one that reads (every write is taken at
 * once) or one that stopped reading (the first write fills its socket: `writableNeedDrain` until
 * {@link FakeResponse.resumeReading}, and an `end()` does not finish before that).
 *
 * Its socket stub corks on a write and uncorks on the next tick, as node:http's `res.write` does
 * (`connectionCorkNT`), so a test can see the relay uncork the first token itself
 * (src/relay/caller.ts `afterEvent`).
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';

export class FakeSocket extends EventEmitter {
  noDelay = false;
  writableCorked = 0;
  destroyed = false;
  /** Times the relay reset the connection (`resetAndDestroy`) instead of closing it. */
  resets = 0;

  setNoDelay(on = true): this {
    this.noDelay = on;
    return this;
  }
  cork(): void {
    this.writableCorked++;
  }
  uncork(): void {
    if (this.writableCorked > 0) this.writableCorked--;
  }
  resetAndDestroy(): this {
    this.resets++;
    return this.destroy();
  }
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    process.nextTick(() => this.emit('close'));
    return this;
  }
}

export class FakeResponse extends EventEmitter {
  statusCode = 200;
  /** The head's headers, names lower-cased; null until a head is written. */
  headers: Record<string, string> | null = null;
  headersSent = false;
  /** A write came before any `writeHead` (node:http would send an implicit 200 head). */
  implicitHead = false;
  readonly chunks: Buffer[] = [];
  writableEnded = false;
  writableFinished = false;
  writableNeedDrain = false;
  destroyed = false;
  shouldKeepAlive = true;
  readonly socket: FakeSocket = new FakeSocket();
  /** False: the caller stopped reading; the next write fills its socket. */
  reading = true;

  constructor() {
    super();
    // As node:http: the response closes with its connection.
    this.socket.once('close', () => this.destroy());
  }

  /** Typed as what the relay takes (it uses only what this class has). */
  asServerResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }

  writeHead(status: number, headers: Record<string, string> = {}): this {
    if (this.headersSent) throw new Error('writeHead after the head was sent');
    this.statusCode = status;
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.headersSent = true;
    return this;
  }

  write(chunk: string | Buffer): boolean {
    if (this.writableEnded) throw new Error('write after end');
    if (!this.headersSent) {
      this.implicitHead = true;
      this.headersSent = true;
    }
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    if (this.socket.writableCorked === 0) {
      this.socket.cork();
      process.nextTick(() => this.socket.uncork());
    }
    if (!this.reading) this.writableNeedDrain = true;
    return !this.writableNeedDrain;
  }

  end(chunk?: string | Buffer): this {
    if (chunk !== undefined) this.write(chunk);
    this.writableEnded = true;
    if (!this.writableNeedDrain) this.finish();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** The caller stops reading: from the next write on, its socket is full. */
  stopReading(): void {
    this.reading = false;
  }

  /** The caller reads again: what was buffered is taken, 'drain', and an ended response finishes. */
  resumeReading(): void {
    this.reading = true;
    if (!this.writableNeedDrain) return;
    this.writableNeedDrain = false;
    this.emit('drain');
    if (this.writableEnded) this.finish();
  }

  /** The caller hangs up. */
  disconnect(): void {
    this.socket.destroy();
  }

  /** Everything written after the head, as text. */
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** The SSE frames written, each without its blank line. */
  frames(): string[] {
    return this.text()
      .split('\n\n')
      .filter((f) => f !== '');
  }

  /** The payloads of the `data:` frames, parsed where they are JSON. */
  data(): unknown[] {
    return this.frames()
      .filter((f) => f.startsWith('data: '))
      .map((f) => {
        const d = f.slice(6);
        try {
          return JSON.parse(d) as unknown;
        } catch {
          return d;
        }
      });
  }

  private finish(): void {
    if (this.writableFinished) return;
    this.writableFinished = true;
    process.nextTick(() => {
      this.emit('finish');
      // A response sent with `shouldKeepAlive = false` closes its connection once flushed.
      if (!this.shouldKeepAlive) this.socket.destroy();
      this.destroy();
    });
  }
}
