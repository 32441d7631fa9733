// GET /v1/models and the pass-through of the other /v1/* endpoints (issue 2): the SDK's
// embeddings, legacy completions and responses against the simulator; a nock upstream keeps its
// status and body, and an SSE body is relayed as it comes (a real upstream shows it unbuffered
// at the socket level too).
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import nock from 'nock';
import OpenAI from 'openai';
import { simText } from '../../src/sim/text.js';
import { assertScriptsUsed, interceptUpstream, releaseUpstream } from '../helpers/nock.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { dataPayloads, deferred, nextRequestRecord, openSse, rawRequest, startUpstream, within, type TestUpstream } from '../helpers/upstream.js';

const UPSTREAM = 'http://upstream.test';

describe('pass-through and models', () => {
  let proxy: TestProxy;
  let client: OpenAI;

  before(async () => {
    interceptUpstream();
    proxy = await startTestProxy({
      config: {
        upstreams: { openai: { type: 'openai', baseUrl: `${UPSTREAM}/v1`, apiKey: 'sk-upstream-secret' } },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match: 'gpt-4o', upstream: 'openai' },
          { match: 'text-*', upstream: 'openai' },
        ],
      },
    });
    client = new OpenAI({ baseURL: proxy.baseURL, apiKey: 'sk-caller-key', maxRetries: 0 });
  });
  afterEach(assertScriptsUsed);
  after(async () => {
    await proxy.close();
    releaseUpstream();
  });

  describe('GET /v1/models', () => {
    it('lists the simulator models and the exact configured names, in the OpenAI list shape', async () => {
      const res = await rawRequest(`${proxy.url}/v1/models`);
      assert.equal(res.status, 200);
      const body = res.json<{ object: string; data: Array<{ id: string; object: string; owned_by: string; created: number }> }>();
      assert.equal(body.object, 'list');
      for (const m of body.data) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        assert.equal(typeof m.owned_by, 'string');
      }
      assert.deepEqual(body.data.map((m) => m.id).sort(), ['gpt-4o', 'sim-1', 'sim-fast']);
    });

    it('the SDK lists them', async () => {
      const ids: string[] = [];
      for await (const m of client.models.list()) ids.push(m.id);
      assert.ok(ids.includes('sim-1') && ids.includes('sim-fast'), ids.join(','));
    });
  });

  describe('through the SDK to the simulator', () => {
    it('POST /v1/embeddings: base64 vectors decoded by the SDK, unit length', async () => {
      const r = await client.embeddings.create({ model: 'sim-1', input: ['hello', 'world'] });
      assert.equal(r.object, 'list');
      assert.equal(r.data.length, 2);
      for (const d of r.data) {
        assert.equal(d.embedding.length, 8);
        const norm = Math.sqrt(d.embedding.reduce((s, x) => s + x * x, 0));
        assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
      }
      assert.notDeepEqual(r.data[0]!.embedding, r.data[1]!.embedding);
      const again = await client.embeddings.create({ model: 'sim-1', input: 'hello', encoding_format: 'float' });
      assert.deepEqual(
        again.data[0]!.embedding.map((x) => x.toFixed(5)),
        r.data[0]!.embedding.map((x) => x.toFixed(5)),
      );
    });

    it('POST /v1/completions, stream: false', async () => {
      const r = await client.completions.create({ model: 'sim-1', prompt: 'Once upon a time' });
      assert.equal(r.object, 'text_completion');
      assert.equal(r.choices[0]?.text, simText(8));
      assert.equal(r.usage?.completion_tokens, 8);
    });

    it('POST /v1/completions, stream: true', async () => {
      const stream = await client.completions.create({ model: 'sim-1', prompt: 'Once upon a time', stream: true, max_tokens: 12 });
      let text = '';
      let chunks = 0;
      let finish: string | null = null;
      for await (const c of stream) {
        chunks++;
        text += c.choices[0]?.text ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(text, simText(12));
      assert.equal(chunks, 13); // one per token, then the finish chunk
      assert.equal(finish, 'length');
    });

    it('POST /v1/responses, stream: false and true', async () => {
      const r = await client.responses.create({ model: 'sim-1', input: 'hi' });
      assert.equal(r.output_text, simText(8));
      const stream = await client.responses.create({ model: 'sim-1', input: 'hi', stream: true });
      let deltas = '';
      let completed = false;
      for await (const ev of stream) {
        if (ev.type === 'response.output_text.delta') deltas += ev.delta;
        if (ev.type === 'response.completed') completed = true;
      }
      assert.equal(deltas, simText(8));
      assert.ok(completed);
    });

    it('a pass-through SSE body keeps its named events (event: lines) for a raw client', async () => {
      const sse = await openSse(`${proxy.url}/v1/responses`, { body: { model: 'sim-fast', input: 'hi', stream: true } });
      await within(5000, sse.ended, 'the end of the stream');
      assert.equal(sse.status, 200);
      assert.equal(sse.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(sse.headers['cache-control'], 'no-cache');
      assert.equal(sse.headers['x-accel-buffering'], 'no');
      assert.ok(sse.headers['x-request-id']);
      assert.match(sse.frames[0]!, /^event: response\.created\ndata: \{/);
      assert.match(sse.frames.at(-1)!, /^event: response\.completed\ndata: \{/);
    });
  });

  // The request record of every kind of answer: the upstream's usage when it reports one (a
  // completions stream asks for it as chat does, src/relay/passthrough.ts), an estimate of the
  // text streamed when it does not, and the finish reason (src/relay/finish-reason.ts).
  describe('the request record: usage and finish reason', () => {
    const record = (path: string) => nextRequestRecord(proxy, (r) => r.route === path);

    it('a completions stream, caller did not ask for usage: upstream usage counted, the caller sees no usage at all', async () => {
      const rec = record('/v1/completions');
      const stream = await client.completions.create({ model: 'sim-1', prompt: 'Once upon a time', stream: true, max_tokens: 7 });
      let text = '';
      for await (const c of stream) {
        assert.ok(!('usage' in c), `no usage on a chunk the caller gets: ${JSON.stringify(c)}`);
        assert.equal(c.choices.length, 1, 'no choices: [] usage chunk');
        text += c.choices[0]!.text;
      }
      assert.equal(text, simText(7));
      const r = await rec;
      assert.equal(r.tokenSource, 'upstream');
      assert.equal(r.completionTokens, 7);
      assert.equal(r.finishReason, 'length');
      assert.equal(r.chunks, 8);
    });

    it('a completions stream, caller asked: the usage chunk relayed, the same count recorded', async () => {
      const rec = record('/v1/completions');
      const stream = await client.completions.create({ model: 'sim-1', prompt: 'hi', stream: true, stream_options: { include_usage: true } });
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const c of stream) usage = c.usage ?? usage;
      assert.equal(usage?.completion_tokens, 8);
      const r = await rec;
      assert.equal(r.tokenSource, 'upstream');
      assert.equal(r.completionTokens, 8);
      assert.equal(r.finishReason, 'stop');
    });

    it('a completions stream to a raw client: no "usage" anywhere in what it reads', async () => {
      const rec = record('/v1/completions');
      const sse = await openSse(`${proxy.url}/v1/completions`, { body: { model: 'sim-1', prompt: 'hi', stream: true, max_tokens: 3 } });
      await within(5000, sse.ended, 'the end of the stream');
      assert.ok(!sse.text().includes('usage'), sse.text());
      assert.equal(dataPayloads(sse.frames).length, 5); // 3 tokens, the finish chunk, [DONE]
      assert.equal((await rec).completionTokens, 3);
    });

    it('completions, stream: false: finish reason from choices[0]', async () => {
      const rec = record('/v1/completions');
      await client.completions.create({ model: 'sim-1', prompt: 'hi', max_tokens: 4 });
      const r = await rec;
      assert.equal(r.finishReason, 'length');
      assert.equal(r.completionTokens, 4);
      assert.equal(r.tokenSource, 'upstream');
    });

    it('responses, stream: true and false: response.completed → stop, incomplete (max_output_tokens) → length', async () => {
      let rec = record('/v1/responses');
      for await (const _ of await client.responses.create({ model: 'sim-1', input: 'hi', stream: true })) void _;
      let r = await rec;
      assert.deepEqual([r.finishReason, r.completionTokens, r.tokenSource], ['stop', 8, 'upstream']);
      rec = record('/v1/responses');
      for await (const _ of await client.responses.create({ model: 'sim-1', input: 'hi', stream: true, max_output_tokens: 5 })) void _;
      r = await rec;
      assert.deepEqual([r.finishReason, r.completionTokens, r.tokenSource], ['length', 5, 'upstream']);
      rec = record('/v1/responses');
      await client.responses.create({ model: 'sim-1', input: 'hi' });
      assert.equal((await rec).finishReason, 'stop');
      rec = record('/v1/responses');
      await client.responses.create({ model: 'sim-1', input: 'hi', max_output_tokens: 6 });
      assert.equal((await rec).finishReason, 'length');
    });

    it('chat, stream: false: finish reason read from the answer without parsing it', async () => {
      let rec = record('/v1/chat/completions');
      await client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal((await rec).finishReason, 'stop');
      rec = record('/v1/chat/completions');
      await client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      const r = await rec;
      assert.equal(r.finishReason, 'length');
      assert.equal(r.completionTokens, 2);
    });

    it('an upstream without usage: a completions stream is estimated from choices[].text, its request asked for usage', async () => {
      let sent: Record<string, unknown> | undefined;
      const chunk = (text: string, finish: string | null) =>
        'data: ' + JSON.stringify({ id: 'cmpl-up', object: 'text_completion', created: 1, choices: [{ text, index: 0, logprobs: null, finish_reason: finish }], model: 'text-davinci' }) + '\n\n';
      const body = chunk('Hello', null) + chunk(' there, my', null) + chunk(' friend', null) + chunk('', 'stop') + 'data: [DONE]\n\n';
      nock(UPSTREAM)
        .post('/v1/completions')
        .reply(200, (_uri, b) => {
          sent = b as Record<string, unknown>;
          return body;
        }, { 'content-type': 'text/event-stream' });
      const rec = record('/v1/completions');
      const sse = await openSse(`${proxy.url}/v1/completions`, { body: { model: 'text-davinci', prompt: 'x', stream: true } });
      await within(5000, sse.ended, 'the end of the stream');
      assert.equal(sse.text(), body, 'relayed as it came');
      assert.deepEqual(sent?.stream_options, { include_usage: true });
      const r = await rec;
      assert.equal(r.tokenSource, 'estimated');
      assert.ok(r.completionTokens! > 0, String(r.completionTokens));
      assert.equal(r.finishReason, 'stop');
    });

    it('an upstream without usage: a responses stream is estimated from output_text deltas; incomplete → its reason', async () => {
      const ev = (type: string, rest: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...rest })}\n\n`;
      const body =
        ev('response.created', { response: { id: 'r1', object: 'response', status: 'in_progress', usage: null } }) +
        ev('response.output_text.delta', { item_id: 'm1', output_index: 0, content_index: 0, delta: 'Hello there,' }) +
        ev('response.output_text.delta', { item_id: 'm1', output_index: 0, content_index: 0, delta: ' "my" friend' }) +
        ev('response.incomplete', { response: { id: 'r1', object: 'response', status: 'incomplete', incomplete_details: { reason: 'content_filter' } } });
      nock(UPSTREAM).post('/v1/responses').reply(200, body, { 'content-type': 'text/event-stream' });
      const rec = record('/v1/responses');
      const sse = await openSse(`${proxy.url}/v1/responses`, { body: { model: 'text-davinci', input: 'x', stream: true } });
      await within(5000, sse.ended, 'the end of the stream');
      assert.equal(sse.text(), body);
      const r = await rec;
      assert.equal(r.tokenSource, 'estimated');
      assert.ok(r.completionTokens! >= 5, String(r.completionTokens));
      assert.equal(r.finishReason, 'content_filter');
    });
  });

  describe('to a scripted upstream', () => {
    it('keeps a 2xx status, the body byte for byte, and swaps the credentials', async () => {
      const bodyText = '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,  -0.25]}],"model":"text-embed","usage":{"prompt_tokens":1,"total_tokens":1}}';
      let seenAuth: unknown;
      let seenBody: unknown;
      nock(UPSTREAM)
        .post('/v1/embeddings')
        .reply(function (_uri, body) {
          seenAuth = this.req.headers.authorization;
          seenBody = body;
          return [202, bodyText, { 'content-type': 'application/json', 'openai-model': 'text-embed' }];
        });
      const res = await rawRequest(`${proxy.url}/v1/embeddings`, {
        body: { model: 'text-embed', input: 'x' },
        headers: { authorization: 'Bearer sk-caller-key' },
      });
      assert.equal(res.status, 202);
      assert.equal(res.body, bodyText);
      assert.equal(res.headers['openai-model'], 'text-embed');
      assert.equal(seenAuth, 'Bearer sk-upstream-secret');
      assert.deepEqual(seenBody, { model: 'text-embed', input: 'x' });
    });

    it('keeps an error status and its OpenAI body', async () => {
      const err = { error: { message: "Invalid value for 'input'.", type: 'invalid_request_error', param: 'input', code: 'invalid_value' } };
      nock(UPSTREAM).post('/v1/completions').times(2).reply(400, err);
      const res = await rawRequest(`${proxy.url}/v1/completions`, { body: { model: 'text-davinci', prompt: [] } });
      assert.equal(res.status, 400);
      assert.deepEqual(res.json(), err);
      const sdkErr = await client.completions.create({ model: 'text-davinci', prompt: 'x' }).catch((e: unknown) => e);
      assert.ok(sdkErr instanceof OpenAI.BadRequestError, String(sdkErr));
      assert.equal(sdkErr.param, 'input');
      assert.equal(sdkErr.code, 'invalid_value');
    });

    it('relays an SSE body as it comes: the first event is through while the upstream holds', async () => {
      const body = new PassThrough();
      const first = 'data: {"id":"c1","object":"text_completion","choices":[{"text":"Hel","index":0}]}\n\n';
      const rest = 'data: {"id":"c1","object":"text_completion","choices":[{"text":"lo","index":0}]}\n\ndata: [DONE]\n\n';
      nock(UPSTREAM).post('/v1/completions').reply(200, () => body, { 'content-type': 'text/event-stream' });
      body.write(first);
      const sse = await openSse(`${proxy.url}/v1/completions`, { body: { model: 'text-davinci', prompt: 'x', stream: true } });
      assert.equal(sse.status, 200);
      assert.equal(await sse.frame(0), first.trimEnd());
      assert.equal(sse.frames.length, 1);
      body.end(rest);
      await within(5000, sse.ended, 'the end of the stream');
      assert.equal(sse.text(), first + rest);
      assert.equal(sse.headers['content-length'], undefined);
    });
  });
});

describe('pass-through with a real upstream', () => {
  let upstream: TestUpstream;
  let proxy: TestProxy;

  before(async () => {
    if (nock.isActive()) nock.restore();
    upstream = await startUpstream();
    proxy = await startTestProxy({
      config: {
        upstreams: { up: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'sk-upstream-secret' } },
        models: [{ match: 'up-*', upstream: 'up' }],
      },
    });
  });
  after(async () => {
    await upstream.close();
    await proxy.close();
  });

  it('relays a streamed /v1/completions unbuffered in canonical frames, query string kept', async () => {
    const release = deferred();
    const first = 'data: {"choices":[{"text":"Hel"}]}\r\n\r\n';
    const rest = ': comment\n\ndata: {"choices":[{"text":"lo"}]}\n\ndata: [DONE]\n\n';
    const served = (async () => {
      const call = await upstream.next();
      assert.equal(call.url, '/v1/completions?api-version=2024-01-01');
      assert.equal(call.headers.authorization, 'Bearer sk-upstream-secret');
      call.sseHead();
      await call.write(first);
      await release.promise;
      await call.write(rest);
      await call.end();
    })();
    const sse = await openSse(`${proxy.url}/v1/completions?api-version=2024-01-01`, { body: { model: 'up-1', prompt: 'x', stream: true } });
    // A pass-through re-frames like the chat relay: the CRLF frame arrives with LF line ends.
    const canonical = first.replaceAll('\r\n', '\n');
    await within(5000, new Promise<void>((resolve) => {
      const check = (): void => (sse.text() === canonical ? resolve() : void sse.res.once('data', () => setImmediate(check)));
      check();
    }), 'the first event while the upstream holds');
    release.resolve();
    await within(5000, sse.ended, 'the end of the stream');
    await served;
    assert.equal(sse.text(), canonical + rest, 'comments kept, LF frames as they came');
  });

  it('a stream cut inside an event ends with an error frame and is recorded as upstream_truncated', async () => {
    const served = (async () => {
      const call = await upstream.next();
      call.sseHead();
      await call.write('data: {"choices":[{"text":"Hel"}]}\n\ndata: {"choices":[{"te');
      await call.end();
    })();
    const record = nextRequestRecord(proxy, (r) => r.route === '/v1/completions');
    const sse = await openSse(`${proxy.url}/v1/completions`, { body: { model: 'up-1', prompt: 'x', stream: true } });
    await within(5000, sse.ended, 'the end of the stream');
    await served;
    const last = sse.frames.at(-1)!;
    assert.match(last, /^data: \{"error":/);
    assert.equal((JSON.parse(last.slice('data: '.length)) as { error: { code: string } }).error.code, 'upstream_truncated');
    const rec = await record;
    assert.equal(rec.endReason, 'upstream_truncated');
    assert.match(String(rec.error), /inside an event/);
  });
});
