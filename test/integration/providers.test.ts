/**
 * Anthropic and Gemini upstreams end to end: the OpenAI SDK calls the real proxy, which speaks each
 * provider's wire format to a scripted local upstream (test/helpers/upstream.ts). Streams are the
 * documented event sequences (test/helpers/provider-wires.ts), some written to the socket cut at
 * every byte position; the SDK must rebuild what the provider meant (content, reasoning, tool
 * calls, finish reason, usage), and every failure must reach it as an error, never a silent end.
 */
import assert from 'node:assert/strict';
import nock from 'nock';
import OpenAI, { APIError } from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { dataPayloads, deferred, openSse, startUpstream, streamTokens, within, type TestUpstream, type UpstreamCall } from '../helpers/upstream.js';
import {
  A,
  ANTHROPIC_CASES,
  ANTHROPIC_MODEL,
  GEMINI_CASES,
  GEMINI_MODEL_VERSION,
  GENERATED_ID,
  anthropicSse,
  answerOf,
  geminiSse,
  gresp,
  gusage,
  openaiUsage,
  readSdk,
  withGeneratedIds,
  type SdkRead,
} from '../helpers/provider-wires.js';

const CALLER_KEY = 'sk-caller-providers-0123456789';
const ANTH_KEY = 'sk-ant-upstream-secret-0123456789';
const GEM_KEY = 'AIza-gemini-upstream-secret-0123456789';
const OA_KEY = 'sk-openai-upstream-secret-0123456789';
const DEFAULT_MAX = 777;

const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'What is the weather in SF?' },
];

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather at a place.',
      parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
    },
  },
];

type Json = Record<string, unknown>;

/** The request record of `requestId`, once the proxy wrote it. */
async function recordOf(proxy: TestProxy, requestId: string | null | undefined): Promise<Json & { attempts: Array<{ upstream: string; status: number | null; error: string | null }> }> {
  assert.ok(requestId, 'the response carries x-request-id');
  const find = () => proxy.records().find((r) => r.msg === 'request' && r.id === requestId);
  const end = Date.now() + 5000;
  while (find() === undefined) {
    if (Date.now() > end) throw new Error(`no request record for ${requestId}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return find() as never;
}

/** Run `fn(i)` for i in [0, n) with at most `width` running at once. */
async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

/**
 * Every byte position of a body of `length` bytes is a cut in exactly one of {@link STRIDE}
 * requests: request `k` cuts at k, k + STRIDE, k + 2·STRIDE … (each piece its own write, a
 * millisecond apart, so each reaches the proxy as its own read). Pieces of STRIDE bytes hold a
 * part of an event, or the end of one and the start of the next, or a whole small event (a ping):
 * the cases one cut per request would give, over ~1/STRIDE of the requests.
 */
const STRIDE = 61;

function cutsFor(k: number, length: number): number[] {
  const cuts: number[] = [];
  for (let at = k; at < length; at += STRIDE) if (at > 0) cuts.push(at);
  return cuts;
}

/** Run `check(k)` for each of the STRIDE requests; the failures, by request. */
async function splitLoop(length: number, check: (k: number) => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  await pool(Math.min(STRIDE, length), 16, async (k) => {
    try {
      await check(k);
    } catch (err) {
      failures.push(`cuts at ${k} + n·${STRIDE}: ${(err as Error).message}`);
    }
  });
  return failures;
}

/** The headers a provider upstream must never see: the caller's credential, in any header. */
function assertNoCallerCredential(call: UpstreamCall): void {
  assert.equal(call.headers.authorization, undefined, 'the caller’s Authorization is not forwarded');
  for (const [name, value] of Object.entries(call.headers)) {
    assert.ok(!String(value).includes(CALLER_KEY), `header ${name} carries the caller's key`);
  }
}

/** Answer an Anthropic stream with `events`, written whole. */
async function anthropicAnswer(call: UpstreamCall, body: string): Promise<void> {
  call.sseHead({ 'request-id': 'req_anthropic_1' });
  await call.write(body);
  await call.end();
}

/** Prometheus text → value of `name{labels}` (sum over series matching every given label). */
function scrape(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[2]);
  }
  return sum;
}

describe('provider adapters through the proxy (Anthropic, Gemini)', function () {
  this.timeout(60_000);
  let anth: TestUpstream;
  let gem: TestUpstream;
  let oa: TestUpstream;
  let proxy: TestProxy;
  let client: OpenAI;

  before(async () => {
    if (nock.isActive()) nock.restore();
    [anth, gem, oa] = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
    proxy = await startTestProxy({
      config: {
        server: { firstByteTimeoutMs: 5000 },
        upstreams: {
          anth: { type: 'anthropic', baseUrl: anth.origin, apiKey: ANTH_KEY, defaultMaxTokens: DEFAULT_MAX },
          gem: { type: 'gemini', baseUrl: `${gem.origin}/v1beta`, apiKey: GEM_KEY },
          oa: { type: 'openai', baseUrl: oa.baseUrl, apiKey: OA_KEY },
        },
        models: [
          { match: 'claude-*', upstream: 'anth' },
          { match: 'gemini-*', upstream: 'gem' },
          {
            match: 'fo-model',
            deployments: [
              { upstream: 'anth', model: 'claude-fo', priority: 0 },
              { upstream: 'oa', model: 'gpt-fo', priority: 1 },
            ],
          },
        ],
        keys: [{ name: 'caller', key: CALLER_KEY }],
        resilience: { breaker: { failureThreshold: 100_000 } },
      },
    });
    client = new OpenAI({ baseURL: proxy.baseURL, apiKey: CALLER_KEY, maxRetries: 0 });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all([anth?.close(), gem?.close(), oa?.close()]);
  });

  afterEach(() => {
    anth.autoReply(null);
    gem.autoReply(null);
    oa.autoReply(null);
  });

  /** Stream `model` with the SDK and read the whole answer. */
  async function streamRead(body: Partial<OpenAI.ChatCompletionCreateParamsStreaming> & { model: string }, headers?: Record<string, string>): Promise<SdkRead & { requestId: string | null }> {
    const { data, request_id } = await client.chat.completions
      .create({ messages, ...body, stream: true }, headers ? { headers } : undefined)
      .withResponse();
    return { ...(await readSdk(data)), requestId: request_id };
  }

  // -------------------------------------------------------------------------------------------
  describe('Anthropic: streams', () => {
    for (const c of ANTHROPIC_CASES) {
      it(`${c.name}: the SDK rebuilds the answer, usage included, from one chunk id`, async () => {
        anth.autoReply((call) => anthropicAnswer(call, anthropicSse(c.events)));
        const r = await streamRead({ model: 'claude-sonnet', stream_options: { include_usage: true } });
        assert.equal(r.error, undefined);
        assert.deepEqual(answerOf(r), c.want);
        assert.equal(r.ids.size, 1);
        assert.match([...r.ids][0]!, /^chatcmpl-/);
        assert.deepEqual([...r.models], [ANTHROPIC_MODEL], 'the model Anthropic named in message_start');
        assert.equal(r.created.size, 1);
        assert.equal(r.roles, 1, 'the role on the first chunk only');
        // The usage chunk is last and has no choices; exactly one chunk has the finish reason.
        assert.deepEqual(r.chunks.at(-1)!.choices, []);
        assert.equal(r.chunks.filter((k) => k.choices[0]?.finish_reason).length, 1);
        const rec = await recordOf(proxy, r.requestId);
        assert.equal(rec.endReason, 'done');
        assert.equal(rec.upstream, 'anth');
        assert.equal(rec.promptTokens, c.want.usage!.prompt_tokens);
        assert.equal(rec.completionTokens, c.want.usage!.completion_tokens);
        assert.equal(rec.tokenSource, 'upstream');
        assert.equal(rec.finishReason, c.want.finish);
      });
    }

    it('the upstream gets the Messages API request: its key, a version, the caller’s anthropic-beta, the mapped body, never the caller’s credential', async () => {
      const calls: UpstreamCall[] = [];
      anth.autoReply((call) => {
        calls.push(call);
        return anthropicAnswer(call, anthropicSse(ANTHROPIC_CASES[0]!.events));
      });
      const r = await streamRead({ model: 'claude-sonnet', tools, temperature: 0.5, stop: ['END'] }, { 'anthropic-beta': 'prompt-caching-2024-07-31,tools-2024-04-04' });
      assert.equal(r.error, undefined);
      const call = calls[0]!;
      assert.equal(call.method, 'POST');
      assert.equal(call.url, '/v1/messages');
      assert.equal(call.headers['x-api-key'], ANTH_KEY);
      assert.equal(call.headers['anthropic-version'], '2023-06-01');
      assert.equal(call.headers['anthropic-beta'], 'prompt-caching-2024-07-31,tools-2024-04-04');
      assert.equal(call.headers['content-type'], 'application/json');
      assert.equal(call.headers.accept, 'text/event-stream');
      assertNoCallerCredential(call);
      assert.deepEqual(call.json(), {
        model: 'claude-sonnet',
        system: [{ type: 'text', text: 'Be brief.' }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the weather in SF?' }] }],
        max_tokens: DEFAULT_MAX,
        temperature: 0.5,
        stop_sequences: ['END'],
        tools: [
          {
            name: 'get_weather',
            description: 'The weather at a place.',
            input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
          },
        ],
        stream: true,
      });
    });

    it('a caller’s own anthropic-version wins over the default; the caller’s max_tokens wins over defaultMaxTokens', async () => {
      const calls: UpstreamCall[] = [];
      anth.autoReply((call) => {
        calls.push(call);
        return anthropicAnswer(call, anthropicSse(ANTHROPIC_CASES[0]!.events));
      });
      const r = await streamRead({ model: 'claude-sonnet', max_tokens: 12 }, { 'anthropic-version': '2023-01-01' });
      assert.equal(r.error, undefined);
      assert.equal(calls[0]!.headers['anthropic-version'], '2023-01-01');
      assert.equal(calls[0]!.headers['x-api-key'], ANTH_KEY);
      assert.equal(calls[0]!.json().max_tokens, 12);
    });

    for (const c of ANTHROPIC_CASES) {
      it(`${c.name}: the upstream's bytes cut at every position rebuild the same answer`, async () => {
        const wire = Buffer.from(anthropicSse(c.events));
        anth.autoReply(async (call) => {
          const k = Number(String((call.json().metadata as Json | undefined)?.user_id).slice('cuts-'.length));
          call.sseHead();
          await call.writeSplit(wire, cutsFor(k, wire.length), 1);
          await call.end();
        });
        const failures = await splitLoop(wire.length, async (k) => {
          const r = await streamRead({ model: 'claude-sonnet', user: `cuts-${k}`, stream_options: { include_usage: true } });
          assert.equal(r.error, undefined);
          assert.deepEqual(answerOf(r), c.want);
          assert.equal(r.ids.size, 1);
          assert.equal(r.roles, 1);
        });
        assert.deepEqual(failures, []);
      });
    }

    it('every sequence written one byte per write (LF and CRLF) rebuilds the same answer', async () => {
      const wires = ANTHROPIC_CASES.flatMap((c) => [
        { c, wire: Buffer.from(anthropicSse(c.events)) },
        { c, wire: Buffer.from(anthropicSse(c.events, '\r\n')) },
      ]);
      anth.autoReply(async (call) => {
        const i = Number(String((call.json().metadata as Json | undefined)?.user_id).slice('wire-'.length));
        const wire = wires[i]!.wire;
        call.sseHead();
        await call.writeSplit(wire, Array.from({ length: wire.length }, (_, k) => k), 0);
        await call.end();
      });
      await pool(wires.length, wires.length, async (i) => {
        const r = await streamRead({ model: 'claude-sonnet', user: `wire-${i}`, stream_options: { include_usage: true } });
        assert.equal(r.error, undefined, `wire ${i}`);
        assert.deepEqual(answerOf(r), wires[i]!.c.want, `wire ${i}`);
      });
    });

    it('without include_usage no usage reaches the caller, and the request record still has it (cache tokens too)', async () => {
      const c = ANTHROPIC_CASES.find((x) => x.name.startsWith('usage over'))!;
      anth.autoReply((call) => anthropicAnswer(call, anthropicSse(c.events)));
      const r = await streamRead({ model: 'claude-sonnet' });
      assert.equal(r.error, undefined);
      assert.equal(r.content, 'ok');
      assert.equal(r.finish, 'length');
      assert.equal(r.sawUsageKey, false, 'no chunk carries usage');
      assert.ok(r.chunks.every((k) => k.choices.length === 1), 'no usage chunk');
      const rec = await recordOf(proxy, r.requestId);
      assert.equal(rec.promptTokens, 2312);
      assert.equal(rec.completionTokens, 40);
      assert.equal(rec.cachedTokens, 2000);
      assert.equal(rec.tokenSource, 'upstream');
      assert.equal(rec.finishReason, 'length');
    });

    it('an error event mid-stream: the partial content, then an APIError carrying Anthropic’s type and message', async () => {
      anth.autoReply((call) =>
        anthropicAnswer(
          call,
          anthropicSse([A.start(), A.ping(), A.block(0, { type: 'text', text: '' }), A.text(0, 'Partial '), A.text(0, 'answer'), A.error('overloaded_error', 'Overloaded')]),
        ),
      );
      const r = await streamRead({ model: 'claude-sonnet', stream_options: { include_usage: true } });
      assert.equal(r.content, 'Partial answer');
      assert.ok(r.error instanceof APIError, `an APIError, got ${String(r.error)}`);
      assert.equal(r.error.code, 'overloaded_error');
      assert.match(r.error.message, /Overloaded/);
      assert.equal(r.finish, null);
      assert.equal(r.usage, null);
      const rec = await recordOf(proxy, r.requestId);
      assert.equal(rec.endReason, 'upstream_error');
      assert.equal(rec.status, 200);
    });

    it('an error event mid-stream, read raw: the last frame is the error, no [DONE]', async () => {
      anth.autoReply((call) =>
        anthropicAnswer(call, anthropicSse([A.start(), A.block(0, { type: 'text', text: '' }), A.text(0, 'Hi'), A.error('api_error', 'Internal server error')])),
      );
      const sse = await openSse(`${proxy.url}/v1/chat/completions`, {
        headers: { authorization: `Bearer ${CALLER_KEY}` },
        body: { model: 'claude-sonnet', messages, stream: true },
      });
      assert.equal(sse.status, 200);
      assert.equal((await within(5000, sse.ended, 'the end of the stream')).aborted, false);
      const payloads = dataPayloads(sse.frames);
      assert.ok(!payloads.includes('[DONE]'));
      const last = JSON.parse(payloads.at(-1)!) as { error: { code: string; type: string; message: string } };
      assert.equal(last.error.code, 'api_error');
      assert.equal(last.error.type, 'server_error');
      assert.equal(last.error.message, 'Internal server error');
    });

    it('a stream cut without message_stop ends with an upstream_truncated error frame, never a silent end', async () => {
      anth.autoReply((call) =>
        anthropicAnswer(call, anthropicSse([A.start(), A.block(0, { type: 'text', text: '' }), A.text(0, 'Half an '), A.text(0, 'answer'), A.stopBlock(0), A.messageDelta('end_turn', { output_tokens: 4 })])),
      );
      const r = await streamRead({ model: 'claude-sonnet', stream_options: { include_usage: true } });
      assert.equal(r.content, 'Half an answer');
      assert.ok(r.error instanceof APIError, `an APIError, got ${String(r.error)}`);
      assert.equal(r.error.code, 'upstream_truncated');
      assert.equal(r.finish, null, 'no finish reason for an answer that did not finish');
      const rec = await recordOf(proxy, r.requestId);
      assert.equal(rec.endReason, 'upstream_truncated');
    });

    it('a stream cut inside an event, and one reset mid-stream, end with error frames too', async () => {
      const body = anthropicSse([A.start(), A.block(0, { type: 'text', text: '' }), A.text(0, 'Cut'), A.text(0, ' here')]);
      let n = 0;
      anth.autoReply(async (call) => {
        call.sseHead();
        if (n++ === 0) {
          await call.write(body.slice(0, -10));
          await call.end();
        } else {
          await call.write(body);
          call.reset();
        }
      });
      const cut = await streamRead({ model: 'claude-sonnet' });
      assert.equal(cut.content, 'Cut');
      assert.ok(cut.error instanceof APIError);
      assert.equal(cut.error.code, 'upstream_truncated');
      const reset = await streamRead({ model: 'claude-sonnet' });
      assert.equal(reset.content, 'Cut here');
      assert.ok(reset.error instanceof APIError);
      assert.equal(reset.error.code, 'upstream_disconnected');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('Gemini: streams', () => {
    /** The model the caller names; the path must carry it. */
    const MODEL = 'gemini-2.5-flash';

    for (const c of GEMINI_CASES) {
      it(`${c.name}: the SDK rebuilds the answer, usage included`, async () => {
        gem.autoReply(async (call) => {
          call.sseHead();
          await call.write(geminiSse(c.responses));
          await call.end();
        });
        const r = await streamRead({ model: MODEL, stream_options: { include_usage: true } });
        assert.equal(r.error, undefined);
        for (const i of c.generatedIds ?? []) assert.match(r.toolCalls[i]!.id, GENERATED_ID);
        if ((c.generatedIds ?? []).length > 1) assert.notEqual(r.toolCalls[c.generatedIds![0]!]!.id, r.toolCalls[c.generatedIds![1]!]!.id);
        assert.deepEqual(answerOf(withGeneratedIds(r)), c.want);
        assert.equal(r.ids.size, 1);
        assert.equal(r.roles, 1);
        const rec = await recordOf(proxy, r.requestId);
        assert.equal(rec.endReason, 'done');
        assert.equal(rec.promptTokens, c.want.usage!.prompt_tokens);
        assert.equal(rec.completionTokens, c.want.usage!.completion_tokens);
      });
    }

    it('the upstream gets a streamGenerateContent request: x-goog-api-key, the model in the path, the mapped body, no caller credential', async () => {
      const calls: UpstreamCall[] = [];
      gem.autoReply(async (call) => {
        calls.push(call);
        call.sseHead();
        await call.write(geminiSse(GEMINI_CASES[0]!.responses));
        await call.end();
      });
      const r = await streamRead({ model: MODEL, tools, max_tokens: 50 });
      assert.equal(r.error, undefined);
      const call = calls[0]!;
      assert.equal(call.method, 'POST');
      assert.equal(call.url, `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`);
      assert.equal(call.headers['x-goog-api-key'], GEM_KEY);
      assert.ok(!call.url.includes('key='), 'the key is not in the URL');
      assertNoCallerCredential(call);
      const body = call.json();
      assert.deepEqual(body.systemInstruction, { parts: [{ text: 'Be brief.' }] });
      assert.deepEqual(body.contents, [{ role: 'user', parts: [{ text: 'What is the weather in SF?' }] }]);
      assert.deepEqual(body.tools, [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'The weather at a place.',
              parametersJsonSchema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
            },
          ],
        },
      ]);
      assert.equal((body.generationConfig as Json).maxOutputTokens, 50);
      assert.equal(body.model, undefined);
      assert.equal(body.stream, undefined);
    });

    for (const c of GEMINI_CASES) {
      it(`${c.name}: the upstream's bytes cut at every position rebuild the same answer`, async () => {
        const wire = Buffer.from(geminiSse(c.responses));
        gem.autoReply(async (call) => {
          const k = Number(call.headers['x-stainless-test-cuts']);
          call.sseHead();
          await call.writeSplit(wire, cutsFor(k, wire.length), 1);
          await call.end();
        });
        const failures = await splitLoop(wire.length, async (k) => {
          const r = await streamRead({ model: MODEL, stream_options: { include_usage: true } }, { 'x-stainless-test-cuts': String(k) });
          assert.equal(r.error, undefined);
          assert.deepEqual(answerOf(withGeneratedIds(r)), c.want);
          assert.equal(r.roles, 1);
        });
        assert.deepEqual(failures, []);
      });
    }

    it('without include_usage no usage reaches the caller; the record has it', async () => {
      const c = GEMINI_CASES.find((x) => x.name.startsWith('cumulative usage'))!;
      gem.autoReply(async (call) => {
        call.sseHead();
        await call.write(geminiSse(c.responses));
        await call.end();
      });
      const r = await streamRead({ model: MODEL });
      assert.equal(r.error, undefined);
      assert.equal(r.content, 'abc');
      assert.equal(r.sawUsageKey, false);
      const rec = await recordOf(proxy, r.requestId);
      assert.equal(rec.promptTokens, 10);
      assert.equal(rec.completionTokens, 8);
      assert.equal(rec.tokenSource, 'upstream');
    });

    it('an error payload mid-stream: the partial content, then an APIError with Gemini’s status and message', async () => {
      gem.autoReply(async (call) => {
        call.sseHead();
        await call.write(geminiSse([gresp([{ text: 'Partial ' }], gusage(3, 1)), gresp([{ text: 'answer' }]), { error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }]));
        await call.end();
      });
      const r = await streamRead({ model: MODEL, stream_options: { include_usage: true } });
      assert.equal(r.content, 'Partial answer');
      assert.ok(r.error instanceof APIError, `an APIError, got ${String(r.error)}`);
      assert.equal(r.error.code, 'unavailable');
      assert.match(r.error.message, /The model is overloaded\./);
      assert.equal(r.finish, null);
      const rec = await recordOf(proxy, r.requestId);
      assert.equal(rec.endReason, 'upstream_error');
    });

    it('a stream cut before any finishReason ends with an upstream_truncated error frame', async () => {
      gem.autoReply(async (call) => {
        call.sseHead();
        await call.write(geminiSse([gresp([{ text: 'Half ' }], gusage(3, 1)), gresp([{ text: 'done' }], gusage(3, 2))]));
        await call.end();
      });
      const r = await streamRead({ model: MODEL, stream_options: { include_usage: true } });
      assert.equal(r.content, 'Half done');
      assert.ok(r.error instanceof APIError, `an APIError, got ${String(r.error)}`);
      assert.equal(r.error.code, 'upstream_truncated');
      assert.equal(r.finish, null);
      const rec = await recordOf(proxy, r.requestId);
      assert.equal(rec.endReason, 'upstream_truncated');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('non-streaming', () => {
    it('Anthropic: a whole message becomes a chat.completion (content, reasoning, tool calls, usage, finish reason)', async () => {
      const calls: UpstreamCall[] = [];
      anth.autoReply(async (call) => {
        calls.push(call);
        const msg = {
          id: 'msg_02',
          type: 'message',
          role: 'assistant',
          model: ANTHROPIC_MODEL,
          content: [
            { type: 'thinking', thinking: 'Weather needs a tool.', signature: 'sig' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_X', name: 'get_weather', input: { location: 'SF' } },
          ],
          stop_reason: 'tool_use',
          stop_sequence: null,
          usage: { input_tokens: 30, cache_read_input_tokens: 10, cache_creation_input_tokens: 0, output_tokens: 22 },
        };
        call.head(200, { 'content-type': 'application/json', 'anthropic-ratelimit-requests-remaining': '99' });
        await call.end(JSON.stringify(msg));
      });
      const { data, response, request_id } = await client.chat.completions.create({ model: 'claude-sonnet', messages, tools }).withResponse();
      assert.equal(calls[0]!.url, '/v1/messages');
      assert.equal(calls[0]!.headers.accept, 'application/json');
      assert.equal(calls[0]!.json().stream, undefined);
      assert.equal(calls[0]!.json().max_tokens, DEFAULT_MAX);
      assertNoCallerCredential(calls[0]!);
      assert.equal(data.object, 'chat.completion');
      assert.match(data.id, /^chatcmpl-/);
      assert.equal(data.model, ANTHROPIC_MODEL);
      const choice = data.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, 'Checking.');
      assert.equal((choice.message as unknown as { reasoning_content?: string }).reasoning_content, 'Weather needs a tool.');
      assert.deepEqual(choice.message.tool_calls, [{ id: 'toolu_X', type: 'function', function: { name: 'get_weather', arguments: '{"location":"SF"}' } }]);
      assert.deepEqual(data.usage, openaiUsage(40, 22, { cached: 10 }));
      assert.equal(response.headers.get('anthropic-ratelimit-requests-remaining'), '99');
      const rec = await recordOf(proxy, request_id);
      assert.equal(rec.promptTokens, 40);
      assert.equal(rec.completionTokens, 22);
      assert.equal(rec.finishReason, 'tool_calls');
    });

    it('Gemini: a whole generateContent answer becomes a chat.completion', async () => {
      const calls: UpstreamCall[] = [];
      gem.autoReply(async (call) => {
        calls.push(call);
        call.head(200, { 'content-type': 'application/json; charset=UTF-8' });
        await call.end(
          JSON.stringify(
            gresp(
              [{ text: 'Thinking it over.', thought: true }, { text: 'Let me look.' }, { functionCall: { name: 'get_weather', args: { location: 'SF' }, id: 'fc-9' } }],
              gusage(11, 7, { thoughtsTokenCount: 5 }),
              { finishReason: 'STOP', index: 0 },
            ),
          ),
        );
      });
      const { data, request_id } = await client.chat.completions.create({ model: 'gemini-2.5-flash', messages, tools }).withResponse();
      assert.equal(calls[0]!.url, '/v1beta/models/gemini-2.5-flash:generateContent');
      assert.equal(calls[0]!.headers['x-goog-api-key'], GEM_KEY);
      assertNoCallerCredential(calls[0]!);
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.model, GEMINI_MODEL_VERSION);
      const choice = data.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, 'Let me look.');
      assert.equal((choice.message as unknown as { reasoning_content?: string }).reasoning_content, 'Thinking it over.');
      assert.deepEqual(choice.message.tool_calls, [{ id: 'fc-9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"SF"}' } }]);
      assert.deepEqual(data.usage, openaiUsage(11, 12, { reasoning: 5 }));
      const rec = await recordOf(proxy, request_id);
      assert.equal(rec.promptTokens, 11);
      assert.equal(rec.completionTokens, 12);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('errors before the first byte', () => {
    async function sdkError(p: Promise<unknown>): Promise<APIError> {
      try {
        await p;
      } catch (err) {
        assert.ok(err instanceof APIError, `an APIError, got ${String(err)}`);
        return err;
      }
      assert.fail('expected an error');
    }

    for (const stream of [true, false]) {
      it(`Anthropic 529 overloaded_error → 503 with its Retry-After kept (stream: ${stream})`, async () => {
        anth.autoReply((call) => {
          call.head(529, { 'content-type': 'application/json', 'retry-after': '7' });
          return call.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
        });
        const before = anth.calls.length;
        const err = await sdkError(client.chat.completions.create({ model: 'claude-sonnet', messages, stream }));
        assert.equal(err.status, 503);
        assert.equal(err.headers?.get('retry-after'), '7');
        assert.equal(err.code, 'overloaded_error');
        assert.equal(err.type, 'server_error');
        assert.match(err.message, /Overloaded/);
        assert.equal(anth.calls.length - before, 1, 'one attempt: a single-deployment route is not retried by the proxy');
      });
    }

    it('Anthropic 400 invalid_request_error → 400 with Anthropic’s message', async () => {
      anth.autoReply((call) => {
        call.head(400, { 'content-type': 'application/json' });
        return call.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'messages.0.content: text content blocks must be non-empty' } }));
      });
      const err = await sdkError(client.chat.completions.create({ model: 'claude-sonnet', messages, stream: true }));
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.code, 'invalid_request_error');
      assert.equal(err.message, '400 messages.0.content: text content blocks must be non-empty');
    });

    it('Gemini 429 RESOURCE_EXHAUSTED → 429 rate_limit_error', async () => {
      gem.autoReply((call) => {
        call.head(429, { 'content-type': 'application/json' });
        return call.end(JSON.stringify({ error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } }));
      });
      for (const stream of [true, false]) {
        const err = await sdkError(client.chat.completions.create({ model: 'gemini-2.5-flash', messages, stream }));
        assert.equal(err.status, 429);
        assert.equal(err.type, 'rate_limit_error');
        assert.equal(err.code, 'resource_exhausted');
        assert.match(err.message, /Resource has been exhausted/);
      }
    });

    it('an error event before any content (one deployment): the caller gets a real status, not a 200 stream', async () => {
      anth.autoReply((call) => anthropicAnswer(call, anthropicSse([A.start(), A.ping(), A.error('overloaded_error', 'Overloaded')])));
      const a = await sdkError(client.chat.completions.create({ model: 'claude-sonnet', messages, stream: true }));
      assert.equal(a.status, 503);
      assert.equal(a.code, 'overloaded_error');
      gem.autoReply(async (call) => {
        call.sseHead();
        await call.write(geminiSse([{ error: { code: 429, message: 'Quota exceeded.', status: 'RESOURCE_EXHAUSTED' } }]));
        await call.end();
      });
      const g = await sdkError(client.chat.completions.create({ model: 'gemini-2.5-flash', messages, stream: true }));
      assert.equal(g.status, 429);
      assert.equal(g.code, 'resource_exhausted');
      assert.equal(g.message, '429 Quota exceeded.');
    });

    it('a parameter the provider cannot honour → 400 naming it, and the upstream is never called', async () => {
      const before = { anth: anth.calls.length, gem: gem.calls.length };
      const a = await sdkError(client.chat.completions.create({ model: 'claude-sonnet', messages, stream: true, logprobs: true }));
      assert.equal(a.status, 400);
      assert.equal(a.param, 'logprobs');
      assert.match(a.message, /logprobs/);
      const n = await sdkError(client.chat.completions.create({ model: 'claude-sonnet', messages, n: 2 }));
      assert.equal(n.status, 400);
      assert.equal(n.param, 'n');
      const g = await sdkError(client.chat.completions.create({ model: 'gemini-2.5-flash', messages, stream: true, parallel_tool_calls: false, tools }));
      assert.equal(g.status, 400);
      assert.equal(g.param, 'parallel_tool_calls');
      assert.deepEqual({ anth: anth.calls.length, gem: gem.calls.length }, before);
      // The default values of a refused parameter ask for nothing and pass.
      anth.autoReply((call) => anthropicAnswer(call, anthropicSse(ANTHROPIC_CASES[0]!.events)));
      const ok = await streamRead({ model: 'claude-sonnet', logprobs: false, n: 1 });
      assert.equal(ok.error, undefined);
      assert.equal(ok.content, ANTHROPIC_CASES[0]!.want.content);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('failover: anthropic (priority 0) then openai (priority 1)', () => {
    async function metricsText(): Promise<string> {
      const res = await fetch(`${proxy.url}/metrics`);
      assert.equal(res.status, 200);
      return res.text();
    }

    const anthFailures: Array<[string, (call: UpstreamCall) => Promise<void>]> = [
      [
        'answers 529',
        async (call) => {
          call.head(529, { 'content-type': 'application/json', 'retry-after': '30' });
          await call.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
        },
      ],
      [
        'sends an overloaded error event before any content',
        async (call) => {
          call.sseHead();
          await call.write(anthropicSse([A.start(), A.ping(), A.error('overloaded_error', 'Overloaded')]));
          await call.end();
        },
      ],
    ];

    for (const [what, fail] of anthFailures) {
      for (const stream of [true, false]) {
        if (!stream && what.includes('event')) continue;
        it(`the Anthropic upstream ${what}: the caller gets the OpenAI upstream's answer; the record and metrics name both (stream: ${stream})`, async () => {
          const seen: UpstreamCall[] = [];
          anth.autoReply((call) => {
            seen.push(call);
            return fail(call);
          });
          oa.autoReply(async (call) => {
            seen.push(call);
            if (call.json().stream === true) return streamTokens(call, ['from ', 'openai']);
            call.head(200, { 'content-type': 'application/json' });
            await call.end(
              JSON.stringify({
                id: 'chatcmpl-oa',
                object: 'chat.completion',
                created: 1_700_000_000,
                model: 'gpt-fo',
                choices: [{ index: 0, message: { role: 'assistant', content: 'from openai', refusal: null }, finish_reason: 'stop', logprobs: null }],
                usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
              }),
            );
          });
          const m0 = await metricsText();
          let text: string;
          let requestId: string | null;
          if (stream) {
            const r = await streamRead({ model: 'fo-model' });
            assert.equal(r.error, undefined);
            text = r.content;
            requestId = r.requestId;
          } else {
            const { data, request_id } = await client.chat.completions.create({ model: 'fo-model', messages }).withResponse();
            text = data.choices[0]!.message.content ?? '';
            requestId = request_id;
          }
          assert.equal(text, 'from openai');
          assert.deepEqual(
            seen.map((c) => c.url),
            ['/v1/messages', '/v1/chat/completions'],
          );
          assert.equal(seen[0]!.json().model, 'claude-fo');
          assert.equal(seen[1]!.json().model, 'gpt-fo');
          assert.equal(seen[1]!.headers.authorization, `Bearer ${OA_KEY}`);
          assert.equal(seen[1]!.headers['x-api-key'], undefined);
          const rec = await recordOf(proxy, requestId);
          assert.equal(rec.upstream, 'oa');
          assert.equal(rec.endReason, 'done');
          assert.deepEqual(
            rec.attempts.map((a) => [a.upstream, a.status]),
            [
              ['anth', what.includes('529') ? 529 : 200],
              ['oa', 200],
            ],
          );
          const m1 = await metricsText();
          const delta = (labels: Record<string, string>) => scrape(m1, 'llm_proxy_upstream_requests_total', labels) - scrape(m0, 'llm_proxy_upstream_requests_total', labels);
          assert.equal(delta({ upstream: 'anth' }), 1);
          assert.equal(delta({ upstream: 'oa', status: '200' }), 1);
          if (what.includes('529')) assert.equal(delta({ upstream: 'anth', status: '529' }), 1);
        });
      }
    }
  });

  // -------------------------------------------------------------------------------------------
  describe('cancellation', () => {
    it('the caller aborts mid-stream: the Anthropic upstream’s socket is closed promptly', async () => {
      const got = deferred<UpstreamCall>();
      anth.autoReply(async (call) => {
        call.sseHead();
        await call.write(anthropicSse([A.start(), A.block(0, { type: 'text', text: '' }), A.text(0, 'first')]));
        got.resolve(call);
        // …and nothing more: the upstream holds the stream open.
      });
      const { data: stream, request_id } = await client.chat.completions.create({ model: 'claude-sonnet', messages, stream: true }).withResponse();
      let content = '';
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? '';
        if (content === 'first') break; // the SDK aborts the request
      }
      assert.equal(content, 'first');
      const call = await within(2000, got.promise, 'the upstream call');
      await within(2000, call.socketClosed, 'the upstream socket to close after the caller left');
      const rec = await recordOf(proxy, request_id);
      assert.equal(rec.endReason, 'client_aborted');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('pass-through endpoints', () => {
    it('POST /v1/embeddings for an Anthropic- or Gemini-routed model → 400 unsupported_endpoint, the upstream never called, the proxy still serving', async () => {
      const before = { anth: anth.calls.length, gem: gem.calls.length };
      for (const model of ['claude-sonnet', 'gemini-2.5-flash']) {
        try {
          await client.embeddings.create({ model, input: 'hello' });
          assert.fail('expected a 400');
        } catch (err) {
          assert.ok(err instanceof APIError, String(err));
          assert.equal(err.status, 400);
          assert.equal(err.code, 'unsupported_endpoint');
          assert.match(err.message, /embeddings cannot be served by upstream/);
        }
      }
      assert.deepEqual({ anth: anth.calls.length, gem: gem.calls.length }, before);
      anth.autoReply((call) => anthropicAnswer(call, anthropicSse(ANTHROPIC_CASES[0]!.events)));
      const r = await streamRead({ model: 'claude-sonnet' });
      assert.equal(r.error, undefined);
      assert.equal(r.content, ANTHROPIC_CASES[0]!.want.content);
    });

    // Pass-through keeps only the deployments that speak OpenAI's API (src/relay/passthrough.ts):
    // nothing is sent to, or recorded against, the Anthropic one.
    it('a route with an Anthropic deployment first and an OpenAI one second: pass-through goes to the OpenAI deployment', async () => {
      const before = anth.calls.length;
      oa.autoReply(async (call) => {
        call.head(200, { 'content-type': 'application/json' });
        await call.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.5, 0.5] }], model: 'gpt-fo', usage: { prompt_tokens: 1, total_tokens: 1 } }));
      });
      const r = await client.embeddings.create({ model: 'fo-model', input: 'hello', encoding_format: 'float' });
      assert.deepEqual(r.data[0]!.embedding, [0.5, 0.5]);
      assert.equal(anth.calls.length, before);
      assert.equal(oa.calls.at(-1)!.url, '/v1/embeddings');
    });
  });
});
