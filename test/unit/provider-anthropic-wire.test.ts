// Shared by the Anthropic provider's tests: Anthropic events as SSE text, a translator run over
// events one by one or over raw bytes through the proxy's own frame splitter, and an OpenAI client's
// reassembly of the chunks that checks the chunk stream's rules on the way (one id, the role first,
// tool calls numbered 0, 1, 2… with id and name on their first part, one finish, usage last).
// The tests at the bottom pin the reassembler itself.
import { strict as assert } from 'node:assert';
import type { ProxyError } from '../../src/errors.js';
import { anthropicProvider } from '../../src/providers/anthropic/index.js';
import type { AnswerContext } from '../../src/providers/types.js';
import type { TranslateOut } from '../../src/relay/stages.js';
import { createFrameSplitter } from '../../src/sse/frames.js';
import type { SseEvent } from '../../src/sse/parser.js';

export const CTX: AnswerContext = { id: 'chatcmpl-test', created: 1700000000, model: 'claude-alias' };

/** What a translator sent, and how it ended. */
export class FakeOut implements TranslateOut {
  readonly payloads: string[] = [];
  completed = 0;
  readonly failures: ProxyError[] = [];
  data(payload: string): void {
    assert.equal(this.completed + this.failures.length, 0, 'data after the stream ended');
    this.payloads.push(payload);
  }
  complete(): void {
    this.completed++;
  }
  fail(error: ProxyError): void {
    this.failures.push(error);
  }
}

/** One Anthropic event as the SSE parser hands it over: its `event:` name is its data's type. */
export function ev(data: Record<string, unknown>): SseEvent {
  return { event: String(data.type), data: JSON.stringify(data) };
}

/** The events as Anthropic writes them on the wire. */
export function sseText(events: SseEvent[]): string {
  return events.map((e) => `${e.event === undefined ? '' : `event: ${e.event}\n`}data: ${e.data}\n\n`).join('');
}

/** The events through a fresh translator, one by one, then the end of the body. */
export function translate(events: SseEvent[], ctx = CTX): FakeOut {
  const t = anthropicProvider.streamTranslator(ctx);
  assert.ok(t !== null);
  const out = new FakeOut();
  for (const e of events) t.event(e, out);
  t.end(out);
  return out;
}

/** Raw bytes, read in `pieces`, through the frame splitter and a fresh translator. */
export function translateBytes(pieces: Uint8Array[], ctx = CTX): FakeOut {
  const t = anthropicProvider.streamTranslator(ctx);
  assert.ok(t !== null);
  const out = new FakeOut();
  const splitter = createFrameSplitter({
    onDataFrame: (buf, _frameStart, from, to) => t.event({ data: buf.toString('utf8', from, to) }, out),
    onEvent: (e) => t.event(e, out),
  });
  for (const p of pieces) splitter.feed(p);
  const tail = splitter.end();
  if (tail !== null && tail !== 'cut') t.event(tail, out);
  t.end(out);
  return out;
}

/** `bytes` cut at `at` (0 and the length give one piece). */
export function cutAt(bytes: Buffer, at: number): Buffer[] {
  return [bytes.subarray(0, at), bytes.subarray(at)].filter((b) => b.length > 0);
}

export interface ReassembledCall {
  id: string;
  name: string;
  arguments: string;
}

/** One answer as an OpenAI client rebuilds it from the chunks. */
export interface Reassembled {
  model: string | null;
  content: string;
  reasoning: string;
  toolCalls: ReassembledCall[];
  finish: string | null;
  usage: Record<string, unknown> | null;
}

/** Rebuilds the answer, asserting the chunk stream's rules. */
export function reassemble(payloads: string[], ctx = CTX): Reassembled {
  const r: Reassembled = { model: null, content: '', reasoning: '', toolCalls: [], finish: null, usage: null };
  let first = true;
  for (const p of payloads) {
    const c = JSON.parse(p) as { id: string; object: string; created: number; model: string; choices: unknown[]; usage?: Record<string, unknown> };
    assert.equal(c.id, ctx.id);
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.created, ctx.created);
    r.model ??= c.model;
    assert.equal(c.model, r.model, 'one model on every chunk');
    assert.equal(r.usage, null, 'nothing after the usage chunk');
    if (c.choices.length === 0) {
      assert.ok(c.usage !== undefined, 'a chunk without choices is the usage chunk');
      r.usage = c.usage;
      continue;
    }
    assert.equal(r.finish, null, 'no choice chunk after the finish');
    assert.equal(c.choices.length, 1);
    const choice = c.choices[0] as { index: number; delta: Record<string, unknown>; finish_reason: string | null; logprobs: null };
    assert.equal(choice.index, 0);
    assert.equal(choice.logprobs, null);
    const { role, content, reasoning_content, tool_calls, ...rest } = choice.delta as {
      role?: string; content?: string; reasoning_content?: string; tool_calls?: Record<string, unknown>[];
    };
    assert.deepEqual(rest, {}, 'no other delta fields');
    assert.equal(role, first ? 'assistant' : undefined, 'the role on the first chunk only');
    first = false;
    if (content !== undefined) r.content += content;
    if (reasoning_content !== undefined) r.reasoning += reasoning_content;
    for (const tc of tool_calls ?? []) addToolCall(r.toolCalls, tc);
    if (choice.finish_reason !== null) r.finish = choice.finish_reason;
  }
  return r;
}

function addToolCall(calls: ReassembledCall[], tc: Record<string, unknown>): void {
  const fn = tc.function as { name?: string; arguments: string };
  const index = tc.index as number;
  assert.ok(index <= calls.length, `tool call index ${index} skips ${calls.length}`);
  if (index === calls.length) {
    assert.equal(typeof tc.id, 'string', 'a new tool call carries its id');
    assert.equal(tc.type, 'function');
    assert.equal(typeof fn.name, 'string', 'a new tool call carries its name');
    calls.push({ id: tc.id as string, name: fn.name!, arguments: fn.arguments });
  } else {
    assert.deepEqual(Object.keys(tc).sort(), ['function', 'index'], 'later parts carry arguments only');
    assert.equal(fn.name, undefined);
    calls[index]!.arguments += fn.arguments;
  }
}

/** A whole `chat.completion` in the same form, to compare a stream with its non-streamed answer. */
export function fromCompletion(completion: Record<string, unknown>): Reassembled {
  const choice = (completion.choices as { message: Record<string, unknown>; finish_reason: string }[])[0]!;
  const m = choice.message as { content: string | null; reasoning_content?: string; tool_calls?: { id: string; function: { name: string; arguments: string } }[] };
  return {
    model: completion.model as string,
    content: m.content ?? '',
    reasoning: m.reasoning_content ?? '',
    toolCalls: (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    finish: choice.finish_reason,
    usage: completion.usage as Record<string, unknown>,
  };
}

describe('Anthropic test wire helpers', () => {
  it('reassemble rejects a tool call index that skips one', () => {
    const chunk = (delta: Record<string, unknown>) =>
      JSON.stringify({ id: CTX.id, object: 'chat.completion.chunk', created: CTX.created, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
    const skip = [chunk({ role: 'assistant', tool_calls: [{ index: 1, id: 'a', type: 'function', function: { name: 'f', arguments: '' } }] })];
    assert.throws(() => reassemble(skip), /skips/);
    assert.throws(() => reassemble([chunk({ content: 'no role' })]), /role/);
  });

  it('bytes cut anywhere reach the translator as the same events', () => {
    const text = Buffer.from(sseText([ev({ type: 'ping' })]));
    for (let i = 0; i <= text.length; i++) assert.deepEqual(translateBytes(cutAt(text, i)).payloads, []);
  });
});
