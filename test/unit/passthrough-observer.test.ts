// The pass-through observer's readers without sockets (src/relay/passthrough-observer.ts,
// src/relay/finish-reason.ts): the byte scans give what a parse would, or step aside; the usage the
// caller did not ask for is gone from what the re-framing stage (the pass-through pipeline,
// src/relay/pipeline.ts) writes, yet counted.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { ManualClock } from '../../src/clock.js';
import { EventBus } from '../../src/events/bus.js';
import { CallerStream } from '../../src/relay/caller.js';
import { Exchange } from '../../src/relay/exchange.js';
import { finishReasonFromBody, responsesFinishReason, scanFinishReason } from '../../src/relay/finish-reason.js';
import { PassthroughStreamObserver, scanCompletionTextBytes } from '../../src/relay/passthrough-observer.js';
import { PassthroughPipeline } from '../../src/relay/pipeline.js';
import type { RelayOptions } from '../../src/relay/relay-types.js';
import { Cancel } from '../../src/util/cancel.js';
import { createTokenEstimator } from '../../src/usage/estimate.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { FakeResponse } from '../helpers/fake-response.js';

const estimator = createTokenEstimator();
const scanAll = (s: string) => scanCompletionTextBytes(Buffer.from(s), 0, Buffer.byteLength(s));
const textChunk = (text: string, tail = '}') =>
  `{"id":"cmpl-1","object":"text_completion","created":1,"choices":[{"text":${JSON.stringify(text)},"index":0,"logprobs":null,"finish_reason":null}],"model":"m"${tail}`;

describe('pass-through observer', () => {
  describe('scanFinishReason (a non-streaming chat answer, no parse)', () => {
    it('reads choices[0] whatever the spacing, and never a "finish_reason" inside a string', () => {
      const answer = (finish: string | null) => ({
        id: 'c', choices: [{ index: 0, message: { role: 'assistant', content: 'say "finish_reason": "no"' }, finish_reason: finish }, { index: 1, message: { content: '' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 2 },
      });
      assert.equal(scanFinishReason(Buffer.from(JSON.stringify(answer('length')))), 'length');
      assert.equal(scanFinishReason(Buffer.from(JSON.stringify(answer('length'), null, 2))), 'length');
      assert.equal(scanFinishReason(Buffer.from(JSON.stringify(answer(null)))), null);
      assert.equal(scanFinishReason(Buffer.from('{"error":{"message":"x"}}')), null);
      for (const body of [answer('tool_calls'), answer(null)]) {
        assert.equal(scanFinishReason(Buffer.from(JSON.stringify(body))), finishReasonFromBody(body), 'the same as the parse');
      }
    });

    it('maps the Responses status to chat words', () => {
      assert.equal(responsesFinishReason({ status: 'completed', output: [{ type: 'message' }] }), 'stop');
      assert.equal(responsesFinishReason({ status: 'completed', output: [{ type: 'function_call' }] }), 'tool_calls');
      assert.equal(responsesFinishReason({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }), 'length');
      assert.equal(responsesFinishReason({ status: 'incomplete', incomplete_details: { reason: 'content_filter' } }), 'content_filter');
      assert.equal(responsesFinishReason({ status: 'failed' }), 'error');
      assert.equal(responsesFinishReason({ status: 'in_progress' }), null);
      assert.equal(finishReasonFromBody({ object: 'response', status: 'completed', output: [] }), 'stop');
    });
  });

  describe('scanCompletionTextBytes', () => {
    it('reads the text of a text chunk, escapes and UTF-8 included, with or without ,"usage":null', () => {
      for (const t of ['Hello', ' "quoted" \\ back', 'héllo ✓ 😀', '']) {
        assert.equal(scanAll(textChunk(t)), t);
        assert.equal(scanAll(textChunk(t, ',"usage":null}')), t);
      }
      // The simulator's layout (src/sim/completions.ts), as the integration tests stream it.
      assert.equal(scanAll(textChunk('Hi', ',"system_fingerprint":"fp_sim","usage":null}')), 'Hi');
    });

    it('steps aside (undefined) for what the parse must read', () => {
      assert.equal(scanAll(textChunk('x').replace('"finish_reason":null', '"finish_reason":"stop"')), undefined);
      assert.equal(scanAll(textChunk('x', ',"usage":{"prompt_tokens":1,"completion_tokens":1}}')), undefined);
      assert.equal(scanAll('{"choices":[],"usage":{"prompt_tokens":1}}'), undefined);
      assert.equal(scanAll(textChunk('x', ',"error":{"message":"boom"}}')), undefined);
      assert.equal(scanAll('{"choices":[{"index":0,"text":"x"}]}'), undefined);
    });

    it('reads only the event it is given, not the next one in the same read', () => {
      const first = '{"choices":[],"usage":null}';
      const read = Buffer.from(first + '\n\n' + textChunk('next'));
      assert.equal(scanCompletionTextBytes(read, 0, first.length), undefined);
    });
  });

  describe('with the re-framing stage', () => {
    /** The frames as one upstream read through the pass-through pipeline, its head committed first (src/relay/passthrough.ts). */
    async function run(frames: string, hideUsage: boolean) {
      const ex = new Exchange('req_1', 'POST', '/v1/completions', new ManualClock(), new EventBus());
      const tracker = new UsageTracker(estimator, 'gpt-3.5-turbo-instruct', { prompt: 'x' });
      const res = new FakeResponse();
      const opts: RelayOptions = { keepAliveMs: 0, idleTimeoutMs: 0, maxStreamDurationMs: 0, maxEventBytes: 1 << 20, secrets: [], now: () => 0 };
      const caller = new CallerStream(res.asServerResponse(), new Cancel(), opts, ex, {});
      caller.openStream();
      caller.commitWith(200, {});
      const pipeline = new PassthroughPipeline(caller, { observer: new PassthroughStreamObserver(ex, tracker, hideUsage) }, 'up', opts.maxEventBytes);
      const result = await pipeline.run({ status: 200, ok: true, headers: new Headers({ 'content-type': 'text/event-stream' }), body: Readable.from([Buffer.from(frames)]) });
      assert.deepEqual(result, { kind: 'done' });
      return { text: res.text(), ex, usage: tracker.final() };
    }
    const usageChunk = '{"id":"cmpl-1","object":"text_completion","created":1,"choices":[],"model":"m","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}';
    const finish = textChunk('').replace('"finish_reason":null', '"finish_reason":"length"');
    const wire = (tail: string) =>
      [textChunk('Hel', tail), textChunk('lo', tail), finish.slice(0, -1) + tail, usageChunk].map((p) => `data: ${p}\n\n`).join('') + 'data: [DONE]\n\n';

    it('hidden usage: ,"usage":null cut from every chunk and the usage chunk dropped, the upstream count kept', async () => {
      const r = await run(wire(',"usage":null}'), true);
      assert.equal(r.text, [textChunk('Hel'), textChunk('lo'), finish].map((p) => `data: ${p}\n\n`).join('') + 'data: [DONE]\n\n');
      assert.deepEqual([r.usage.completionTokens, r.usage.source], [2, 'upstream']);
      assert.equal(r.ex.finishReason, 'length');
      assert.equal(r.ex.chunks, 3);
    });

    it('caller asked: every byte as it came', async () => {
      const w = wire(',"usage":null}');
      const r = await run(w, false);
      assert.equal(r.text, w);
      assert.equal(r.usage.source, 'upstream');
    });

    it('no usage from the upstream: the text streamed is estimated', async () => {
      const r = await run([textChunk('Hello there'), textChunk(', friend'), finish].map((p) => `data: ${p}\n\n`).join(''), true);
      assert.equal(r.usage.source, 'estimated');
      assert.equal(r.usage.completionTokens, estimator.countText('Hello there, friend', 'gpt-3.5-turbo-instruct'));
    });
  });
});
