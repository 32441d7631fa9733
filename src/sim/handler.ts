/**
 * The simulator as a fetch-compatible function: the proxy passes it wherever it would pass
 * `fetch` for a `sim-*` upstream, so the simulated upstream runs in-process with no socket.
 * Behaviour (endpoints, lengths, finish reasons, seeds, timing) is described in `route.ts`.
 *
 * - Streams come back as a `Response` whose body is a `ReadableStream` of UTF-8 SSE frames,
 *   one chunk per frame, produced on demand (pull): a consumer that stops reading stops the
 *   generator, and there is at most one pending timer per stream.
 * - `init.signal` (or the `Request`'s signal): aborted before the answer → the returned promise
 *   rejects with `signal.reason` (as fetch does); aborted mid-stream → the body errors with
 *   `signal.reason`, the pending timer is cleared and the generator is closed. Cancelling the
 *   body (`reader.cancel()`) does the same without an error.
 */
import type { SimStep } from './reply.js';
import { simPathOf, simQueryOf, simRoute } from './route.js';
import { sleep } from './sleep.js';
import type { SimOptions } from './options.js';

export type SimFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const encoder = new TextEncoder();

async function readBody(input: string | URL | Request, init: RequestInit | undefined): Promise<string> {
  const b = init?.body;
  if (b !== undefined && b !== null) {
    if (typeof b === 'string') return b;
    return new Response(b).text();
  }
  if (input instanceof Request && input.body !== null) return input.text();
  return '';
}

function frameStream(frames: Generator<SimStep, void, undefined>, signal: AbortSignal | null): ReadableStream<Uint8Array> {
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;

  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const w = wake;
    wake = undefined;
    w?.();
    signal?.removeEventListener('abort', onAbort);
    frames.return(undefined);
  };
  const onAbort = (): void => {
    if (finished) return;
    finish();
    controller?.error(signal?.reason);
  };

  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (signal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
    },
    async pull(c) {
      while (!finished) {
        const r = frames.next();
        if (r.done) {
          finish();
          c.close();
          return;
        }
        const v = r.value;
        if (typeof v === 'string') {
          c.enqueue(encoder.encode(v));
          return;
        }
        if (v > 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(() => {
              timer = undefined;
              wake = undefined;
              resolve();
            }, v);
          });
        }
      }
    },
    cancel() {
      finish();
    },
  });
}

/**
 * A fetch-compatible function answering like an OpenAI upstream, and under `/anthropic` and
 * `/gemini` like Anthropic's and Gemini's APIs (see `route.ts`).
 */
export function createSimFetch(opts: SimOptions): SimFetch {
  return async function simFetch(input, init) {
    const req = input instanceof Request ? input : undefined;
    const signal = init?.signal ?? req?.signal ?? null;
    if (signal?.aborted) throw signal.reason;
    const method = init?.method ?? req?.method ?? 'GET';
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = await readBody(input, init);
    if (signal?.aborted) throw signal.reason;
    const reply = simRoute(method, simPathOf(url), body, opts, simQueryOf(url));
    if (reply.kind === 'json') {
      if (reply.delayMs > 0) await sleep(reply.delayMs, signal);
      return new Response(reply.body, { status: reply.status, headers: reply.headers });
    }
    return new Response(frameStream(reply.frames, signal), { status: reply.status, headers: reply.headers });
  };
}
