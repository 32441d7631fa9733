import assert from 'node:assert/strict';
import fc from 'fast-check';
import { scanContentDelta } from '../../src/usage/scan.js';
import { inspectChunk } from '../../src/usage/chunk.js';

/** A chunk as OpenAI writes it (key order and all). */
function chunk(delta: Record<string, unknown>, extra: Record<string, unknown> = {}, finish: string | null = null): string {
  return JSON.stringify({
    id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', system_fingerprint: 'fp',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra,
  });
}

describe('scanContentDelta (the relay fast path)', () => {
  it('reads a plain content delta without parsing', () => {
    assert.equal(scanContentDelta(chunk({ content: ' hello' })), ' hello');
    assert.equal(scanContentDelta(chunk({ content: 'a "quoted" \\ \n line 中 😀' })), 'a "quoted" \\ \n line 中 😀');
    assert.equal(scanContentDelta(chunk({ content: '' })), '');
    assert.equal(scanContentDelta(chunk({ content: 'x' }, { usage: null })), 'x');
    assert.equal(scanContentDelta(chunk({ content: 'x' }, { usage: null, obfuscation: 'abc' })), 'x');
  });

  it('sends everything else to the full parse', () => {
    assert.equal(scanContentDelta(chunk({}, {}, 'stop')), null, 'finish_reason');
    assert.equal(scanContentDelta(chunk({ content: 'x' }, {}, 'stop')), null, 'content with finish_reason');
    assert.equal(scanContentDelta(chunk({ role: 'assistant', content: '' })), null, 'the role chunk');
    assert.equal(scanContentDelta(chunk({ content: null })), null, 'content null');
    assert.equal(scanContentDelta(chunk({ content: 'x' }, { usage: { prompt_tokens: 1, completion_tokens: 1 } })), null, 'content with usage');
    assert.equal(scanContentDelta(JSON.stringify({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } })), null, 'usage chunk');
    assert.equal(scanContentDelta(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] })), null, 'tool call');
    assert.equal(scanContentDelta(chunk({ reasoning_content: 'think' })), null, 'reasoning');
    assert.equal(scanContentDelta(chunk({ content: 'x', refusal: 'no' })), null, 'refusal');
    assert.equal(scanContentDelta(JSON.stringify({ error: { message: 'boom' } })), null, 'error');
    assert.equal(scanContentDelta('{"choices": [{"delta": {"content": "spaced"}}]}'), null, 'spaced JSON');
    assert.equal(scanContentDelta('not json'), null);
    const two = JSON.stringify({ choices: [{ index: 0, delta: { content: 'a' } }, { index: 1, delta: { content: 'b' } }] });
    assert.equal(scanContentDelta(two), null, 'several choices');
  });

  it('never disagrees with the full parse (property)', () => {
    const delta = fc.record(
      {
        content: fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constant(null), fc.constantFrom('"', '\\', '"content":"x"', '": ', '"usage":{')),
        tool_calls: fc.constant([{ index: 0, function: { arguments: '{}' } }]),
        refusal: fc.oneof(fc.constant(null), fc.string()),
      },
      { requiredKeys: [] },
    );
    const extra = fc.record({ usage: fc.oneof(fc.constant(null), fc.constant({ prompt_tokens: 3, completion_tokens: 4 })) }, { requiredKeys: [] });
    let fastHits = 0;
    fc.assert(
      fc.property(delta, extra, fc.constantFrom(null, 'stop', 'length'), (d, e, finish) => {
        const data = chunk(d, e, finish);
        const fast = scanContentDelta(data);
        if (fast === null) return; // the full path handles it
        fastHits++;
        const full = inspectChunk(JSON.parse(data));
        assert.equal(fast, full.content);
        assert.equal(full.usage, null);
        assert.equal(full.finishReason, null);
        assert.equal(full.usageOnly, false);
      }),
      { numRuns: 3000 },
    );
    assert.ok(fastHits > 0, `the fast path was taken ${fastHits} times`);
  });

  it('reads any content text of a plain delta exactly (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), fc.boolean(), (text, usageNull) => {
        const data = chunk({ content: text }, usageNull ? { usage: null } : {});
        assert.equal(scanContentDelta(data), text);
      }),
      { numRuns: 2000 },
    );
  });
});
