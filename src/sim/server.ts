/**
 * The simulator over node:http, for `npm run sim` and benchmarks: the same replies as the fetch
 * version (both consume `core.ts`'s frame generator). Each frame is written as it is produced,
 * `res.write` backpressure is respected (wait for `drain`), Nagle is off (`setNoDelay`), idle
 * keep-alive connections are kept for 65 s (longer than common client pools, so a client rarely
 * reuses a socket the server is closing). A client that goes away aborts the reply: the pending
 * timer is cleared and the generator closed. Request bodies above 16 MiB get 413.
 */
import http from 'node:http';
import { simError, simPathOf, simRoute, sleep, type SimJsonReply, type SimStep } from './core.js';
import type { SimOptions } from './options.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

class BodyTooLarge extends Error {}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  if (chunks.length === 0) return '';
  return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
}

function sendJson(res: http.ServerResponse, reply: SimJsonReply): void {
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) });
  res.end(reply.body);
}

/** Resolve when `res` can take more data, or has closed. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function pump(frames: Generator<SimStep, void, undefined>, res: http.ServerResponse, signal: AbortSignal): Promise<void> {
  try {
    for (;;) {
      if (signal.aborted) return;
      const r = frames.next();
      if (r.done) break;
      const v = r.value;
      if (typeof v === 'number') {
        if (v > 0) await sleep(v, signal);
      } else if (!res.write(v)) {
        await drained(res);
      }
    }
    res.end();
  } finally {
    frames.return(undefined);
  }
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, opts: SimOptions): Promise<void> {
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  let body: string;
  try {
    body = await readBody(req);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      res.setHeader('connection', 'close');
      sendJson(res, simError(413, `Request body too large (limit ${MAX_BODY_BYTES} bytes).`));
      return;
    }
    throw err;
  }
  const reply = simRoute(req.method ?? 'GET', simPathOf(req.url ?? '/'), body, opts);
  if (reply.kind === 'json') {
    if (reply.delayMs > 0) await sleep(reply.delayMs, ac.signal);
    sendJson(res, reply);
    return;
  }
  res.writeHead(reply.status, { ...reply.headers, connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  await pump(reply.frames, res, ac.signal);
}

/** An http.Server (not yet listening) serving the simulator on every path. */
export function createSimServer(opts: SimOptions): http.Server {
  const server = http.createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      if (res.destroyed || res.writableEnded) return; // client gone (abort) or already answered
      if (!res.headersSent) {
        sendJson(res, simError(500, `simulator error: ${err instanceof Error ? err.message : String(err)}`, null, null, 'server_error'));
      } else {
        res.destroy(err instanceof Error ? err : undefined);
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('connection', (socket) => socket.setNoDelay(true));
  return server;
}
