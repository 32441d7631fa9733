// Property test of the Gemini stream translator (src/providers/gemini/stream.ts): random
// sequences of text, thought and function call parts, text cut into parts anyhow, parts grouped
// into events anyhow (some with cumulative usage, the finish reason on the last or on its own, a
// usage-only event after it or not), fed as events and as SSE bytes cut anyhow, reassemble to the
// message those parts make, with the latest usage once.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Message, normalised, resp, translate, translateBytes, usage, wire } from './provider-gemini-harness.test.js';

describe('Gemini stream translator (property)', () => {
  it('property: random part sequences, split into events and bytes anyhow, reassemble to the message Gemini gave', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'é', '世', '😀', ' ', '\n', '"', '\\', '\u2028'), maxLength: 10 });
    const atom = fc.oneof(
      text.map((t) => ({ kind: 'text' as const, text: t })),
      text.map((t) => ({ kind: 'thought' as const, text: t })),
      fc.record({
        kind: fc.constant('call' as const),
        name: fc.constantFrom('get_weather', 'lookup', 'f'),
        args: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        id: fc.option(fc.stringMatching(/^[a-z0-9]{1,8}$/), { nil: undefined }),
      }),
    );
    const scenario = fc.record({
      atoms: fc.array(atom, { maxLength: 8 }),
      cuts: fc.array(fc.nat(), { maxLength: 30 }),
      groups: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 30 }),
      usageAt: fc.array(fc.boolean(), { maxLength: 30 }),
      finishAlone: fc.boolean(),
      trailingUsage: fc.boolean(),
      eol: fc.constantFrom('\n' as const, '\r\n' as const),
      byteCuts: fc.array(fc.nat(), { maxLength: 12 }),
    });
    fc.assert(
      fc.property(scenario, (s) => {
        // Text atoms cut into pieces, each a part; calls whole.
        const parts: Array<Record<string, unknown>> = [];
        let cut = 0;
        for (const a of s.atoms) {
          if (a.kind === 'call') {
            parts.push({ functionCall: { name: a.name, args: a.args, ...(a.id === undefined ? {} : { id: a.id }) } });
            continue;
          }
          const chars = [...a.text];
          let from = 0;
          while (from < chars.length) {
            const len = 1 + ((s.cuts[cut++ % Math.max(1, s.cuts.length)] ?? 0) % (chars.length - from));
            const piece = chars.slice(from, from + len).join('');
            parts.push(a.kind === 'thought' ? { text: piece, thought: true } : { text: piece });
            from += len;
          }
        }
        // Parts grouped into events, some with cumulative usage; the finish on the last or on its own.
        const responses: Array<Record<string, unknown>> = [];
        let out = 0;
        for (let i = 0, g = 0; i < parts.length; g++) {
          const n = s.groups[g % Math.max(1, s.groups.length)] ?? 1;
          out += n;
          responses.push(resp(parts.slice(i, i + n), s.usageAt[g] === true ? usage(9, out) : {}));
          i += n;
        }
        if (s.finishAlone || responses.length === 0) responses.push(resp([], {}, { finishReason: 'STOP' }));
        else (responses.at(-1)!.candidates as Array<Record<string, unknown>>)[0]!.finishReason = 'STOP';
        if (s.trailingUsage) responses.push({ ...usage(9, out + 1), modelVersion: 'gemini-2.5-flash' });

        const texts = s.atoms.filter((a) => a.kind === 'text').map((a) => a.text).join('');
        const thoughts = s.atoms.filter((a) => a.kind === 'thought').map((a) => a.text).join('');
        const calls = s.atoms.filter((a) => a.kind === 'call');
        const expected: Message = { content: texts === '' ? null : texts, finish: calls.length > 0 ? 'tool_calls' : 'stop' };
        if (thoughts !== '') expected.reasoning = thoughts;
        if (calls.length > 0) expected.tool_calls = calls.map((c) => ({ id: c.id ?? 'call_<generated>', name: c.name, arguments: JSON.stringify(c.args) }));
        const usages = responses.filter((r) => r.usageMetadata !== undefined);
        const last = usages.at(-1)?.usageMetadata as { promptTokenCount: number; candidatesTokenCount?: number } | undefined;

        const bytes = wire(responses, s.eol);
        const byteCuts = [...new Set(s.byteCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        for (const run of [translate(responses), translateBytes(bytes, byteCuts)]) {
          const r = normalised(run);
          assert.ok(r.completed);
          assert.deepEqual(r.choices, { 0: expected });
          if (last === undefined) assert.equal(r.usage, undefined);
          else {
            const completion = last.candidatesTokenCount ?? 0;
            assert.deepEqual(r.usage, { prompt_tokens: last.promptTokenCount, completion_tokens: completion, total_tokens: last.promptTokenCount + completion });
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
