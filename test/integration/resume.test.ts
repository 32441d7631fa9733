/**
 * Resumable streams through the whole proxy, memory replay store (README "Resumable streams";
 * src/http/resume-start.ts, src/relay/replay-tee.ts, src/relay/caller.ts, src/http/stream-routes.ts,
 * src/relay/replay-reader.ts): a raw node:http caller that goes away after k frames and comes back
 * with `Last-Event-ID` or `?after=`, byte for byte; the generation outliving its caller, counted
 * once; concurrent readers; 404s for unknown, expired and other keys' streams, read tokens;
 * overflow; detached starts and the concurrency slot; bad input; streams that did not ask; the
 * OpenAI SDK as a client; the instance bound on live streams.
 *
 * The simulator is deterministic for a request with a `seed` (src/sim/choice.ts): two runs differ
 * only in their stream id, completion id and `created` second (`normalized`). Waits are bounded:
 * the proxy's `request.end` events, or a poll with a deadline.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import nock from 'nock';
import OpenAI from 'openai';
import type { RequestRecord } from '../../src/events/types.js';
import { simText } from '../../src/sim/text.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  contentOf,
  dataOf,
  framesOf,
  idOf,
  metricSum,
  normalized,
  pollUntil,
  readSse,
  scrapeMetrics,
  type SseRead,
} from '../helpers/resume-client.js';
import { readChatStream } from '../helpers/sdk.js';
import { rawRequest, within } from '../helpers/upstream.js';

// ---------------------------------------------------------------------------------------------
// helpers

const TOKEN_DELAY_MS = 5;
const CHAT = '/v1/chat/completions';
const messages = [{ role: 'user' as const, content: 'Tell me about resumable streams.' }];
const RESUME = { 'x-stream-resume': 'true' };

/** The simulator paced at `tokenDelayMs` per token, plus `extra` (merged over the test proxy's base). */
function simConfig(extra: Record<string, unknown> = {}, tokenDelayMs = TOKEN_DELAY_MS): Record<string, unknown> {
  return { upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs, defaultMaxTokens: 8 } } }, ...extra };
}

/** A streamed chat body of `n` tokens with a fixed seed: role chunk, n content chunks, finish chunk, [DONE]. */
function chatBody(n: number, seed: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'sim-1', messages, stream: true, max_tokens: n, seed, ...extra };
}
/** Frames of {@link chatBody}'s stream. */
const framesFor = (n: number): number => n + 3;

/** Collects the proxy's request records from its bus; waits for one, bounded. */
class Records {
  readonly all: RequestRecord[] = [];
  private wakers = new Set<() => void>();
  private readonly off: () => void;

  constructor(proxy: TestProxy) {
    this.off = proxy.deps.bus.on('request.end', (r) => {
      this.all.push(r);
      for (const w of [...this.wakers]) w();
    });
  }

  /** The record of request `id` if it has ended. */
  of(id: string | undefined): RequestRecord | undefined {
    return this.all.find((r) => r.id === id);
  }

  /** The first record matching `pred`, waiting up to `ms` for it. */
  async waitFor(pred: (r: RequestRecord) => boolean, what: string, ms = 5000): Promise<RequestRecord> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.all.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for the record of ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        const self = this;
        function done(): void {
          clearTimeout(t);
          self.wakers.delete(done);
          resolve();
        }
        this.wakers.add(done);
      });
    }
  }

  /** The record of request `id`, waiting for it. */
  ended(id: string | undefined, ms = 5000): Promise<RequestRecord> {
    assert.ok(id, 'a request id');
    return this.waitFor((r) => r.id === id, `request ${id}`, ms);
  }

  close(): void {
    this.off();
  }
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** The same bytes, with a readable diff when not. */
function assertSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  assert.equal(actual.toString('utf8'), expected.toString('utf8'), what);
  assert.fail(`${what}: the bytes differ (their UTF-8 decodings do not)`);
}

/** A whole resumable stream as written: frame i (1-based) is `id: <id>:<i>` + one data line, the last `[DONE]`. */
function assertWholeStream(bytes: Buffer, id: string, frames: number): void {
  const fs = framesOf(bytes);
  assert.equal(fs.length, frames, `${frames} frames, got ${fs.length}: ${JSON.stringify(fs.slice(-2))}`);
  fs.forEach((f, i) => {
    const lines = f.split('\n');
    assert.equal(lines.length, 2, `frame ${i + 1} is an id line and a data line: ${JSON.stringify(f)}`);
    assert.equal(lines[0], `id: ${id}:${i + 1}`);
    assert.match(lines[1]!, /^data: /);
  });
  assert.equal(dataOf(fs.at(-1)!), '[DONE]');
  assert.ok(bytes.toString('utf8').endsWith('\n\n'));
}

/** The JSON error body of a response. */
function errorOf(r: { bytes: Buffer } | { body: string }): { message: string; type: string; param: string | null; code: string | null } {
  const text = 'bytes' in r ? r.bytes.toString('utf8') : r.body;
  return (JSON.parse(text) as { error: { message: string; type: string; param: string | null; code: string | null } }).error;
}

/** A well-formed stream id nobody started (the last character carries 2 bits: A, Q, g or w). */
const unknownStreamId = (): string => `s_${randomBytes(16).toString('base64url')}`;

const secret = (prefix: string): string => `${prefix}-${randomBytes(16).toString('hex')}`;
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

// ---------------------------------------------------------------------------------------------

describe('resumable streams (memory store)', function () {
  this.timeout(30_000);

  before(() => {
    // Real sockets: no interception left over from a nock test file.
    if (nock.isActive()) nock.restore();
  });

  describe('one proxy, keys off', () => {
    let proxy: TestProxy;
    let records: Records;
    let chatUrl: string;
    const streamUrl = (id: string, query = ''): string => `${proxy.baseURL}/streams/${id}${query}`;

    before(async () => {
      proxy = await startTestProxy({ config: simConfig() });
      records = new Records(proxy);
      chatUrl = `${proxy.url}${CHAT}`;
    });
    after(async () => {
      records.close();
      await proxy.close();
    });

    /** Start a resumable stream and go away after `k` frames; says whether the generation was still on at the cut. */
    async function startAndCut(body: Record<string, unknown>, k: number): Promise<{ read: SseRead; id: string; requestId: string; liveAtCut: boolean }> {
      let requestId: string | undefined;
      let liveAtCut: boolean | undefined;
      const read = await readSse(chatUrl, {
        body,
        headers: RESUME,
        stopAfterFrames: k,
        onHead: (h) => {
          requestId = header(h, 'x-request-id');
        },
        onCut: () => {
          liveAtCut = records.of(requestId) === undefined;
        },
      });
      assert.equal(read.status, 200);
      assert.equal(read.cut, true, `the caller went away after ${k} frames`);
      assert.equal(header(read.headers, 'x-stream-resumable'), 'true');
      const id = header(read.headers, 'x-stream-id');
      assert.ok(id && /^s_[A-Za-z0-9_-]{22}$/.test(id), `x-stream-id: ${id}`);
      assert.equal(framesOf(read.bytes).length, k);
      return { read, id, requestId: requestId!, liveAtCut: liveAtCut! };
    }

    describe('1. a caller cut after k frames resumes with Last-Event-ID', () => {
      const N = 40;
      const seed = 4242;
      const FRAMES = framesFor(N);
      const body = chatBody(N, seed);
      /** A second, uncut resumable run of the same request. */
      let uncut: { bytes: Buffer; id: string };
      /** The content of a run that did not ask to be resumable. */
      let plain: string;

      before(async () => {
        const u = await readSse(chatUrl, { body, headers: RESUME });
        assert.equal(u.status, 200);
        const id = header(u.headers, 'x-stream-id')!;
        assertWholeStream(u.bytes, id, FRAMES);
        uncut = { bytes: u.bytes, id };
        const p = await readSse(chatUrl, { body });
        assert.equal(p.status, 200);
        assert.equal(header(p.headers, 'x-stream-id'), undefined);
        plain = contentOf(p.bytes);
        assert.equal(plain, simText(N, String(seed)), 'the simulator answers the seeded text');
      });

      for (const k of [0, 1, 17]) {
        it(`k = ${k}: the first ${k} frames + the resumed bytes are the whole stream, byte for byte`, async () => {
          const cut = await startAndCut(body, k);
          assert.equal(cut.liveAtCut, true, 'the caller went away while the answer was being generated');
          const resumed = await readSse(streamUrl(cut.id), { headers: { 'last-event-id': `${cut.id}:${k}` } });
          assert.equal(resumed.status, 200);
          assert.equal(header(resumed.headers, 'content-type'), 'text/event-stream; charset=utf-8');
          assert.equal(header(resumed.headers, 'x-stream-id'), cut.id);
          const rest = resumed.bytes;
          assert.equal(idOf(framesOf(rest)[0]!), `${cut.id}:${k + 1}`, 'the resumed stream starts right after Last-Event-ID');
          const whole = await readSse(streamUrl(cut.id));
          assert.equal(whole.status, 200);
          assertWholeStream(whole.bytes, cut.id, FRAMES);
          const joined = Buffer.concat([cut.read.bytes, rest]);
          assertSameBytes(joined, whole.bytes, 'cut + resumed = a read from the start');
          assert.equal(normalized(joined, cut.id), normalized(uncut.bytes, uncut.id), 'the stream is the uncut run’s, modulo the run-specific ids');
          assert.equal(contentOf(joined), plain, 'the joined content is the non-resumable run’s');
          const rec = await records.ended(cut.requestId);
          assert.equal(rec.endReason, 'done');
        });
      }

      it('after [DONE]: the whole stream was read, a resume answers 204 and a read from the start gives the same bytes', async () => {
        let requestId: string | undefined;
        const all = await readSse(chatUrl, { body, headers: RESUME, onHead: (h) => (requestId = header(h, 'x-request-id')) });
        assert.equal(all.status, 200);
        const id = header(all.headers, 'x-stream-id')!;
        assertWholeStream(all.bytes, id, FRAMES);
        assert.equal(normalized(all.bytes, id), normalized(uncut.bytes, uncut.id));
        assert.equal(contentOf(all.bytes), plain);
        await records.ended(requestId);
        const done = await readSse(streamUrl(id), { headers: { 'last-event-id': `${id}:${FRAMES}` } });
        assert.equal(done.status, 204);
        assert.equal(done.bytes.length, 0);
        const whole = await readSse(streamUrl(id));
        assert.equal(whole.status, 200);
        assertSameBytes(whole.bytes, all.bytes, 'a read from the start = the original response');
      });
    });

    describe('2. ?after=<seq>', () => {
      const N = 40;
      const seed = 77;
      const FRAMES = framesFor(N);

      it('resumes a live stream like Last-Event-ID', async () => {
        const k = 9;
        const cut = await startAndCut(chatBody(N, seed), k);
        assert.equal(cut.liveAtCut, true);
        const resumed = await readSse(streamUrl(cut.id, `?after=${k}`));
        assert.equal(resumed.status, 200);
        const whole = await readSse(streamUrl(cut.id));
        assertWholeStream(whole.bytes, cut.id, FRAMES);
        assertSameBytes(Buffer.concat([cut.read.bytes, resumed.bytes]), whole.bytes, 'cut + ?after= = a read from the start');
        assert.equal(contentOf(whole.bytes), simText(N, String(seed)));
      });

      it('gives the same bytes as Last-Event-ID at every position, 204 past the end', async () => {
        let requestId: string | undefined;
        const all = await readSse(chatUrl, { body: chatBody(N, seed), headers: RESUME, onHead: (h) => (requestId = header(h, 'x-request-id')) });
        const id = header(all.headers, 'x-stream-id')!;
        await records.ended(requestId);
        const frames = framesOf(all.bytes);
        for (const seq of [0, 1, 20, FRAMES - 1]) {
          const byQuery = await readSse(streamUrl(id, `?after=${seq}`));
          const byHeader = await readSse(streamUrl(id), { headers: { 'last-event-id': `${id}:${seq}` } });
          assert.equal(byQuery.status, 200, `after=${seq}`);
          assertSameBytes(byQuery.bytes, byHeader.bytes, `?after=${seq} = Last-Event-ID ${seq}`);
          assert.equal(byQuery.bytes.toString('utf8'), frames.slice(seq).map((f) => `${f}\n\n`).join(''), `the frames after ${seq}`);
        }
        for (const seq of [FRAMES, FRAMES + 5]) {
          const past = await readSse(streamUrl(id, `?after=${seq}`));
          assert.equal(past.status, 204, `after=${seq}`);
        }
      });
    });

    describe('4. concurrent readers', () => {
      it('two readers of one live stream both get the whole stream, the same bytes as its caller', async () => {
        const N = 60;
        const body = chatBody(N, 9);
        let requestId: string | undefined;
        let gotId!: (id: string) => void;
        const idKnown = new Promise<string>((r) => (gotId = r));
        const caller = readSse(chatUrl, {
          body,
          headers: RESUME,
          onHead: (h) => {
            requestId = header(h, 'x-request-id');
            gotId(header(h, 'x-stream-id')!);
          },
        });
        const id = await within(5000, idKnown, 'the head of the resumable stream');
        const liveAtHead: boolean[] = [];
        const reader = (): Promise<SseRead> => readSse(streamUrl(id), { onHead: () => liveAtHead.push(records.of(requestId) === undefined) });
        const [r1, r2, own] = await Promise.all([reader(), reader(), caller]);
        assert.deepEqual(liveAtHead, [true, true], 'both readers joined while the answer was being generated');
        assert.equal(r1.status, 200);
        assert.equal(r2.status, 200);
        assertWholeStream(r1.bytes, id, framesFor(N));
        assertSameBytes(r1.bytes, r2.bytes, 'reader 1 = reader 2');
        assertSameBytes(r1.bytes, own.bytes, 'reader = the caller');
        assert.equal(contentOf(r1.bytes), simText(N, '9'));
      });
    });

    describe('9. bad input', () => {
      /** A normal stream still works (and, below, nothing was stored for a refused request). */
      async function stillServes(): Promise<void> {
        const r = await readSse(chatUrl, { body: chatBody(4, 1) });
        assert.equal(r.status, 200);
        assert.equal(contentOf(r.bytes), simText(4, '1'));
      }

      it('x-stream-resume: maybe → 400 naming the header; nothing stored', async () => {
        const before = metricSum(await scrapeMetrics(proxy.url), 'llm_proxy_resumable_streams_total');
        const r = await readSse(chatUrl, { body: chatBody(4, 1), headers: { 'x-stream-resume': 'maybe' } });
        assert.equal(r.status, 400);
        const e = errorOf(r);
        assert.equal(e.param, 'x-stream-resume');
        assert.match(e.message, /x-stream-resume/);
        assert.equal(header(r.headers, 'x-stream-id'), undefined);
        assert.equal(metricSum(await scrapeMetrics(proxy.url), 'llm_proxy_resumable_streams_total'), before, 'no log was opened');
        await stillServes();
      });

      it('x-stream-resume: true with stream: false → 400 stream_required', async () => {
        const r = await readSse(chatUrl, { body: chatBody(4, 1, { stream: false }), headers: RESUME });
        assert.equal(r.status, 400);
        assert.equal(errorOf(r).code, 'stream_required');
        assert.equal(header(r.headers, 'x-stream-id'), undefined);
        await stillServes();
      });

      it('x-stream-detach: true with x-stream-resume: false → 400', async () => {
        const r = await readSse(chatUrl, { body: chatBody(4, 1), headers: { 'x-stream-detach': 'true', 'x-stream-resume': 'false' } });
        assert.equal(r.status, 400);
        assert.equal(errorOf(r).param, 'x-stream-detach');
        await stillServes();
      });

      it('Last-Event-ID of another stream, a malformed one, ?after=-1 → 400', async () => {
        const a = await readSse(chatUrl, { body: chatBody(4, 1), headers: RESUME });
        const b = await readSse(chatUrl, { body: chatBody(4, 2), headers: RESUME });
        const idA = header(a.headers, 'x-stream-id')!;
        const idB = header(b.headers, 'x-stream-id')!;
        assert.notEqual(idA, idB);
        const other = await readSse(streamUrl(idA), { headers: { 'last-event-id': `${idB}:2` } });
        assert.equal(other.status, 400);
        assert.equal(errorOf(other).param, 'last-event-id');
        await stillServes();
        for (const bad of ['garbage', `${idA}:-1`, `${idA}:x`, `${idA}`]) {
          const r = await readSse(streamUrl(idA), { headers: { 'last-event-id': bad } });
          assert.equal(r.status, 400, `Last-Event-ID ${bad}`);
        }
        for (const q of ['?after=-1', '?after=abc', '?after=1.5']) {
          const r = await readSse(streamUrl(idA, q));
          assert.equal(r.status, 400, q);
          assert.equal(errorOf(r).param, 'after');
        }
        await stillServes();
        // The streams themselves are untouched.
        const ok = await readSse(streamUrl(idA), { headers: { 'last-event-id': `${idA}:2` } });
        assert.equal(ok.status, 200);
        assert.equal(ok.bytes.toString('utf8'), framesOf(a.bytes).slice(2).map((f) => `${f}\n\n`).join(''));
      });
    });

    describe('5. not found', () => {
      it('an unknown (well-formed) id and a malformed id → 404 stream_not_found', async () => {
        for (const id of [unknownStreamId(), 'nope', 's_short', `s_${'A'.repeat(21)}B`, `${unknownStreamId()}x`]) {
          const r = await readSse(streamUrl(encodeURIComponent(id)));
          assert.equal(r.status, 404, id);
          assert.equal(errorOf(r).code, 'stream_not_found', id);
        }
        const m = await scrapeMetrics(proxy.url);
        assert.ok(metricSum(m, 'llm_proxy_stream_resumes_total', { result: 'not_found' }) >= 5);
      });
    });

    describe('10. streams that did not ask', () => {
      it('no id: lines, no x-stream-* headers, and the upstream is cut at once when the caller leaves', async () => {
        const N = 400; // 2 s of generation: a cut that did not reach the upstream would show
        const storedBefore = metricSum(await scrapeMetrics(proxy.url), 'llm_proxy_resumable_streams_total');
        let requestId: string | undefined;
        let cutAt = 0;
        const r = await readSse(chatUrl, {
          body: chatBody(N, 3),
          stopAfterFrames: 3,
          onHead: (h) => (requestId = header(h, 'x-request-id')),
          onCut: () => (cutAt = Date.now()),
        });
        assert.equal(r.status, 200);
        assert.equal(header(r.headers, 'x-stream-id'), undefined);
        assert.equal(header(r.headers, 'x-stream-resumable'), undefined);
        assert.equal(header(r.headers, 'x-stream-token'), undefined);
        for (const f of framesOf(r.bytes)) assert.match(f, /^data: [^\n]*$/, 'one data line, no id');
        const rec = await records.ended(requestId, 3000);
        assert.equal(rec.endReason, 'client_aborted');
        assert.ok(Date.now() - cutAt < 1000, `ended ${Date.now() - cutAt} ms after the cut`);
        assert.ok(rec.chunks < N / 2, `relayed ${rec.chunks} of ${N} chunks`);
        assert.ok((rec.completionTokens ?? 0) < N / 2, `billed ${rec.completionTokens} of ${N} tokens`);
        assert.equal(metricSum(await scrapeMetrics(proxy.url), 'llm_proxy_resumable_streams_total'), storedBefore, 'no log was opened');
        // A whole one: the same frames as ever (data lines only, [DONE] last).
        const whole = await readSse(chatUrl, { body: chatBody(6, 3) });
        const fs = framesOf(whole.bytes);
        assert.equal(fs.length, framesFor(6));
        for (const f of fs) assert.match(f, /^data: [^\n]*$/);
        assert.equal(fs.at(-1), 'data: [DONE]');
        assert.equal(contentOf(whole.bytes), simText(6, '3'));
      });

      it('x-stream-resume: false is the same as not asking', async () => {
        const r = await readSse(chatUrl, { body: chatBody(6, 3), headers: { 'x-stream-resume': 'false' } });
        assert.equal(r.status, 200);
        assert.equal(header(r.headers, 'x-stream-id'), undefined);
        for (const f of framesOf(r.bytes)) assert.match(f, /^data: [^\n]*$/);
      });
    });

    describe('11. the OpenAI SDK as the client', () => {
      it('reads a resumable stream unchanged (ids ignored), content complete; the stream is readable after', async () => {
        const N = 25;
        const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-anything', maxRetries: 0 });
        const { data, response } = await client.chat.completions
          .create({ model: 'sim-1', messages, stream: true, max_tokens: N, seed: 11, stream_options: { include_usage: true } }, { headers: RESUME })
          .withResponse();
        const id = response.headers.get('x-stream-id');
        assert.ok(id, 'the stream is resumable');
        const got = await readChatStream(data);
        assert.equal(got.text, simText(N, '11'));
        assert.equal(got.finish, 'length');
        assert.equal(got.usage?.completion_tokens, N);
        const whole = await readSse(streamUrl(id));
        assert.equal(whole.status, 200);
        assert.equal(contentOf(whole.bytes), got.text);
      });
    });
  });

  describe('3. the generation outlives its caller, counted once', () => {
    let proxy: TestProxy;
    let records: Records;

    before(async () => {
      proxy = await startTestProxy({ config: simConfig() });
      records = new Records(proxy);
    });
    after(async () => {
      records.close();
      await proxy.close();
    });

    it('the record says done with the whole usage, logged once; requests and tokens count once; each read counts a resume', async () => {
      const N = 40;
      let requestId: string | undefined;
      let liveAtCut: boolean | undefined;
      const cut = await readSse(`${proxy.url}${CHAT}`, {
        body: chatBody(N, 5),
        headers: RESUME,
        stopAfterFrames: 5,
        onHead: (h) => (requestId = header(h, 'x-request-id')),
        onCut: () => (liveAtCut = records.of(requestId) === undefined),
      });
      assert.equal(cut.cut, true);
      assert.equal(liveAtCut, true, 'the caller left mid-generation');
      const id = header(cut.headers, 'x-stream-id')!;
      const rec = await records.ended(requestId);
      assert.equal(rec.endReason, 'done');
      assert.equal(rec.status, 200);
      assert.equal(rec.stream, true);
      assert.equal(rec.completionTokens, N, 'the whole answer, not the 5 frames the caller read');
      assert.equal(rec.tokenSource, 'upstream');
      assert.ok((rec.promptTokens ?? 0) > 0);
      assert.equal(rec.finishReason, 'length');

      const whole = await readSse(`${proxy.baseURL}/streams/${id}`);
      assertWholeStream(whole.bytes, id, framesFor(N));
      const reads = 3;
      for (let i = 1; i < reads; i++) {
        const again = await readSse(`${proxy.baseURL}/streams/${id}`, { headers: { 'last-event-id': `${id}:${i * 10}` } });
        assert.equal(again.status, 200);
      }
      const m = await scrapeMetrics(proxy.url);
      assert.equal(metricSum(m, 'llm_proxy_requests_total', { route: CHAT }), 1, 'one chat request');
      assert.equal(metricSum(m, 'llm_proxy_requests_total', { route: '/v1/streams/:id' }), reads);
      assert.equal(metricSum(m, 'llm_proxy_tokens_total', { type: 'completion' }), N, 'completion tokens counted once');
      assert.equal(metricSum(m, 'llm_proxy_tokens_total', { type: 'prompt' }), rec.promptTokens, 'prompt tokens counted once');
      assert.equal(metricSum(m, 'llm_proxy_upstream_requests_total'), 1);
      assert.equal(metricSum(m, 'llm_proxy_client_aborts_total'), 0, 'a resumable stream whose caller left is not an abort');
      assert.equal(metricSum(m, 'llm_proxy_stream_resumes_total', { result: 'replayed' }), reads);
      assert.equal(metricSum(m, 'llm_proxy_resumable_streams_total', { result: 'stored' }), 1);
      assert.equal(metricSum(m, 'llm_proxy_replay_streams'), 0, 'no live log once it finished');
      assert.equal(metricSum(m, 'llm_proxy_replay_bytes'), whole.bytes.length, 'the retained log holds exactly its frames');

      // A fourth read: the resumes counter moves by one, the rest does not.
      await readSse(`${proxy.baseURL}/streams/${id}`);
      const m2 = await scrapeMetrics(proxy.url);
      assert.equal(metricSum(m2, 'llm_proxy_stream_resumes_total', { result: 'replayed' }), reads + 1);
      assert.equal(metricSum(m2, 'llm_proxy_requests_total', { route: CHAT }), 1);
      assert.equal(metricSum(m2, 'llm_proxy_tokens_total', { type: 'completion' }), N);

      const logged = proxy.records().filter((l) => l.msg === 'request' && l.route === CHAT);
      assert.equal(logged.length, 1, 'the chat request is logged once');
      assert.equal(logged[0]!.id, requestId);
      assert.equal(logged[0]!.endReason, 'done');
      assert.equal(logged[0]!.completionTokens, N);
      assert.equal(logged[0]!.promptTokens, rec.promptTokens);
    });

    it('while a stream generates it is one live log (llm_proxy_replay_streams)', async () => {
      let requestId: string | undefined;
      let gotHead!: () => void;
      const head = new Promise<void>((r) => (gotHead = r));
      const run = readSse(`${proxy.url}${CHAT}`, {
        body: chatBody(60, 6),
        headers: RESUME,
        onHead: (h) => {
          requestId = header(h, 'x-request-id');
          gotHead();
        },
      });
      await within(5000, head, 'the head');
      const during = await scrapeMetrics(proxy.url);
      const liveThen = records.of(requestId) === undefined;
      await run;
      await records.ended(requestId);
      assert.equal(liveThen, true, 'scraped while it generated');
      assert.equal(metricSum(during, 'llm_proxy_replay_streams'), 1);
      assert.equal(metricSum(await scrapeMetrics(proxy.url), 'llm_proxy_replay_streams'), 0);
    });
  });

  describe('with keys', () => {
    let proxy: TestProxy;
    let records: Records;
    let chatUrl: string;
    const KA = secret('sk-a');
    const KB = secret('sk-b');
    const KC = secret('sk-c'); // maxConcurrent 1: detached starts
    const KR = secret('sk-r'); // resumable by default
    const streamUrl = (id: string, query = ''): string => `${proxy.baseURL}/streams/${id}${query}`;

    before(async () => {
      proxy = await startTestProxy({
        config: simConfig({
          keys: [
            { name: 'a', key: KA },
            { name: 'b', key: KB },
            { name: 'c', key: KC, limits: { maxConcurrent: 1 } },
            { name: 'r', key: KR, resumable: true },
          ],
        }),
      });
      records = new Records(proxy);
      chatUrl = `${proxy.url}${CHAT}`;
    });
    after(async () => {
      records.close();
      await proxy.close();
    });

    describe('6. who may read', () => {
      let id: string;
      let token: string;
      let original: Buffer;

      before(async () => {
        const r = await readSse(chatUrl, { body: chatBody(10, 21), headers: { ...RESUME, ...bearer(KA) } });
        assert.equal(r.status, 200);
        id = header(r.headers, 'x-stream-id')!;
        token = header(r.headers, 'x-stream-token')!;
        assert.ok(id);
        assert.ok(token && token.length >= 20, `x-stream-token: ${token}`);
        original = r.bytes;
      });

      it('its own key reads it', async () => {
        const r = await readSse(streamUrl(id), { headers: bearer(KA) });
        assert.equal(r.status, 200);
        assertSameBytes(r.bytes, original, 'the read');
      });

      it('another key gets 404, the same answer as for an unknown id', async () => {
        const r = await readSse(streamUrl(id), { headers: bearer(KB) });
        assert.equal(r.status, 404);
        const unknown = await readSse(streamUrl(unknownStreamId()), { headers: bearer(KB) });
        assert.equal(unknown.status, 404);
        assert.deepEqual(errorOf(r), errorOf(unknown));
      });

      it('no key → 401', async () => {
        const r = await readSse(streamUrl(id));
        assert.equal(r.status, 401);
        const resumed = await readSse(streamUrl(id), { headers: { 'last-event-id': `${id}:3` } });
        assert.equal(resumed.status, 401);
      });

      it('?token=<x-stream-token> without a key → 200, the same bytes; it resumes too', async () => {
        const r = await readSse(streamUrl(id, `?token=${encodeURIComponent(token)}`));
        assert.equal(r.status, 200);
        assertSameBytes(r.bytes, original, 'the read with the token');
        const resumed = await readSse(streamUrl(id, `?token=${encodeURIComponent(token)}&after=4`));
        assert.equal(resumed.status, 200);
        assert.equal(resumed.bytes.toString('utf8'), framesOf(original).slice(4).map((f) => `${f}\n\n`).join(''));
      });

      it('a wrong token → 404; a token opens its own stream only', async () => {
        const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
        for (const t of [flipped, 'x', secret('tok')]) {
          const r = await readSse(streamUrl(id, `?token=${encodeURIComponent(t)}`));
          assert.equal(r.status, 404, `token ${t}`);
        }
        const other = await readSse(chatUrl, { body: chatBody(3, 22), headers: { ...RESUME, ...bearer(KA) } });
        const otherId = header(other.headers, 'x-stream-id')!;
        const otherToken = header(other.headers, 'x-stream-token')!;
        assert.notEqual(otherToken, token);
        const cross = await readSse(streamUrl(otherId, `?token=${encodeURIComponent(token)}`));
        assert.equal(cross.status, 404, "stream A's token on stream B");
        const own = await readSse(streamUrl(otherId, `?token=${encodeURIComponent(otherToken)}`));
        assert.equal(own.status, 200);
      });

      it('a key with resumable: true: its streams are resumable unless x-stream-resume: false; its non-streams are untouched', async () => {
        const r = await readSse(chatUrl, { body: chatBody(5, 23), headers: bearer(KR) });
        assert.equal(r.status, 200);
        const rid = header(r.headers, 'x-stream-id');
        assert.ok(rid, 'resumable without asking');
        assertWholeStream(r.bytes, rid, framesFor(5));
        const off = await readSse(chatUrl, { body: chatBody(5, 23), headers: { ...bearer(KR), 'x-stream-resume': 'false' } });
        assert.equal(off.status, 200);
        assert.equal(header(off.headers, 'x-stream-id'), undefined);
        for (const f of framesOf(off.bytes)) assert.match(f, /^data: [^\n]*$/);
        const json = await rawRequest(chatUrl, { body: chatBody(5, 23, { stream: false }), headers: bearer(KR) });
        assert.equal(json.status, 200);
        assert.equal(json.headers['x-stream-id'], undefined);
      });
    });

    describe('8. detached start', () => {
      it('202 with id and url; the url gives the whole stream; the slot is held while it generates, not by readers', async () => {
        const N = 60; // 300 ms of generation
        const start = await rawRequest(chatUrl, { body: chatBody(N, 31), headers: { ...bearer(KC), 'x-stream-detach': 'true' } });
        assert.equal(start.status, 202, start.body);
        const requestId = start.headers['x-request-id'] as string;
        const info = start.json<{ id: string; url: string; object: string; status: string; read_token?: string }>();
        assert.match(info.id, /^s_[A-Za-z0-9_-]{22}$/);
        assert.equal(info.url, `/v1/streams/${info.id}`);
        assert.equal(start.headers['x-stream-id'], info.id);
        assert.equal(info.status, 'in_progress');
        assert.equal(info.read_token, start.headers['x-stream-token']);

        // While it generates, the key's one slot is taken; a reader needs none.
        const second = await rawRequest(chatUrl, { body: chatBody(2, 1, { stream: false }), headers: bearer(KC) });
        assert.equal(records.of(requestId), undefined, 'the detached stream was still generating');
        assert.equal(second.status, 429, second.body);
        let liveAtReaderHead: boolean | undefined;
        const read = await readSse(`${proxy.url}${info.url}`, { headers: bearer(KC), onHead: () => (liveAtReaderHead = records.of(requestId) === undefined) });
        assert.equal(read.status, 200, 'a reader is admitted while the slot is taken');
        assert.equal(liveAtReaderHead, true, 'the reader joined while the stream was generating');
        assertWholeStream(read.bytes, info.id, framesFor(N));
        assert.equal(contentOf(read.bytes), simText(N, '31'));
        const rec = await records.ended(requestId);
        assert.equal(rec.endReason, 'done');
        assert.equal(rec.completionTokens, N);

        // Finished: the slot is back, and readers of the finished stream do not take it.
        const readers: Array<Promise<SseRead>> = [];
        let heads = 0;
        let headsIn!: () => void;
        const allHeads = new Promise<void>((r) => (headsIn = r));
        for (let i = 0; i < 2; i++) {
          readers.push(
            readSse(`${proxy.url}${info.url}`, {
              headers: bearer(KC),
              onHead: () => {
                if (++heads === 2) headsIn();
              },
            }),
          );
        }
        await within(5000, allHeads, 'two readers of the finished stream');
        const third = await rawRequest(chatUrl, { body: chatBody(2, 1, { stream: false }), headers: bearer(KC) });
        assert.equal(third.status, 200, third.body);
        for (const r of await Promise.all(readers)) assertSameBytes(r.bytes, read.bytes, 'a reader of the finished stream');

        // The same for the next detached stream: the slot is given back each time.
        const again = await rawRequest(chatUrl, { body: chatBody(20, 32), headers: { ...bearer(KC), 'x-stream-detach': 'true' } });
        assert.equal(again.status, 202, again.body);
        await records.ended(again.headers['x-request-id'] as string);
        const fourth = await rawRequest(chatUrl, { body: chatBody(2, 1, { stream: false }), headers: bearer(KC) });
        assert.equal(fourth.status, 200, fourth.body);
      });

      it('a detached start needs stream: true', async () => {
        const r = await rawRequest(chatUrl, { body: chatBody(2, 1, { stream: false }), headers: { ...bearer(KA), 'x-stream-detach': 'true' } });
        assert.equal(r.status, 400);
        assert.equal(errorOf(r).code, 'stream_required');
      });
    });

    describe('9. bad input leaves no slot taken', () => {
      it('after each refused request the one-slot key is served', async () => {
        const serve = async (): Promise<void> => {
          const r = await readSse(chatUrl, { body: chatBody(3, 1), headers: bearer(KC) });
          assert.equal(r.status, 200, r.bytes.toString('utf8'));
        };
        const bad: Array<Record<string, string>> = [
          { 'x-stream-resume': 'maybe' },
          { 'x-stream-detach': 'yes' },
          { 'x-stream-detach': 'true', 'x-stream-resume': 'false' },
        ];
        for (const h of bad) {
          const r = await readSse(chatUrl, { body: chatBody(3, 1), headers: { ...bearer(KC), ...h } });
          assert.equal(r.status, 400, JSON.stringify(h));
          await serve();
        }
        const nonStream = await readSse(chatUrl, { body: chatBody(3, 1, { stream: false }), headers: { ...bearer(KC), ...RESUME } });
        assert.equal(nonStream.status, 400);
        assert.equal(errorOf(nonStream).code, 'stream_required');
        await serve();
      });
    });
  });

  describe('5. expiry', () => {
    let proxy: TestProxy;
    const RETENTION_MS = 500;

    before(async () => {
      proxy = await startTestProxy({ config: simConfig({ resumable: { retentionMs: RETENTION_MS } }) });
    });
    after(() => proxy.close());

    it('a finished stream is readable, then 404 once its retention is over', async () => {
      const r = await readSse(`${proxy.url}${CHAT}`, { body: chatBody(5, 41), headers: RESUME });
      const finishedAt = Date.now();
      const id = header(r.headers, 'x-stream-id')!;
      const first = await readSse(`${proxy.baseURL}/streams/${id}`);
      assert.equal(first.status, 200, `read ${Date.now() - finishedAt} ms after it finished`);
      assertSameBytes(first.bytes, r.bytes, 'the read before expiry');
      const goneAt = await pollUntil(5000, `stream ${id} to expire`, async () => {
        const g = await readSse(`${proxy.baseURL}/streams/${id}`);
        if (g.status === 404) {
          assert.equal(errorOf(g).code, 'stream_not_found');
          return Date.now();
        }
        assert.equal(g.status, 200);
        return undefined;
      });
      assert.ok(goneAt - finishedAt >= RETENTION_MS - 50, `expired ${goneAt - finishedAt} ms after it finished (retention ${RETENTION_MS} ms)`);
      assert.equal(metricSum(await scrapeMetrics(proxy.url), 'llm_proxy_replay_bytes'), 0, 'its memory is given back');
    });
  });

  describe('7. over resumable.maxStreamBytes', () => {
    let proxy: TestProxy;
    let records: Records;
    const MAX_BYTES = 1500; // ~4 frames

    before(async () => {
      proxy = await startTestProxy({ config: simConfig({ resumable: { maxStreamBytes: MAX_BYTES } }) });
      records = new Records(proxy);
    });
    after(async () => {
      records.close();
      await proxy.close();
    });

    it('the caller gets the whole answer and one comment; a reader gets the stored frames and stream_not_resumable', async () => {
      const N = 20;
      let requestId: string | undefined;
      const live = await readSse(`${proxy.url}${CHAT}`, { body: chatBody(N, 51), headers: RESUME, onHead: (h) => (requestId = header(h, 'x-request-id')) });
      assert.equal(live.status, 200);
      const id = header(live.headers, 'x-stream-id')!;
      const frames = framesOf(live.bytes);
      const comments = frames.filter((f) => f.startsWith(':'));
      assert.equal(comments.length, 1, `one comment frame: ${JSON.stringify(comments)}`);
      assert.match(comments[0]!, /^: stream-resume: /);
      const at = frames.indexOf(comments[0]!);
      assert.ok(at > 0 && at < frames.length - 1, `the comment comes mid-stream (frame ${at} of ${frames.length})`);
      const events = frames.filter((f) => !f.startsWith(':'));
      assert.equal(events.length, framesFor(N), 'every frame reached the caller');
      events.forEach((f, i) => assert.equal(idOf(f), `${id}:${i + 1}`));
      assert.equal(dataOf(events.at(-1)!), '[DONE]');
      assert.equal(contentOf(live.bytes), simText(N, '51'));
      const stored = frames.slice(0, at);
      assert.ok(Buffer.byteLength(stored.map((f) => `${f}\n\n`).join('')) <= MAX_BYTES);
      const rec = await records.ended(requestId);
      assert.equal(rec.endReason, 'done');
      assert.equal(rec.completionTokens, N);

      const read = await readSse(`${proxy.baseURL}/streams/${id}`);
      assert.equal(read.status, 200);
      const got = framesOf(read.bytes);
      assert.equal(got.length, stored.length + 1, 'the stored frames, then one error frame');
      assert.equal(got.slice(0, -1).map((f) => `${f}\n\n`).join(''), stored.map((f) => `${f}\n\n`).join(''), 'the stored frames, byte for byte');
      const err = JSON.parse(dataOf(got.at(-1)!)!) as { error: { code: string } };
      assert.equal(err.error.code, 'stream_not_resumable');
      // A reader past the stored frames gets the error frame alone.
      const past = await readSse(`${proxy.baseURL}/streams/${id}?after=${stored.length}`);
      assert.equal(past.status, 200);
      assert.equal(framesOf(past.bytes).length, 1);
      assert.match(dataOf(framesOf(past.bytes)[0]!)!, /stream_not_resumable/);

      const m = await scrapeMetrics(proxy.url);
      assert.equal(metricSum(m, 'llm_proxy_resumable_streams_total', { result: 'overflow' }), 1);
      assert.equal(metricSum(m, 'llm_proxy_resumable_streams_total', { result: 'stored' }), 1);
      assert.equal(metricSum(m, 'llm_proxy_stream_resumes_total', { result: 'overflow' }), 2);
    });
  });

  describe('12. resumable.maxStreams: 1', () => {
    let proxy: TestProxy;
    let records: Records;
    let chatUrl: string;

    before(async () => {
      proxy = await startTestProxy({ config: simConfig({ resumable: { maxStreams: 1 } }) });
      records = new Records(proxy);
      chatUrl = `${proxy.url}${CHAT}`;
    });
    after(async () => {
      records.close();
      await proxy.close();
    });

    it('a second live resumable stream goes on unresumable; a second detached start is 503 stream_capacity', async () => {
      const N = 60;
      let firstId: string | undefined;
      let gotHead!: () => void;
      const head = new Promise<void>((r) => (gotHead = r));
      const first = readSse(chatUrl, {
        body: chatBody(N, 61),
        headers: RESUME,
        onHead: (h) => {
          firstId = header(h, 'x-request-id');
          gotHead();
        },
      });
      await within(5000, head, 'the first stream’s head');
      const second = await readSse(chatUrl, { body: chatBody(8, 62), headers: RESUME });
      const detached = await rawRequest(chatUrl, { body: chatBody(8, 63), headers: { 'x-stream-detach': 'true' } });
      const liveThen = records.of(firstId) === undefined;
      assert.equal(liveThen, true, 'the first stream was generating throughout');

      assert.equal(second.status, 200);
      assert.equal(header(second.headers, 'x-stream-resumable'), 'false');
      assert.equal(header(second.headers, 'x-stream-id'), undefined);
      assert.equal(contentOf(second.bytes), simText(8, '62'), 'it still streams, whole');
      for (const f of framesOf(second.bytes)) assert.match(f, /^data: [^\n]*$/, 'no id lines');

      assert.equal(detached.status, 503, detached.body);
      assert.equal(errorOf(detached).code, 'stream_capacity');
      assert.equal(detached.headers['retry-after'], '1');

      const one = await first;
      assert.equal(header(one.headers, 'x-stream-resumable'), 'true');
      assertWholeStream(one.bytes, header(one.headers, 'x-stream-id')!, framesFor(N));
      await records.ended(firstId);
      const m = await scrapeMetrics(proxy.url);
      assert.equal(metricSum(m, 'llm_proxy_resumable_streams_total', { result: 'refused' }), 2);

      // The first finished: room again.
      const third = await readSse(chatUrl, { body: chatBody(4, 64), headers: RESUME });
      assert.equal(header(third.headers, 'x-stream-resumable'), 'true');
      assert.ok(header(third.headers, 'x-stream-id'));
    });
  });
});
