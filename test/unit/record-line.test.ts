import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import type { EndReason, RequestRecord } from '../../src/events/types.js';
import { createLogger, lineWriter } from '../../src/logging/logger.js';
import { attachRequestLog, logFields } from '../../src/logging/record.js';
import { recordLine } from '../../src/logging/record-line.js';
import { EventBus } from '../../src/events/bus.js';
import { gapsOf } from '../helpers/gaps.js';

/** A logger of ours whose raw output (strings as pino writes them) lands in `out`. */
function rawLogger(redactPaths?: string[]): { out: string[]; logger: ReturnType<typeof createLogger> } {
  const out: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { out, logger: createLogger({ level: 'info', destination, redactPaths }) };
}

const sameTime = (line: string): string => line.replace(/"time":"[^"]*"/, '"time":"T"');

/** Strings as a record may carry them: plain, escapes, control characters, quotes, any Unicode. */
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('', 'a"b', 'back\\slash', 'tab\there', 'nl\nx', '\u0000', 'é✓🙂', 'x'.repeat(150), '"'.repeat(120)),
);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null });
const ms = fc.oneof(
  fc.double({ min: 0, max: 1e6, noNaN: true }),
  // Rounded to the µs, as Exchange rounds every duration (the line's direct digits path).
  fc.integer({ min: 0, max: 2e12 }).map((k) => Math.round(k) / 1000),
  fc.constantFrom(0, 1.5, 2.345, 0.001, 0.05, 999_999_999.999, 1e9, 1e9 + 0.5, Number.NaN, Number.POSITIVE_INFINITY),
);
const reasons: EndReason[] = ['done', 'client_aborted', 'upstream_error', 'upstream_truncated', 'idle_timeout', 'rate_limited', 'shutdown', 'error'];

/** Records in the key order Exchange.finish builds them. */
const record: fc.Arbitrary<RequestRecord> = fc
  .record({
    id: text, method: text, route: text, key: text, model: text, modelLabel: text, upstream: maybe(text), stream: fc.boolean(),
    status: fc.integer({ min: 100, max: 599 }), endReason: fc.constantFrom(...reasons), startedAt: fc.oneof(fc.integer({ min: 0, max: 2 ** 42 }), fc.maxSafeNat()),
    upstreamTtfbMs: maybe(ms), ttftMs: maybe(ms), durationMs: ms, overheadMs: maybe(ms), chunks: fc.nat(), bytesOut: fc.nat(),
    promptTokens: maybe(fc.nat()), completionTokens: maybe(fc.nat()), tokenSource: fc.constantFrom(null, 'upstream' as const, 'estimated' as const),
    finishReason: maybe(text),
    attempts: fc.array(fc.record({ upstream: text, status: maybe(fc.integer({ min: 100, max: 599 })), error: maybe(text), durationMs: ms }), { maxLength: 3 }),
    error: maybe(text), interToken: fc.array(ms, { maxLength: 6 }).map(gapsOf),
  })
  // `cachedTokens` is set after the fixed fields, and only when above 0 (Exchange.finish).
  .chain((r) => fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }).map((cached) => (cached === undefined ? r : { ...r, cachedTokens: cached })))
  .map((r) => r as RequestRecord);

describe('the request record line (written without pino, issue 6)', () => {
  it('is byte for byte the line pino writes for the same record (2,000 random records)', () => {
    const { out, logger } = rawLogger();
    fc.assert(
      fc.property(record, (r) => {
        out.length = 0;
        logger.info(logFields(r), 'request');
        const byPino = out.join('');
        assert.equal(sameTime(recordLine(r, 30, new Date().toISOString())), sameTime(byPino));
      }),
      { numRuns: 2000 },
    );
  });

  it('goes through the secrets net, keeps the level and the logger level, and leaves content and custom redaction to pino', () => {
    const { out, logger } = rawLogger();
    const bus = new EventBus();
    attachRequestLog(bus, logger);
    const base = fc.sample(record, { numRuns: 1, seed: 7 })[0]!;
    const r: RequestRecord = { ...base, endReason: 'upstream_error', status: 502, error: 'upstream said: Bearer abcdefghijklmnop', content: undefined };
    delete r.content;
    bus.emit('request.end', r);
    assert.equal(out.length, 1);
    const line = JSON.parse(out[0]!) as Record<string, unknown>;
    assert.equal(line.level, 40);
    assert.equal(line.error, 'upstream said: Bearer [redacted]');
    assert.ok(!out[0]!.includes('abcdefghijklmnop'));
    // A raised level silences it, as pino would.
    logger.level = 'error';
    bus.emit('request.end', r);
    assert.equal(out.length, 1);
    // Content and custom redaction paths: pino's own path (the line writer is not offered).
    assert.equal(lineWriter(rawLogger(['model']).logger), null);
    const custom = rawLogger(['model']);
    attachRequestLog(bus, custom.logger);
    bus.emit('request.end', { ...r, content: { request: { messages: [] } } });
    const c = JSON.parse(custom.out[0]!) as Record<string, unknown>;
    assert.equal(c.model, '[redacted]');
    assert.deepEqual(c.content, { request: { messages: [] } });
  });
});
