import assert from 'node:assert/strict';
import { DONE_FRAME, encodeComment, encodeData, encodeEvent } from '../../src/sse/encoder.js';
import { createSseParser, type SseEvent } from '../../src/sse/parser.js';

function parseAll(wire: string): { events: SseEvent[]; comments: string[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const p = createSseParser({ onEvent: (e) => events.push(e), onComment: (c) => comments.push(c) });
  p.feed(new TextEncoder().encode(wire));
  return { events, comments };
}

describe('sse encoder', () => {
  describe('DONE_FRAME', () => {
    it('is the OpenAI end-of-stream frame', () => assert.equal(DONE_FRAME, 'data: [DONE]\n\n'));
  });

  describe('encodeData', () => {
    it('frames a one-line payload', () => {
      assert.equal(encodeData('{"a":1}'), 'data: {"a":1}\n\n');
    });

    it('frames an empty payload', () => {
      assert.equal(encodeData(''), 'data: \n\n');
      assert.deepStrictEqual(parseAll(encodeData('')).events, [{ data: '' }]);
    });

    it('keeps a leading space (the parser strips only the one after the colon)', () => {
      assert.equal(encodeData(' x'), 'data:  x\n\n');
      assert.deepStrictEqual(parseAll(encodeData(' x')).events, [{ data: ' x' }]);
    });

    it('writes one data: line per line, for LF, CR and CRLF', () => {
      assert.equal(encodeData('a\nb'), 'data: a\ndata: b\n\n');
      assert.equal(encodeData('a\rb'), 'data: a\ndata: b\n\n');
      assert.equal(encodeData('a\r\nb'), 'data: a\ndata: b\n\n');
      assert.equal(encodeData('a\n\rb'), 'data: a\ndata: \ndata: b\n\n');
    });

    it('keeps leading, trailing and repeated line breaks as empty data: lines', () => {
      assert.equal(encodeData('\n'), 'data: \ndata: \n\n');
      assert.equal(encodeData('a\n\n'), 'data: a\ndata: \ndata: \n\n');
    });

    it('round-trips LF payloads byte for byte through the parser', () => {
      for (const p of ['', 'x', '\n', 'a\nb', '\n\na\n\n', ' lead', 'trail ', ': not a comment', 'data: x', '😀\n世界']) {
        assert.deepStrictEqual(parseAll(encodeData(p)).events, [{ data: p }], JSON.stringify(p));
      }
    });

    it('emits only LF line ends', () => {
      assert.ok(!encodeData('a\r\nb\rc').includes('\r'));
    });
  });

  describe('encodeEvent', () => {
    it('equals encodeData when only data is given', () => {
      assert.equal(encodeEvent({ data: 'a\nb' }), encodeData('a\nb'));
    });

    it('writes event, id and retry before the data', () => {
      assert.equal(encodeEvent({ data: 'x', event: 'add', id: '7', retry: 1500 }),
        'event: add\nid: 7\nretry: 1500\ndata: x\n\n');
    });

    it('omits an empty event name (the default type) but writes an empty id (it resets the last id)', () => {
      assert.equal(encodeEvent({ data: 'x', event: '', id: '' }), 'id: \ndata: x\n\n');
      assert.deepStrictEqual(parseAll(encodeEvent({ data: 'x', id: '' })).events, [{ data: 'x', id: '' }]);
    });

    it('round-trips through the parser', () => {
      const e = { data: '{"x":1}\n2', event: ' spaced name', id: 'id:with:colons' };
      assert.deepStrictEqual(parseAll(encodeEvent(e)).events, [e]);
    });

    for (const bad of ['a\nb', 'a\rb', 'a\r\nb', '\n']) {
      it(`throws TypeError for event or id ${JSON.stringify(bad)}`, () => {
        assert.throws(() => encodeEvent({ data: 'x', event: bad }), TypeError);
        assert.throws(() => encodeEvent({ data: 'x', id: bad }), TypeError);
      });
    }

    it('throws TypeError for an id with NUL, but allows NUL in the event name', () => {
      assert.throws(() => encodeEvent({ data: 'x', id: 'a\0b' }), TypeError);
      assert.equal(encodeEvent({ data: 'x', event: 'a\0b' }), 'event: a\0b\ndata: x\n\n');
    });

    it('throws TypeError for a retry that is not a non-negative integer', () => {
      for (const retry of [-1, 1.5, NaN, Infinity]) {
        assert.throws(() => encodeEvent({ data: 'x', retry }), TypeError, String(retry));
      }
      assert.equal(encodeEvent({ data: 'x', retry: 0 }), 'retry: 0\ndata: x\n\n');
    });
  });

  describe('encodeComment', () => {
    it('frames a one-line comment', () => {
      assert.equal(encodeComment('keep-alive'), ': keep-alive\n\n');
    });

    it('writes one ":" line per line', () => {
      assert.equal(encodeComment('a\nb\r\nc\rd'), ': a\n: b\n: c\n: d\n\n');
    });

    it('is read back as comments and dispatches no event', () => {
      assert.deepStrictEqual(parseAll(encodeComment('a\nb') + encodeData('x')),
        { events: [{ data: 'x' }], comments: ['a', 'b'] });
    });
  });
});
