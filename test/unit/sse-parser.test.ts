// Cases cite the HTML Living Standard, "9.2.6 Interpreting an event stream" (HTML LS §9.2.6):
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
// Every case is fed whole, split in two at every byte, split in three at every pair of bytes (short
// inputs), byte by byte, and as text split at every code unit: a parser that only works on friendly
// reads (whole lines, whole UTF-8 sequences, CRLF in one piece) fails here.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSseParser, type SseEvent, type SseParserOptions } from '../../src/sse/parser.js';
import { encodeEvent } from '../../src/sse/encoder.js';

type Rec =
  | ['event', SseEvent]
  | ['comment', string]
  | ['retry', number]
  | ['error', string];

const utf8 = (s: string) => new TextEncoder().encode(s);
const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...utf8(p)] : p)));

function recorder(extra: Partial<SseParserOptions> = {}) {
  const log: Rec[] = [];
  const parser = createSseParser({
    onEvent: (e) => log.push(['event', e]),
    onComment: (t) => log.push(['comment', t]),
    onRetry: (ms) => log.push(['retry', ms]),
    onError: (err) => log.push(['error', err.type]),
    ...extra,
  });
  return { log, parser };
}

function parse(chunks: Iterable<Uint8Array | string>, extra?: Partial<SseParserOptions>): Rec[] {
  const { log, parser } = recorder(extra);
  for (const c of chunks) parser.feed(c);
  return log;
}

/** Every way we split one input: [label, chunks]. */
function* splits(input: Uint8Array, text: string | undefined): Generator<[string, (Uint8Array | string)[]]> {
  const n = input.length;
  yield ['whole', [input]];
  for (let i = 0; i <= n; i++) yield [`split at byte ${i}`, [input.subarray(0, i), input.subarray(i)]];
  if (n <= 96) {
    for (let i = 1; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        yield [`split at bytes ${i},${j}`, [input.subarray(0, i), input.subarray(i, j), input.subarray(j)]];
      }
    }
  }
  yield ['byte by byte', Array.from(input, (_, i) => input.subarray(i, i + 1))];
  if (text !== undefined) {
    for (let i = 0; i <= text.length; i++) {
      const c = text.charCodeAt(i - 1);
      if (c >= 0xd800 && c <= 0xdbff) continue; // a string chunk can't end inside a surrogate pair
      yield [`text split at code unit ${i}`, [text.slice(0, i), text.slice(i)]];
    }
  }
}

function assertAllSplits(input: Uint8Array | string, expected: Rec[], extra?: Partial<SseParserOptions>) {
  const raw = typeof input === 'string' ? utf8(input) : input;
  const text = typeof input === 'string' ? input : undefined;
  let runs = 0;
  for (const [label, chunks] of splits(raw, text)) {
    assert.deepStrictEqual(parse(chunks, extra), expected, label);
    runs++;
  }
  assert.ok(runs > raw.length, 'ran every split');
}

const ev = (data: string, more: Omit<SseEvent, 'data'> = {}): Rec => ['event', { data, ...more }];

interface Case { name: string; input: string | Uint8Array; expect: Rec[] }

const cases: Case[] = [
  // --- line ends: "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
  // character pair, a single U+000A LINE FEED (LF) character, or a single U+000D CARRIAGE RETURN (CR)".
  { name: 'LF line ends', input: 'data: a\n\n', expect: [ev('a')] },
  { name: 'CRLF line ends', input: 'data: a\r\n\r\n', expect: [ev('a')] },
  { name: 'CR line ends', input: 'data: a\r\rdata: b\r\r', expect: [ev('a'), ev('b')] },
  { name: 'mixed line ends in one stream', input: 'data: a\r\ndata: b\rdata: c\n\r\n', expect: [ev('a\nb\nc')] },
  // CRLF is ONE line end: read as two, "data: a\r\n" would end the event early.
  { name: 'CRLF is one line end, not two', input: 'data: a\r\ndata: b\r\n\r\n', expect: [ev('a\nb')] },
  // ...but LF then CR is two: the CR is an empty line that dispatches.
  { name: 'LF then CR is two line ends', input: 'data: a\n\rdata: b\n\n', expect: [ev('a'), ev('b')] },
  { name: 'CR CR LF: line end, then an empty line', input: 'data: a\r\r\ndata: b\n\n', expect: [ev('a'), ev('b')] },

  // --- BOM: "The stream must then be parsed by ... the UTF-8 decode algorithm" (one leading BOM dropped).
  { name: 'leading BOM stripped', input: '\uFEFFdata: a\n\n', expect: [ev('a')] },
  { name: 'only one leading BOM stripped (the second is part of the field name)',
    input: '\uFEFF\uFEFFdata: a\n\ndata: b\n\n', expect: [['error', 'unknown-field'], ev('b')] },
  { name: 'BOM later in the stream is data', input: 'data: \uFEFFx\n\n', expect: [ev('\uFEFFx')] },
  // Latin-1 reading of a BOM is real text, not a BOM (eventsource-parser strips it; we must not).
  { name: 'text "\\u00EF\\u00BB\\u00BF" at the start is not a BOM',
    input: '\u00EF\u00BB\u00BFdata: a\n\ndata: b\n\n', expect: [['error', 'unknown-field'], ev('b')] },
  // "UTF-8 decode": bytes that aren't UTF-8 become U+FFFD, they don't break the stream.
  { name: 'invalid UTF-8 becomes U+FFFD', input: bytes('data: ', [0xff], 'x\n\n'), expect: [ev('\uFFFDx')] },
  { name: 'truncated UTF-8 sequence becomes one U+FFFD', input: bytes('data: ', [0xe2, 0x82], '\n\n'), expect: [ev('\uFFFD')] },
  { name: 'multi-byte characters (split at every byte)', input: 'data: héllo 😀 世界 ﷽\n\n', expect: [ev('héllo 😀 世界 ﷽')] },

  // --- comments: "If the line starts with a U+003A COLON character (:) — Ignore the line."
  { name: 'comment', input: ': hello\n', expect: [['comment', 'hello']] },
  { name: 'empty comment', input: ':\n', expect: [['comment', '']] },
  { name: 'comment inside an event does not end it', input: 'data: a\n: c\ndata: b\n\n', expect: [['comment', 'c'], ev('a\nb')] },
  { name: 'keep-alive comment between events', input: 'data: a\n\n: keep-alive\n\ndata: b\n\n',
    expect: [ev('a'), ['comment', 'keep-alive'], ev('b')] },

  // --- fields: "Collect the characters on the line before the first U+003A COLON character (:), and let
  // field be that string. Collect the characters on the line after the first U+003A COLON character (:),
  // and let value be that string. If value starts with a U+0020 SPACE character, remove it from value."
  { name: 'field without a space after the colon', input: 'data:a\n\n', expect: [ev('a')] },
  { name: 'spec example: "data:test" and "data: test" are the same', input: 'data:test\n\ndata: test\n\n', expect: [ev('test'), ev('test')] },
  { name: 'only one leading space stripped', input: 'data:  a\n\n', expect: [ev(' a')] },
  { name: 'trailing spaces kept', input: 'data: a  \n\n', expect: [ev('a  ')] },
  { name: 'a tab is not a space', input: 'data:\ta\n\n', expect: [ev('\ta')] },
  { name: 'value splits at the first colon only', input: 'data: a:b: c\n\n', expect: [ev('a:b: c')] },
  { name: 'JSON payload passes through', input: 'data: {"a":"b: c","d":[1,2]}\n\n', expect: [ev('{"a":"b: c","d":[1,2]}')] },
  // "Otherwise, the string is not empty but does not contain a U+003A COLON character (:) — Process the
  // field using ... the whole line as the field name, and the empty string as the field value."
  { name: 'bare "data" line is data with an empty value', input: 'data\n\n', expect: [ev('')] },

  // --- data: "Append the field value to the data buffer, then append a single U+000A LINE FEED (LF)";
  // at dispatch "If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
  // the last character from the data buffer."
  { name: 'multi-line data joined with LF', input: 'data: a\ndata: b\ndata: c\n\n', expect: [ev('a\nb\nc')] },
  { name: 'spec example: YHOO +2 10', input: 'data: YHOO\ndata: +2\ndata: 10\n\n', expect: [ev('YHOO\n+2\n10')] },
  { name: 'data: with an empty value dispatches ""', input: 'data:\n\n', expect: [ev('')] },
  { name: '"data: " with only the space dispatches ""', input: 'data: \n\n', expect: [ev('')] },
  { name: 'two empty data lines give one LF', input: 'data\ndata\n\n', expect: [ev('\n')] },
  { name: 'only the final LF is removed', input: 'data: a\ndata:\n\n', expect: [ev('a\n')] },
  { name: 'NUL in data is kept', input: 'data: a\u0000b\n\n', expect: [ev('a\u0000b')] },
  { name: 'many events in one read', input: 'data: 1\n\ndata: 2\n\ndata: 3\n\n', expect: [ev('1'), ev('2'), ev('3')] },
  // "If the data buffer is an empty string, set the data buffer and the event type buffer to the empty
  // string and return." — a block without data fires nothing.
  { name: 'blank lines alone dispatch nothing', input: '\n\n\r\n\r\r', expect: [] },
  { name: 'block without data dispatches nothing, and its event type is reset',
    input: 'event: x\n\ndata: a\n\n', expect: [ev('a')] },

  // --- event: "Set the event type buffer to the field value." Empty → "message" (reported as absent).
  { name: 'event field', input: 'event: add\ndata: x\n\n', expect: [ev('x', { event: 'add' })] },
  { name: 'event type is reset after dispatch', input: 'event: add\ndata: x\n\ndata: y\n\n',
    expect: [ev('x', { event: 'add' }), ev('y')] },
  { name: 'empty event value means the default type', input: 'event:\ndata: x\n\n', expect: [ev('x')] },
  { name: 'last event field wins', input: 'event: a\nevent: b\ndata: x\n\n', expect: [ev('x', { event: 'b' })] },
  { name: 'field order does not matter', input: 'data: x\nid: 9\nevent: e\n\n', expect: [ev('x', { event: 'e', id: '9' })] },

  // --- id: "If the field value does not contain U+0000 NULL, then set the last event ID buffer to the
  // field value. Otherwise, ignore the field."
  { name: 'id field', input: 'id: 42\ndata: x\n\n', expect: [ev('x', { id: '42' })] },
  { name: 'id containing NUL is ignored', input: 'id: 1\u0000\ndata: x\n\n', expect: [ev('x')] },
  { name: 'id containing NUL leaves an earlier id', input: 'id: 7\nid: 8\u0000\ndata: x\n\n', expect: [ev('x', { id: '7' })] },
  { name: 'empty id is reported as ""', input: 'id\ndata: x\n\n', expect: [ev('x', { id: '' })] },
  // Deliberate: id is per block (relay fidelity), not the standard's sticky last-event-ID buffer.
  { name: 'id is per event block', input: 'id: 1\ndata: a\n\ndata: b\n\n', expect: [ev('a', { id: '1' }), ev('b')] },
  { name: 'spec example stream (ids per block; last block dropped, no blank line)',
    input: ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n',
    expect: [['comment', 'test stream'], ev('first event', { id: '1' }), ev('second event', { id: '' })] },

  // --- retry: "If the field value consists of only ASCII digits, then interpret the field value as an
  // integer in base ten, and set the event stream's reconnection time to that integer. Otherwise, ignore."
  { name: 'retry', input: 'retry: 3000\n', expect: [['retry', 3000]] },
  { name: 'retry 0', input: 'retry:0\n', expect: [['retry', 0]] },
  { name: 'retry with a unit is ignored', input: 'retry: 3s\n', expect: [['error', 'invalid-retry']] },
  { name: 'negative retry is ignored', input: 'retry: -1\n', expect: [['error', 'invalid-retry']] },
  { name: 'fractional retry is ignored', input: 'retry: 1.5\n', expect: [['error', 'invalid-retry']] },
  { name: 'empty retry is ignored', input: 'retry\n', expect: [['error', 'invalid-retry']] },
  { name: 'non-ASCII digits are not digits', input: 'retry: \u0663\n', expect: [['error', 'invalid-retry']] },
  { name: 'retry does not dispatch or touch the event', input: 'data: a\nretry: 5\ndata: b\n\n', expect: [['retry', 5], ev('a\nb')] },

  // --- "Otherwise: The field is ignored."
  { name: 'unknown field ignored', input: 'foo: bar\ndata: x\n\n', expect: [['error', 'unknown-field'], ev('x')] },
  { name: 'field names are case-sensitive', input: 'Data: x\n\n', expect: [['error', 'unknown-field']] },
  { name: 'a space before the colon is part of the name', input: 'data : x\n\n', expect: [['error', 'unknown-field']] },
  { name: 'line without a colon is a field with an empty value', input: 'foo\ndata: x\n\n', expect: [['error', 'unknown-field'], ev('x')] },

  // --- end of stream: "Once the end of the file is reached, any pending data must be discarded. (If the
  // file ends in the middle of an event, before the final empty line, the incomplete event is not dispatched.)"
  { name: 'trailing event without a blank line is dropped', input: 'data: a\n', expect: [] },
  { name: 'trailing unterminated line is dropped', input: 'data: a\n\ndata: b', expect: [ev('a')] },
  { name: 'trailing event with one line end is dropped', input: 'data: a\n\ndata: b\n', expect: [ev('a')] },
  { name: 'spec example: "data:\\n\\ndata\\ndata\\n\\ndata:"', input: 'data:\n\ndata\ndata\n\ndata:', expect: [ev(''), ev('\n')] },

  // --- what the relay actually sees
  { name: 'OpenAI chat.completion.chunk stream',
    input: 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"choices":[{"delta":{"content":" 👋"}}]}\n\ndata: [DONE]\n\n',
    expect: [ev('{"choices":[{"delta":{"content":"Hi"}}]}'), ev('{"choices":[{"delta":{"content":" 👋"}}]}'), ev('[DONE]')] },
];

describe('createSseParser', () => {
  describe('event stream interpretation, fed at every split', () => {
    for (const c of cases) it(c.name, () => assertAllSplits(c.input, c.expect));
  });

  describe('when a read completes an event', () => {
    it('dispatches during that feed, even when the read ends in a lone CR', () => {
      for (const [first, rest] of [['data: a\n\n', 'data: b\n\n'], ['data: a\r\r', '\ndata: b\r\r'], ['data: a\r\n\r', '\ndata: b\r\n\r\n']]) {
        const { log, parser } = recorder();
        parser.feed(utf8(first!));
        assert.deepStrictEqual(log, [ev('a')], JSON.stringify(first));
        parser.feed(utf8(rest!));
        assert.deepStrictEqual(log, [ev('a'), ev('b')], JSON.stringify(rest));
      }
    });

    it('does not dispatch before the blank line arrives', () => {
      const { log, parser } = recorder();
      parser.feed('data: a\n');
      parser.feed('data: b\n');
      assert.deepStrictEqual(log, []);
      parser.feed('\n');
      assert.deepStrictEqual(log, [ev('a\nb')]);
    });
  });

  describe('feed', () => {
    it('accepts strings and bytes in the same stream', () => {
      assert.deepStrictEqual(parse(['data: a', utf8('\n\ndata: é'), '\n', utf8('\n')]), [ev('a'), ev('é')]);
    });

    it('ignores empty reads', () => {
      assert.deepStrictEqual(parse([new Uint8Array(0), '', utf8('data: a\n\n'), new Uint8Array(0)]), [ev('a')]);
    });

    it('strips a BOM split into three one-byte reads', () => {
      assert.deepStrictEqual(parse([bytes([0xef]), bytes([0xbb]), bytes([0xbf]), 'data: a\n\n']), [ev('a')]);
    });

    it('strips the BOM only at the start, not after an empty first read', () => {
      assert.deepStrictEqual(parse([utf8('data: a'), utf8('\uFEFF\n\n')]), [ev('a\uFEFF')]);
    });

    it('delivers events without undefined keys', () => {
      const [, e] = parse(['data: x\n\n'])[0] as ['event', SseEvent];
      assert.deepStrictEqual(Object.keys(e), ['data']);
    });

    it('works without the optional callbacks', () => {
      const events: SseEvent[] = [];
      const parser = createSseParser({ onEvent: (e) => events.push(e) });
      parser.feed(': c\nretry: x\nfoo: 1\ndata: a\n\n');
      assert.deepStrictEqual(events, [{ data: 'a' }]);
    });
  });

  describe('reset', () => {
    it('drops a partial event and a partial line', () => {
      const { log, parser } = recorder();
      parser.feed('data: a\ndata: b');
      parser.reset();
      parser.feed('\n\ndata: c\n\n');
      assert.deepStrictEqual(log, [ev('c')]);
    });

    it('drops bytes of a partial UTF-8 character', () => {
      const { log, parser } = recorder();
      parser.feed(bytes('data: ', [0xf0, 0x9f]));
      parser.reset();
      parser.feed('data: x\n\n');
      assert.deepStrictEqual(log, [ev('x')]);
    });

    it('drops a pending CR so a following LF is a blank line again', () => {
      const { log, parser } = recorder();
      parser.feed('data: a\r');
      parser.reset();
      parser.feed('\ndata: b\n\n');
      assert.deepStrictEqual(log, [ev('b')]);
    });

    it('strips a BOM at the start of the new stream', () => {
      const { log, parser } = recorder();
      parser.feed('\uFEFFdata: a\n\n');
      parser.reset();
      parser.feed(bytes([0xef, 0xbb, 0xbf], 'data: b\n\n'));
      assert.deepStrictEqual(log, [ev('a'), ev('b')]);
    });
  });

  describe('when maxEventBytes is exceeded', () => {
    const max = 100;
    const small = `data: ${'s'.repeat(max - 10)}\n\n`;
    const big = `data: ${'b'.repeat(max + 1)}\n\n`;

    it('accepts events within the limit at every split', () => {
      assertAllSplits(small + small, [ev('s'.repeat(max - 10)), ev('s'.repeat(max - 10))], { maxEventBytes: max });
    });

    it('rejects an oversized event at every split, then stops', () => {
      // The big event is rejected whether it arrives in one read or many; the small one after it is ignored.
      assertAllSplits(small + big + small, [ev('s'.repeat(max - 10)), ['error', 'max-buffer-size-exceeded']], { maxEventBytes: max });
    });

    it('rejects data accumulated over many short lines', () => {
      const input = `${'data: 0123456789\n'.repeat(20)}\n`;
      assertAllSplits(input, [['error', 'max-buffer-size-exceeded']], { maxEventBytes: max });
    });

    it('rejects an endless line without a line end', () => {
      const { log, parser } = recorder({ maxEventBytes: max });
      for (let i = 0; i < 50; i++) parser.feed('data: xxxxxxxxxxxxxxxx');
      assert.deepStrictEqual(log, [['error', 'max-buffer-size-exceeded']]);
    });

    it('passes an Error with the type, and ignores input until reset', () => {
      const errors: (Error & { type: string })[] = [];
      const events: SseEvent[] = [];
      const parser = createSseParser({ onEvent: (e) => events.push(e), onError: (e) => errors.push(e), maxEventBytes: max });
      parser.feed(big);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof Error);
      assert.equal(errors[0]!.type, 'max-buffer-size-exceeded');
      parser.feed(small); // must neither throw nor emit
      assert.deepStrictEqual(events, []);
      parser.reset();
      parser.feed(small);
      assert.deepStrictEqual(events, [{ data: 's'.repeat(max - 10) }]);
    });
  });

  describe('round trip with the encoder (property)', () => {
    const lineEnd = fc.constantFrom('\n', '\r', '\r\n');
    const char = fc.oneof(
      { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }, // any code point
      { weight: 2, arbitrary: fc.constantFrom('😀', '👩‍👩‍👧', 'é', '世', ' ', ':', '\u0000', '\uFEFF', '[DONE]') },
      { weight: 2, arbitrary: lineEnd },
    );
    const text = fc.array(char, { maxLength: 40 }).map((cs) => cs.join(''));
    const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !/[\r\n]/.test(s));
    const event = fc.record(
      { data: text, event: name, id: name.filter((s) => !s.includes('\0')) },
      { requiredKeys: ['data'] },
    );

    it('any events, encoded, split into any byte chunks, parse back to the same events', () => {
      fc.assert(fc.property(
        fc.array(event, { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 1 << 16 })),
        fc.boolean(),
        (events, cuts, bom) => {
          const wire = utf8((bom ? '\uFEFF' : '') + events.map((e) => encodeEvent(e)).join(''));
          const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...at].map((from, i) => wire.subarray(from, [...at, wire.length][i]));
          // An event stream has no CR inside data: CR and CRLF come back as LF.
          const expected = events.map((e): Rec => ['event', { ...e, data: e.data.replace(/\r\n?/g, '\n') }]);
          assert.deepStrictEqual(parse(chunks), expected);
        },
      ), { numRuns: 500 });
    });
  });
});
