// The byte-level front of the SSE parser (src/sse/frames.ts, issue 6) must dispatch exactly what the
// standard parser alone dispatches, for any input and any split of it into reads; and it must hand the
// common `data: <json>\n\n` frames over as the upstream's own bytes.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFrameSplitter } from '../../src/sse/frames.js';
import { createSseParser, type SseEvent } from '../../src/sse/parser.js';

type Rec = ['event', SseEvent] | ['error', string];

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** What the splitter reports, with its byte frames decoded; plus how many came as bytes. */
function viaSplitter(chunks: Uint8Array[], maxEventBytes?: number): { log: Rec[]; byteFrames: number; frameBytes: Buffer[] } {
  const log: Rec[] = [];
  const frameBytes: Buffer[] = [];
  let byteFrames = 0;
  const s = createFrameSplitter({
    maxEventBytes,
    onDataFrame(buf, frameStart, ps, pe) {
      byteFrames++;
      assert.equal(buf.subarray(frameStart, ps).toString('latin1'), 'data: ');
      assert.equal(buf.subarray(pe, pe + 2).toString('latin1'), '\n\n');
      frameBytes.push(Buffer.from(buf.subarray(frameStart, pe + 2)));
      log.push(['event', { data: buf.toString('utf8', ps, pe) }]);
    },
    onEvent: (e) => log.push(['event', e]),
    onError: (err) => log.push(['error', err.type]),
  });
  for (const c of chunks) s.feed(c);
  return { log, byteFrames, frameBytes };
}

function viaParser(chunks: Uint8Array[], maxEventBytes?: number): Rec[] {
  const log: Rec[] = [];
  const p = createSseParser({ maxEventBytes, onEvent: (e) => log.push(['event', e]), onError: (err) => log.push(['error', err.type]) });
  for (const c of chunks) p.feed(c);
  return log;
}

/**
 * The parser reports an ignored field (`unknown-field`, a bad retry) as soon as its line ends; the
 * splitter passes a frame on when the frame ends, so for a last, unfinished frame that notice never
 * comes. Nothing acts on those notices (the standard ignores such lines): compare the rest.
 */
const acted = (log: Rec[]): Rec[] => log.filter((r) => r[0] !== 'error' || r[1] === 'max-buffer-size-exceeded');

function cut(wire: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => wire.subarray(from, [...at, wire.length][i]));
}

function* everySplit(wire: Buffer): Generator<Buffer[]> {
  yield [wire];
  for (let i = 1; i < wire.length; i++) yield [wire.subarray(0, i), wire.subarray(i)];
  yield [...wire].map((b) => Buffer.from([b]));
}

const chunk = (content: string): string =>
  `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"logprobs":null,"finish_reason":null}],"usage":null}`;

describe('SSE frame splitter (bytes in front of the parser)', () => {
  it('hands an OpenAI stream over as byte frames, the bytes exactly as received, at every split', () => {
    const wire = utf8(['Hel', 'lo 世界 😀', '"quoted"\\'].map((c) => `data: ${chunk(c)}\n\n`).join('') + 'data: [DONE]\n\n');
    for (const chunks of everySplit(wire)) {
      const { log, byteFrames, frameBytes } = viaSplitter(chunks);
      assert.deepEqual(log, viaParser(chunks));
      assert.equal(byteFrames, 4);
      assert.deepEqual(Buffer.concat(frameBytes), wire);
    }
  });

  it('gives every other frame to the parser: comments, named events, ids, several data lines, "data:" without a space', () => {
    const wire = utf8(': keep-alive\n\nevent: ping\ndata: {}\n\nid: 7\ndata: a\n\ndata: one\ndata: two\n\ndata:x\n\n\n\ndata: plain\n\nretry: 10\n\n');
    for (const chunks of everySplit(wire)) {
      const { log, byteFrames } = viaSplitter(chunks);
      assert.deepEqual(log, viaParser(chunks));
      assert.equal(byteFrames, 1, 'only "data: plain" has the byte shape');
    }
    assert.deepEqual(viaSplitter([wire]).log.map((r) => r[1]), [
      { data: '{}', event: 'ping' },
      { data: 'a', id: '7' },
      { data: 'one\ntwo' },
      { data: 'x' },
      { data: 'plain' },
    ]);
  });

  it('hands the rest of the stream to the parser at a CR, a BOM or bytes that are not UTF-8', () => {
    const cases = [
      Buffer.concat([utf8('data: a\n\n'), utf8('data: b\r\n\r\ndata: c\rdata: d\r\r'), utf8('data: e\n\n')]),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('data: a\n\ndata: b\n\n')]),
      Buffer.concat([utf8('data: a\n\ndata: '), Buffer.from([0xff, 0xc3]), utf8('\n\ndata: ok\n\n')]),
      Buffer.concat([utf8('data: a\n\n'), utf8('data: \uFEFFx\n\n'), utf8(': c\n\n\uFEFFdata: y\n\n')]),
    ];
    for (const wire of cases) {
      for (const chunks of everySplit(wire)) assert.deepEqual(viaSplitter(chunks).log, viaParser(chunks));
    }
    assert.deepEqual(viaSplitter([cases[2]!]).log.map((r) => r[1]), [{ data: 'a' }, { data: '\uFFFD\uFFFD' }, { data: 'ok' }]);
  });

  it('applies maxEventBytes as the parser does: a 1 MiB event passes in 64 KiB reads, a larger one is rejected', () => {
    const big = 'x'.repeat(1 << 20);
    const limit = (1 << 20) + 64;
    const ok = utf8(`data: ${chunk('a')}\n\ndata: ${big}\n\ndata: [DONE]\n\n`);
    const reads = (b: Buffer) => Array.from({ length: Math.ceil(b.length / 65536) }, (_, i) => b.subarray(i * 65536, (i + 1) * 65536));
    const got = viaSplitter(reads(ok), limit).log;
    assert.equal(got.length, 3);
    assert.equal((got[1]![1] as SseEvent).data.length, 1 << 20);
    const tooBig = utf8(`data: ${chunk('a')}\n\ndata: ${big}${big}\n\ndata: [DONE]\n\n`);
    const refused = viaSplitter(reads(tooBig), limit).log;
    assert.deepEqual(refused[0], ['event', { data: chunk('a') }]);
    assert.deepEqual(refused[1], ['error', 'max-buffer-size-exceeded']);
    assert.equal(refused.length, 2, 'nothing after the overflow');
    // One read holding the whole oversized event is rejected too.
    assert.deepEqual(viaSplitter([tooBig], limit).log.slice(1), [['error', 'max-buffer-size-exceeded']]);
  });

  describe('property: the same events as the parser alone, for any stream and any reads', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'é', '世', '😀', ' ', ':', '"', '\\', '\u0000', '\uFEFF', '{', '}'), maxLength: 12 });
    const piece = fc.oneof(
      { weight: 8, arbitrary: text.map((t) => utf8(`data: ${chunk(t)}\n\n`)) },
      { weight: 2, arbitrary: text.map((t) => utf8(`data: ${t}\n\n`)) },
      { weight: 1, arbitrary: text.map((t) => utf8(`: ${t}\n\n`)) },
      { weight: 1, arbitrary: fc.tuple(text, text).map(([a, b]) => utf8(`event: ${a}\ndata: ${b}\ndata: ${b}\n\n`)) },
      // A named event of one data line (Anthropic's frames), and its near misses.
      { weight: 3, arbitrary: fc.tuple(text, text).map(([a, b]) => utf8(`event: ${a}\ndata: ${chunk(b)}\n\n`)) },
      { weight: 1, arbitrary: fc.tuple(text, text).map(([a, b]) => utf8(`event:${a}\ndata: ${b}\n\n`)) },
      { weight: 1, arbitrary: fc.tuple(text, text).map(([a, b]) => utf8(`event: ${a}\ndata:${b}\n\n`)) },
      { weight: 1, arbitrary: fc.constantFrom('id: 9\n\n', 'event: \ndata: x\n\n').map(utf8) },
      { weight: 1, arbitrary: text.map((t) => utf8(`data:${t}\n\n\n`)) },
      { weight: 1, arbitrary: fc.constantFrom('\n', 'data: [DONE]\n\n', 'data: a\r\n\r\n', 'data: b\rdata: c\r\r', 'id: 1\nretry: 5\n\n').map(utf8) },
      { weight: 1, arbitrary: fc.constantFrom([0xff], [0xc3], [0xef, 0xbb, 0xbf], [0xe4, 0xb8]).map((b) => Buffer.from(b)) },
    );

    it('matches createSseParser (with and without a small maxEventBytes)', () => {
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 14 }), fc.array(fc.nat()), fc.constantFrom(undefined, 40, 200), (pieces, cuts, max) => {
          const chunks = cut(Buffer.concat(pieces), cuts);
          assert.deepEqual(acted(viaSplitter(chunks, max).log), acted(viaParser(chunks, max)));
        }),
        { numRuns: 2000 },
      );
    });
  });
});
