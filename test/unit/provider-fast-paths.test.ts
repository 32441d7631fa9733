// The adapters read their commonest event without JSON.parse (src/providers/anthropic/stream.ts
// `textDelta`, src/providers/gemini/fast-text.ts). Whatever the layout of the JSON — compact (the
// fast path), spread over lines and spaces (the parse), or Google's spacing (the fast path with
// whitespace) — the chunks out must be the same, for random texts including escapes.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { anthropicProvider } from '../../src/providers/anthropic/index.js';
import { geminiProvider } from '../../src/providers/gemini/index.js';
import { fastText } from '../../src/providers/gemini/fast-text.js';
import type { ChatProvider } from '../../src/providers/types.js';
import type { SseEvent } from '../../src/sse/parser.js';

type Layout = (v: unknown) => string;
const compact: Layout = (v) => JSON.stringify(v);
const spread: Layout = (v) => JSON.stringify(v, null, 2);
/** Google's own spacing: a space after every colon, none after commas. */
const google: Layout = (v) => JSON.stringify(v).replace(/":(?=[^\s])/g, '": ');

function translate(provider: ChatProvider, events: SseEvent[]): string[] {
  const out: string[] = [];
  const t = provider.streamTranslator({ id: 'chatcmpl-1', created: 1, model: 'm' })!;
  const sink = { data: (p: string) => void out.push(p), complete: () => void out.push('complete'), fail: (e: Error) => void out.push(`fail ${e.message}`) };
  for (const e of events) t.event(e, sink);
  t.end(sink);
  return out;
}

function anthropicEvents(texts: string[], layout: Layout): SseEvent[] {
  const ev = (type: string, rest: Record<string, unknown>): SseEvent => ({ event: type, data: layout({ type, ...rest }) });
  return [
    ev('message_start', { message: { id: 'msg', type: 'message', role: 'assistant', model: 'claude-x', content: [], usage: { input_tokens: 3, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...texts.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    // A delta for a block that is not open is dropped by both paths.
    ev('content_block_delta', { index: 7, delta: { type: 'text_delta', text: 'stray' } }),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: texts.length } }),
    ev('message_stop', {}),
  ];
}

function geminiEvents(texts: string[], layout: Layout, usageEvery: number): SseEvent[] {
  return texts.map((text, k) => {
    const cand: Record<string, unknown> = { content: { parts: [{ text }], role: 'model' }, index: 0 };
    if (k === texts.length - 1) cand.finishReason = 'STOP';
    const body: Record<string, unknown> = { candidates: [cand] };
    if (k % usageEvery === 0 || k === texts.length - 2) body.usageMetadata = { promptTokenCount: 4, candidatesTokenCount: k + 1, totalTokenCount: 5 + k };
    body.modelVersion = 'gemini-x';
    return { data: layout(body) };
  });
}

const text = fc.string({ unit: fc.constantFrom('a', 'é', '世', '😀', ' ', '"', '\\', '\n', '\u0001', '}', ']', ','), maxLength: 6 });

describe('provider fast paths read what the parse reads', () => {
  it('Anthropic text deltas: compact, spread and spaced JSON give the same chunks', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 12 }), (texts) => {
        const want = translate(anthropicProvider, anthropicEvents(texts, spread));
        assert.deepEqual(translate(anthropicProvider, anthropicEvents(texts, compact)), want);
        assert.deepEqual(translate(anthropicProvider, anthropicEvents(texts, google)), want);
      }),
      { numRuns: 300 },
    );
  });

  it('Gemini text events: compact, Google-spaced and spread JSON give the same chunks and the latest usage', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 2, maxLength: 12 }), fc.integer({ min: 1, max: 4 }), (texts, every) => {
        const want = translate(geminiProvider, geminiEvents(texts, spread, every));
        assert.deepEqual(translate(geminiProvider, geminiEvents(texts, compact, every)), want);
        assert.deepEqual(translate(geminiProvider, geminiEvents(texts, google, every)), want);
      }),
      { numRuns: 300 },
    );
  });

  it('the Gemini fast path takes only one text part of candidate 0', () => {
    assert.deepEqual(fastText('{"candidates": [{"content": {"parts": [{"text": "hi"}],"role": "model"},"index": 0}],"modelVersion": "x"}'), { text: 'hi', rest: 84 });
    for (const other of [
      '{"candidates":[{"content":{"parts":[{"text":"a","thought":true}],"role":"model"},"index":0}]}',
      '{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b"}],"role":"model"},"index":0}]}',
      '{"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"},"index":1}]}',
      '{"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"},"finishReason":"STOP","index":0}]}',
      '{"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"}},{"content":{"parts":[{"text":"b"}],"role":"model"},"index":1}]}',
      '{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}],"role":"model"}}]}',
    ]) {
      assert.equal(fastText(other), null, other);
    }
  });
});
