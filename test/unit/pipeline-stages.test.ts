// The stream pipeline's two open slots (src/relay/stages.ts), filled without touching the pipeline:
// a translate stage that turns another wire format's events into OpenAI chunks, and a tee that sees
// every event as the caller gets it and names its frame. No sockets: a FakeResponse caller and an
// upstream body from a Readable.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { ManualClock } from '../../src/clock.js';
import { UpstreamError } from '../../src/errors.js';
import { EventBus } from '../../src/events/bus.js';
import { CallerStream } from '../../src/relay/caller.js';
import { Exchange } from '../../src/relay/exchange.js';
import { EventPipeline, type PipelineStages } from '../../src/relay/pipeline.js';
import type { RelayOptions } from '../../src/relay/relay-types.js';
import type { Tee, TranslateOut, Translator } from '../../src/relay/stages.js';
import { encodeRelayed } from '../../src/sse/encoder.js';
import type { SseEvent } from '../../src/sse/parser.js';
import type { UpstreamResponse } from '../../src/upstream/transport.js';
import { Cancel } from '../../src/util/cancel.js';
import { FakeResponse } from '../helpers/fake-response.js';

const OPTS: RelayOptions = { keepAliveMs: 0, idleTimeoutMs: 0, maxStreamDurationMs: 0, maxEventBytes: 1 << 20, secrets: [], now: () => 0 };

function upstream(body: string, split = 7): UpstreamResponse {
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; i += split) pieces.push(Buffer.from(body.slice(i, i + split)));
  return { status: 200, ok: true, headers: new Headers({ 'content-type': 'text/event-stream' }), body: Readable.from(pieces) };
}

/** Runs one upstream body through a pipeline with `stages`; what the caller got, and how it ended. */
async function relay(body: string, stages: PipelineStages, split = 7) {
  const clock = new ManualClock();
  const res = new FakeResponse();
  const ex = new Exchange('req-1', 'POST', '/v1/chat/completions', clock, new EventBus());
  const caller = new CallerStream(res.asServerResponse(), new Cancel(), OPTS, ex, {});
  caller.openStream();
  // Frames forwarded as the upstream's own bytes (the fast path) go through writeBytes.
  let byteFrames = 0;
  const writeBytes = caller.out.writeBytes.bind(caller.out);
  caller.out.writeBytes = (buf, start, end) => {
    byteFrames++;
    writeBytes(buf, start, end);
  };
  const result = await new EventPipeline(caller, stages, 'up', OPTS.maxEventBytes).run(upstream(body, split));
  return { res, result, caller, byteFrames };
}

/** A toy provider: `event: text` / `event: stop` / `event: failure`, each with a JSON payload. */
class ToyTranslator implements Translator {
  readonly seen: string[] = [];
  event(e: SseEvent, out: TranslateOut): void {
    this.seen.push(e.event ?? 'message');
    const payload = JSON.parse(e.data) as { text?: string; message?: string };
    if (e.event === 'text') out.data(JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: payload.text } }] }));
    else if (e.event === 'stop') out.complete();
    else if (e.event === 'failure') out.fail(new UpstreamError(payload.message ?? 'failed', { code: 'upstream_error' }));
  }
  end(): void {}
}

const observeAll = { onEvent: (data: string) => data };

describe('stream pipeline stages (translate and tee slots)', () => {
  it('a translator turns another format into OpenAI chunks; its end marker becomes [DONE]', async () => {
    const t = new ToyTranslator();
    const wire = 'event: text\ndata: {"text":"Hel"}\n\nevent: ping\ndata: {}\n\nevent: text\r\ndata: {"text":"lo"}\r\n\r\nevent: stop\ndata: {}\n\n';
    const { res, result } = await relay(wire, { observer: observeAll, translator: t });
    assert.deepEqual(result, { kind: 'done' });
    assert.deepEqual(t.seen, ['text', 'ping', 'text', 'stop']);
    const frames = res.frames();
    assert.equal(frames.at(-1), 'data: [DONE]');
    const contents = res.data().slice(0, -1).map((d) => (d as { choices: Array<{ delta: { content: string } }> }).choices[0]!.delta.content);
    assert.deepEqual(contents, ['Hel', 'lo']);
    // Canonical frames: the provider's event names are not the caller's.
    assert.ok(frames.every((f) => f.startsWith('data: ') && !f.includes('\n')), res.text());
  });

  it('a translated error after data ends the stream with an error frame, not a retry', async () => {
    const { res, result } = await relay('event: text\ndata: {"text":"a"}\n\nevent: failure\ndata: {"message":"overloaded"}\n\n', {
      observer: observeAll,
      translator: new ToyTranslator(),
    });
    assert.equal(result.kind, 'ended');
    assert.equal(result.kind === 'ended' ? result.error?.message : '', 'overloaded');
    assert.equal(res.data().length, 1);
  });

  it('…and before any data it may be retried (the attempt loop decides)', async () => {
    const { result, caller } = await relay('event: failure\ndata: {"message":"overloaded"}\n\n', { observer: observeAll, translator: new ToyTranslator() });
    assert.equal(result.kind, 'retryable');
    assert.equal(caller.committed, false);
  });

  it('a tee sees each frame as the caller gets it (after the observer), names it, and writes the last one', async () => {
    const teed: Array<[string, string | undefined]> = [];
    let seq = 0;
    const tee: Tee = {
      frame: (payload, name) => {
        teed.push([payload, name]);
        return encodeRelayed({ data: payload, event: name, id: `s1:${++seq}` });
      },
      last: (payload) => {
        teed.push([payload, 'last']);
        return encodeRelayed({ data: payload, id: `s1:${++seq}` });
      },
    };
    // The observer drops one event and rewrites another: the tee must see the result, not the input.
    const observer = { onEvent: (data: string) => (data === '{"drop":1}' ? null : data === '{"x":1}' ? '{"x":2}' : data) };
    const wire = 'data: {"x":1}\n\ndata: {"drop":1}\n\nevent: named\ndata: {"y":1}\n\ndata: [DONE]\n\n';
    const { res, result, byteFrames } = await relay(wire, { observer, tee });
    assert.deepEqual(result, { kind: 'done' });
    assert.equal(byteFrames, 0, 'no frame leaves as the upstream’s bytes: every teed frame is re-encoded with its id');
    assert.deepEqual(teed, [
      ['{"x":2}', undefined],
      ['{"y":1}', 'named'],
      ['[DONE]', 'last'],
    ]);
    assert.deepEqual(res.frames(), ['id: s1:1\ndata: {"x":2}', 'event: named\nid: s1:2\ndata: {"y":1}', 'id: s1:3\ndata: [DONE]']);
  });

  it('with neither slot filled, common frames leave as the upstream’s own bytes', async () => {
    const wire = 'data: {"a":"b"}\n\ndata: {"c":1}\n\ndata: [DONE]\n\n';
    const { res, byteFrames } = await relay(wire, { observer: observeAll });
    assert.equal(res.text(), wire);
    assert.equal(byteFrames, 3, 'each frame forwarded from the upstream’s bytes, none re-encoded');
  });
});
