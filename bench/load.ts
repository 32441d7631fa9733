/**
 * The load generator, run as its own process so its CPU is not the measured one's:
 * `bench/run.ts` forks it and sends one {@link LoadJob} at a time over IPC; it answers with a
 * {@link LoadResult}.
 *
 * It must not be the bottleneck: a node:http client spent ~0.9 ms of CPU per 256-token stream
 * (one 'data' event and one JSON.parse per frame) — more than the raw pipe it measures. So this
 * is a small HTTP/1.1 client on raw keep-alive sockets (one per concurrent stream, Nagle off):
 * it de-chunks and decodes each socket read once and finds each frame's content with a string
 * scan (see {@link contentOf}).
 *
 * Every response is checked, so speed can never be bought with a lost token:
 * - streams: status 200, every frame `data: …` (comments allowed), the `delta.content`s joined
 *   equal `simText(tokens)` byte for byte, `[DONE]` arrived and nothing after it, no error frame;
 *   on one stream in {@link FULL_PARSE_EVERY} every frame is also JSON.parse'd and must agree;
 * - non-streaming: status 200 and `choices[0].message.content` equals `simText(tokens)`.
 * A frame may carry an `id:` line before its `data:` line (a resumable stream's frames do). With
 * {@link LoadJob.resumable} every data frame must have one, `<x-stream-id>:<seq>` with seq 1, 2, 3…
 * in order, the head must say `x-stream-resumable: true`, and a `: stream-resume` comment (the
 * replay log went over its bounds) fails the stream.
 * A response that ends wrong is *corrupted*; one that fails (status, socket error, error frame,
 * time-out) is *errored*.
 *
 * Bounded: a job starts at most `count` requests, none after `durationMs`, and everything still
 * open at `maxMs` is destroyed and counted as errored.
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { simText } from '../src/sim/text.js';
import { summarize, type Summary } from './lib/stats.js';

export interface LoadJob {
  /** Full URL of the chat completions endpoint (http, loopback). */
  url: string;
  model: string;
  /** Completion tokens asked for (max_tokens); the expected text is simText(tokens). */
  tokens: number;
  stream: boolean;
  concurrency: number;
  /** Most requests started. */
  count: number;
  /** No request starts after this (ms from the job's start); 0 = only `count` bounds it. */
  durationMs: number;
  /** Hard stop: requests still open are destroyed and counted as errored. */
  maxMs: number;
  /** Start the concurrent workers evenly over this many ms (thousands of connects at once overflow the accept backlog). */
  rampMs: number;
  /** Keep every inter-token gap (for the slow-stream scenario). */
  gaps: boolean;
  headers: Record<string, string>;
  /**
   * The streams are resumable (sent with `x-stream-resume: true` in `headers`): check the head's
   * `x-stream-resumable: true` and `x-stream-id`, and an `id: <stream id>:<seq>` line on every data
   * frame, seq counting from 1 (bench/formats.ts).
   */
  resumable?: boolean;
}

export interface LoadResult {
  started: number;
  ok: number;
  corrupted: number;
  errored: number;
  /** A few distinct failure descriptions with counts. */
  failures: Record<string, number>;
  /** From the first request sent to the last response finished. */
  wallMs: number;
  /** ok / wall time. */
  perSecond: number;
  /** Content tokens of ok responses / wall time. */
  tokensPerSecond: number;
  /** Request written → first content token arrived (streams), ms. */
  ttft: Summary;
  /** Request written → response complete, ms. */
  total: Summary;
  /** Gaps between consecutive content tokens as they arrived (when `gaps`), ms. */
  gap: Summary | null;
  /** Most streams open (response head received, not finished) at once. */
  maxOpen: number;
  /** Most requests in flight (written, response not finished) at once. */
  maxInFlight: number;
}

/** One stream in this many is also checked with a full JSON.parse of every frame. */
export const FULL_PARSE_EVERY = 16;

type Outcome = { kind: 'ok' } | { kind: 'corrupted' | 'errored'; why: string };

const now = (): number => performance.now();

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 response parsing (status line, headers, chunked or Content-Length body)

interface Head {
  status: number;
  headers: Map<string, string>;
}

interface ResponseSink {
  head(h: Head): void;
  /** The body bytes of one socket read (de-chunked), with the read's arrival time. */
  body(bytes: Buffer, at: number): void;
  end(): void;
  fail(why: string): void;
}

const CRLF = Buffer.from('\r\n');

/** Incremental parser for one response; `feed` returns bytes left over after it ended (should be none). */
class ResponseParser {
  private phase: 'head' | 'size' | 'data' | 'data-crlf' | 'trailer' | 'length' | 'close' | 'done' = 'head';
  private carry: Buffer | null = null;
  private remaining = 0;
  private readonly pieces: Buffer[] = [];

  constructor(private readonly sink: ResponseSink) {}

  get done(): boolean {
    return this.phase === 'done';
  }

  /** The connection closed (`code`: the socket error, if any): fine only for a close-delimited body. */
  closed(code: string | undefined): void {
    if (this.phase === 'close') {
      this.phase = 'done';
      this.sink.end();
    } else if (this.phase !== 'done') {
      this.sink.fail(`connection closed ${this.phase === 'head' ? 'before the response head' : 'mid-response'}${code ? ` (${code})` : ''}`);
    }
  }

  feed(input: Buffer, at: number): void {
    let buf = input;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, input]);
      this.carry = null;
    }
    let i = 0;
    while (i < buf.length && this.phase !== 'done') {
      switch (this.phase) {
        case 'head': {
          const end = buf.indexOf('\r\n\r\n', i);
          if (end === -1) return this.keep(buf, i, at);
          const h = parseHead(buf.toString('latin1', i, end));
          if (h === null) return this.sink.fail('bad response head');
          i = end + 4;
          this.sink.head(h);
          const te = h.headers.get('transfer-encoding');
          const cl = h.headers.get('content-length');
          if (te !== undefined && /chunked/i.test(te)) this.phase = 'size';
          else if (cl !== undefined) {
            this.remaining = Number(cl);
            this.phase = 'length';
            if (this.remaining === 0) this.finish(at);
          } else this.phase = 'close';
          break;
        }
        case 'size': {
          const end = buf.indexOf(CRLF, i);
          if (end === -1) return this.keep(buf, i, at);
          const size = parseInt(buf.toString('latin1', i, end), 16);
          if (!(size >= 0)) return this.sink.fail('bad chunk size');
          i = end + 2;
          this.remaining = size;
          this.phase = size === 0 ? 'trailer' : 'data';
          break;
        }
        case 'data':
        case 'length':
        case 'close': {
          const n = this.phase === 'close' ? buf.length - i : Math.min(this.remaining, buf.length - i);
          this.pieces.push(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0 && this.phase === 'data') this.phase = 'data-crlf';
          else if (this.remaining === 0 && this.phase === 'length') this.finish(at);
          break;
        }
        case 'data-crlf': {
          if (buf.length - i < 2) return this.keep(buf, i, at);
          if (buf[i] !== 13 || buf[i + 1] !== 10) return this.sink.fail('bad chunk end');
          i += 2;
          this.phase = 'size';
          break;
        }
        case 'trailer': {
          const end = buf.indexOf(CRLF, i);
          if (end === -1) return this.keep(buf, i, at);
          const empty = end === i;
          i = end + 2;
          if (empty) this.finish(at);
          break;
        }
      }
    }
    this.flush(at);
    if (i < buf.length) this.sink.fail('bytes after the response');
  }

  private keep(buf: Buffer, i: number, at: number): void {
    this.carry = Buffer.from(buf.subarray(i));
    this.flush(at);
  }

  private flush(at: number): void {
    if (this.pieces.length === 0) return;
    const bytes = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces);
    this.pieces.length = 0;
    this.sink.body(bytes, at);
  }

  private finish(at: number): void {
    this.flush(at);
    this.phase = 'done';
    this.sink.end();
  }
}

function parseHead(text: string): Head | null {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers = new Map<string, string>();
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k]!;
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

// ---------------------------------------------------------------------------------------------
// checking what arrives

/**
 * The `content` string of a chat chunk's first choice's delta, without parsing the whole JSON:
 * the value after the first `"content":` (every frame of the simulator and of OpenAI has at most
 * one, in `choices[0].delta`). Escapes are decoded with JSON.parse of the literal alone.
 * undefined when there is none (role-less finish frame, usage frame), null when malformed.
 */
export function contentOf(payload: string): string | undefined | null {
  const k = payload.indexOf('"content":');
  if (k === -1) return undefined;
  const start = k + 10;
  if (payload.charCodeAt(start) !== 34 /* " */) return payload.startsWith('null', start) ? undefined : null;
  let escaped = false;
  for (let j = start + 1; j < payload.length; j++) {
    const c = payload.charCodeAt(j);
    if (c === 92 /* \ */) {
      escaped = true;
      j++;
    } else if (c === 34) {
      if (!escaped) return payload.slice(start + 1, j);
      try {
        return JSON.parse(payload.slice(start, j + 1)) as string;
      } catch {
        return null;
      }
    }
  }
  return null;
}

function parsedContent(payload: string): string | undefined | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const c = (parsed as { choices?: Array<{ delta?: { content?: unknown } }> }).choices?.[0]?.delta?.content;
  return typeof c === 'string' ? c : undefined;
}

/** Checks one SSE response as it arrives; records TTFT and inter-token gaps into the job. */
class StreamCheck implements ResponseSink {
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';
  private text = '';
  private sawDone = false;
  private firstAt = -1;
  private lastAt = 0;
  /** Resumable streams: `<x-stream-id>:` every frame's id starts with, and the last seq seen. */
  private idPrefix: string | null = null;
  private seq = 0;
  outcome: Outcome | null = null;

  constructor(
    private readonly acc: Acc,
    private readonly t0: number,
    private readonly full: boolean,
    private readonly onOpen: () => void,
  ) {}

  head(h: Head): void {
    if (h.status !== 200) this.fail(`status ${h.status}`);
    else if (!/^text\/event-stream/.test(h.headers.get('content-type') ?? '')) this.fail(`content-type ${h.headers.get('content-type')}`);
    else if (this.acc.job.resumable === true && h.headers.get('x-stream-resumable') !== 'true') this.fail(`x-stream-resumable: ${h.headers.get('x-stream-resumable')}`);
    else if (this.acc.job.resumable === true && !h.headers.get('x-stream-id')) this.fail('no x-stream-id');
    else {
      if (this.acc.job.resumable === true) this.idPrefix = `${h.headers.get('x-stream-id')}:`;
      this.onOpen();
    }
  }

  body(bytes: Buffer, at: number): void {
    if (this.outcome !== null) return;
    const buf = this.carry + this.decoder.write(bytes);
    let start = 0;
    for (let end = buf.indexOf('\n\n'); end !== -1; end = buf.indexOf('\n\n', start)) {
      const frame = buf.slice(start, end);
      start = end + 2;
      if (!this.frame(frame, at)) return;
    }
    this.carry = start === 0 ? buf : buf.slice(start);
  }

  /** false once the response is decided (corrupted or errored). */
  private frame(frame: string, at: number): boolean {
    if (frame.charCodeAt(0) === 58 /* ':' comment */) {
      if (this.idPrefix !== null && frame.startsWith(': stream-resume')) return this.fail('replay log over its bounds (stream-resume comment)');
      return true;
    }
    if (frame.startsWith('id: ')) {
      // `id: <id>\ndata: …` (a resumable stream's frames): check the id, then the data line as any other.
      const nl = frame.indexOf('\n');
      if (nl === -1) return this.corrupt('id line without data');
      if (this.idPrefix !== null) {
        const id = frame.slice(4, nl);
        if (!id.startsWith(this.idPrefix) || id.slice(this.idPrefix.length) !== String(this.seq + 1)) return this.corrupt(`frame id ${id.slice(0, 80)} after seq ${this.seq}`);
        this.seq++;
      }
      frame = frame.slice(nl + 1);
    } else if (this.idPrefix !== null) {
      return this.corrupt('data frame without id on a resumable stream');
    }
    if (!frame.startsWith('data: ') || frame.indexOf('\n') !== -1) return this.corrupt('malformed frame');
    if (this.sawDone) return this.corrupt('data after [DONE]');
    const payload = frame.slice(6);
    if (payload === '[DONE]') {
      this.sawDone = true;
      return true;
    }
    if (payload.startsWith('{"error"')) return this.fail(`error frame: ${payload.slice(0, 200)}`);
    const c = contentOf(payload);
    if (c === null) return this.corrupt('frame content unreadable');
    if (this.full && parsedContent(payload) !== c) return this.corrupt('frame disagrees with JSON.parse');
    if (c === undefined || c === '') return true;
    this.text += c;
    if (this.firstAt < 0) {
      this.firstAt = at;
      this.acc.ttft.push(at - this.t0);
    } else if (this.acc.gaps !== null && this.acc.gapCount < this.acc.gaps.length) {
      this.acc.gaps[this.acc.gapCount++] = at - this.lastAt;
    }
    this.lastAt = at;
    return true;
  }

  end(): void {
    if (this.outcome !== null) return;
    if ((this.carry + this.decoder.end()) !== '') return void this.corrupt('unterminated frame at end');
    if (!this.sawDone) return void this.corrupt('no [DONE]');
    if (this.text !== this.acc.expected) return void this.corrupt('text differs from simText(n)');
    this.acc.total.push(now() - this.t0);
    this.outcome = { kind: 'ok' };
  }

  fail(why: string): boolean {
    this.outcome ??= { kind: 'errored', why };
    return false;
  }

  private corrupt(why: string): boolean {
    this.outcome ??= { kind: 'corrupted', why };
    return false;
  }
}

/** Checks one JSON (non-streaming) response. */
class JsonCheck implements ResponseSink {
  private readonly pieces: Buffer[] = [];
  private status = 0;
  outcome: Outcome | null = null;

  constructor(private readonly acc: Acc, private readonly t0: number) {}

  head(h: Head): void {
    this.status = h.status;
  }

  body(bytes: Buffer): void {
    this.pieces.push(bytes);
  }

  end(): void {
    if (this.outcome !== null) return;
    if (this.status !== 200) return void this.fail(`status ${this.status}`);
    let got: unknown;
    try {
      got = (JSON.parse(Buffer.concat(this.pieces).toString('utf8')) as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0]?.message?.content;
    } catch {
      this.outcome = { kind: 'corrupted', why: 'body is not JSON' };
      return;
    }
    if (got !== this.acc.expected) {
      this.outcome = { kind: 'corrupted', why: 'content differs from simText(n)' };
      return;
    }
    const t = now() - this.t0;
    this.acc.ttft.push(t);
    this.acc.total.push(t);
    this.outcome = { kind: 'ok' };
  }

  fail(why: string): boolean {
    this.outcome ??= { kind: 'errored', why };
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// connections and the job

/** Everything a job accumulates across its requests. */
interface Acc {
  job: LoadJob;
  expected: string;
  request: Buffer;
  host: string;
  port: number;
  ttft: number[];
  total: number[];
  gaps: Float64Array | null;
  gapCount: number;
  open: number;
  maxOpen: number;
  inFlight: number;
  maxInFlight: number;
  sockets: Set<net.Socket>;
  streamsStarted: number;
}

/** A keep-alive connection owned by one worker; one request at a time. */
class Connection {
  private socket: net.Socket | null = null;
  private connected: Promise<void> | null = null;
  private current: { parser: ResponseParser; check: StreamCheck | JsonCheck; done: () => void } | null = null;

  constructor(private readonly acc: Acc) {}

  private connect(): Promise<void> {
    const s = net.connect({ host: this.acc.host, port: this.acc.port, noDelay: true });
    this.socket = s;
    this.acc.sockets.add(s);
    this.connected = new Promise((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
      s.once('close', () => reject(new Error('closed before connecting'))); // e.g. destroyed at maxMs
    });
    s.on('data', (d: Buffer) => {
      const c = this.current;
      if (c === null) return void s.destroy(); // unsolicited bytes
      c.parser.feed(d, now());
      if (c.parser.done || c.check.outcome !== null) c.done();
    });
    let code: string | undefined;
    s.on('error', (err: NodeJS.ErrnoException) => {
      code = err.code ?? err.message;
    });
    s.on('close', () => {
      this.acc.sockets.delete(s);
      if (this.socket === s) this.socket = null;
      const c = this.current;
      if (c !== null) {
        c.parser.closed(code);
        c.done();
      }
    });
    return this.connected;
  }

  async request(): Promise<Outcome> {
    const acc = this.acc;
    if (this.socket === null || this.socket.destroyed) {
      try {
        await this.connect();
      } catch (err) {
        return { kind: 'errored', why: `connect: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
      }
    }
    const socket = this.socket!;
    return new Promise<Outcome>((resolve) => {
      const t0 = now();
      let opened = false;
      const check = acc.job.stream
        ? new StreamCheck(acc, t0, acc.streamsStarted++ % FULL_PARSE_EVERY === 0, () => {
            opened = true;
            if (++acc.open > acc.maxOpen) acc.maxOpen = acc.open;
          })
        : new JsonCheck(acc, t0);
      const parser = new ResponseParser(check);
      this.current = {
        parser,
        check,
        done: () => {
          if (this.current === null) return;
          this.current = null;
          acc.inFlight--;
          if (opened) acc.open--;
          const o = check.outcome ?? { kind: 'errored', why: 'no outcome' };
          // After a failure the connection's state is unknown: start over on a new one.
          if (o.kind !== 'ok' || !parser.done) socket.destroy();
          resolve(o);
        },
      };
      if (++acc.inFlight > acc.maxInFlight) acc.maxInFlight = acc.inFlight;
      socket.write(acc.request);
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}

/** Keeps at most 20 distinct failure descriptions, counted. */
class Failures {
  readonly byWhy: Record<string, number> = {};
  private distinct = 0;
  add(why: string): void {
    if (why in this.byWhy) this.byWhy[why]!++;
    else if (this.distinct < 20) {
      this.distinct++;
      this.byWhy[why] = 1;
    } else this.byWhy['(other)'] = (this.byWhy['(other)'] ?? 0) + 1;
  }
}

function requestBytes(job: LoadJob, url: URL): Buffer {
  const body = Buffer.from(JSON.stringify({
    model: job.model,
    messages: [{ role: 'user', content: 'Benchmark: say something.' }],
    max_tokens: job.tokens,
    stream: job.stream,
  }));
  let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
    `accept: ${job.stream ? 'text/event-stream' : 'application/json'}\r\ncontent-length: ${body.length}\r\n`;
  for (const [k, v] of Object.entries(job.headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
}

const expectedTexts = new Map<number, string>();

/** Run one job to completion (bounded by its count, duration and maxMs). */
export async function runLoad(job: LoadJob): Promise<LoadResult> {
  let expected = expectedTexts.get(job.tokens);
  if (expected === undefined) expectedTexts.set(job.tokens, (expected = simText(job.tokens)));
  const url = new URL(job.url);
  const acc: Acc = {
    job,
    expected,
    request: requestBytes(job, url),
    host: url.hostname,
    port: Number(url.port || 80),
    ttft: [],
    total: [],
    gaps: job.gaps ? new Float64Array(Math.min(job.count, 100_000) * Math.max(0, job.tokens - 1)) : null,
    gapCount: 0,
    open: 0,
    maxOpen: 0,
    inFlight: 0,
    maxInFlight: 0,
    sockets: new Set(),
    streamsStarted: 0,
  };
  const failures = new Failures();
  let started = 0;
  let ok = 0;
  let corrupted = 0;
  let errored = 0;
  let stopped = false;
  const t0 = now();
  let tEnd = t0;
  const hardStop = setTimeout(() => {
    stopped = true;
    for (const s of acc.sockets) s.destroy();
  }, job.maxMs);

  const worker = async (i: number): Promise<void> => {
    const delay = job.concurrency > 1 ? (job.rampMs * i) / job.concurrency : 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const conn = new Connection(acc);
    while (!stopped && started < job.count && (job.durationMs <= 0 || now() - t0 < job.durationMs)) {
      started++;
      const o = await conn.request();
      tEnd = now();
      if (o.kind === 'ok') ok++;
      else {
        if (o.kind === 'corrupted') corrupted++;
        else errored++;
        failures.add(`${o.kind}: ${stopped ? `still open after ${job.maxMs} ms` : o.why}`);
      }
    }
    conn.close();
  };
  await Promise.all(Array.from({ length: job.concurrency }, (_, i) => worker(i)));
  clearTimeout(hardStop);
  const wallMs = Math.max(1e-3, tEnd - t0);
  return {
    started,
    ok,
    corrupted,
    errored,
    failures: failures.byWhy,
    wallMs,
    perSecond: (ok * 1000) / wallMs,
    tokensPerSecond: (ok * job.tokens * 1000) / wallMs,
    ttft: summarize(acc.ttft),
    total: summarize(acc.total),
    gap: acc.gaps ? summarize(acc.gaps.subarray(0, acc.gapCount)) : null,
    maxOpen: acc.maxOpen,
    maxInFlight: acc.maxInFlight,
  };
}

// As a forked child: one job per message, answered in order.
if (process.send !== undefined) {
  let queue = Promise.resolve();
  process.on('message', (msg: { id: number; job: LoadJob }) => {
    queue = queue.then(async () => {
      try {
        process.send!({ id: msg.id, result: await runLoad(msg.job) });
      } catch (err) {
        process.send!({ id: msg.id, error: (err as Error).stack ?? String(err) });
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
}
