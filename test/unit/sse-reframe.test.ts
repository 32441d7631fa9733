// The relay's re-framing stages without sockets: the stream pipeline (src/relay/pipeline.ts) as the
// chat relay runs it (`EventPipeline`) and as the pass-through relay does (`PassthroughPipeline`),
// writing to a real caller side (src/relay/caller.ts) over a fake response, fed upstream bodies in
// every framing the standard allows (test/helpers/sse-wires.ts) at every byte split. What they
// write must read right to a client that takes the body one line at a time: exactly one `data:`
// line per event, each whole JSON or `[DONE]`, LF only, the text whole; and the same bytes
// whatever the split.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { ManualClock } from '../../src/clock.js';
import { EventBus } from '../../src/events/bus.js';
import { CallerStream } from '../../src/relay/caller.js';
import { Exchange } from '../../src/relay/exchange.js';
import { UNCHANGED, type ByteObserver, type StreamObserver } from '../../src/relay/observer.js';
import { EventPipeline, PassthroughPipeline } from '../../src/relay/pipeline.js';
import type { PumpResult, RelayOptions } from '../../src/relay/relay-types.js';
import { createFrameSplitter, wholeAtEnd } from '../../src/sse/frames.js';
import { createSseParser } from '../../src/sse/parser.js';
import { encodeRelayed, joinLines } from '../../src/sse/encoder.js';
import type { UpstreamResponse } from '../../src/upstream/transport.js';
import { Cancel } from '../../src/util/cancel.js';
import { FakeResponse } from '../helpers/fake-response.js';
import { buildWire, CONTENTS, readLines, type LastEnd, type LineEnd, type WireKind } from '../helpers/sse-wires.js';

/**
 * What a pipeline wrote after the head: the bytes in order, how many frames went through as the
 * upstream's bytes (calls of the batch writer's `writeBytes`), and how the body ended.
 */
interface Written {
  out: Buffer;
  byteFrames: number;
  result: PumpResult;
}

/** An upstream answer whose body is `chunks`, one upstream read each, then a clean end. */
function upstream(chunks: Buffer[]): UpstreamResponse {
  return { status: 200, ok: true, headers: new Headers({ 'content-type': 'text/event-stream' }), body: Readable.from(chunks) };
}

/** The error code a body ended with, or null when it ended normally. */
function errorCode(result: PumpResult): string | null {
  return result.kind === 'done' ? null : (result.error?.code ?? null);
}

/**
 * Run `chunks` through a pipeline as the relays do (src/relay/chat.ts, src/relay/passthrough.ts):
 * a caller side over a fake response; the pass-through's head committed before its body.
 */
async function relay(passthrough: boolean, chunks: Buffer[], observer: StreamObserver & Partial<ByteObserver>, maxEventBytes: number): Promise<Written> {
  const res = new FakeResponse();
  const opts: RelayOptions = { keepAliveMs: 0, idleTimeoutMs: 0, maxStreamDurationMs: 0, maxEventBytes, secrets: [], now: () => 0 };
  const ex = new Exchange('id', 'POST', '/v1/chat/completions', new ManualClock(), new EventBus());
  const caller = new CallerStream(res.asServerResponse(), new Cancel(), opts, ex, {});
  // Count the frames forwarded as the upstream's own bytes.
  let byteFrames = 0;
  const out = caller.out;
  const writeBytes = out.writeBytes;
  out.writeBytes = (buf, start, end) => {
    byteFrames++;
    writeBytes.call(out, buf, start, end);
  };
  caller.openStream();
  if (passthrough) caller.commitWith(200, {});
  const pipeline = passthrough ? new PassthroughPipeline(caller, { observer }, 'up', maxEventBytes) : new EventPipeline(caller, { observer }, 'up', maxEventBytes);
  const result = await pipeline.run(upstream(chunks));
  return { out: Buffer.concat(res.chunks), byteFrames, result };
}

/** The chat pipeline, with an observer that forwards every payload as it is. */
function viaChat(chunks: Buffer[], maxEventBytes = 1 << 20): Promise<Written> {
  return relay(false, chunks, { onEvent: (data) => data }, maxEventBytes);
}

/** The pass-through pipeline, with the events it reports to its observer. */
async function viaPassthrough(chunks: Buffer[], maxEventBytes = 1 << 20): Promise<Written & { observed: string[] }> {
  const observed: string[] = [];
  const observer: StreamObserver & ByteObserver = {
    onBytes: (b, s, e) => {
      observed.push(b.toString('utf8', s, e));
      return UNCHANGED;
    },
    onEvent: (d) => {
      observed.push(d);
      return d;
    },
  };
  return { ...(await relay(true, chunks, observer, maxEventBytes)), observed };
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
          it(`pass-through: ${label}: canonical, the text whole, the same at every split`, async () => {
            const expected = await viaPassthrough([wire]);
            assert.equal(errorCode(expected.result), null);
            const read = readLines(kind, assertCanonical(expected.out));
            assert.deepEqual(read.broken, []);
            assert.equal(read.text, TEXT);
            if (kind === 'responses') assert.equal(read.lastType, 'response.completed', 'the last event relayed');
            else assert.ok(read.sawDone, '[DONE] relayed');
            assert.ok(expected.out.includes('id: 2\n') && expected.out.includes(': ping\n\n'), 'ids and comments kept');
            if (kind === 'responses') assert.ok(expected.out.includes('event: response.output_text.delta\ndata: '), 'event names kept');
            assert.equal(expected.observed.length, CONTENTS.length + (kind === 'responses' ? 1 : 0), 'every event observed once');
            for (const chunks of everySplit(wire)) assert.ok((await viaPassthrough(chunks)).out.equals(expected.out), `split ${chunks.map((c) => c.length).join('+')}`);
          });

          if (kind === 'responses') continue;
          it(`chat: ${label}: data: lines only, the text whole, [DONE] received, the same at every split`, async () => {
            const expected = await viaChat([wire]);
            assert.deepEqual(expected.result, { kind: 'done' }, 'the stream ended normally');
            const lines = assertCanonical(expected.out);
            assert.ok(lines.every((l) => l === '' || l.startsWith('data: ')), 'the chat relay writes data: lines only');
            const read = readLines(kind, lines);
            assert.deepEqual(read.broken, []);
            assert.equal(read.text, TEXT);
            assert.equal(read.payloads.at(-1), '[DONE]');
            for (const chunks of everySplit(wire)) assert.ok((await viaChat(chunks)).out.equals(expected.out), `split ${chunks.map((c) => c.length).join('+')}`);
          });
        }
      }
    }
  }

  it('keeps the byte fast path: LF single-line frames go through as the upstream bytes, unchanged', async () => {
    const frames = CONTENTS.map((c) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: c } }] })}\n\n`).join('') + 'data: [DONE]\n\n';
    const wire = Buffer.from(frames);
    for (const chunks of everySplit(wire)) {
      const chat = await viaChat(chunks);
      assert.ok(chat.out.equals(wire));
      assert.equal(chat.byteFrames, CONTENTS.length + 1);
      const pass = await viaPassthrough(chunks);
      assert.ok(pass.out.equals(wire));
      assert.equal(pass.byteFrames, CONTENTS.length + 1);
    }
  });

  it('a stream cut inside an event stays a truncation: chat without [DONE], pass-through with an error', async () => {
    for (const tail of ['data: {"choices":[{"delta":{"content":"x"', 'data: [DO', 'data: {"a":\ndata: 1']) {
      const wire = Buffer.from(`data: {"a":1}\n\n${tail}`);
      for (const chunks of everySplit(wire)) {
        const chat = await viaChat(chunks);
        assert.notEqual(chat.result.kind, 'done', tail);
        assert.equal(errorCode(chat.result), 'upstream_truncated', tail);
        assert.equal(chat.out.toString(), 'data: {"a":1}\n\n');
        const pass = await viaPassthrough(chunks);
        assert.equal(errorCode(pass.result), 'upstream_truncated', tail);
        assert.equal(pass.out.toString(), 'data: {"a":1}\n\n');
      }
    }
  });

  it('a final complete JSON event without [DONE]: relayed, and the chat stream is still a truncation', async () => {
    const chat = await viaChat([Buffer.from('data: {"a":1}\n\ndata: {"b":2}')]);
    assert.equal(chat.out.toString(), 'data: {"a":1}\n\ndata: {"b":2}\n\n');
    assert.notEqual(chat.result.kind, 'done');
    assert.equal(errorCode(chat.result), 'upstream_truncated');
  });

  it('pass-through: an event over maxEventBytes ends the stream with an error; nothing after it is written', async () => {
    const wire = Buffer.from(`data: {"a":1}\n\ndata: ${'x'.repeat(300)}\n\ndata: {"b":2}\n\n`);
    for (const chunks of everySplit(wire)) {
      const pass = await viaPassthrough(chunks, 100);
      assert.equal(errorCode(pass.result), 'upstream_event_too_large');
      assert.equal(pass.out.toString(), 'data: {"a":1}\n\n');
    }
  });

  it('pass-through: nothing after [DONE] is relayed, comments and retry included, at every split', async () => {
    const wire = Buffer.from('data: {"a":1}\n\ndata: [DONE]\n\n: after\n\nretry: 5\n\ndata: {"b":2}\n\n');
    for (const chunks of everySplit(wire)) {
      const pass = await viaPassthrough(chunks);
      assert.deepEqual(pass.result, { kind: 'done' });
      assert.equal(pass.out.toString(), 'data: {"a":1}\n\ndata: [DONE]\n\n');
    }
  });

  it('property: any events in any framing, split anywhere, read whole by a line client', async () => {
    const piece = fc.string({ unit: fc.constantFrom('a', 'é', '世', '😀', '"', '\\', '\n', '\r', ' ', '\u2028'), maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<WireKind>('chat', 'completions', 'responses'),
        fc.array(piece, { minLength: 1, maxLength: 8 }),
        fc.constantFrom(...EOLS),
        fc.boolean(),
        fc.constantFrom(...LASTS),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (kind, contents, eol, bom, last, cuts) => {
          const wire = Buffer.from(buildWire(kind, contents, { eol, bom, last }));
          const chunks = cut(wire, cuts);
          const pass = await viaPassthrough(chunks);
          const read = readLines(kind, assertCanonical(pass.out));
          assert.deepEqual(read.broken, []);
          assert.equal(read.text, contents.join(''));
          assert.ok(pass.out.equals((await viaPassthrough([wire])).out));
          if (kind === 'responses') return;
          const chat = await viaChat(chunks);
          assert.deepEqual(chat.result, { kind: 'done' });
          assert.equal(readLines(kind, assertCanonical(chat.out)).text, contents.join(''));
        },
      ),
      { numRuns: 300 },
    );
  });
});
