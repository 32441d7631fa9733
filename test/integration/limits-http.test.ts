/**
 * Keys and rate limits through the whole app (issue 4), over real HTTP, with the OpenAI SDK as
 * the client where a client's view matters (its error classes, its retry loop). The limiter's
 * arithmetic is covered in test/unit/limits.test.ts and the Redis store in
 * test/integration/redis-limits.test.ts; here: what a caller sees — statuses, bodies, headers,
 * waits — and that every way a request can end gives its concurrency slot back.
 *
 * Waits are bounded and event-driven (the proxy's lifecycle bus, the SDK's own retry); limits are
 * chosen so nothing waits longer than ~1 s.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/services.js';
import { createSimServer } from '../../src/sim/server.js';
import type { EventBus } from '../../src/events/bus.js';
import type { RequestRecord } from '../../src/events/types.js';
import { ManualClock } from '../../src/clock.js';

// ---------------------------------------------------------------------------------------------
// helpers

const secret = (prefix: string): string => `${prefix}-${randomBytes(16).toString('hex')}`;
const messages = [{ role: 'user' as const, content: 'hi' }];

/** The six headers OpenAI sends (DESIGN.md "Rate-limit headers"). */
const RATE_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
] as const;

/** A Go `time.Duration` string as OpenAI writes resets: `12ms`, `1s`, `8.64s`, `6m0s`, `1h0m0s`. */
const GO_DURATION = /^(?:0s|[1-9]\d{0,2}ms|(?:[1-9]\d*h)?(?:(?:[1-9]\d*|0)m)?(?:[1-9]\d?|\d)(?:\.\d{1,3})?s)$/;

/** Parse a Go duration back to ms (the forms above only). */
function goMs(s: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)(ms|s))$/.exec(s);
  assert.ok(m, `not a duration: ${s}`);
  const [, h = '0', min = '0', n, unit] = m;
  return Number(h) * 3_600_000 + Number(min) * 60_000 + Number(n) * (unit === 'ms' ? 1 : 1000);
}

/** Headers from a fetch Response, Node's IncomingHttpHeaders or the SDK's `Headers`. */
type AnyHeaders = Headers | http.IncomingHttpHeaders;
const header = (h: AnyHeaders, name: string): string | undefined =>
  h instanceof Headers ? (h.get(name) ?? undefined) : (h[name] as string | undefined);

function assertRateHeaders(h: AnyHeaders, what: string, expect: { requests?: boolean; tokens?: boolean } = { requests: true, tokens: true }): void {
  for (const name of RATE_HEADERS) {
    const kind = name.endsWith('requests') ? 'requests' : 'tokens';
    const v = header(h, name);
    if (!expect[kind]) {
      assert.equal(v, undefined, `${what}: no ${name} without a ${kind} limit`);
      continue;
    }
    assert.ok(v !== undefined, `${what}: ${name} missing`);
    if (name.includes('-reset-')) assert.match(v, GO_DURATION, `${what}: ${name}`);
    else assert.match(v, /^\d+$/, `${what}: ${name}`);
  }
}

/**
 * The SDK's fetch, recording each attempt: when it was sent, when its head arrived, its status,
 * the SDK's retry count header and the retry-after-ms the proxy announced.
 */
interface Attempt {
  sentAt: number;
  headAt: number;
  status: number;
  retryCount: string | null;
  retryAfterMs: number | null;
}
function recordingFetch(attempts: Attempt[]): typeof fetch {
  return async (input, init) => {
    const sentAt = performance.now();
    const res = await fetch(input, init);
    const ra = res.headers.get('retry-after-ms');
    attempts.push({
      sentAt,
      headAt: performance.now(),
      status: res.status,
      retryCount: new Headers(init?.headers).get('x-stainless-retry-count'),
      retryAfterMs: ra === null ? null : Number(ra),
    });
    return res;
  };
}

/** Watches the proxy's lifecycle bus: which request ids were admitted (`request.start`) and ended. */
class Lifecycle {
  readonly started = new Set<string>();
  readonly ended = new Map<string, RequestRecord>();
  private readonly waiters = new Set<() => void>();
  private readonly offs: Array<() => void>;
  constructor(bus: EventBus) {
    this.offs = [
      bus.on('request.start', (e) => {
        this.started.add(e.id);
        this.poke();
      }),
      bus.on('request.end', (r) => {
        this.ended.set(r.id, r);
        this.poke();
      }),
    ];
  }
  private poke(): void {
    for (const w of [...this.waiters]) w();
  }
  /** Resolve when `cond()` holds (re-checked on every lifecycle event); reject after `timeoutMs`. */
  until(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
  close(): void {
    this.offs.forEach((off) => off());
  }
}

/** One sample of a gauge/counter from /metrics, or undefined when the series is absent. */
async function metric(p: TestProxy, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    const have = labelText.split(',');
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** A raw POST whose whole response is read; for checks that need no SDK. */
function post(p: TestProxy, path: string, key: string | null, body: unknown, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      `${p.url}${path}`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const sdk = (p: TestProxy, apiKey: string, opts: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
  new OpenAI({ baseURL: p.baseURL, apiKey, ...opts });

/** Run `p`, expecting the SDK to throw an APIError; returns it. */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  assert.fail('expected the request to fail');
}

// ---------------------------------------------------------------------------------------------

describe('keys and rate limits over HTTP (OpenAI SDK as the client)', function () {
  this.timeout(30_000);

  describe('keys: 401 and 403', () => {
    const KEY = secret('sk-keys');
    let p: TestProxy;
    before(async () => {
      p = await startTestProxy({
        config: { keys: [{ name: 'narrow', key: KEY, models: ['sim-1'], limits: { rpm: 1 } }] },
      });
    });
    after(() => p?.close());

    it('a request without a key is 401 invalid_api_key (SDK AuthenticationError)', async () => {
      // `Authorization: null` removes the SDK's header: the request goes out with no key at all.
      const client = sdk(p, 'unused', { defaultHeaders: { Authorization: null } });
      const err = await apiError(client.chat.completions.create({ model: 'sim-1', messages }));
      assert.ok(err instanceof OpenAI.AuthenticationError, err.constructor.name);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      assert.equal(err.type, 'invalid_request_error');
      assert.match(err.message, /You didn't provide an API key/);
    });

    it('a wrong key is 401 invalid_api_key, and the key is not echoed', async () => {
      const wrong = secret('sk-wrong');
      const err = await apiError(sdk(p, wrong).chat.completions.create({ model: 'sim-1', messages }));
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal(err.code, 'invalid_api_key');
      assert.match(err.message, /Incorrect API key provided/);
      assert.ok(!JSON.stringify(err.error).includes(wrong.slice(9)), 'the presented key is not in the body');
    });

    it('401 comes before the body is read: a client still sending a large body is answered at once', async () => {
      // Announce 50 MB and send none of it: the answer must not wait for (or read) the body.
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(`${p.url}/v1/chat/completions`, {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) },
        });
        const timer = setTimeout(() => {
          req.destroy();
          reject(new Error('no answer within 2 s: the proxy waits for the body before checking the key'));
        }, 2000);
        req.on('response', (res) => {
          clearTimeout(timer);
          resolve(res);
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      assert.equal(res.statusCode, 401);
      res.destroy();
    });

    it('a model outside the key\'s list is 403 (SDK PermissionDeniedError) and costs no request', async () => {
      const client = sdk(p, KEY, { maxRetries: 0 });
      const err = await apiError(client.chat.completions.create({ model: 'sim-fast', messages }));
      assert.ok(err instanceof OpenAI.PermissionDeniedError, err.constructor.name);
      assert.equal(err.status, 403);
      assert.equal(err.type, 'permission_error');
      assert.equal(err.param, 'model');
      assert.match(err.message, /"narrow" is not allowed to use the model "sim-fast"/);
      // rpm 1: the 403 took nothing from the key's budget, so its one request is still there.
      const ok = await client.chat.completions.create({ model: 'sim-1', messages }).withResponse();
      assert.equal(ok.response.headers.get('x-ratelimit-remaining-requests'), '0');
    });
  });

  describe('requests per minute: the 429 and the SDK\'s retry', () => {
    const KEY_RPM2 = secret('sk-rpm2');
    const KEY_RPM60 = secret('sk-rpm60');
    const KEY_HDR = secret('sk-hdr');
    let p: TestProxy;
    before(async () => {
      p = await startTestProxy({
        config: {
          keys: [
            { name: 'rpm2', key: KEY_RPM2, limits: { rpm: 2, tpm: 60_000 } },
            { name: 'rpm60', key: KEY_RPM60, limits: { rpm: 60 } },
            { name: 'hdr', key: KEY_HDR, limits: { rpm: 1000, tpm: 1_000_000 } },
          ],
        },
      });
    });
    after(() => p?.close());

    it('admits rpm requests, then 429: OpenAI body, Retry-After, retry-after-ms and the six headers', async () => {
      const client = sdk(p, KEY_RPM2, { maxRetries: 0 });
      const first = await client.chat.completions.create({ model: 'sim-1', messages, max_tokens: 5 }).withResponse();
      const h1 = first.response.headers;
      assertRateHeaders(h1, 'first');
      // The first admission sees full buckets, so the numbers are exact: rpm 2 → one request
      // comes back every 30 s; tpm 60 000 → one token per ms, so the token reset in ms is the
      // reservation (estimated prompt + max_tokens).
      assert.equal(h1.get('x-ratelimit-limit-requests'), '2');
      assert.equal(h1.get('x-ratelimit-remaining-requests'), '1');
      // (±1 ms: see "resets carry no floating-point noise" below.)
      assert.ok(['30s', '30.001s'].includes(h1.get('x-ratelimit-reset-requests')!), h1.get('x-ratelimit-reset-requests')!);
      assert.equal(h1.get('x-ratelimit-limit-tokens'), '60000');
      const reserved = 60_000 - Number(h1.get('x-ratelimit-remaining-tokens'));
      assert.ok(reserved > 5 && reserved < 50, `reserved ${reserved}`);
      assert.ok([`${reserved}ms`, `${reserved + 1}ms`].includes(h1.get('x-ratelimit-reset-tokens')!), h1.get('x-ratelimit-reset-tokens')!);

      await client.chat.completions.create({ model: 'sim-1', messages, max_tokens: 5 });
      const sent = performance.now();
      const err = await apiError(client.chat.completions.create({ model: 'sim-1', messages, max_tokens: 5 }));
      assert.ok(err instanceof OpenAI.RateLimitError, err.constructor.name);
      assert.equal(err.status, 429);
      assert.equal(err.type, 'requests');
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.equal(err.param, null);
      const h = err.headers!;
      assertRateHeaders(h, '429');
      assert.equal(h.get('x-ratelimit-remaining-requests'), '0');
      const retryAfterMs = Number(h.get('retry-after-ms'));
      // The first request's slot comes back 30 s after it was admitted: a little under 30 s now.
      assert.ok(retryAfterMs > 29_000 && retryAfterMs <= 30_000, `retry-after-ms ${retryAfterMs}`);
      assert.equal(h.get('retry-after'), String(Math.ceil(retryAfterMs / 1000)));
      assert.ok(Math.abs(goMs(h.get('x-ratelimit-reset-requests')!) - (retryAfterMs + 30_000)) <= performance.now() - sent + 2);
      // "Rate limit reached for … on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 29.982s."
      const m = /^429 Rate limit reached for sim-1 on key rpm2 on requests per min \(RPM\): Limit 2, Used 2, Requested 1\. Please try again in (\S+)\.$/.exec(err.message);
      assert.ok(m, err.message);
      assert.equal(goMs(m[1]!), retryAfterMs, 'the message names the same wait as retry-after-ms');
      assert.equal(h.get('x-should-retry'), null, 'a 429 for requests may be retried');
    });

    it('resets carry no floating-point noise: a fresh rpm 2 bucket resets in exactly "30s"', async () => {
      // The memory store runs on the monotonic clock (performance.now(): ~1e4–1e7 ms with a
      // fraction). For ~4 % of such instants (now + 30000) − now is 30000.000000000007, which the
      // ceil in formatResetDuration turns into "30.001s" and retry-after-ms into 30001. This
      // instant is one of them; the proxy is otherwise unaffected by a clock that stands still.
      const clock = new ManualClock(63_735.56754626275);
      const q = await startTestProxy({ clock, config: { keys: [{ name: 'k', key: KEY_RPM2, limits: { rpm: 2 } }] } });
      try {
        const r1 = await post(q, '/v1/chat/completions', KEY_RPM2, { model: 'sim-fast', messages, max_tokens: 1 });
        assert.equal(r1.headers['x-ratelimit-reset-requests'], '30s');
        await post(q, '/v1/chat/completions', KEY_RPM2, { model: 'sim-fast', messages, max_tokens: 1 });
        const refused = await post(q, '/v1/chat/completions', KEY_RPM2, { model: 'sim-fast', messages, max_tokens: 1 });
        assert.equal(refused.status, 429);
        assert.equal(refused.headers['x-ratelimit-reset-requests'], '1m0s');
        assert.equal(refused.headers['retry-after-ms'], '30000');
        assert.match(JSON.parse(refused.text).error.message, /Please try again in 30s\.$/);
      } finally {
        await q.close();
      }
    });

    it('the SDK with its default retries waits the announced retry-after-ms, then succeeds', async () => {
      // rpm 60: a burst of 60, then one request back per second. Use up the burst (until the
      // first refusal, however long that takes: refused requests cost nothing), then ask.
      let admitted = 0;
      for (;;) {
        const r = await post(p, '/v1/chat/completions', KEY_RPM60, { model: 'sim-fast', messages, max_tokens: 1 });
        if (r.status === 429) break;
        assert.equal(r.status, 200, r.text);
        assert.ok(++admitted <= 70, 'the burst is rpm (60), plus what refills meanwhile');
      }
      assert.ok(admitted >= 60, `burst of ${admitted}`);
      const attempts: Attempt[] = [];
      const client = sdk(p, KEY_RPM60, { fetch: recordingFetch(attempts) }); // maxRetries: default (2)
      const t0 = performance.now();
      const answer = await client.chat.completions.create({ model: 'sim-fast', messages, max_tokens: 1 });
      const elapsed = performance.now() - t0;
      assert.equal(answer.object, 'chat.completion');
      assert.deepEqual(attempts.map((a) => a.status), [429, 200], 'refused once, then admitted');
      assert.deepEqual(attempts.map((a) => a.retryCount), ['0', '1']);
      const announced = attempts[0]!.retryAfterMs!;
      assert.ok(announced > 0 && announced <= 1000, `announced ${announced} ms (≤ one refill interval)`);
      const waited = attempts[1]!.sentAt - attempts[0]!.headAt;
      assert.ok(waited >= announced - 3, `the SDK waited ${waited.toFixed(1)} ms of the announced ${announced} ms`);
      assert.ok(elapsed >= announced - 3, `elapsed ${elapsed.toFixed(0)} ms`);
      assert.ok(elapsed < announced + 1000, `and not much longer: ${elapsed.toFixed(0)} ms`);
    });

    it('every successful response carries the x-ratelimit-* headers: JSON, stream and pass-through', async () => {
      const client = sdk(p, KEY_HDR);
      const json = await client.chat.completions.create({ model: 'sim-1', messages }).withResponse();
      assertRateHeaders(json.response.headers, 'json');

      const stream = await client.chat.completions.create({ model: 'sim-1', messages, stream: true }).withResponse();
      assert.match(stream.response.headers.get('content-type')!, /^text\/event-stream/);
      assertRateHeaders(stream.response.headers, 'stream');
      let chunks = 0;
      for await (const _chunk of stream.data) chunks++;
      assert.ok(chunks > 1);

      const emb = await client.embeddings.create({ model: 'sim-embed', input: 'hello' }).withResponse();
      assert.equal(emb.data.data.length, 1);
      assertRateHeaders(emb.response.headers, 'embeddings (pass-through)');

      const legacy = await client.completions.create({ model: 'sim-1', prompt: 'hi', stream: true }).withResponse();
      assertRateHeaders(legacy.response.headers, 'completions stream (pass-through)');
      for await (const _chunk of legacy.data) {
        /* drain */
      }
    });

    it('a key with only some limits gets only the matching headers', async () => {
      const only = await post(p, '/v1/chat/completions', KEY_RPM60, { model: 'sim-fast', messages, max_tokens: 1 });
      // rpm60 has no tpm: the requests trio only (the key's budget may be spent by the test above).
      assertRateHeaders(only.headers, 'rpm only', { requests: true, tokens: false });
    });
  });

  describe('tokens per minute: reservation at admission, reconciliation at the end', () => {
    const KEY = secret('sk-tok');
    let p: TestProxy;
    let life: Lifecycle;
    before(async () => {
      p = await startTestProxy({
        config: {
          // sim-1 streams 8 tokens, one per 100 ms (so a stream stays open ~0.7 s); sim-fast at once.
          upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 100, defaultMaxTokens: 8 } } },
          rateLimit: { defaultCompletionReservation: 500 },
          keys: [{ name: 'tok', key: KEY, limits: { tpm: 1000 } }],
        },
      });
      life = new Lifecycle(p.deps.bus);
    });
    after(async () => {
      life?.close();
      await p?.close();
    });

    it('refuses a reservation larger than what is left (429 tokens), then admits it once the finished stream is refunded', async () => {
      const client = sdk(p, KEY, { maxRetries: 0 });
      const tA = performance.now();
      // A: a stream without max_tokens reserves prompt estimate + 500 and holds it while open.
      const a = await client.chat.completions
        .create({ model: 'sim-1', messages, stream: true, stream_options: { include_usage: true } }, { headers: { 'x-request-id': 'tok-a' } })
        .withResponse();
      const remainingA = Number(a.response.headers.get('x-ratelimit-remaining-tokens'));
      const prompt = 1000 - 500 - remainingA; // first admission: exact
      assert.ok(prompt > 0 && prompt < 50, `prompt estimate ${prompt}`);

      // B: prompt + 600 > what is left (≈ 1000 − prompt − 500): refused for tokens while A is open.
      const err = await apiError(client.chat.completions.create({ model: 'sim-fast', messages, max_tokens: 600 }));
      assert.equal(life.ended.has('tok-a'), false, 'A was still open when B was refused');
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.type, 'tokens');
      assert.equal(err.code, 'rate_limit_exceeded');
      const m = /Rate limit reached for sim-fast on key tok on tokens per min \(TPM\): Limit 1000, Used (\d+), Requested (\d+)\. Please try again in (\S+)\./.exec(err.message);
      assert.ok(m, err.message);
      assert.equal(Number(m[2]), prompt + 600, 'requested = prompt estimate + max_tokens');
      assert.ok(Number(m[1]) <= prompt + 500 && Number(m[1]) >= prompt + 490, `used ${m[1]}`);
      // B fits once (prompt + 500) in use drops to 1000 − (prompt + 600): 2 × prompt + 100 tokens
      // must come back, at 1 token per 60 ms (less what came back since A was admitted).
      const retryAfterMs = Number(err.headers!.get('retry-after-ms'));
      const fullWait = (2 * prompt + 100) * 60;
      assert.ok(retryAfterMs <= fullWait && retryAfterMs > fullWait - (performance.now() - tA) - 1, `retry-after-ms ${retryAfterMs} (≤ ${fullWait})`);
      assert.equal(goMs(m[3]!), retryAfterMs);

      // A ends: 8 completion tokens (+ the simulator's prompt count) instead of the 500 reserved.
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of a.data) usage = chunk.usage ?? usage;
      assert.ok(usage, 'usage chunk');
      assert.equal(usage.completion_tokens, 8);
      await life.until(() => life.ended.has('tok-a'), 2000, () => 'A to end');

      // B again, long before its announced wait: admitted, because A's unused reservation was
      // refunded; the remaining tokens are what A really used and B reserves, less refill.
      const b = await client.chat.completions.create({ model: 'sim-fast', messages, max_tokens: 600 }).withResponse();
      assert.ok(performance.now() - tA < retryAfterMs, 'admitted before the wait announced while A held its reservation');
      const remainingB = Number(b.response.headers.get('x-ratelimit-remaining-tokens'));
      const withRefund = 1000 - usage.total_tokens - (prompt + 600);
      const refill = Math.ceil((performance.now() - tA) / 60) + 1; // 1 token per 60 ms since A
      assert.ok(remainingB >= withRefund && remainingB <= withRefund + refill, `remaining ${remainingB}, expected ${withRefund} (+ ≤ ${refill} refill)`);
    });

    it('a reservation above the whole tpm is "Request too large": x-should-retry false, the SDK does not retry', async () => {
      const attempts: Attempt[] = [];
      const client = sdk(p, KEY, { fetch: recordingFetch(attempts) }); // default retries
      const err = await apiError(client.chat.completions.create({ model: 'sim-fast', messages, max_tokens: 2000 }));
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.type, 'tokens');
      assert.match(err.message, /^429 Request too large for sim-fast on key tok on tokens per min \(TPM\): Limit 1000, Requested \d+\./);
      assert.equal(err.headers!.get('x-should-retry'), 'false');
      assert.equal(attempts.length, 1, 'not retried');
    });
  });

  describe('tokens per minute: an overrun is charged (debt) and announced in minutes', () => {
    const KEY = secret('sk-debt');
    let p: TestProxy;
    before(async () => {
      p = await startTestProxy({
        config: {
          // No completion reservation, but the simulator answers 300 tokens: the request overruns.
          upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 300 } } },
          rateLimit: { defaultCompletionReservation: 0 },
          keys: [{ name: 'debt', key: KEY, limits: { tpm: 100 } }],
        },
      });
    });
    after(() => p?.close());

    it('reconciles to the real usage, and the next request waits the debt out (reset like "3m0.6s")', async () => {
      const client = sdk(p, KEY, { maxRetries: 0 });
      const life = new Lifecycle(p.deps.bus);
      const first = await client.chat.completions.create({ model: 'sim-1', messages });
      const used = first.usage!.total_tokens;
      assert.ok(used > 300, `used ${used}`);
      await life.until(() => life.ended.size === 1, 2000, () => 'the first request to be settled');
      life.close();
      const err = await apiError(client.chat.completions.create({ model: 'sim-1', messages }));
      assert.equal(err.type, 'tokens');
      const h = err.headers!;
      assert.equal(h.get('x-ratelimit-remaining-tokens'), '0', 'in debt: shown as 0');
      const reset = h.get('x-ratelimit-reset-tokens')!;
      assert.match(reset, /^\dm\d+(\.\d+)?s$/, 'minutes, Go style');
      // The bucket is full again `used` tokens × 600 ms after the first request.
      assert.ok(Math.abs(goMs(reset) - used * 600) < 2_000, `reset ${reset} for ${used} tokens`);
      assert.match(err.message, /Used \d+, Requested \d+\. Please try again in \dm\d+(\.\d+)?s\.$/);
      assert.ok(Number(h.get('retry-after')) > 60, 'Retry-After in seconds');
    });
  });

  describe('concurrency: slots come back on every ending', () => {
    const KEY3 = secret('sk-three');
    const KEY1 = secret('sk-one');
    const KEY500 = secret('sk-many');
    let p: TestProxy;
    let life: Lifecycle;
    let hang: net.Server;
    let broken: http.Server;
    const hungSockets = new Set<net.Socket>();

    before(async () => {
      // An upstream that accepts and never answers (→ 504), one that breaks mid-stream (→ error
      // frame), and a port nobody listens on (→ 502).
      hang = net.createServer((s) => {
        hungSockets.add(s);
        s.on('close', () => hungSockets.delete(s));
      });
      await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
      broken = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n');
        setTimeout(() => res.destroy(), 20);
      });
      await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
      const dead = await freePort();
      const at = (s: net.Server) => `http://127.0.0.1:${(s.address() as net.AddressInfo).port}/v1`;
      p = await startTestProxy({
        config: {
          server: { firstByteTimeoutMs: 300 },
          resilience: { maxAttempts: 1 },
          upstreams: {
            // sim-1: a long stream, one token per 100 ms; sim-slow: admitted, then silent for 60 s
            // (no response head before keepAliveMs, 10 s).
            sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 100, defaultMaxTokens: 100_000 } },
            slow: { type: 'sim', sim: { ttftMs: 60_000, tokenDelayMs: 0, defaultMaxTokens: 1 } },
            dead: { type: 'openai', baseUrl: `http://127.0.0.1:${dead}/v1`, apiKey: 'x' },
            hang: { type: 'openai', baseUrl: at(hang), apiKey: 'x' },
            broken: { type: 'openai', baseUrl: at(broken as unknown as net.Server), apiKey: 'x' },
          },
          models: [
            { match: 'sim-slow', upstream: 'slow' },
            { match: 'sim-*', upstream: 'sim' },
            { match: 'dead-*', upstream: 'dead' },
            { match: 'hang-*', upstream: 'hang' },
            { match: 'broken-*', upstream: 'broken' },
          ],
          keys: [
            { name: 'three', key: KEY3, limits: { maxConcurrent: 3 } },
            { name: 'one', key: KEY1, limits: { maxConcurrent: 1 } },
            { name: 'many', key: KEY500, limits: { maxConcurrent: 500 } },
          ],
        },
      });
      life = new Lifecycle(p.deps.bus);
    });
    after(async () => {
      life?.close();
      await p?.close();
      for (const s of hungSockets) s.destroy();
      await new Promise((r) => hang?.close(r));
      broken?.closeAllConnections();
      await new Promise((r) => broken?.close(r));
    });

    it('the request past maxConcurrent is 429 "concurrency" with Retry-After 1; an aborted stream frees its slot', async () => {
      const client = sdk(p, KEY3, { maxRetries: 0 });
      const open = await Promise.all(
        [0, 1, 2].map(async (i) => {
          const ctrl = new AbortController();
          const s = await client.chat.completions.create({ model: 'sim-1', messages, stream: true }, { signal: ctrl.signal, headers: { 'x-request-id': `three-${i}` } });
          const it = s[Symbol.asyncIterator]();
          await it.next(); // the first chunk: admitted and streaming
          return { ctrl, it };
        }),
      );
      const err = await apiError(client.chat.completions.create({ model: 'sim-1', messages, stream: true }));
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.type, 'concurrency');
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.match(err.message, /on key three on concurrent requests: Limit 3, Used 3, Requested 1\. Please try again in 1s\.$/);
      assert.equal(err.headers!.get('retry-after'), '1');
      assert.equal(err.headers!.get('retry-after-ms'), '1000');

      open[0]!.ctrl.abort();
      await life.until(() => life.ended.has('three-0'), 2000, () => 'the aborted stream to end');
      assert.equal(life.ended.get('three-0')!.endReason, 'client_aborted');
      const again = await client.chat.completions.create({ model: 'sim-1', messages, stream: true }, { headers: { 'x-request-id': 'three-3' } }).withResponse();
      assert.equal(again.response.status, 200, 'the freed slot is taken again');
      again.data.controller.abort();
      for (const o of open.slice(1)) o.ctrl.abort();
      await life.until(() => ['three-1', 'three-2', 'three-3'].every((id) => life.ended.has(id)), 2000, () => 'all streams to end');
    });

    it('upstream unreachable (502), upstream timeout (504) and a stream broken mid-way each give the slot back', async () => {
      const cases: Array<[string, number | 'stream']> = [
        ['dead-1', 502],
        ['hang-1', 504],
        ['broken-1', 'stream'],
      ];
      for (const [model, expected] of cases) {
        for (const stream of [false, true]) {
          const r = await post(p, '/v1/chat/completions', KEY1, { model, messages, stream });
          if (expected === 'stream' && stream) {
            assert.equal(r.status, 200, model);
            assert.match(r.text, /data: \{"error":/, `${model}: the failure is reported in the stream`);
          } else if (expected === 'stream') {
            // Should be 502 (DESIGN.md "Errors"); see the separate test below for the 500.
            assert.ok(r.status >= 500, `${model} stream=${stream}: ${r.status} ${r.text}`);
          } else {
            assert.equal(r.status, expected, `${model} stream=${stream}: ${r.text}`);
          }
          // maxConcurrent 1: the next request is admitted only if the failed one gave its slot back.
          const next = await post(p, '/v1/chat/completions', KEY1, { model: 'sim-fast', messages, max_tokens: 1 });
          assert.equal(next.status, 200, `after ${model} stream=${stream}: ${next.text}`);
        }
      }
    });

    it('an upstream that breaks off a JSON answer is 502 upstream_error, not 500 (DESIGN.md "Errors")', async () => {
      // Found by the test above: relayChatJson lets the body read's TypeError ("terminated")
      // reach the renderer, which makes it 500 internal_error.
      const r = await post(p, '/v1/chat/completions', KEY1, { model: 'broken-1', messages });
      assert.equal(r.status, 502, r.text);
      assert.equal(JSON.parse(r.text).error.type, 'upstream_error');
    });

    it('500 streams aborted at every phase all give their slots back: then exactly 500 are admitted again', async function () {
      // ~2 s on an idle 2-core machine; the bounds leave room for a loaded CI runner.
      this.timeout(30_000);
      const N = 500;
      type Phase = 'before-headers' | 'after-headers' | 'after-first-token' | 'after-tokens';
      interface Open {
        id: string;
        req: http.ClientRequest;
        frames: number;
        headers: boolean;
        /** Resolves once the stream reached the phase at which it is to be aborted. */
        reached: Promise<void>;
      }
      const t0 = performance.now();
      const open = (id: string, model: string, phase: Phase): Open => {
        const o = { id, frames: 0, headers: false } as Open;
        o.reached = new Promise<void>((resolve, reject) => {
          const body = JSON.stringify({ model, messages, stream: true });
          o.req = http.request(`${p.url}/v1/chat/completions`, {
            method: 'POST',
            agent: false,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY500}`, 'x-request-id': id },
          });
          o.req.on('error', () => {}); // our own aborts
          o.req.on('response', (res) => {
            o.headers = true;
            if (res.statusCode !== 200) return reject(new Error(`${id}: status ${res.statusCode}`));
            if (phase === 'after-headers') return resolve();
            res.on('data', (chunk: Buffer) => {
              o.frames += chunk.toString('latin1').split('\n\n').length - 1;
              // Frame 1 is the role chunk; the first token is in frame 2.
              if ((phase === 'after-first-token' && o.frames >= 2) || (phase === 'after-tokens' && o.frames >= 4)) {
                res.pause(); // hold it here; nothing more to read
                resolve();
              }
            });
          });
          o.req.end(body);
          if (phase === 'before-headers') life.until(() => life.started.has(id), 10_000, () => `${id} to be admitted`).then(resolve, reject);
        });
        return o;
      };
      const metricRemaining = () => metric(p, 'llm_proxy_rate_limit_remaining', { key: 'many', limit: 'concurrency' });

      // Round 1: 500 streams, a quarter held at each phase, all at once.
      const phases: Phase[] = ['before-headers', 'after-headers', 'after-first-token', 'after-tokens'];
      const round1 = Array.from({ length: N }, (_, i) => {
        const phase = phases[i % 4]!;
        // before-headers: sim-slow is admitted but silent, so no response head is sent.
        return open(`r1-${i}`, phase === 'before-headers' ? 'sim-slow' : 'sim-1', phase);
      });
      await Promise.all(round1.map((o) => o.reached));
      assert.equal(round1.filter((o, i) => i % 4 === 0 && o.headers).length, 0, 'before-headers streams had no response head');
      assert.equal(life.started.size >= N, true);
      const tReached = performance.now();

      // Every slot is taken: the 501st is refused, and the gauge says 0 left.
      const extra = await post(p, '/v1/chat/completions', KEY500, { model: 'sim-1', messages, stream: true });
      assert.equal(extra.status, 429, extra.text);
      assert.equal(JSON.parse(extra.text).error.type, 'concurrency');
      assert.equal(await metricRemaining(), 0);

      // Abort all 500 at once, each at its phase.
      for (const o of round1) o.req.destroy();
      await life.until(() => round1.every((o) => life.ended.has(o.id)), 10_000, () => `${round1.filter((o) => !life.ended.has(o.id)).length} streams to end`);
      const reasons = new Set(round1.map((o) => life.ended.get(o.id)!.endReason));
      assert.deepEqual(reasons, new Set(['client_aborted']));
      assert.equal(await metricRemaining(), N, 'the gauge shows every slot free');
      const tAborted = performance.now();

      // Round 2: exactly 500 new concurrent streams are admitted, the 501st is not.
      const round2 = Array.from({ length: N }, (_, i) => open(`r2-${i}`, 'sim-slow', 'before-headers'));
      await Promise.all(round2.map((o) => o.reached));
      const extra2 = await post(p, '/v1/chat/completions', KEY500, { model: 'sim-1', messages, stream: true });
      assert.equal(extra2.status, 429, extra2.text);
      assert.equal(JSON.parse(extra2.text).error.type, 'concurrency');
      for (const o of round2) o.req.destroy();
      await life.until(() => round2.every((o) => life.ended.has(o.id)), 10_000, () => 'round 2 to end');
      assert.equal(await metricRemaining(), N);
      const t1 = performance.now();
      console.log(
        `      500 streams: held at their phases after ${(tReached - t0).toFixed(0)} ms, all slots back ${(tAborted - tReached).toFixed(0)} ms after the abort, round 2 ${(t1 - tAborted).toFixed(0)} ms`,
      );
    });
  });

  describe('secrets stay out of logs and metrics', () => {
    const CLIENT_KEY = secret('client-secret'); // not sk-shaped: only structural redaction can hide it
    const UPSTREAM_KEY = secret('upstream-secret');
    const WRONG_KEY = secret('wrong-secret');
    let p: TestProxy;
    let upstream: http.Server;
    const upstreamAuth: string[] = [];

    before(async () => {
      // A real upstream over HTTP (the simulator), which records the credentials it was sent.
      upstream = createSimServer({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 4 });
      upstream.prependListener('request', (req: http.IncomingMessage) => upstreamAuth.push(req.headers.authorization ?? ''));
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      const port = (upstream.address() as net.AddressInfo).port;
      p = await startTestProxy({
        env: { CLIENT_KEY, UPSTREAM_KEY },
        config: {
          logging: { level: 'trace', content: true },
          upstreams: { provider: { type: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: '${UPSTREAM_KEY}' } },
          models: [{ match: '*', upstream: 'provider' }],
          keys: [{ name: 'team-a', key: '${CLIENT_KEY}', models: ['gpt-*'], limits: { rpm: 4, tpm: 100_000, maxConcurrent: 5 } }],
        },
      });
    });
    after(async () => {
      await p?.close();
      upstream?.closeAllConnections();
      await new Promise((r) => upstream?.close(r));
    });

    it('after successes, streams, 401s, 403s, 429s and upstream errors, neither key is in any log line or in /metrics', async () => {
      const client = sdk(p, CLIENT_KEY, { maxRetries: 0 });
      await client.chat.completions.create({ model: 'gpt-4o', messages });
      for await (const _c of await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true })) {
        /* drain */
      }
      await client.embeddings.create({ model: 'gpt-embed', input: 'x' });
      // An upstream error passed through (the simulator 404s an endpoint it does not serve).
      assert.equal((await post(p, '/v1/moderations', CLIENT_KEY, { model: 'gpt-4o' })).status, 404);
      assert.equal((await apiError(sdk(p, WRONG_KEY, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages }))).status, 401);
      assert.equal((await apiError(client.chat.completions.create({ model: 'o1', messages }))).status, 403);
      assert.equal((await apiError(client.chat.completions.create({ model: 'gpt-4o', messages }))).status, 429); // rpm 4 spent

      assert.ok(upstreamAuth.length >= 3, 'the upstream was called');
      assert.ok(upstreamAuth.every((a) => a === `Bearer ${UPSTREAM_KEY}`), 'with the upstream key, not the client key');
      assert.ok(p.logs.length >= 7, `logs were written (${p.logs.length} lines)`);
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      assert.match(metrics, /key="team-a"/, 'metrics name the key');
      for (const [what, s] of [['client key', CLIENT_KEY], ['upstream key', UPSTREAM_KEY], ['wrong key', WRONG_KEY]] as const) {
        const tail = s.slice(-16); // a masked or truncated copy would still show part of it
        const leaks = p.logs.filter((l) => l.includes(tail));
        assert.deepEqual(leaks, [], `${what} in the logs`);
        assert.ok(!metrics.includes(tail), `${what} in /metrics`);
      }
    });
  });
});
