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
import { deferred, openSse, rawRequest, startUpstream, within, type TestUpstream } from '../helpers/upstream.js';

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
});
