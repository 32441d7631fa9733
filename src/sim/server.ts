/**
 * The simulator over node:http, for `npm run sim` and benchmarks: the same replies as the fetch
 * version (both consume `route.ts`'s replies). Each frame is written as it is produced
 * (frames produced together, with no wait between them, share one socket write via cork/uncork),
 * `res.write` backpressure is respected (wait for `drain`), Nagle is off (`setNoDelay`), idle
 * keep-alive connections are kept for 65 s (longer than common client pools, so a client rarely
 * reuses a socket the server is closing). A client that goes away aborts the reply: the pending
 * timer is cleared and the generator closed. Request bodies above 16 MiB get 413.
 */
import http from 'node:http';
import { simError, type SimJsonReply, type SimStep } from './reply.js';
import { simPathOf, simQueryOf, simRoute } from './route.js';
import { sleep } from './sleep.js';
import type { SimOptions } from './options.js';
import { drained } from '../util/drained.js';

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


/** What {@link createSimServer}'s server emits as `'sim-stream-end'` when a stream stops. */
export interface SimStreamEnd {
  /** the client went away before the last frame */
  aborted: boolean;
  /** frames written */
  frames: number;
}

async function pump(
  frames: Generator<SimStep, void, undefined>,
  res: http.ServerResponse,
  signal: AbortSignal,
  onEnd: (e: SimStreamEnd) => void,
): Promise<void> {
  let written = 0;
  let complete = false;
  // Frames produced back to back (no wait between them) go out in one socket write: cork while
  // writing, uncork before any wait and at the end.
  let corked = false;
  try {
    for (;;) {
      if (signal.aborted || res.destroyed) return;
      const r = frames.next();
      if (r.done) break;
      const v = r.value;
      if (typeof v === 'number') {
        if (v > 0) {
          if (corked) {
            corked = false;
            res.uncork();
          }
          await sleep(v, signal);
        }
      } else {
        written++;
        if (!corked) {
          corked = true;
          res.cork();
        }
        if (!res.write(v)) {
          corked = false;
          res.uncork();
          await drained(res);
        }
      }
    }
    if (corked) {
      corked = false;
      res.uncork();
    }
    res.end();
    complete = true;
  } finally {
    if (corked) res.uncork();
    frames.return(undefined);
    onEnd({ aborted: !complete, frames: written });
  }
}

async function handle(server: http.Server, req: http.IncomingMessage, res: http.ServerResponse, opts: SimOptions): Promise<void> {
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
  const reply = simRoute(req.method ?? 'GET', simPathOf(req.url ?? '/'), body, opts, simQueryOf(req.url ?? ''));
  if (reply.kind === 'json') {
    if (reply.delayMs > 0) await sleep(reply.delayMs, ac.signal);
    sendJson(res, reply);
    return;
  }
  res.writeHead(reply.status, { ...reply.headers, connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  await pump(reply.frames, res, ac.signal, (e) => server.emit('sim-stream-end', e));
}

/**
 * An http.Server (not yet listening) serving the simulator on every path. Besides the usual
 * events it emits `'sim-stream-end'` ({@link SimStreamEnd}) each time a streamed reply stops,
 * whether finished or cut by the client (handy for tests and benchmark bookkeeping).
 */
export function createSimServer(opts: SimOptions): http.Server {
  const server = http.createServer((req, res) => {
    handle(server, req, res, opts).catch((err: unknown) => {
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
