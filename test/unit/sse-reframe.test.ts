// The relay's re-framing stages without sockets: the chat attempt (src/relay/attempt-frames.ts) and
// the pass-through stage (src/relay/passthrough-frames.ts), fed upstream bodies in every framing the
// standard allows (test/helpers/sse-wires.ts) at every byte split. What they write must read right
// to a client that takes the body one line at a time: exactly one `data:` line per event, each whole
// JSON or `[DONE]`, LF only, the text whole; and the same bytes whatever the split.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createAttempt, type RelayAttempt, type RelaySink } from '../../src/relay/attempt-frames.js';
import { PassthroughFrames } from '../../src/relay/passthrough-frames.js';
import { UNCHANGED } from '../../src/relay/observer.js';
import { createFrameSplitter, wholeAtEnd } from '../../src/sse/frames.js';
import { createSseParser } from '../../src/sse/parser.js';
import { encodeRelayed, joinLines } from '../../src/sse/encoder.js';
import { buildWire, CONTENTS, readLines, type LastEnd, type LineEnd, type WireKind } from '../helpers/sse-wires.js';

/** What a stage wrote: the bytes in order, and how many frames went through as the upstream's bytes. */
interface Written {
  out: Buffer;
  byteFrames: number;
}

class Collect {
  readonly pieces: Buffer[] = [];
  byteFrames = 0;
  write(frame: string): void {
    this.pieces.push(Buffer.from(frame));
  }
  writeBytes(buf: Buffer, start: number, end: number): void {
    this.byteFrames++;
    this.pieces.push(Buffer.from(buf.subarray(start, end)));
  }
  result(): Written {
    return { out: Buffer.concat(this.pieces), byteFrames: this.byteFrames };
  }
}

/** The chat attempt, with an observer that forwards every payload as it is. */
function viaChat(chunks: Buffer[], maxEventBytes = 1 << 20): Written & { att: RelayAttempt } {
  const c = new Collect();
  const sink: RelaySink = {
    maxEventBytes,
    now: () => 0,
    commit: () => undefined,
    write: (f) => c.write(f),
    writeBytes: (b, s, e) => c.writeBytes(b, s, e),
    markDataSent: () => undefined,
    afterEvent: () => undefined,
    stopped: () => false,
  };
  const att = createAttempt(sink, { onEvent: (data) => data }, 'up');
  for (const chunk of chunks) if (!att.done()) att.feed(chunk);
  if (!att.done()) att.end();
  return { ...c.result(), att };
}

/** The pass-through stage, with the events it reports to its observer. */
function viaPassthrough(chunks: Buffer[], maxEventBytes = 1 << 20): Written & { stage: PassthroughFrames; observed: string[] } {
  const c = new Collect();
  const observed: string[] = [];
  const observer = {
    onBytes: (b: Buffer, s: number, e: number) => {
      observed.push(b.toString('utf8', s, e));
      return UNCHANGED;
    },
    onEvent: (d: string) => {
      observed.push(d);
      return d;
    },
  };
  const stage = new PassthroughFrames(c, observer, maxEventBytes, 'up');
  for (const chunk of chunks) stage.feed(chunk);
  stage.end();
  return { ...c.result(), stage, observed };
}

/** Checks the frames a line-reading client gets; returns its lines. */
function assertCanonical(out: Buffer): string[] {
  const text = out.toString('utf8');
  assert.ok(!text.includes('\r'), 'LF only');
  assert.ok(text === '' || text.endsWith('\n\n'), 'ends with a whole frame');
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    assert.match(line, /^(data: |event: |id: |retry: \d+$|: )/, `a canonical field line: ${JSON.stringify(line)}`);
    // Exactly one data line per event: a blank line follows each.
    if (line.startsWith('data: ')) assert.equal(lines[i + 1], '', `one data: line per event, after ${JSON.stringify(line.slice(0, 40))}`);
  }
  return lines;
}

function* everySplit(wire: Buffer): Generator<Buffer[]> {
  yield [wire];
  for (let i = 1; i < wire.length; i++) yield [wire.subarray(0, i), wire.subarray(i)];
  yield [...wire].map((b) => Buffer.from([b]));
}

function cut(wire: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => wire.subarray(from, [...at, wire.length][i]));
}

const EOLS: LineEnd[] = ['\n', '\r', '\r\n'];
const LASTS: LastEnd[] = ['blank', 'eol', 'none'];
const TEXT = CONTENTS.join('');

describe('SSE re-framing for line-reading clients (relay stages, no sockets)', function () {
  this.timeout(60_000);

  describe('the encoder rule: one data: line, line breaks become one space', () => {
    it('joins CR, LF and CRLF line breaks with a space and keeps a JSON value equal', () => {
      assert.equal(joinLines('{"a":\n1,\r"b":\r\n[2]}'), '{"a": 1, "b": [2]}');
      assert.deepEqual(JSON.parse(joinLines(JSON.stringify({ a: 'x\ny', b: [1, { c: null }] }, null, 2))), { a: 'x\ny', b: [1, { c: null }] });
      assert.equal(encodeRelayed({ data: '{"a":\n1}' }), 'data: {"a": 1}\n\n');
    });

    it('a payload that is not JSON: its lines joined with a space, relayed as text (never glued into JSON)', () => {
      assert.equal(encodeRelayed({ data: 'not\njson' }), 'data: not json\n\n');
      // Removing the break would turn `1` LF `2` into the JSON `12`; a space keeps it what it was.
      assert.equal(encodeRelayed({ data: '1\n2' }), 'data: 1 2\n\n');
      assert.throws(() => JSON.parse('1 2'));
    });

    it('keeps the event name and id, each on its own line', () => {
      assert.equal(encodeRelayed({ data: 'a\nb', event: 'response.output_text.delta', id: '7' }), 'event: response.output_text.delta\nid: 7\ndata: a b\n\n');
    });
  });

  describe('a last event that the stream end closes, not a blank line', () => {
    it('counts when it is [DONE] or a whole JSON object or array; a cut or scalar is a cut', () => {
      for (const d of ['[DONE]', '{"a":1}', ' [1, 2]', '{"a":\n1}']) assert.ok(wholeAtEnd(d), d);
      for (const d of ['[DO', '{"a":1', '{"a":', '12', '"str"', 'true', '', 'text']) assert.ok(!wholeAtEnd(d), d);
    });

    it('the parser hands it over at end(), at every split, whatever the line end', () => {
      for (const eol of EOLS) {
        for (const wire of [`data: {"a":1}${eol}${eol}data: [DONE]`, `data: {"a":1}${eol}${eol}data: [DONE]${eol}`]) {
          for (const chunks of everySplit(Buffer.from(wire))) {
            const seen: string[] = [];
            const p = createSseParser({ onEvent: (e) => seen.push(e.data) });
            for (const c of chunks) p.feed(c);
            assert.deepEqual(seen, ['{"a":1}']);
            assert.deepEqual(p.end(), { data: '[DONE]' });
            p.feed(Buffer.from('\n\ndata: x\n\n'));
            assert.deepEqual(seen, ['{"a":1}'], 'nothing after end()');
          }
        }
      }
    });

    it('the splitter reports a whole last event, a cut one as "cut", and nothing after a blank line', () => {
      const tail = (wire: string): unknown => {
        const s = createFrameSplitter({ onDataFrame: () => undefined, onEvent: () => undefined });
        s.feed(Buffer.from(wire));
        return s.end();
      };
      assert.deepEqual(tail('data: a\n\ndata: [DONE]'), { data: '[DONE]' });
      assert.deepEqual(tail('data: a\n\nevent: x\ndata: {"b":\ndata: 2}\n'), { data: '{"b":\n2}', event: 'x' });
      assert.equal(tail('data: a\n\ndata: {"b":2'), 'cut');
      assert.equal(tail('data: a\n\ndata: [DO'), 'cut');
      assert.equal(tail('data: a\n\n'), null);
      assert.equal(tail('data: a\n\n: bye'), null);
      assert.equal(tail(''), null);
    });
  });

  for (const kind of ['chat', 'completions', 'responses'] as WireKind[]) {
    for (const eol of EOLS) {
      for (const bom of [false, true]) {
        for (const last of LASTS) {
          const wire = Buffer.from(buildWire(kind, CONTENTS, { eol, bom, last }));
          const label = `${kind}, ${JSON.stringify(eol)}${bom ? ', BOM' : ''}, last event ended by ${last}`;
          it(`pass-through: ${label}: canonical, the text whole, the same at every split`, () => {
            const expected = viaPassthrough([wire]);
            assert.equal(expected.stage.error(), null);
            const read = readLines(kind, assertCanonical(expected.out));
            assert.deepEqual(read.broken, []);
            assert.equal(read.text, TEXT);
            if (kind === 'responses') assert.equal(read.lastType, 'response.completed', 'the last event relayed');
            else assert.ok(read.sawDone, '[DONE] relayed');
            assert.ok(expected.out.includes('id: 2\n') && expected.out.includes(': ping\n\n'), 'ids and comments kept');
            if (kind === 'responses') assert.ok(expected.out.includes('event: response.output_text.delta\ndata: '), 'event names kept');
            assert.equal(expected.observed.length, CONTENTS.length + (kind === 'responses' ? 1 : 0), 'every event observed once');
            for (const chunks of everySplit(wire)) assert.ok(viaPassthrough(chunks).out.equals(expected.out), `split ${chunks.map((c) => c.length).join('+')}`);
          });

          if (kind === 'responses') continue;
          it(`chat: ${label}: data: lines only, the text whole, [DONE] received, the same at every split`, () => {
            const expected = viaChat([wire]);
            assert.ok(expected.att.sawDone(), 'the stream ended normally');
            const lines = assertCanonical(expected.out);
            assert.ok(lines.every((l) => l === '' || l.startsWith('data: ')), 'the chat relay writes data: lines only');
            const read = readLines(kind, lines);
            assert.deepEqual(read.broken, []);
            assert.equal(read.text, TEXT);
            assert.equal(read.payloads.at(-1), '[DONE]');
            for (const chunks of everySplit(wire)) assert.ok(viaChat(chunks).out.equals(expected.out), `split ${chunks.map((c) => c.length).join('+')}`);
          });
        }
      }
    }
  }

  it('keeps the byte fast path: LF single-line frames go through as the upstream bytes, unchanged', () => {
    const frames = CONTENTS.map((c) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: c } }] })}\n\n`).join('') + 'data: [DONE]\n\n';
    const wire = Buffer.from(frames);
    for (const chunks of everySplit(wire)) {
      const chat = viaChat(chunks);
      assert.ok(chat.out.equals(wire));
      assert.equal(chat.byteFrames, CONTENTS.length + 1);
      const pass = viaPassthrough(chunks);
      assert.ok(pass.out.equals(wire));
      assert.equal(pass.byteFrames, CONTENTS.length + 1);
    }
  });

  it('a stream cut inside an event stays a truncation: chat without [DONE], pass-through with an error', () => {
    for (const tail of ['data: {"choices":[{"delta":{"content":"x"', 'data: [DO', 'data: {"a":\ndata: 1']) {
      const wire = Buffer.from(`data: {"a":1}\n\n${tail}`);
      for (const chunks of everySplit(wire)) {
        const chat = viaChat(chunks);
        assert.ok(!chat.att.sawDone(), tail);
        assert.equal(chat.out.toString(), 'data: {"a":1}\n\n');
        const pass = viaPassthrough(chunks);
        assert.equal(pass.stage.error()?.code, 'upstream_truncated', tail);
        assert.equal(pass.out.toString(), 'data: {"a":1}\n\n');
      }
    }
  });

  it('a final complete JSON event without [DONE]: relayed, and the chat stream is still a truncation', () => {
    const chat = viaChat([Buffer.from('data: {"a":1}\n\ndata: {"b":2}')]);
    assert.equal(chat.out.toString(), 'data: {"a":1}\n\ndata: {"b":2}\n\n');
    assert.ok(!chat.att.sawDone());
  });

  it('pass-through: an event over maxEventBytes ends the stream with an error; nothing after it is written', () => {
    const wire = Buffer.from(`data: {"a":1}\n\ndata: ${'x'.repeat(300)}\n\ndata: {"b":2}\n\n`);
    for (const chunks of everySplit(wire)) {
      const pass = viaPassthrough(chunks, 100);
      assert.equal(pass.stage.error()?.code, 'upstream_event_too_large');
      assert.equal(pass.out.toString(), 'data: {"a":1}\n\n');
    }
  });

  it('property: any events in any framing, split anywhere, read whole by a line client', () => {
    const piece = fc.string({ unit: fc.constantFrom('a', 'é', '世', '😀', '"', '\\', '\n', '\r', ' ', '\u2028'), maxLength: 6 });
    fc.assert(
      fc.property(
        fc.constantFrom<WireKind>('chat', 'completions', 'responses'),
        fc.array(piece, { minLength: 1, maxLength: 8 }),
        fc.constantFrom(...EOLS),
        fc.boolean(),
        fc.constantFrom(...LASTS),
        fc.array(fc.nat(), { maxLength: 12 }),
        (kind, contents, eol, bom, last, cuts) => {
          const wire = Buffer.from(buildWire(kind, contents, { eol, bom, last }));
          const chunks = cut(wire, cuts);
          const pass = viaPassthrough(chunks);
          const read = readLines(kind, assertCanonical(pass.out));
          assert.deepEqual(read.broken, []);
          assert.equal(read.text, contents.join(''));
          assert.ok(pass.out.equals(viaPassthrough([wire]).out));
          if (kind === 'responses') return;
          const chat = viaChat(chunks);
          assert.ok(chat.att.sawDone());
          assert.equal(readLines(kind, assertCanonical(chat.out)).text, contents.join(''));
        },
      ),
      { numRuns: 300 },
    );
  });
});
