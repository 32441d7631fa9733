/**
 * Issue 5: one complete record per request. First the record builder (Exchange.finish) and its
 * log line for every end reason, with a hand-driven clock; then each end reason produced by the
 * real proxy (sim and a scripted upstream); then content capture.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { ManualClock } from '../../src/clock.js';
import { EventBus } from '../../src/events/bus.js';
import type { EndReason, RequestRecord } from '../../src/events/types.js';
import { RateLimitError } from '../../src/errors.js';
import { boundedCopy, contentForLog, truncate } from '../../src/logging/content.js';
import { createLogger } from '../../src/logging/logger.js';
import { attachRequestLog, feedFields, levelFor, logFields } from '../../src/logging/record.js';
import { parsePath, redactPaths } from '../../src/logging/redact-paths.js';
import { UpstreamTap } from '../../src/logging/tap.js';
import { Exchange } from '../../src/relay/exchange.js';
import { buildConfig } from '../../src/config/load.js';
import type { FetchLike } from '../../src/upstream/client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A logger writing JSON lines into `lines`. */
function captureLogger(level = 'info'): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ level, destination }) };
}

const ALL_REASONS: Array<[EndReason, number, 'info' | 'warn']> = [
  ['done', 200, 'info'],
  ['client_aborted', 200, 'info'],
  ['upstream_error', 502, 'warn'],
  ['upstream_truncated', 200, 'warn'],
  ['idle_timeout', 200, 'warn'],
  ['rate_limited', 429, 'info'],
  ['shutdown', 503, 'warn'],
  ['error', 400, 'info'],
];
const LEVEL = { info: 30, warn: 40 } as const;

describe('request log', () => {
  describe('the record builder, for each end reason', () => {
    for (const [reason, status, level] of ALL_REASONS) {
      it(`${reason}: one record on the bus, one "${level}" log line with every field`, async () => {
        const clock = new ManualClock(1_000_000);
        const bus = new EventBus();
        const { lines, logger } = captureLogger();
        attachRequestLog(bus, logger);
        const published: RequestRecord[] = [];
        bus.on('request.end', (r) => published.push(r));

        const ex = new Exchange('req_1', 'POST', '/v1/chat/completions', clock, bus);
        Object.assign(ex, { key: 'team-a', model: 'gpt-4o', modelLabel: 'gpt-4o', upstream: 'openai', stream: true });
        ex.upstreamSentAt = clock.monotonic() + 2; // 2 ms of proxy work before the upstream call
        clock.advance(2);
        clock.advance(40);
        ex.upstreamHeadersAt = clock.monotonic(); // upstream TTFB 40 ms
        clock.advance(10);
        ex.markToken(clock.monotonic()); // TTFT 52 ms
        for (let i = 0; i < 4; i++) {
          clock.advance(25);
          ex.markToken(clock.monotonic());
        }
        ex.chunks = 6;
        ex.bytesOut = 1234;
        ex.finishReason = reason === 'done' ? 'stop' : null;
        ex.upstreamEndAt = clock.monotonic();
        clock.advance(3);
        ex.usage = { promptTokens: 11, completionTokens: 5, cachedPromptTokens: 0, source: reason === 'done' ? 'upstream' : 'estimated' };
        if (reason !== 'done') ex.error = `it ended: ${reason}`;
        const record = ex.finish(reason, status);
        assert.ok(record);
        assert.equal(ex.finish('done', 200), null, 'a second finish publishes nothing');

        assert.equal(published.length, 1);
        assert.equal(lines.length, 1);
        const line = lines[0]!;
        assert.equal(line.msg, 'request');
        assert.equal(line.level, LEVEL[level]);
        assert.equal(levelFor(reason, status), level);
        const expected: Record<string, unknown> = {
          id: 'req_1',
          method: 'POST',
          route: '/v1/chat/completions',
          key: 'team-a',
          model: 'gpt-4o',
          upstream: 'openai',
          stream: true,
          status,
          endReason: reason,
          startedAt: 1_000_000,
          upstreamTtfbMs: 40,
          ttftMs: 52,
          durationMs: 155,
          overheadMs: 5, // 155 total − 150 waiting on the upstream (sent at 2, ended at 152)
          chunks: 6,
          bytesOut: 1234,
          promptTokens: 11,
          completionTokens: 5,
          tokenSource: reason === 'done' ? 'upstream' : 'estimated',
          finishReason: reason === 'done' ? 'stop' : null,
          error: reason === 'done' ? null : `it ended: ${reason}`,
          interTokenMsMean: 25,
          interTokenMsMax: 25,
          tokensPerSecond: 48.544, // 5 tokens over 103 ms of generation
        };
        for (const [k, v] of Object.entries(expected)) assert.deepEqual(line[k], v, `field ${k}`);
        assert.equal('interToken' in line, false, 'per-token gaps are summarised, not listed');
        assert.equal('content' in line, false, 'no content unless content logging is on');
      });
    }

    it('a request that never reached the upstream has null timings, not zeros', () => {
      const clock = new ManualClock();
      const bus = new EventBus();
      const ex = new Exchange('req_2', 'POST', '/v1/chat/completions', clock, bus);
      clock.advance(1);
      const r = ex.finish('rate_limited', 429)!;
      const f = logFields(r);
      assert.equal(f.upstreamTtfbMs, null);
      assert.equal(f.ttftMs, null);
      assert.equal(f.overheadMs, null);
      assert.equal(f.tokensPerSecond, null);
      assert.equal(f.interTokenMsMean, null);
    });

    it('feedFields never carries content, logFields puts it last', () => {
      const clock = new ManualClock();
      const ex = new Exchange('req_3', 'POST', '/v1/chat/completions', clock, new EventBus());
      ex.content = { request: { messages: [] }, response: { content: 'hi' } };
      const r = ex.finish('done', 200)!;
      assert.equal('content' in feedFields(r), false);
      const keys = Object.keys(logFields(r));
      assert.equal(keys[keys.length - 1], 'content');
    });
  });

  describe('end reasons through the proxy', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startTestProxy({
        fetch: scriptedUpstream(),
        config: {
          server: { idleTimeoutMs: 300, keepAliveMs: 5000 },
          upstreams: {
            sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 8 } },
            slow: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 40, defaultMaxTokens: 200 } },
            script: { type: 'openai', baseUrl: 'http://script.test/v1' },
          },
          models: [
            { match: 'sim-slow*', upstream: 'slow' },
            { match: 'sim-*', upstream: 'sim' },
            { match: 'script-*', upstream: 'script' },
          ],
        },
      });
    });
    after(async () => proxy?.close());

    // [what, request id, model, stream, expected end reason, more checks]
    const cases: Array<[string, string, string, boolean | 'hang-up', EndReason, (r: Record<string, unknown>) => void]> = [
      ['a streamed answer', 'e-done-stream', 'sim-a', true, 'done', (r) => {
        assert.equal(r.status, 200);
        assert.equal(r.stream, true);
        assert.equal(r.finishReason, 'stop');
        assert.equal(r.tokenSource, 'upstream');
        assert.ok((r.bytesOut as number) > 100 && (r.chunks as number) > 1 && (r.ttftMs as number) >= 0);
      }],
      ['a JSON answer', 'e-done-json', 'sim-a', false, 'done', (r) => {
        assert.equal(r.stream, false);
        assert.ok((r.bytesOut as number) > 100);
        assert.equal(r.completionTokens, 8);
      }],
      ['the caller hanging up mid-stream', 'e-abort', 'sim-slow', 'hang-up', 'client_aborted', (r) => {
        assert.ok((r.completionTokens as number) < 200, 'billed for what was generated up to the cut');
      }],
      ['an upstream 500', 'e-500', 'script-500', true, 'upstream_error', (r) => {
        assert.equal(r.status, 500);
        assert.match(String(r.error), /boom/);
      }],
      ['an upstream reset after data', 'e-reset', 'script-reset', true, 'upstream_error', (r) => {
        assert.equal(r.status, 200);
        assert.match(String(r.error), /mid-stream/);
      }],
      ['an upstream closing without [DONE]', 'e-trunc', 'script-truncate', true, 'upstream_truncated', (r) => {
        assert.equal(r.status, 200);
      }],
      ['an upstream going silent', 'e-idle', 'script-idle', true, 'idle_timeout', (r) => {
        assert.match(String(r.error), /silent/);
      }],
      ['an unknown model (404)', 'e-404', 'nope-model', true, 'error', (r) => {
        assert.equal(r.status, 404);
      }],
    ];
    for (const [what, id, model, mode, reason, check] of cases) {
      it(`${what} → ${reason}`, async () => {
        if (mode === 'hang-up') await hangUpAfterFirstChunk(proxy.url, id, model);
        else await postChat(proxy.url, id, model, mode);
        const r = await recordFor(proxy, id);
        assert.equal(r.endReason, reason);
        check(r);
      });
    }

    it('a refusal by the limiter → rate_limited (429)', async () => {
      const saved = proxy.deps.admit;
      proxy.deps.admit = async () => {
        throw new RateLimitError('requests', 'Rate limit reached for requests per minute.', 1500);
      };
      try {
        await postChat(proxy.url, 'e-429', 'sim-a', true);
      } finally {
        proxy.deps.admit = saved;
      }
      const r = await recordFor(proxy, 'e-429');
      assert.equal(r.endReason, 'rate_limited');
      assert.equal(r.status, 429);
    });

    it('a stream still open past the shutdown grace period → shutdown', async () => {
      const p = await startTestProxy({
        config: {
          server: { shutdownGraceMs: 50 },
          upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 40, defaultMaxTokens: 200 } } },
        },
      });
      try {
        const done = postChat(p.url, 'e-shutdown', 'sim-a', true);
        await sleep(150);
        await p.shutdown();
        await done;
        const r = await recordFor(p, 'e-shutdown');
        assert.equal(r.endReason, 'shutdown');
        assert.equal(r.level, LEVEL.warn);
      } finally {
        await p.close();
      }
    });
  });

  describe('content capture', () => {
    const config = buildConfig(
      {
        logging: { content: true, contentMaxChars: 40, redactPaths: ['messages[*].name'] },
        keys: [{ name: 'k', key: 'planted-client-secret-123' }],
      },
      {},
    ).config;

    it('reassembles streamed content and tool calls from deltas', () => {
      const tap = new UpstreamTap(null, 'req', 1000);
      const ev = (delta: unknown) => ({ choices: [{ index: 0, delta }] });
      tap.onEvent('', ev({ role: 'assistant', content: '' }), 'u');
      tap.onEvent('', ev({ content: 'Let me ' }), 'u');
      tap.onEvent('', ev({ content: 'check.' }), 'u');
      tap.onEvent('', ev({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }), 'u');
      tap.onEvent('', ev({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }), 'u');
      tap.onEvent('', ev({ tool_calls: [{ index: 1, id: 'call_2', function: { name: 'get_time', arguments: '{}' } }] }), 'u');
      tap.onEvent('', ev({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }), 'u');
      tap.onEvent('[not json]', undefined, 'u');
      assert.deepEqual(tap.message(), {
        content: 'Let me check.',
        toolCalls: [
          { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'call_2', name: 'get_time', arguments: '{}' },
        ],
        truncatedChars: 0,
      });
    });

    it('reads a JSON answer, and stops capturing at the budget', () => {
      const tap = new UpstreamTap(null, 'req', 10);
      tap.onBody({ choices: [{ index: 0, message: { role: 'assistant', content: 'abcdefghijklmnop' } }] }, 'u');
      assert.deepEqual(tap.message(), { content: 'abcdefghij', toolCalls: [], truncatedChars: 6 });
    });

    it('content capture alone takes content deltas read without a parse, the same way and within the budget', () => {
      const tap = new UpstreamTap(null, 'req', 10);
      assert.equal(tap.wantsParsedEvents, false);
      tap.onEvent('', { choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] }, 'u');
      tap.onContentDelta('abcdef');
      tap.onContentDelta('');
      tap.onContentDelta('ghijklmnop');
      assert.deepEqual(tap.message(), { content: 'abcdefghij', toolCalls: [], truncatedChars: 6 });
      const { logger } = captureLogger('debug');
      assert.equal(new UpstreamTap(logger, 'req', 10).wantsParsedEvents, true, 'the debug line needs every event parsed');
    });

    it('bounds, scrubs and redacts: request messages and the answer, each within contentMaxChars', () => {
      const body = {
        model: 'x',
        user: 'someone@example.com',
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', name: 'alice', content: 'my key is planted-client-secret-123, and a long tail that will not fit' },
          { role: 'user', content: 'third' },
        ],
      };
      const c = contentForLog(config, body, { content: 'x'.repeat(100), toolCalls: [], truncatedChars: 0 });
      const req = c.request as { messages: Array<Record<string, unknown>> };
      assert.equal('user' in (c.request as object), false, 'only content fields are logged');
      assert.equal(req.messages[0]!.content, 'You are terse.');
      assert.equal(req.messages[1]!.name, '[redacted]', 'configured path');
      // Roles, names and contents share the 40 characters; the cut says how much is missing.
      assert.match(String(req.messages[1]!.content), /^my key is .{0,10}…\[\+\d+ chars\]$/);
      assert.equal(JSON.stringify(c).includes('planted-client-secret'), false);
      assert.deepEqual(req.messages[2], '…[+1 items]');
      assert.equal((c.response as { content: string }).content, `${'x'.repeat(40)}…[+60 chars]`);
    });

    it('the relayed text stands in for the answer on other endpoints', () => {
      const c = contentForLog(config, { input: 'embed me' }, 'plain text');
      assert.deepEqual(c, { request: { input: 'embed me' }, response: { content: 'plain text' } });
    });

    it('truncate never splits a surrogate pair', () => {
      assert.equal(truncate('ab😀cd', 3), 'ab…[+4 chars]');
      assert.equal(truncate('abc', 3), 'abc');
    });

    it('boundedCopy stops arrays once the budget is spent', () => {
      assert.deepEqual(boundedCopy({ a: ['12345', '6', '7', '8'] }, 5, []), { a: ['12345', '…[+3 items]'] });
    });

    it('parses pino-style redact paths and censors every match', () => {
      assert.deepEqual(parsePath('a.b'), ['a', 'b']);
      assert.deepEqual(parsePath('a[*].b'), ['a', '*', 'b']);
      assert.deepEqual(parsePath('a["x-y"].c[0]'), ['a', 'x-y', 'c', '0']);
      assert.throws(() => parsePath('a..b'));
      const o = { metadata: { email: 'e', keep: 1 }, messages: [{ name: 'n1' }, { name: 'n2' }, {}] };
      redactPaths(o, ['metadata.email', 'messages[*].name', 'missing.path']);
      assert.deepEqual(o, { metadata: { email: '[redacted]', keep: 1 }, messages: [{ name: '[redacted]' }, { name: '[redacted]' }, {}] });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// helpers

/** Poll the proxy's log for the `request` record with id `id`. */
async function recordFor(p: TestProxy, id: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(() => (found = p.records().find((l) => l.msg === 'request' && l.id === id)) !== undefined, 3000, `record ${id}`);
  return found!;
}

async function waitFor(pred: () => boolean, ms: number, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** POST a chat completion and read the whole answer (whatever its status). */
async function postChat(base: string, id: string, model: string, stream: boolean): Promise<void> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hello' }] }),
  });
  try {
    await res.text();
  } catch {
    /* a reset mid-body is one of the cases */
  }
}

/** Start a stream, read until its first data frame, then destroy the socket. */
function hangUpAfterFirstChunk(base: string, id: string, model: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}/v1/chat/completions`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id } },
      (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hello' }] }));
  });
}

/** A chat chunk frame. */
const frame = (delta: Record<string, unknown>, finish: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

/**
 * A scripted upstream behind the proxy's fetch: the model name picks the behaviour.
 * `script-500`, `script-reset` (data, then the connection fails), `script-truncate` (data, then
 * a clean close without [DONE]), `script-idle` (data, then silence until aborted).
 */
function scriptedUpstream(): FetchLike {
  return async (_input, init) => {
    const raw = init.body;
    const text = typeof raw === 'string' ? raw : Buffer.from(raw as Uint8Array).toString('utf8');
    const body = JSON.parse(text) as { model: string };
    const signal = init.signal ?? undefined;
    if (body.model === 'script-500') {
      return new Response(JSON.stringify({ error: { message: 'boom', type: 'server_error', param: null, code: null } }), {
        status: 500,
        headers: { 'content-type': 'application/json' },
      });
    }
    const enc = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(enc.encode(frame({ role: 'assistant', content: 'Hello' })));
        controller.enqueue(enc.encode(frame({ content: ' there' })));
        await sleep(5);
        if (body.model === 'script-reset') controller.error(new TypeError('terminated'));
        else if (body.model === 'script-truncate') controller.close();
        else if (body.model === 'script-idle') {
          signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
        }
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}
