import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tailUsage } from '../../src/usage/tail-usage.js';
import { readUsage, usageFromBody } from '../../src/usage/chunk.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { createTokenEstimator } from '../../src/usage/estimate.js';

const read = (text: string): unknown => tailUsage(Buffer.from(text));

/** Values as answers carry them: text with quotes, backslashes, `"usage":` look-alikes and any Unicode. */
const tricky = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('"usage":{"prompt_tokens":9}', '\\', '\\"', '"}', '{"usage":1}', 'é✓🙂', '\\\\"usage\\\\":'),
);
const leaf = fc.oneof(tricky, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.oneof(tricky, fc.constant('usage')), tie('v'), { maxKeys: 3 })),
})).v;
/** A details object as OpenAI writes it, or odd ones: null, a non-count, extra members. */
const details = fc.oneof(
  fc.record({ cached_tokens: fc.nat(), audio_tokens: fc.nat() }),
  fc.record({ cached_tokens: fc.oneof(fc.constant(null), tricky, fc.integer({ min: -5, max: -1 })) }),
  fc.constant(null),
  value,
);
const usage = fc.oneof(
  fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat(), total_tokens: fc.nat() }),
  // Cached prompt tokens: chat (`prompt_tokens_details`) and responses (`input_tokens_details`),
  // placed first or last among the members.
  fc.tuple(fc.nat(), fc.nat(), details, fc.boolean(), fc.boolean()).map(([p, c, d, responses, first]) => {
    const counts = responses ? { input_tokens: p, output_tokens: c } : { prompt_tokens: p, completion_tokens: c };
    const det = { [responses ? 'input_tokens_details' : 'prompt_tokens_details']: d };
    return first ? { ...det, ...counts } : { ...counts, ...det };
  }),
  fc.constant(null),
  value,
);

describe('the top-level usage of a JSON answer, read from its end (issue 6)', () => {
  it('gives JSON.parse(text).usage, or undefined only when it cannot tell (2,000 random answers)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(tricky, fc.constantFrom('choices', 'id', 'model')), value), { maxLength: 6 }),
        fc.option(usage, { nil: undefined }),
        fc.nat(6),
        fc.constantFrom(undefined, 0, 2, '\t'),
        (members, u, at, indent) => {
          const entries = members.filter(([k]) => k !== 'usage');
          if (u !== undefined) entries.splice(Math.min(at, entries.length), 0, ['usage', u]);
          const text = JSON.stringify(Object.fromEntries(entries), null, indent);
          const parsed = JSON.parse(text) as Record<string, unknown>;
          const expected = parsed.usage;
          const got = read(text);
          if (got === undefined) {
            // Allowed only when there is no usage, or a top-level key it had to pass on its way
            // back from the end (those after `usage`) is written with escapes.
            const keys = Object.keys(parsed);
            const passed = keys.slice(keys.indexOf('usage') + 1);
            assert.ok(expected === undefined || passed.some((k) => JSON.stringify(k).includes('\\')), `missed usage in ${text}`);
          } else {
            assert.deepEqual(got, expected);
            // What the relay records of it (src/relay/chat.ts): the same counts, cached tokens included.
            assert.deepEqual(readUsage(got), usageFromBody(parsed));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('an OpenAI answer; duplicate keys (the last wins); escaped keys and other shapes are left to JSON.parse', () => {
    const answer = JSON.stringify({
      id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'say "usage":{"prompt_tokens":1} \\ é' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 256, total_tokens: 268, prompt_tokens_details: { cached_tokens: 0 } },
      service_tier: 'default', system_fingerprint: 'fp_1',
    });
    assert.deepEqual(read(answer), { prompt_tokens: 12, completion_tokens: 256, total_tokens: 268, prompt_tokens_details: { cached_tokens: 0 } });
    assert.deepEqual(read('{"usage":{"a":1},"x":[1,{"usage":2}],"usage":{"a":2}}'), { a: 2 });
    assert.equal(read('{"a":{"usage":{"prompt_tokens":1}}}'), undefined, 'a nested usage is not the top-level one');
    assert.equal(read('{"us\\u0061ge":{"a":1}}'), undefined);
    assert.equal(read('[{"usage":1}]'), undefined);
    assert.equal(read('{"usage":{"a":1}'), undefined);
    assert.equal(read('not json'), undefined);
    assert.equal(read(''), undefined);
    assert.equal(read('{}'), undefined);
    assert.deepEqual(read(' {"usage" : { "a" : -1.5e+3 } , "b" : true } \n'), { a: -1500 });
  });

  it('carries the cached prompt tokens to the tracker, as the JSON relay feeds it', () => {
    const answer = Buffer.from(JSON.stringify({
      id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306, prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
      system_fingerprint: 'fp_1',
    }));
    const t = new UsageTracker(createTokenEstimator(), 'gpt-4o', {});
    assert.ok(t.onBody({ usage: tailUsage(answer) }));
    assert.deepEqual(t.final(), { promptTokens: 2006, completionTokens: 300, cachedPromptTokens: 1920, source: 'upstream' });
  });
});
