/**
 * Backpressure (issue 7): a caller that stops reading makes the proxy stop reading the upstream,
 * so what a stream holds stays bounded whatever the caller's speed.
 *
 * Setup: a fast upstream offers 64 MiB of SSE (8 KiB frames) as fast as its socket takes them,
 * writing only while its socket is not full; the caller (a raw socket) reads 256 KiB, then
 * pauses for a second, then reads the rest.
 *
 * Two bounds, measured while the caller is paused:
 * 1. The proxy's own buffer for the stream — `res.writableLength` of the caller's response,
 *    sampled every millisecond by a test middleware — stays under PROXY_BUFFER_BOUND (128 KiB):
 *    the relay writes the frames of one upstream read (at most 64 KiB, libuv's read size) and then
 *    waits for `drain` (socket high-water mark 16 KiB) before reading again.
 * 2. End to end, the bytes the upstream got rid of minus the bytes the caller received — every
 *    buffer between them: both kernels' socket buffers on two loopback connections, undici's
 *    body queue and the proxy's buffer — stop growing: the upstream's socket stays full (its
 *    write side blocked) with most of its 64 MiB unsent, and the gap stays under IN_FLIGHT_BOUND
 *    (16 MiB; measured 7.5–9.5 MiB here, nearly all of it the kernels' auto-tuned loopback buffers).
 * Then the caller resumes and receives every byte, in order.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type Koa from 'koa';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  allReleased,
  chatBody,
  chunk,
  frame,
  lastRecord,
  metricValue,
  resources,
  sseHead,
  sleep,
  startFaultUpstream,
  waitUntil,
  type FaultUpstream,
  type Script,
} from '../helpers/fault-upstream.js';
import type { ProxyState } from '../../src/http/request-context.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TOTAL = 64 * MiB;
const PROXY_BUFFER_BOUND = 128 * KiB;
const IN_FLIGHT_BOUND = 16 * MiB;

/** Upstream side of one stream: bytes handed to its socket, and whether it is blocked now. */
interface UpstreamState {
  written: number;
  frames: number;
  blocked: boolean;
  socketBuffered: () => number;
}
const FRAME = Buffer.from(frame(chunk('y'.repeat(8 * KiB))));

/** A fast upstream: 8 KiB frames up to TOTAL, written only while its socket is not full. */
function fastScript(state: UpstreamState): Script {
  return async ({ res, socket }) => {
    sseHead(res);
    state.socketBuffered = () => socket.writableLength;
    while (state.written < TOTAL && !res.destroyed) {
      if (!res.write(FRAME)) {
        state.blocked = true;
        await new Promise<void>((resolve) => {
          const go = (): void => {
            res.off('drain', go);
            res.off('close', go);
            resolve();
          };
          res.on('drain', go);
          res.on('close', go);
        });
        state.blocked = false;
      }
      state.written += FRAME.length;
      state.frames++;
    }
    res.end(frame('[DONE]'));
  };
}

/** Start a streaming request on a fresh connection; resolves with the response (not yet read). */
async function openStream(url: string): Promise<http.IncomingMessage> {
  const payload = JSON.stringify(chatBody('bp-model'));
  const req = http.request(`${url}/v1/chat/completions`, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
  });
  req.on('error', () => undefined);
  req.end(payload);
  return new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
}

describe('backpressure (integration)', () => {
  let up: FaultUpstream;
  let proxy: TestProxy;
  let callerRes: http.ServerResponse | null = null;
  const upstream: UpstreamState = { written: 0, frames: 0, blocked: false, socketBuffered: () => 0 };

  before(async () => {
    up = await startFaultUpstream(fastScript(upstream));
    const capture: Koa.Middleware<ProxyState> = async (ctx, next) => {
      if (ctx.path === '/v1/chat/completions') callerRes = ctx.res;
      await next();
    };
    proxy = await startTestProxy({
      config: {
        server: { idleTimeoutMs: 10_000, maxEventBytes: 64 * KiB },
        upstreams: { fast: { baseUrl: up.baseUrl } },
        models: [{ match: 'bp-model', upstream: 'fast' }],
      },
      ext: { middleware: [{ name: 'capture', middleware: capture, chat: true }] },
    });
  });
  after(async () => {
    await proxy.close();
    await up.close();
  });

  it('a caller that stops reading: the proxy buffers < 128 KiB, the upstream is blocked, nothing is lost', async () => {
    const res = await openStream(proxy.url);
    const socket = res.socket;
    const expected = FRAME.toString('latin1');
    let frames = 0;
    let intact = true;
    let tail = '';
    let sawDone = false;
    res.setEncoding('latin1');
    res.on('data', (text: string) => {
      tail += text;
      let at: number;
      while ((at = tail.indexOf('\n\n')) >= 0) {
        const f = tail.slice(0, at + 2);
        tail = tail.slice(at + 2);
        if (f === frame('[DONE]')) sawDone = true;
        else if (f === expected) frames++;
        else intact = false;
      }
    });
    const ended = new Promise<void>((resolve) => res.once('end', resolve));
    await waitUntil(() => socket.bytesRead >= 256 * KiB, 'the first 256 KiB', 5_000);
    res.pause(); // stops reading the socket once the small readable buffer is full

    let maxProxyBuffer = 0;
    const sampler = setInterval(() => {
      maxProxyBuffer = Math.max(maxProxyBuffer, callerRes?.writableLength ?? 0);
    }, 1);
    // Let every buffer between them fill up (the kernels grow loopback buffers for a while):
    // the upstream must come to a stop — nothing written for 500 ms — with its socket full.
    // The caller is still, too: its socket stopped reading once its small buffers were full.
    await waitUntil(
      async () => {
        const [written, read] = [upstream.written, socket.bytesRead];
        await sleep(500);
        return upstream.blocked && upstream.written === written && socket.bytesRead === read;
      },
      'the upstream (and the caller) to stop',
      10_000,
    );
    clearInterval(sampler);
    const inFlight = upstream.written - upstream.socketBuffered() - socket.bytesRead;
    assert.ok(upstream.written < TOTAL / 2, `most of the 64 MiB stays unsent (${(upstream.written / MiB).toFixed(1)} MiB sent)`);
    assert.ok(maxProxyBuffer <= PROXY_BUFFER_BOUND, `proxy buffer ${maxProxyBuffer} B ≤ ${PROXY_BUFFER_BOUND} B`);
    assert.ok(inFlight <= IN_FLIGHT_BOUND, `in flight ${(inFlight / MiB).toFixed(2)} MiB ≤ 16 MiB`);
    console.log(
      `      backpressure: proxy buffer max ${(maxProxyBuffer / KiB).toFixed(1)} KiB; upstream → caller in flight ` +
        `${(inFlight / MiB).toFixed(2)} MiB; upstream sent ${(upstream.written / MiB).toFixed(1)} of 64 MiB while the caller was paused`,
    );

    // Resume: everything arrives, in order, and the stream ends normally.
    res.resume();
    await ended;
    assert.ok(intact, 'every frame arrived intact');
    assert.equal(frames, upstream.frames, 'every frame arrived');
    assert.ok(sawDone);
    await allReleased(proxy, [up]);
  });

  it('a caller that stops reading for idleTimeoutMs is cut: its socket and the upstream are released, the upstream not blamed', async () => {
    const state: UpstreamState = { written: 0, frames: 0, blocked: false, socketBuffered: () => 0 };
    const up2 = await startFaultUpstream(fastScript(state));
    const proxy2 = await startTestProxy({
      config: {
        server: { idleTimeoutMs: 500 },
        upstreams: { fast: { baseUrl: up2.baseUrl } },
        models: [{ match: 'bp-model', upstream: 'fast' }],
        resilience: { breaker: { failureThreshold: 1 } },
      },
    });
    try {
      const res = await openStream(proxy2.url);
      const closed = new Promise<void>((resolve) => res.socket.once('close', () => resolve()));
      res.socket.on('error', () => undefined);
      res.on('error', () => undefined);
      res.resume(); // read (and drop) until paused below
      await waitUntil(() => res.socket.bytesRead >= 256 * KiB, 'the first 256 KiB', 5_000);
      res.pause();
      const t0 = Date.now();
      const rec = await lastRecord(proxy2, 1);
      const took = Date.now() - t0;
      assert.ok(took >= 400 && took < 3_000, `cut after ~idleTimeoutMs (${took} ms)`);
      assert.equal(rec.endReason, 'client_aborted');
      assert.match(String(rec.error), /stopped reading/);
      // The proxy reset the connection: its socket, the upstream's and the gauge are released
      // while the caller still has not read anything; once it reads again it sees the reset.
      await allReleased(proxy2, [up2]);
      res.resume();
      await closed;
      assert.equal(await metricValue(proxy2.deps.registry, 'llm_proxy_upstream_up', { upstream: 'fast' }), 1, 'the upstream’s circuit is not blamed');
    } finally {
      await proxy2.close();
      await up2.close();
    }
  });

  it('a stream ended (max duration) while its caller is not reading: the last frame waits idleTimeoutMs, then the connection is reset', async () => {
    const state: UpstreamState = { written: 0, frames: 0, blocked: false, socketBuffered: () => 0 };
    const up3 = await startFaultUpstream(fastScript(state));
    const proxy3 = await startTestProxy({
      config: {
        server: { idleTimeoutMs: 1_000, maxStreamDurationMs: 300 },
        upstreams: { fast: { baseUrl: up3.baseUrl } },
        models: [{ match: 'bp-model', upstream: 'fast' }],
      },
    });
    try {
      const res = await openStream(proxy3.url);
      res.socket.on('error', () => undefined);
      res.on('error', () => undefined);
      res.resume();
      await waitUntil(() => res.socket.bytesRead >= 256 * KiB, 'the first 256 KiB', 5_000);
      res.pause();
      const rec = await lastRecord(proxy3, 1);
      assert.match(String(rec.error), /maximum duration/);
      assert.equal((await resources(proxy3)).proxySockets, 1, 'the last frame waits for the caller');
      await allReleased(proxy3, [up3], 3_000);
    } finally {
      await proxy3.close();
      await up3.close();
    }
  });
});
