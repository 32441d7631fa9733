import assert from 'node:assert/strict';
import fc from 'fast-check';
import { endsWithUsageNull, scanContentDelta, scanContentDeltaBytes } from '../../src/usage/scan.js';
import { inspectChunk } from '../../src/usage/chunk.js';

/** A chunk as OpenAI writes it (key order and all). */
function chunk(delta: Record<string, unknown>, extra: Record<string, unknown> = {}, finish: string | null = null): string {
  return JSON.stringify({
    id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', system_fingerprint: 'fp',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra,
  });
}

/**
 * Random deltas: content (any text, null, or text that looks like JSON structure: quotes,
 * backslashes, `"usage":{` and the `tricky` pieces given), a tool call, a refusal; any subset.
 */
function deltas(...tricky: string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      content: fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constant(null), fc.constantFrom('"', '\\', '"usage":{', ...tricky)),
      tool_calls: fc.constant([{ index: 0, function: { arguments: '{}' } }]),
      refusal: fc.oneof(fc.constant(null), fc.string()),
    },
    { requiredKeys: [] },
  );
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
    const delta = deltas('"content":"x"', '": ');
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

  describe('on the bytes (scanContentDeltaBytes)', () => {
    /** The payload inside other bytes, as a frame sits in a socket read. */
    const framed = (data: string): [Buffer, number, number] => {
      const before = Buffer.from('data: {"x":"]}"}\n\ndata: ');
      const body = Buffer.from(data);
      return [Buffer.concat([before, body, Buffer.from('\n\ndata: ,"usage":null}\n\n')]), before.length, before.length + body.length];
    };

    it('reads a plain content delta, in the layout that ends with the choices, and decodes only the content', () => {
      const [b, s, e] = framed(chunk({ content: 'a "q" \\ 中 😀 \n' }, { usage: null }));
      assert.equal(scanContentDeltaBytes(b, s, e), 'a "q" \\ 中 😀 \n');
      assert.equal(endsWithUsageNull(b, s, e), true);
      const [b2, s2, e2] = framed(chunk({ content: 'x' }));
      assert.equal(scanContentDeltaBytes(b2, s2, e2), 'x');
      assert.equal(endsWithUsageNull(b2, s2, e2), false);
    });

    it('leaves other layouts to the string scan (undefined) and never reads outside the payload', () => {
      for (const data of [
        chunk({ content: 'x' }, { usage: null, obfuscation: 'abc' }),
        chunk({ role: 'assistant', content: '' }, { usage: null }),
        chunk({ content: 'x' }, { usage: null }, 'stop'),
        '{"choices": [{"delta": {"content": "spaced"}}]}',
        '"}]}',
        ',"usage":null}',
        '',
      ]) {
        const [b, s, e] = framed(data);
        assert.equal(scanContentDeltaBytes(b, s, e), undefined, data);
      }
    });

    it('agrees with the string scan wherever it answers (property)', () => {
      const delta = deltas('\\"', '"choices":[{"index":0,"delta":{"content":"');
      let hits = 0;
      fc.assert(
        fc.property(delta, fc.boolean(), fc.constantFrom(null, 'stop'), (d, usageNull, finish) => {
          const data = chunk(d, usageNull ? { usage: null } : {}, finish);
          const got = scanContentDeltaBytes(...framed(data));
          if (got === undefined) return;
          hits++;
          assert.equal(got, scanContentDelta(data));
          if (got !== null) assert.equal(got, inspectChunk(JSON.parse(data)).content);
        }),
        { numRuns: 3000 },
      );
      assert.ok(hits > 10, `answered ${hits} times`);
    });
  });
});
