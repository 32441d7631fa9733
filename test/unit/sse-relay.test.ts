/**
 * The stream relay's rules without sockets (src/relay/caller.ts and src/relay/pipeline.ts through src/relay/chat.ts
 * `relayChatStream`): when the head is committed, keep-alives, the idle timeout against a caller
 * that stopped reading, the end after [DONE], and retry only before data reached the caller. The
 * caller is a FakeResponse, the upstream a FakeUpstreamClient, time a ManualClock with the relay's
 * timers on FakeTimers (test/helpers/). The same rules over real sockets:
 * test/integration/chat-stream.test.ts, failures.test.ts, backpressure.test.ts.
 *
 * Each rule runs with both ways the relay reads an upstream body: `direct` (the proxy's own
 * HTTP/1.1 client) and `stream` (a Readable: node:http, the simulator).
 */
import assert from 'node:assert/strict';
import { SHUTDOWN } from '../../src/util/cancel.js';
import { settle } from '../helpers/fake-timers.js';
import { chatHarness, contentChunk, DONE, type ChatHarness, type HarnessOptions } from '../helpers/relay-harness.js';
import type { BodyMode } from '../helpers/fake-upstream-client.js';

/** The `error` object of the last data frame. */
function lastErrorFrame(h: ChatHarness): { code: string | null; message: string } {
  const last = h.res.data().at(-1) as { error?: { code: string | null; message: string } } | undefined;
  assert.ok(last?.error, `a final error frame: ${JSON.stringify(h.res.frames())}`);
  return last.error;
}

/** Contents of the relayed content chunks, in order. */
function contents(h: ChatHarness): string[] {
  return h.res
    .data()
    .map((d) => (d as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content)
    .filter((c): c is string => typeof c === 'string');
}

for (const mode of ['direct', 'stream'] as const satisfies readonly BodyMode[]) {
  describe(`stream relay rules, unit (upstream body read ${mode})`, () => {
    let h: ChatHarness;
    const make = (o: HarnessOptions = {}): ChatHarness => {
      h = chatHarness({ ...o, mode });
      h.timers.install();
      return h;
    };
    afterEach(() => h?.timers.uninstall());

    describe('commit', () => {
      it('commits the head on the first event, with the upstream’s relayed headers — not on the upstream’s 2xx head', async () => {
        // Rule: status fidelity — the head waits for the first event (caller.ts `commit`).
        make({ server: { keepAliveMs: 10_000, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        const body = call.respond(200, { 'openai-processing-ms': '12', 'x-ratelimit-remaining-requests': '99', 'set-cookie': 'no=1' });
        await h.timers.advance(100);
        assert.equal(h.res.headersSent, false, 'a 2xx head with no event yet commits nothing');
        assert.equal(h.res.chunks.length, 0);

        body.push(contentChunk('Hel'));
        await settle();
        assert.equal(h.res.statusCode, 200);
        assert.equal(h.res.implicitHead, false, 'the head is written by writeHead, before the first frame');
        const head = h.res.headers!;
        assert.equal(head['content-type'], 'text/event-stream; charset=utf-8');
        assert.equal(head['openai-processing-ms'], '12', 'relayed upstream header');
        assert.equal(head['x-ratelimit-remaining-requests'], '99');
        assert.equal(head['set-cookie'], undefined, 'only the relayed families');
        assert.equal(head['x-request-id'], 'req-1');
        assert.equal(h.res.socket.noDelay, true, 'no Nagle delay on a committed stream');
        assert.deepEqual(contents(h), ['Hel']);

        body.push(contentChunk('lo') + DONE);
        body.end();
        const end = await done;
        assert.deepEqual(end, { reason: 'done', status: 200 });
        assert.deepEqual(contents(h), ['Hel', 'lo']);
        assert.equal(h.res.frames().at(-1), 'data: [DONE]');
        assert.ok(h.res.writableEnded);
      });

      it('a silent upstream past keepAliveMs commits 200, then `: keep-alive` every keepAliveMs while the silence lasts', async () => {
        // Rule: only a silence past keepAliveMs commits early (stream-timer.ts `onTimer`).
        make({ server: { keepAliveMs: 1_000, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        await h.timers.advance(999);
        assert.equal(h.res.headersSent, false, 'not before keepAliveMs');
        await h.timers.advance(1);
        assert.equal(h.res.statusCode, 200);
        assert.equal(h.res.headers!['content-type'], 'text/event-stream; charset=utf-8');
        assert.deepEqual(h.res.frames(), [': keep-alive']);
        await h.timers.advance(2_000);
        assert.deepEqual(h.res.frames(), [': keep-alive', ': keep-alive', ': keep-alive']);

        // The upstream answers: its events follow; while it keeps talking, no keep-alive.
        const body = call.respond(200);
        for (let i = 0; i < 5; i++) {
          body.push(contentChunk(`t${i}`));
          await h.timers.advance(600);
        }
        assert.equal(h.res.frames().filter((f) => f === ': keep-alive').length, 3, 'no keep-alive while events arrive within keepAliveMs');
        body.push(DONE);
        body.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        assert.deepEqual(contents(h), ['t0', 't1', 't2', 't3', 't4']);
      });

      // Rule: time to first token (caller.ts `afterEvent`); observable synchronously only
      // when the body is read from inside the transport's read, so for `direct` alone.
      if (mode === 'direct') it('the first token is uncorked at once, later events wait for node’s tick', async () => {
        make({ server: { keepAliveMs: 10_000, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const body = (await h.upstream.call(0)).respond(200);
        body.push(contentChunk('first'));
        assert.equal(h.res.socket.writableCorked, 0, 'the relay uncorked the first token itself');
        await settle();
        body.push(contentChunk('second'));
        assert.equal(h.res.socket.writableCorked, 1, 'later writes stay corked until the tick');
        body.push(DONE);
        body.end();
        await done;
      });
    });

    describe('idle timeout vs a caller that stopped reading', () => {
      it('idleTimeoutMs of upstream silence after the stream started → a final error frame upstream_idle_timeout', async () => {
        // Rule: after the head is out every failure is an error frame, never a silent truncation.
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 5_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        const body = call.respond(200);
        body.push(contentChunk('a'));
        await h.timers.advance(4_999);
        assert.equal(h.res.writableEnded, false, 'not before idleTimeoutMs');
        body.push(contentChunk('b')); // activity: the idle clock starts again
        await h.timers.advance(4_999);
        assert.equal(h.res.writableEnded, false, 'idleTimeoutMs counts from the last upstream read');
        await h.timers.advance(1);
        const end = await done;
        assert.deepEqual(end, { reason: 'idle_timeout', status: 200 });
        assert.equal(lastErrorFrame(h).code, 'upstream_idle_timeout');
        assert.deepEqual(contents(h), ['a', 'b']);
        assert.ok(call.aborted, 'the upstream request is aborted');
        assert.equal(h.res.shouldKeepAlive, false, 'a failed stream closes its connection');
        assert.deepEqual(h.health.reports, ['failure:a'], 'an idle upstream counts against its circuit');
      });

      it('idleTimeoutMs before the upstream’s head (no keep-alive committed) → 504 JSON, not a stream', async () => {
        // Rule: before the head is out, a real status (test/integration/failures.test.ts "idleTimeoutMs passes …").
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 3_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        await h.timers.advance(3_000);
        const end = await done;
        assert.deepEqual(end, { reason: 'idle_timeout', status: 504 });
        assert.equal(h.res.statusCode, 504);
        assert.equal(h.res.headers!['content-type'], 'application/json; charset=utf-8');
        assert.equal((JSON.parse(h.res.text()) as { error: { code: string } }).error.code, 'upstream_idle_timeout');
        assert.ok(call.aborted);
      });

      it('a caller that stops reading: nothing more is read upstream, no keep-alive; once it reads again the rest follows', async () => {
        // Rule: backpressure — after a write that fills the caller's socket the relay waits for
        // 'drain' before reading the upstream again (caller.ts `mustWait`).
        make({ server: { keepAliveMs: 1_000, idleTimeoutMs: 5_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        const body = call.respond(200);
        h.res.stopReading();
        body.push(contentChunk('a'));
        await settle();
        const written = h.res.chunks.length;
        body.push(contentChunk('b'));
        await h.timers.advance(4_000);
        assert.equal(h.res.chunks.length, written, 'no write while the caller’s socket is full (neither data nor keep-alive)');
        assert.ok(body.waiting, 'the upstream body is left unread');
        h.res.resumeReading();
        await settle();
        assert.deepEqual(contents(h), ['a', 'b']);
        body.push(DONE);
        body.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
      });

      it('a caller that does not read for idleTimeoutMs is cut (client_stalled): reset, no last frame, the upstream not blamed', async () => {
        // Rule: while waiting for 'drain' the idle timer blames the caller, not the upstream
        // (stream-timer.ts `onTimer`; test/integration/backpressure.test.ts "… is cut").
        make({ server: { keepAliveMs: 1_000, idleTimeoutMs: 5_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        const body = call.respond(200);
        h.res.stopReading();
        body.push(contentChunk('a'));
        await settle();
        body.push(contentChunk('b'));
        const before = h.res.text();
        await h.timers.advance(4_999);
        assert.equal(h.res.socket.resets, 0);
        await h.timers.advance(1);
        const end = await done;
        assert.deepEqual(end, { reason: 'client_aborted', status: 200 });
        assert.equal(h.res.socket.resets, 1, 'the connection is reset');
        assert.equal(h.res.text(), before, 'no error frame: it would never leave a full socket');
        assert.ok(call.aborted, 'the upstream request is released');
        assert.match(h.ex.attempts.at(-1)?.error ?? '', /stopped reading/);
        assert.deepEqual(h.health.reports, ['success:a'], 'the upstream’s circuit is not blamed');
      });
    });

    describe('the end after [DONE]', () => {
      it('[DONE] is flushed and the response ended even while the caller is not reading; finished once it reads', async () => {
        // Rule: the relay ends the response after writing [DONE] (caller.ts `end`); the last
        // frame waits for the caller up to idleTimeoutMs (`guardLastFrame`).
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 5_000 } });
        const done = h.start();
        const body = (await h.upstream.call(0)).respond(200);
        body.push(contentChunk('a'));
        await settle();
        h.res.stopReading();
        body.push(contentChunk('b') + DONE);
        await settle();
        assert.equal(body.cut, false, 'what follows [DONE] is read and dropped, the body not cut (the upstream connection is reused)');
        body.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        assert.equal(h.res.frames().at(-1), 'data: [DONE]');
        assert.ok(h.res.writableEnded, 'ended');
        assert.equal(h.res.writableFinished, false, 'not finished: the caller has not taken it');
        await h.timers.advance(4_000);
        h.res.resumeReading();
        await settle();
        assert.ok(h.res.writableFinished);
        await h.timers.advance(10_000);
        assert.equal(h.res.socket.resets, 0, 'a caller that took the last frame is not reset');
      });

      it('a caller that never takes the last frame is reset idleTimeoutMs after the end', async () => {
        // Rule: a non-reading caller cannot hold the response open forever (`guardLastFrame`).
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 5_000 } });
        const done = h.start();
        const body = (await h.upstream.call(0)).respond(200);
        h.res.stopReading();
        body.push(contentChunk('a') + DONE);
        body.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        await h.timers.advance(4_999);
        assert.equal(h.res.socket.resets, 0);
        await h.timers.advance(1);
        assert.equal(h.res.socket.resets, 1);
      });

      it('after [DONE] the upstream body is read and dropped for at most 1 s, then cut', async () => {
        // Rule: drain what follows [DONE] so the connection can be reused, within bounds
        // (upstream-body.ts DRAIN_MAX_MS); nothing after [DONE] reaches the caller.
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const body = (await h.upstream.call(0)).respond(200);
        body.push(contentChunk('a') + DONE);
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        body.push(contentChunk('after done'));
        await h.timers.advance(999);
        assert.equal(body.cut, false);
        assert.deepEqual(contents(h), ['a'], 'nothing after [DONE] is relayed');
        await h.timers.advance(1);
        assert.equal(body.cut, true, 'an upstream that does not end its body within 1 s is cut');
      });
    });

    describe('retry only before the first data frame', () => {
      it('an attempt that fails before any event → the next deployment; the caller sees only the second', async () => {
        // Rule: `failure` is retryable while no data frame was written (pipeline.ts `failure`).
        make({ upstreams: ['a', 'b'], server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const a = await h.upstream.call(0);
        assert.equal(a.upstream, 'a');
        const bodyA = a.respond(200, { 'openai-processing-ms': 'from-a' });
        bodyA.push(': comment only\n\n');
        bodyA.fail(new Error('ECONNRESET'));
        const b = await h.upstream.call(1);
        assert.equal(b.upstream, 'b');
        assert.equal(h.res.headersSent, false, 'nothing reached the caller from a');
        const bodyB = b.respond(200, { 'openai-processing-ms': 'from-b' });
        bodyB.push(contentChunk('from b') + DONE);
        bodyB.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        assert.deepEqual(contents(h), ['from b']);
        assert.equal(h.res.headers!['openai-processing-ms'], 'from-b', 'the head carries the serving upstream’s headers');
        assert.deepEqual(
          h.ex.attempts.map((x) => x.upstream),
          ['a', 'b'],
        );
      });

      it('headers of the deployment that serves: a keep-alive while b is asked carries none of a\'s', async () => {
        // Rule: a failed attempt's upstream head is forgotten (chat.ts), so a commit while the
        // next deployment is pending does not send the failed upstream's headers.
        make({ upstreams: ['a', 'b'], server: { keepAliveMs: 1_000, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const bodyA = (await h.upstream.call(0)).respond(200, { 'openai-processing-ms': 'from-a' });
        bodyA.fail(new Error('ECONNRESET'));
        const b = await h.upstream.call(1);
        await h.timers.advance(1_000);
        assert.ok(h.res.headersSent, 'the keep-alive committed while b was pending');
        assert.equal(h.res.headers!['openai-processing-ms'], undefined, 'no header of the failed upstream');
        const bodyB = b.respond(200);
        bodyB.push(contentChunk('ok') + DONE);
        bodyB.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
      });

      it('an error status (503) → the next deployment', async () => {
        // Rule: an error status is a retryable failure before the head (src/relay/upstream-call.ts).
        make({ upstreams: ['a', 'b'], server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
        const done = h.start();
        (await h.upstream.call(0)).respondError(503);
        const bodyB = (await h.upstream.call(1)).respond(200);
        bodyB.push(contentChunk('ok') + DONE);
        bodyB.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        assert.deepEqual(contents(h), ['ok']);
      });

      it('after a keep-alive committed 200 but before any data, a failure is still retried', async () => {
        // Rule: the line is the first *data* frame (`dataSent`), not the head: comments do not count.
        make({ upstreams: ['a', 'b'], server: { keepAliveMs: 1_000, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const a = await h.upstream.call(0);
        await h.timers.advance(1_000);
        assert.ok(h.res.headersSent);
        // a's 2xx body breaks before its first event: a failure of the relay's own pump.
        const bodyA = a.respond(200);
        bodyA.fail(new Error('ECONNRESET'));
        const bodyB = (await h.upstream.call(1)).respond(200);
        bodyB.push(contentChunk('ok') + DONE);
        bodyB.end();
        assert.deepEqual(await done, { reason: 'done', status: 200 });
        assert.equal(h.res.frames()[0], ': keep-alive');
        assert.deepEqual(contents(h), ['ok']);
        assert.equal(h.res.data().length, 2, 'no error frame from a: only b’s chunk and [DONE]');
      });

      it('after the first event was written: no retry, a final error frame', async () => {
        // Rule: no retry once data reached the caller; the break is an error frame.
        make({ upstreams: ['a', 'b'], server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const bodyA = (await h.upstream.call(0)).respond(200);
        bodyA.push(contentChunk('partial'));
        await settle();
        bodyA.fail(new Error('ECONNRESET'));
        const end = await done;
        assert.deepEqual(end, { reason: 'upstream_error', status: 200 });
        await settle();
        assert.equal(h.upstream.calls.length, 1, 'b is never asked');
        assert.deepEqual(contents(h), ['partial']);
        assert.equal(lastErrorFrame(h).code, 'upstream_disconnected');
        assert.deepEqual(h.health.reports, ['failure:a']);
      });

      it('a body that ends without [DONE] after data → upstream_truncated error frame, no retry', async () => {
        // Rule: never a silent truncation (pipeline.ts `result`).
        make({ upstreams: ['a', 'b'], server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
        const done = h.start();
        const bodyA = (await h.upstream.call(0)).respond(200);
        bodyA.push(contentChunk('partial'));
        bodyA.end();
        assert.deepEqual(await done, { reason: 'upstream_truncated', status: 200 });
        assert.equal(h.upstream.calls.length, 1);
        assert.equal(lastErrorFrame(h).code, 'upstream_truncated');
      });
    });

    describe('max stream duration', () => {
      it('at maxStreamDurationMs the stream ends with a stream_duration_exceeded error frame', async () => {
        // Rule: `maxStreamDurationMs` bounds a stream however busy it is (stream-timer.ts `deadline`).
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 60_000, maxStreamDurationMs: 10_000 } });
        const done = h.start();
        const call = await h.upstream.call(0);
        const body = call.respond(200);
        for (let i = 0; i < 9; i++) {
          body.push(contentChunk(`t${i}`));
          await h.timers.advance(1_000);
        }
        assert.equal(h.res.writableEnded, false, 'busy, and not yet at the limit');
        await h.timers.advance(999);
        assert.equal(h.res.writableEnded, false);
        await h.timers.advance(1);
        assert.deepEqual(await done, { reason: 'error', status: 200 });
        assert.equal(lastErrorFrame(h).code, 'stream_duration_exceeded');
        assert.ok(call.aborted);
      });

      it('ended while the caller is not reading: the error frame waits idleTimeoutMs for it, then the connection is reset', async () => {
        // Rule: after an error frame the guard lasts until the socket closes (`guardLastFrame(true)`;
        // test/integration/backpressure.test.ts "a stream ended (max duration) …").
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 5_000, maxStreamDurationMs: 2_000 } });
        const done = h.start();
        const body = (await h.upstream.call(0)).respond(200);
        h.res.stopReading();
        body.push(contentChunk('a'));
        await h.timers.advance(2_000);
        assert.deepEqual(await done, { reason: 'error', status: 200 });
        assert.equal(lastErrorFrame(h).code, 'stream_duration_exceeded', 'the frame is written (into the full socket)');
        assert.equal(h.res.socket.resets, 0);
        await h.timers.advance(4_999);
        assert.equal(h.res.socket.resets, 0, 'the caller gets idleTimeoutMs to take it');
        await h.timers.advance(1);
        assert.equal(h.res.socket.resets, 1);
      });

      it('…and a caller that takes the error frame in time is closed normally, not reset', async () => {
        make({ server: { keepAliveMs: 0, idleTimeoutMs: 5_000, maxStreamDurationMs: 2_000 } });
        const done = h.start();
        const body = (await h.upstream.call(0)).respond(200);
        h.res.stopReading();
        body.push(contentChunk('a'));
        await h.timers.advance(2_000);
        await done;
        await h.timers.advance(1_000);
        h.res.resumeReading();
        await h.timers.advance(10_000);
        assert.ok(h.res.socket.destroyed, 'closed once flushed (no keep-alive after a failed stream)');
        assert.equal(h.res.socket.resets, 0);
      });
    });

    it('shutdown past its grace period: a server_shutdown error frame after the data', async () => {
      // Rule: a stop from outside ends the stream visibly (chat.ts: the SHUTDOWN abort reason → 'shutdown').
      make({ server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
      const done = h.start();
      const call = await h.upstream.call(0);
      call.respond(200).push(contentChunk('a'));
      await settle();
      h.abort.abort(SHUTDOWN);
      assert.deepEqual(await done, { reason: 'shutdown', status: 200 });
      assert.equal(lastErrorFrame(h).code, 'server_shutdown');
      assert.ok(call.aborted);
    });

    it('the caller hangs up before the upstream answers: the upstream call is aborted, nothing is written (499)', async () => {
      // Rule: cancellation both ways, before the head too.
      make({ server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
      const done = h.start();
      const call = await h.upstream.call(0);
      h.res.disconnect();
      const end = await done;
      assert.deepEqual(end, { reason: 'client_aborted', status: 499 });
      assert.ok(call.aborted);
      assert.equal(h.res.headersSent, false);
      await h.timers.advance(10_000);
      assert.equal(h.upstream.calls.length, 1, 'no retry for a caller that left');
    });

    it('the caller hangs up mid-stream: the upstream is aborted, nothing more is written', async () => {
      // Rule: cancellation both ways (caller.ts `onClose`).
      make({ server: { keepAliveMs: 0, idleTimeoutMs: 60_000 } });
      const done = h.start();
      const call = await h.upstream.call(0);
      const body = call.respond(200);
      body.push(contentChunk('a'));
      await settle();
      h.res.disconnect();
      await settle();
      assert.ok(call.aborted);
      const end = await done;
      assert.equal(end.reason, 'client_aborted');
      assert.deepEqual(contents(h), ['a']);
    });
  });
}
