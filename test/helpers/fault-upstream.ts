/**
 * Fault injection for the resilience tests (issue 7): a scriptable upstream on 127.0.0.1:0 that
 * can answer, fail, stall, reset or misbehave at any byte; callers on raw sockets; and probes for
 * the resources a proxy holds (sockets both sides, active-stream gauge, relays in flight).
 * Everything stays on 127.0.0.1.
 */
import http from 'node:http';
import net from 'node:net';
import type { Registry } from 'prom-client';
import type { TestProxy } from './proxy.js';

// ---------------------------------------------------------------------------------------------
// The upstream

/** What a script gets for one request. */
export interface ScriptContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  socket: net.Socket;
  /** Parsed JSON body (or the raw text when not JSON). */
  body: Record<string, unknown>;
  /** 1 for the first request this upstream got. */
  n: number;
}

/** Behaviour for one request. */
export type Script = (c: ScriptContext) => void | Promise<void>;

/** A scriptable upstream. */
export interface FaultUpstream {
  /** Base URL to put in the proxy's config (`…/v1`). */
  baseUrl: string;
  port: number;
  /** Requests received, in order. */
  requests: Array<{ path: string; body: Record<string, unknown> }>;
  /** Change the behaviour for the next requests. */
  script(s: Script): void;
  /** Open sockets now. */
  connections(): Promise<number>;
  close(): Promise<void>;
}

/** Start an upstream; `initial` answers until {@link FaultUpstream.script} changes it. */
export async function startFaultUpstream(initial: Script = tokens(3)): Promise<FaultUpstream> {
  let current = initial;
  const requests: FaultUpstream['requests'] = [];
  const server = http.createServer({ keepAliveTimeout: 1_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = { raw: text };
      }
      requests.push({ path: req.url ?? '', body });
      res.on('error', () => undefined);
      req.socket.on('error', () => undefined);
      Promise.resolve(current({ req, res, socket: req.socket, body, n: requests.length })).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    script: (s) => {
      current = s;
    },
    connections: () => getConnections(server),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A port on 127.0.0.1 where nothing listens: connecting is refused at once. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One chat.completion.chunk payload carrying `content`. */
export function chunk(content: string, finish: string | null = null): string {
  return JSON.stringify({
    id: 'chatcmpl-fault',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'fault',
    choices: [{ index: 0, delta: finish === null ? { content } : {}, finish_reason: finish }],
  });
}

export const frame = (data: string): string => `data: ${data}\n\n`;

/** Response head of an SSE answer; `Connection: close` so no idle pooled socket outlives a test. */
export function sseHead(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' });
  res.flushHeaders();
}

/** Stream `n` tokens `t0 … t{n-1}` (every `delayMs`), a finish chunk and `[DONE]`. */
export function tokens(n: number, delayMs = 0): Script {
  return async ({ res }) => {
    sseHead(res);
    for (let i = 0; i < n; i++) {
      if (delayMs > 0) await sleep(delayMs);
      if (res.destroyed) return;
      res.write(frame(chunk(`t${i}`)));
    }
    res.write(frame(chunk('', 'stop')));
    res.end(frame('[DONE]'));
  };
}

/** A non-streaming chat.completion answer with `content`. */
export function jsonAnswer(content: string): Script {
  return ({ res }) => {
    const text = JSON.stringify({
      id: 'chatcmpl-fault',
      object: 'chat.completion',
      created: 0,
      model: 'fault',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
    res.end(text);
  };
}

/** Answer `status` with an OpenAI-shaped error (or `body`), and `headers`. */
export function status(code: number, headers: Record<string, string> = {}, body?: unknown): Script {
  return ({ res }) => {
    const text = JSON.stringify(body ?? { error: { message: `scripted ${code}`, type: 'server_error', param: null, code: `scripted_${code}` } });
    res.writeHead(code, { 'content-type': 'application/json', connection: 'close', ...headers });
    res.end(text);
  };
}

/** Never answer (the socket stays open until the proxy gives up or the upstream closes). */
export const hang: Script = () => undefined;

/** Start a response head and never finish it. */
export const neverEndHeaders: Script = ({ socket }) => {
  socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Slow: ');
};

/** Send `n` tokens, then fail: `reset` (TCP RST), `reset-mid-frame` (half a frame, then RST) or `end` (clean close, no [DONE]). */
export function dieAfter(n: number, how: 'reset' | 'reset-mid-frame' | 'end'): Script {
  return async ({ res, socket }) => {
    sseHead(res);
    for (let i = 0; i < n; i++) res.write(frame(chunk(`t${i}`)));
    if (how === 'reset-mid-frame') res.write('data: {"id":"chatcmpl-fault","choi');
    await sleep(30); // let the bytes leave before the reset
    if (how === 'end') res.end();
    else socket.resetAndDestroy();
  };
}

// ---------------------------------------------------------------------------------------------
// Callers

/** A caller's view of one answer. */
export interface CallerResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  /** `data:` payloads, in order. */
  data: string[];
  /** The payload parsed as JSON when it has an `error` key (an error frame or error body). */
  error: { message: string; code: string | null; type: string } | null;
  /** `[DONE]` was the last frame. */
  done: boolean;
  /** The content of every chunk, joined. */
  text: string;
}

/** The SSE `data:` payloads in a body (canonical LF framing, as the proxy writes it). */
export function dataPayloads(raw: string): string[] {
  return raw
    .split('\n\n')
    .flatMap((block) => block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)))
    .filter((d) => d.length > 0);
}

function summarise(status: number, headers: http.IncomingHttpHeaders, raw: Buffer): CallerResult {
  const text = raw.toString('utf8');
  const isSse = String(headers['content-type'] ?? '').startsWith('text/event-stream');
  const data = isSse ? dataPayloads(text) : [text];
  let error: CallerResult['error'] = null;
  let joined = '';
  for (const d of data) {
    try {
      const j = JSON.parse(d) as { error?: CallerResult['error']; choices?: Array<{ delta?: { content?: string } }> };
      if (j.error) error = j.error;
      joined += j.choices?.[0]?.delta?.content ?? '';
    } catch {
      /* [DONE] or not JSON */
    }
  }
  return { status, headers, raw, data, error, done: data[data.length - 1] === '[DONE]', text: joined };
}

/** A request body for `model`. */
export function chatBody(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

/**
 * POST a chat request on a fresh connection (`agent: false` → `Connection: close`, so the
 * proxy's socket count returns to zero after each) and read the whole answer.
 */
export function chat(proxyUrl: string, body: Record<string, unknown>, opts: { path?: string; timeoutMs?: number } = {}): Promise<CallerResult> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(`${proxyUrl}${opts.path ?? '/v1/chat/completions'}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no complete answer within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        resolve(summarise(res.statusCode ?? 0, res.headers, Buffer.concat(chunks)));
      });
    });
    req.end(payload);
  });
}

/** GET on a fresh connection (closed after), so it leaves no idle socket behind. */
export function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** A raw caller socket with everything it received so far. */
export interface RawCaller {
  socket: net.Socket;
  received(): string;
  bytes(): number;
  /** Resolves when the received text matches `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when the proxy closed the socket. */
  ended: Promise<void>;
}

/** Open a socket to the proxy and write `text` (e.g. a request head trickled later by the test). */
export async function rawCaller(port: number, text = ''): Promise<RawCaller> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let size = 0;
  const waiters = new Set<() => void>();
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    size += c.length;
    for (const w of waiters) w();
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  if (text) socket.write(text);
  const received = (): string => Buffer.concat(chunks).toString('latin1');
  return {
    socket,
    received,
    bytes: () => size,
    ended,
    waitFor: (re, timeoutMs = 5_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (re.test(received())) {
            waiters.delete(check);
            clearTimeout(t);
            resolve();
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`caller did not receive ${re} within ${timeoutMs} ms; got: ${received().slice(0, 300)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

/** A complete HTTP/1.1 chat request as raw text. */
export function rawChatRequest(body: Record<string, unknown>, headers: Record<string, string> = {}): string {
  const payload = JSON.stringify(body);
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return (
    `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n${extra}\r\n${payload}`
  );
}

// ---------------------------------------------------------------------------------------------
// Probes

export function getConnections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Sum of a metric's series matching `labels` (all series when empty). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Poll `check` until it returns true (or throw after `timeoutMs`, with `what` and the last detail). */
export async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** What a proxy and its upstreams hold right now. */
export async function resources(proxy: TestProxy, upstreams: FaultUpstream[] = []): Promise<Record<string, number>> {
  return {
    proxySockets: await getConnections(proxy.server),
    upstreamSockets: (await Promise.all(upstreams.map((u) => u.connections()))).reduce((a, b) => a + b, 0),
    activeStreams: await metricValue(proxy.deps.registry, 'llm_proxy_active_streams'),
    relays: proxy.app.inflight.size,
    activeRequests: proxy.deps.state.activeRequests,
  };
}

/** Wait until every resource is released: sockets on both sides, the gauge, relays, requests. */
export async function allReleased(proxy: TestProxy, upstreams: FaultUpstream[] = [], timeoutMs = 3_000): Promise<void> {
  let last: Record<string, number> = {};
  try {
    await waitUntil(
      async () => {
        last = await resources(proxy, upstreams);
        return Object.values(last).every((v) => v === 0);
      },
      'resources to be released',
      timeoutMs,
    );
  } catch {
    throw new Error(`resources not released: ${JSON.stringify(last)}`);
  }
}

/** The `request` log records (one per request), in order. */
export function requestRecords(proxy: TestProxy): Array<Record<string, unknown> & { attempts: Array<{ upstream: string; status: number | null; error: string | null }> }> {
  return proxy.records().filter((r) => r.msg === 'request') as never;
}

/** The last request record, once it is there (it is published when the request ends). */
export async function lastRecord(proxy: TestProxy, count: number): Promise<ReturnType<typeof requestRecords>[number]> {
  await waitUntil(() => requestRecords(proxy).length >= count, `request record #${count}`);
  return requestRecords(proxy)[count - 1]!;
}
