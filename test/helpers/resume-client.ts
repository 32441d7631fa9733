/**
 * A raw HTTP client for resumable streams (test/integration/resume.test.ts): node:http, bytes kept
 * exactly as received, and a caller that goes away after its first k frames (the connection is
 * destroyed, the way a dropped network does it). Plus small readers of what came back: the frames,
 * the joined `delta.content`s, a frame list with the run-specific parts replaced, Prometheus samples.
 */
import http, { type IncomingHttpHeaders } from 'node:http';

/** What a read amounted to. */
export interface SseRead {
  status: number;
  headers: IncomingHttpHeaders;
  /** The bytes received; when `cut`, exactly the first `stopAfterFrames` frames. */
  bytes: Buffer;
  /** The caller went away before the response ended. */
  cut: boolean;
}

export interface SseReadOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A JSON body (POST). */
  body?: Record<string, unknown>;
  /**
   * Go away after this many complete frames (0: as soon as the head arrived): the response is
   * destroyed and `bytes` holds those frames only. Absent: read to the end.
   */
  stopAfterFrames?: number;
  /** Called once the response head arrived (before any frame is read). */
  onHead?: (headers: IncomingHttpHeaders, status: number) => void;
  /** Called when the read is cut, right after the connection was destroyed. */
  onCut?: () => void;
}

const FRAME_END = Buffer.from('\n\n');

/** Byte offset just past the end of frame number `k` (1-based) in `buf`, or -1 when not there yet. */
function endOfFrame(buf: Buffer, k: number): number {
  let at = 0;
  for (let i = 0; i < k; i++) {
    const j = buf.indexOf(FRAME_END, at);
    if (j < 0) return -1;
    at = j + 2;
  }
  return at;
}

/** One request, read as raw bytes (see {@link SseReadOptions.stopAfterFrames}). */
export function readSse(url: string, opts: SseReadOptions = {}): Promise<SseRead> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let settled = false;
    const req = http.request(url, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent: false });
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      // A destroyed response may emit 'error' (aborted): after a cut that is expected.
      res.on('error', (err) => {
        if (settled) return;
        settled = true;
        reject(err);
      });
      opts.onHead?.(res.headers, status);
      const k = status === 200 ? opts.stopAfterFrames : undefined;
      const cutNow = (bytes: Buffer): void => {
        settled = true;
        req.destroy();
        opts.onCut?.();
        resolve({ status, headers: res.headers, bytes, cut: true });
      };
      if (k === 0) return cutNow(Buffer.alloc(0));
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (settled) return;
        parts.push(c);
        size += c.length;
        if (k === undefined) return;
        const all = Buffer.concat(parts, size);
        const end = endOfFrame(all, k);
        if (end >= 0) cutNow(Buffer.from(all.subarray(0, end)));
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status, headers: res.headers, bytes: Buffer.concat(parts, size), cut: false });
      });
    });
    req.end(body);
  });
}

/** The frames of an event stream's text (without their blank-line ends). */
export function framesOf(text: string | Buffer): string[] {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  const out = s.split('\n\n');
  if (out.at(-1) === '') out.pop();
  return out;
}

/** The `data:` payload of a frame (its one data line), or null for a frame without one (a comment). */
export function dataOf(frame: string): string | null {
  const line = frame.split('\n').find((l) => l.startsWith('data: '));
  return line === undefined ? null : line.slice('data: '.length);
}

/** The `id:` of a frame, or null. */
export function idOf(frame: string): string | null {
  const line = frame.split('\n').find((l) => l.startsWith('id: '));
  return line === undefined ? null : line.slice('id: '.length);
}

/** The joined `choices[0].delta.content` of a chat stream's frames. */
export function contentOf(text: string | Buffer): string {
  let out = '';
  for (const f of framesOf(text)) {
    const d = dataOf(f);
    if (d === null || d === '[DONE]') continue;
    const obj = JSON.parse(d) as { choices?: Array<{ delta?: { content?: string } }> };
    out += obj.choices?.[0]?.delta?.content ?? '';
  }
  return out;
}

/**
 * A stream's text with what differs between two runs of the same deterministic request replaced:
 * its stream id (in `id:` lines), the simulator's completion id and `created` second.
 */
export function normalized(text: string | Buffer, streamId: string | undefined): string {
  let s = typeof text === 'string' ? text : text.toString('utf8');
  if (streamId) s = s.split(streamId).join('<stream>');
  return s.replace(/"id":"chatcmpl-[^"]*"/g, '"id":"<completion>"').replace(/"created":\d+/g, '"created":0');
}

/** One Prometheus sample. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the text exposition format (what prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples of `name` whose labels include `where` (0 when there is none). */
export function metricSum(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** GET `<origin>/metrics`, parsed. */
export async function scrapeMetrics(origin: string): Promise<Sample[]> {
  const r = await fetch(`${origin}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parseMetrics(await r.text());
}

/** Poll `check` until it returns a value other than undefined, or throw after `ms` saying `what`. */
export async function pollUntil<T>(ms: number, what: string, check: () => Promise<T | undefined> | T | undefined, everyMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
