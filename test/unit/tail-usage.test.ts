import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tailUsage } from '../../src/usage/tail-usage.js';

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
const usage = fc.oneof(
  fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat(), total_tokens: fc.nat() }),
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
});
