// POST /v1/chat/completions with stream: true (issue 2 "stream: true: an incremental relay"):
// the official SDK and a curl -N-like client against the in-process simulator, and a real local
// upstream where TCP matters (split frames, a held first token, silence before the first event).
import assert from 'node:assert/strict';
import nock from 'nock';
import OpenAI from 'openai';
import { simText, simTokens } from '../../src/sim/text.js';
import { routeUpTo, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { readChatStream } from '../helpers/sdk.js';
import {
  DONE,
  dataPayloads,
  deferred,
  finishChunk,
  frame,
  openSse,
  roleChunk,
  startUpstream,
  streamTokens,
  tokenChunk,
  within,
  type TestUpstream,
} from '../helpers/upstream.js';

const messages = [{ role: 'user' as const, content: 'Say something.' }];

describe('POST /v1/chat/completions, stream: true', () => {
  before(() => {
    // Real sockets only in this file: no interception left over from a nock test file.
    if (nock.isActive()) nock.restore();
  });

  describe('against the simulator', () => {
    let proxy: TestProxy;
    let client: OpenAI;
    const tokenDelayMs = 25;

    before(async () => {
      proxy = await startTestProxy({
        config: { upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs, defaultMaxTokens: 8 } } } },
      });
      client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
    });
    after(() => proxy.close());

    it('the SDK gets the simulator text one token per chunk, as the tokens are produced', async () => {
      const stream = await client.chat.completions.create({ model: 'sim-1', messages, stream: true });
      const deltas: string[] = [];
      const arrivals: number[] = [];
      let finish: string | null = null;
      let sawUsageKey = false;
      for await (const chunk of stream) {
        if ('usage' in chunk) sawUsageKey = true;
        const c = chunk.choices[0];
        if (c?.delta.content) {
          deltas.push(c.delta.content);
          arrivals.push(performance.now());
        }
        if (c?.finish_reason) finish = c.finish_reason;
      }
      assert.deepEqual(deltas, simTokens(8));
      assert.equal(deltas.join(''), simText(8));
      assert.equal(finish, 'stop');
      // The caller did not ask for usage: neither the usage chunk nor `"usage":null` reach it.
      assert.equal(sawUsageKey, false);
      // Token by token: the chunks arrive spread over the simulator's 7 inter-token gaps, not at once.
      assert.ok(arrivals.at(-1)! - arrivals[0]! >= 7 * tokenDelayMs * 0.6, `chunks arrived within ${arrivals.at(-1)! - arrivals[0]!} ms`);
    });

    it('honours max_tokens (finish_reason length) and relays usage when the caller asks', async () => {
      const stream = await client.chat.completions.create({
        model: 'sim-fast',
        messages,
        stream: true,
        max_tokens: 20,
        stream_options: { include_usage: true },
      });
      const { text, finish, usage } = await readChatStream(stream);
      assert.equal(text, simText(20));
      assert.equal(finish, 'length');
      assert.equal(usage?.completion_tokens, 20);
    });

    it('a line-reading client (curl -N) sees data frames one by one, then data: [DONE]', async () => {
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'sim-1', messages, stream: true } });
      const end = await within(5000, sse.ended, 'the end of the stream');
      assert.equal(end.aborted, false);
      assert.equal(sse.status, 200);
      const frames = sse.frames;
      assert.equal(frames.at(-1), 'data: [DONE]');
      const chunks = frames.slice(0, -1);
      // role chunk, 8 token chunks, finish chunk: every one a single `data: {json}` line.
      assert.equal(chunks.length, 10);
      for (const f of chunks) {
        assert.match(f, /^data: \{[^\n]*\}$/);
        const obj = JSON.parse(f.slice(6)) as { object: string };
        assert.equal(obj.object, 'chat.completion.chunk');
      }
      assert.equal(sse.text(), frames.map((f) => `${f}\n\n`).join(''), 'the body is exactly the frames, LF only');
      // Each token left the proxy as it was produced: the socket delivered them in separate reads.
      assert.ok(sse.reads >= 8, `only ${sse.reads} reads for ${frames.length} frames`);
      const text = chunks.map((f) => (JSON.parse(f.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]!.delta.content ?? '').join('');
      assert.equal(text, simText(8));
    });

    it('sends the SSE headers of DESIGN.md, a request id and server-timing', async () => {
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'sim-fast', messages, stream: true } });
      await within(5000, sse.ended, 'the end of the stream');
      const h = sse.headers;
      assert.equal(h['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(h['cache-control'], 'no-cache');
      assert.equal(h['x-accel-buffering'], 'no');
      assert.equal(h['connection'], 'keep-alive');
      assert.equal(h['content-length'], undefined);
      assert.equal(h['transfer-encoding'], 'chunked');
      assert.match(String(h['x-request-id']), /^req_[0-9a-f]{32}$/);
      assert.match(String(h['server-timing']), /(^|, )upstream;dur=\d+(\.\d+)?(,|$)/);
      assert.match(String(h['server-timing']), /(^|, )proxy;dur=\d+(\.\d+)?(,|$)/);
    });
  });

  describe('with a real upstream', () => {
    let upstream: TestUpstream;
    let proxy: TestProxy | null = null;

    beforeEach(async () => {
      upstream = await startUpstream();
    });
    afterEach(async () => {
      await upstream.close();
      await proxy?.close();
      proxy = null;
    });

    it('re-frames CRLF, CR, comments, a BOM, data: without a space and multi-line data, split at awkward bytes, into canonical frames', async () => {
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl) });
      const p1 = roleChunk();
      const p2 = tokenChunk(' café 中文 🚀');
      const p3 = tokenChunk(' naïve');
      const p4 = tokenChunk(' über');
      const multiA = '{"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-1",';
      const multiB = '"choices":[{"index":0,"delta":{"content":" 日本語"},"logprobs":null,"finish_reason":null}]}';
      const p6 = finishChunk();
      const wire =
        '\uFEFF' +
        ': a comment the caller does not need\r\n\r\n' +
        `data:${p1}\r\n\r\n` + // no space after the colon
        `data: ${p2}\r\n\r\n` +
        `id: 7\r\ndata: ${p3}\r\n\r\n` + // an id line the relay drops
        `data: ${p4}\r\r` + // CR-only line ends
        `data: ${multiA}\ndata: ${multiB}\n\n` + // one event over two data lines
        `: another comment\n` +
        `data: ${p6}\r\n\r\n` +
        'data: [DONE]\r\n\r\n';
      const buf = Buffer.from(wire, 'utf8');
      // Awkward cuts: inside the BOM, between every CR and its LF, inside "data", right after
      // "data:", and inside each multi-byte character (2, 3 and 4 bytes).
      const cuts = new Set<number>([1, 2]);
      for (let i = 0; i < buf.length; i++) {
        if (buf[i] === 0x0d && buf[i + 1] === 0x0a) cuts.add(i + 1);
        if (buf[i] >= 0xc0) cuts.add(i + 1); // after a UTF-8 lead byte: splits the character
      }
      for (const needle of ['data:', 'data: ']) {
        let at = -1;
        while ((at = buf.indexOf(needle, at + 1)) !== -1) {
          cuts.add(at + 2);
          cuts.add(at + needle.length);
        }
      }
      const served = (async () => {
        const call = await upstream.next();
        call.sseHead();
        await call.writeSplit(buf, [...cuts].sort((a, b) => a - b), 2);
        await call.end();
      })();
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await within(10_000, sse.ended, 'the end of the stream');
      await served;
      // The two-line event goes out on one data: line, its line break a space (src/sse/encoder.ts).
      const expected = frame(p1) + frame(p2) + frame(p3) + frame(p4) + `data: ${multiA} ${multiB}\n\n` + frame(p6) + DONE;
      assert.equal(sse.status, 200);
      assert.equal(sse.text(), expected);
    });

    it('asks the upstream for usage with stream_options.include_usage and strips its usage chunk again', async () => {
      proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl) });
      const usageChunk = JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'up-1', choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
      const served = (async () => {
        const call = await upstream.next();
        assert.deepEqual(call.json().stream_options, { include_usage: true });
        call.sseHead();
        await call.write(frame(tokenChunk('Hi')) + frame(usageChunk) + DONE);
        await call.end();
      })();
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
      await within(5000, sse.ended, 'the end of the stream');
      await served;
      assert.equal(sse.text(), frame(tokenChunk('Hi')) + DONE);
    });

    describe('no buffering', () => {
      it('the SDK iterator has the first token while the upstream still holds the rest', async () => {
        proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl) });
        const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
        const release = deferred();
        let upstreamHolding = false;
        const served = (async () => {
          const call = await upstream.next();
          call.sseHead();
          await call.write(frame(roleChunk()) + frame(tokenChunk('Hello')));
          upstreamHolding = true;
          await release.promise;
          upstreamHolding = false;
          await call.write(frame(tokenChunk(' world')) + frame(finishChunk()) + DONE);
          await call.end();
        })();
        const stream = await client.chat.completions.create({ model: 'up-1', messages, stream: true });
        const it = stream[Symbol.asyncIterator]();
        let first = '';
        while (first === '') {
          const r = await within(5000, it.next(), 'the first token through the SDK');
          assert.equal(r.done, false);
          first = r.value.choices[0]?.delta.content ?? '';
        }
        assert.equal(first, 'Hello');
        assert.equal(upstreamHolding, true, 'the first token must arrive while the upstream holds');
        release.resolve();
        let rest = '';
        for (;;) {
          const r = await within(5000, it.next(), 'the rest of the stream');
          if (r.done) break;
          rest += r.value.choices[0]?.delta.content ?? '';
        }
        assert.equal(rest, ' world');
        await served;
      });

      it('a raw client has the first frame while the upstream still holds', async () => {
        proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl) });
        const release = deferred();
        const served = (async () => {
          const call = await upstream.next();
          call.sseHead();
          await call.write(frame(tokenChunk('Hello')));
          await release.promise;
          await call.write(frame(finishChunk()) + DONE);
          await call.end();
        })();
        const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
        assert.equal(await sse.frame(0), `data: ${tokenChunk('Hello')}`);
        assert.equal(sse.frames.length, 1);
        release.resolve();
        await within(5000, sse.ended, 'the end of the stream');
        await served;
        assert.deepEqual(dataPayloads(sse.frames), [tokenChunk('Hello'), finishChunk(), '[DONE]']);
      });
    });

    describe('when the upstream is silent before its first event', () => {
      it('commits 200 and sends : keep-alive comments every keepAliveMs, then relays the stream', async () => {
        proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { keepAliveMs: 100 }) });
        const served = (async () => {
          const call = await upstream.next();
          call.sseHead();
          // Headers, then ~350 ms without an event: a slow reasoning model.
          await new Promise((r) => setTimeout(r, 350));
          await call.write(frame(roleChunk()) + frame(tokenChunk('Thought about it.')) + frame(finishChunk()) + DONE);
          await call.end();
        })();
        const sse = await openSse(`${proxy.url}/v1/chat/completions`, { body: { model: 'up-1', messages, stream: true } });
        assert.equal(sse.status, 200);
        const end = await within(5000, sse.ended, 'the end of the stream');
        await served;
        assert.equal(end.aborted, false);
        const firstData = sse.frames.findIndex((f) => f.startsWith('data:'));
        const before = sse.frames.slice(0, firstData);
        assert.ok(before.length >= 2, `keep-alives before the first data frame: ${JSON.stringify(before)}`);
        for (const f of before) assert.equal(f, ': keep-alive');
        assert.deepEqual(dataPayloads(sse.frames), [roleChunk(), tokenChunk('Thought about it.'), finishChunk(), '[DONE]']);
      });

      it('the SDK ignores the keep-alive comments and gets the whole answer', async () => {
        proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { keepAliveMs: 100 }) });
        const served = (async () => {
          const call = await upstream.next();
          call.sseHead();
          await new Promise((r) => setTimeout(r, 250));
          await streamTokens(call, ['Slow', ' answer']);
        })();
        const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller', maxRetries: 0 });
        const stream = await client.chat.completions.create({ model: 'up-1', messages, stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        await served;
        assert.equal(text, 'Slow answer');
      });
    });
  });
});
