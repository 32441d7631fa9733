// The chunks a translator emits (src/providers/chunks.ts) are written from a template: they must be
// byte for byte what JSON.stringify makes of the same object in OpenAI's key order, for any text,
// id, model and delta, and the relay's content scanner must read a plain text delta without a parse.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkBuilder, type ChunkDelta, type FinishReason } from '../../src/providers/chunks.js';
import { scanContentDelta } from '../../src/usage/scan.js';

function reference(id: string, created: number, model: string, index: number, delta: ChunkDelta, finish: FinishReason | null): string {
  return JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index, delta, logprobs: null, finish_reason: finish }] });
}

describe('ChunkBuilder', () => {
  it('writes exactly what JSON.stringify writes, the role on each choice’s first chunk only', () => {
    const delta = fc.oneof(
      fc.record({ content: fc.string({ unit: 'binary' }) }),
      fc.record({ reasoning_content: fc.string({ unit: 'binary' }) }),
      fc.record({ tool_calls: fc.constant([{ index: 0, id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } }]) }),
    ).map((d) => d as ChunkDelta);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(), fc.string({ unit: 'binary' }), fc.array(fc.tuple(fc.nat({ max: 2 }), delta), { maxLength: 8 }), (id, created, model, deltas) => {
        const b = new ChunkBuilder({ id, created, model });
        const seen = new Set<number>();
        for (const [index, d] of deltas) {
          const want = seen.has(index) ? d : { role: 'assistant' as const, ...d };
          seen.add(index);
          assert.equal(b.delta(d, index), reference(id, created, model, index, want, null));
        }
        const want = seen.has(0) ? {} : { role: 'assistant' as const };
        assert.equal(b.finish('stop', 0), reference(id, created, model, 0, want, 'stop'));
      }),
      { numRuns: 300 },
    );
  });

  it('a plain text delta is read by the relay’s scanner without a parse', () => {
    const b = new ChunkBuilder({ id: 'chatcmpl-1', created: 1, model: 'm' });
    b.delta({ content: 'first' });
    assert.equal(scanContentDelta(b.delta({ content: 'héllo "x"\n' })), 'héllo "x"\n');
  });

  it('the model is the provider’s once it names one, the same on every chunk', () => {
    const b = new ChunkBuilder({ id: 'i', created: 1, model: 'asked' });
    b.setModel('claude-real');
    const first = JSON.parse(b.delta({ content: 'a' })) as { model: string };
    b.setModel('other');
    const second = JSON.parse(b.delta({ content: 'b' })) as { model: string };
    assert.equal(first.model, 'claude-real');
    assert.equal(second.model, 'claude-real');
  });
});
