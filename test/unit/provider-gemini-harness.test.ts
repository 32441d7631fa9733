// The harness the Gemini stream tests share (provider-gemini-stream and -property): a recorder for
// what a translator emits, a checker that holds the chunks to OpenAI's rules (one id / created /
// model, the role first, one finish chunk per choice and nothing after it, one usage chunk last,
// complete after everything) while reassembling the messages a client would see, and Gemini wire
// builders. Its own tests show the checker failing on chunk streams that break those rules.
import assert from 'node:assert/strict';
import type { ProxyError } from '../../src/errors.js';
import { GeminiStreamTranslator } from '../../src/providers/gemini/stream.js';
import type { AnswerContext } from '../../src/providers/types.js';
import type { TranslateOut } from '../../src/relay/stages.js';
import { createFrameSplitter } from '../../src/sse/frames.js';
import type { SseEvent } from '../../src/sse/parser.js';

export const CTX: AnswerContext = { id: 'chatcmpl-g1', created: 1_700_000_000, model: 'deployment-model' };
export const GENERATED = /^call_[0-9a-f]{24}$/;

export interface Message {
  content: string | null;
  reasoning?: string;
  tool_calls?: Array<{ id: string; name: string; arguments: string }>;
  finish: string | null;
}
export interface Run {
  choices: Record<number, Message>;
  usage: unknown;
  model: string | null;
  completed: boolean;
  error: ProxyError | null;
  payloads: number;
}

/** Collects what a translator emits, asserting the order rules as it goes. */
export class Recorder implements TranslateOut {
  readonly payloads: string[] = [];
  completes = 0;
  error: ProxyError | null = null;
  data(payload: string): void {
    assert.equal(this.completes, 0, 'data after complete');
    assert.equal(this.error, null, 'data after fail');
    this.payloads.push(payload);
  }
  complete(): void {
    assert.equal(this.error, null, 'complete after fail');
    this.completes++;
  }
  fail(error: ProxyError): void {
    assert.equal(this.completes, 0, 'fail after complete');
    assert.equal(this.error, null, 'failed twice');
    this.error = error;
  }
}

type ToolDelta = { index: number; id?: string; type?: string; function: { name?: string; arguments: string } };
type Chunk = {
  id: string;
  object: string;
  created: number;
  model: string;
  usage?: unknown;
  choices: Array<{ index: number; delta: { role?: string; content?: string; reasoning_content?: string; tool_calls?: ToolDelta[] }; finish_reason: string | null }>;
};

/** The OpenAI messages a client would put together from the chunks, checking every rule on the way. */
export function assemble(rec: Recorder): Run {
  const run: Run = { choices: {}, usage: undefined, model: null, completed: rec.completes === 1, error: rec.error, payloads: rec.payloads.length };
  assert.ok(rec.completes <= 1);
  rec.payloads.forEach((p, n) => {
    const c = JSON.parse(p) as Chunk;
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, CTX.id);
    assert.equal(c.created, CTX.created);
    run.model ??= c.model;
    assert.equal(c.model, run.model, 'one model on every chunk');
    if (c.choices.length === 0) {
      assert.equal(run.usage, undefined, 'one usage chunk');
      assert.equal(n, rec.payloads.length - 1, 'the usage chunk is last');
      run.usage = c.usage;
      return;
    }
    assert.equal(c.choices.length, 1);
    const { index, delta, finish_reason } = c.choices[0]!;
    let m = run.choices[index];
    if (m === undefined) {
      assert.equal(delta.role, 'assistant', 'the first chunk of a choice has the role');
      m = run.choices[index] = { content: null, finish: null };
    } else {
      assert.equal(delta.role, undefined, 'the role only once');
      assert.equal(m.finish, null, 'nothing after a finish chunk');
    }
    if (delta.content !== undefined) m.content = (m.content ?? '') + delta.content;
    if (delta.reasoning_content !== undefined) m.reasoning = (m.reasoning ?? '') + delta.reasoning_content;
    for (const t of delta.tool_calls ?? []) {
      const calls = (m.tool_calls ??= []);
      if (t.index === calls.length) {
        assert.equal(t.type, 'function');
        calls.push({ id: t.id!, name: t.function.name!, arguments: t.function.arguments });
      } else calls[t.index]!.arguments += t.function.arguments;
    }
    m.finish = finish_reason;
  });
  if (run.completed) for (const m of Object.values(run.choices)) assert.notEqual(m.finish, null, 'every choice finished before complete');
  return run;
}

export function translate(responses: unknown[]): Run {
  const t = new GeminiStreamTranslator(CTX);
  const rec = new Recorder();
  for (const r of responses) t.event({ data: typeof r === 'string' ? r : JSON.stringify(r) }, rec);
  t.end(rec);
  return assemble(rec);
}

/** The SSE body Gemini sends for `responses` (`data: <json>` per event, LF or CRLF, no [DONE]). */
export function wire(responses: unknown[], eol: '\n' | '\r\n', lastBlank = true): Buffer {
  const body = responses.map((r) => `data: ${typeof r === 'string' ? r : JSON.stringify(r)}${eol}${eol}`).join('');
  return Buffer.from(lastBlank ? body : body.slice(0, -eol.length));
}

/** `bytes` through the relay's frame splitter in the given pieces, into a translator, as src/relay/pipeline.ts does. */
export function translateBytes(bytes: Buffer, cuts: number[]): Run {
  const t = new GeminiStreamTranslator(CTX);
  const rec = new Recorder();
  const splitter = createFrameSplitter({
    onDataFrame: (buf, _fs, ps, pe) => t.event({ data: buf.toString('utf8', ps, pe) }, rec),
    onEvent: (e: SseEvent) => t.event(e, rec),
  });
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    splitter.feed(bytes.subarray(at, cut));
    at = cut;
  }
  const tail = splitter.end();
  assert.notEqual(tail, 'cut');
  if (tail !== null && tail !== 'cut') t.event(tail, rec);
  t.end(rec);
  return assemble(rec);
}

/** Generated call ids differ per run: compare their shape, not their value. */
export function normalised(run: Run): Run {
  for (const m of Object.values(run.choices)) for (const c of m.tool_calls ?? []) if (GENERATED.test(c.id)) c.id = 'call_<generated>';
  return run;
}

/** One Gemini response with `parts` for candidate 0. */
export function resp(parts: unknown[], extra: Record<string, unknown> = {}, candidate: Record<string, unknown> = {}): Record<string, unknown> {
  return { candidates: [{ content: { parts, role: 'model' }, ...candidate }], modelVersion: 'gemini-2.5-flash', responseId: 'resp-1', ...extra };
}
export const usage = (prompt: number, candidates?: number, more: Record<string, number> = {}) => ({
  usageMetadata: { promptTokenCount: prompt, ...(candidates === undefined ? {} : { candidatesTokenCount: candidates }), totalTokenCount: prompt + (candidates ?? 0), ...more },
});


describe('Gemini stream test harness', () => {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id: CTX.id, object: 'chat.completion.chunk', created: CTX.created, model: 'm', choices, ...extra });
  const delta = (d: Record<string, unknown>, finish: string | null = null, index = 0) => chunk([{ index, delta: d, logprobs: null, finish_reason: finish }]);
  const check = (payloads: string[], complete = true) => {
    const rec = new Recorder();
    for (const p of payloads) rec.data(p);
    if (complete) rec.complete();
    return assemble(rec);
  };

  it('accepts a well-formed answer and reassembles it', () => {
    const run = check([delta({ role: 'assistant', content: 'a' }), delta({ content: 'b' }), delta({}, 'stop'), chunk([], { usage: { prompt_tokens: 1 } })]);
    assert.deepEqual(run.choices, { 0: { content: 'ab', finish: 'stop' } });
    assert.deepEqual(run.usage, { prompt_tokens: 1 });
  });

  it('rejects chunk streams that break the rules', () => {
    const broken: string[][] = [
      [delta({ content: 'no role' }), delta({}, 'stop')],
      [delta({ role: 'assistant', content: 'a' }), delta({ role: 'assistant', content: 'b' }), delta({}, 'stop')],
      [delta({ role: 'assistant' }, 'stop'), delta({ content: 'after finish' })],
      [delta({ role: 'assistant' }, 'stop'), chunk([], { usage: {} }), chunk([], { usage: {} })],
      [chunk([], { usage: {} }), delta({ role: 'assistant' }, 'stop')],
      [delta({ role: 'assistant', content: 'never finished' })],
      [delta({ role: 'assistant' }, 'stop'), JSON.stringify({ ...JSON.parse(delta({})), id: 'other' })],
    ];
    for (const payloads of broken) assert.throws(() => check(payloads), assert.AssertionError, JSON.stringify(payloads));
    const rec = new Recorder();
    rec.complete();
    assert.throws(() => rec.data(delta({ role: 'assistant' })), assert.AssertionError, 'data after complete');
  });
});
