/**
 * Security review: "any key holder can exhaust memory with long model names". Before, the router
 * memoised every raw model name (up to the 4 MiB body limit) and the feed's ring, the 404/403
 * messages and every log line repeated it: 700 requests with 3 MB names took the proxy to a heap
 * out-of-memory crash.
 *
 * 1. A model name is 1–256 letters, digits and `. _ : / @ + -` (MODEL_NAME in src/http/body.ts);
 *    anything else is a 400 `invalid_model_name` (param `model`) before routing, permissions or
 *    logs, whose message quotes at most the first 64 characters.
 * 2. The router remembers callers' names in a bounded LRU (test/unit/router-lru.test.ts).
 * 3. Caller- and upstream-chosen texts are clipped (src/util/clip.ts) in error messages (the
 *    unknown URL, the Content-Type), log lines and the admin feed.
 *
 * Callers: the OpenAI SDK where a user would use it, raw node:http for the rest; every refusal is
 * followed by a request that succeeds; everything on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { createSseParser } from '../../src/sse/parser.js';
import type { RequestRecord } from '../../src/events/types.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { startFaultUpstream, status as upstreamStatus, type FaultUpstream } from '../helpers/fault-upstream.js';
import { nextRequestRecord, rawRequest, within, type RawResponse } from '../helpers/upstream.js';

const FULL = 'model-names-full-key-5b1e7c';
const NARROW = 'model-names-narrow-key-93fd2a';
const OPS = 'model-names-ops-key-0c64e1';
const KEYS = [
  { name: 'full', key: FULL },
  { name: 'narrow', key: NARROW, models: ['sim-*'] },
  { name: 'ops', key: OPS, admin: true },
];

/** A log line, an error body, a feed frame: none may carry more than this. */
const LINE_MAX = 2048;
const messages = [{ role: 'user' as const, content: 'hi' }];

/** Every character the rule allows, cycled to `length`. */
const ALLOWED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/@+-';
const allowedName = (prefix: string, length: number): string => (prefix + ALLOWED.repeat(Math.ceil(length / ALLOWED.length))).slice(0, length);

/** Names outside the rule, each with what it shows. */
const BAD: Array<[string, string]> = [
  ['257 allowed characters', allowedName('sim-', 257)],
  ['1 MB', `sim-${'m'.repeat(1024 * 1024)}`],
  ['a space', 'gpt 4o'],
  ['a newline', 'sim-a\n'],
  ['a tab', 'sim-\ta'],
  ['a NUL', 'sim-a\u0000'],
  ['a DEL', 'sim-a\u007f'],
  ['a double quote', 'sim-"a"'],
  ['a single quote', "sim-'a'"],
  ['a backslash', 'sim-a\\b'],
  ['angle brackets', 'sim-<script>alert(1)</script>'],
  ['non-ASCII letters', 'sim-modèle'],
  ['CJK and an emoji', 'sim-模型🙂'],
  ['a lone surrogate', 'sim-\ud800'],
  ['the empty string', ''],
];

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

const sdk = (proxy: TestProxy, apiKey = FULL): OpenAI => new OpenAI({ baseURL: proxy.baseURL, apiKey, maxRetries: 0 });

/** Log lines before the running test's. */
let testLogsFrom = 0;

/** The log lines written since `from` (default: since the test began), each under {@link LINE_MAX}. */
function assertLogLinesBounded(proxy: TestProxy, from = testLogsFrom): void {
  for (const line of proxy.logs.slice(from)) assert.ok(line.length < LINE_MAX, `a log line of ${line.length} characters: ${line.slice(0, 200)}…`);
}

/** The log line of request `id` (the request record). */
function logLineOf(proxy: TestProxy, id: string): string {
  const line = proxy.logs.find((l) => l.includes(`"id":${JSON.stringify(id)}`) && l.includes('"msg":"request"'));
  assert.ok(line, `a log line for ${id}`);
  return line;
}

/** A 400 invalid_model_name in OpenAI's shape, its message bounded; returns the error. */
function assertInvalidName(res: RawResponse): ErrorBody['error'] {
  assert.equal(res.status, 400, res.body.slice(0, 300));
  assert.ok(res.body.length < LINE_MAX, `an error body of ${res.body.length} characters`);
  const { error } = res.json<ErrorBody>();
  assert.deepEqual({ type: error.type, param: error.param, code: error.code }, { type: 'invalid_request_error', param: 'model', code: 'invalid_model_name' });
  assert.match(error.message, /1 to 256 characters, each a letter, a digit or one of \. _ : \/ @ \+ -/);
  return error;
}

/** POST a chat completion with `model` (raw node:http, a JSON body). */
function postChat(proxy: TestProxy, model: string, opts: { key?: string; id?: string; agent?: http.Agent } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? FULL}` };
  if (opts.id) headers['x-request-id'] = opts.id;
  return rawRequest(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers, agent: opts.agent, body: { model, messages } });
}

/** A good request, through the SDK, with `key`. */
async function stillServes(proxy: TestProxy, key = FULL): Promise<void> {
  const r = await sdk(proxy, key).chat.completions.create({ model: 'sim-fast', messages });
  assert.equal(typeof r.choices[0]?.message.content, 'string');
}

/** A raw client on the admin feed that keeps the frames (data text) of every event. */
interface Feed {
  events: Array<{ event: string; data: string }>;
  /** Resolves with the first event for which `pred` holds (events so far or to come), within 5 s. */
  next(pred: (e: { event: string; data: Record<string, unknown> }) => boolean, what: string): Promise<{ event: string; data: string }>;
  close(): void;
}

function openFeed(proxy: TestProxy): Promise<Feed> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${proxy.url}/admin/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${OPS}` } }, (res) => {
      assert.equal(res.statusCode, 200);
      const events: Feed['events'] = [];
      const waiters = new Set<() => void>();
      const parser = createSseParser({
        onEvent: (e) => {
          events.push({ event: e.event ?? 'message', data: e.data });
          for (const w of [...waiters]) w();
        },
      });
      res.on('data', (chunk: Buffer) => parser.feed(chunk));
      res.on('error', () => undefined);
      resolve({
        events,
        next(pred, what) {
          const test = (e: { event: string; data: string }) => pred({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> });
          const found = events.find(test);
          if (found) return Promise.resolve(found);
          let waiter: () => void = () => undefined;
          const p = new Promise<{ event: string; data: string }>((done) => {
            waiter = () => {
              const e = events.find(test);
              if (e) done(e);
            };
            waiters.add(waiter);
          });
          return within(5000, p, what).finally(() => waiters.delete(waiter));
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

describe('model names (security review: memory exhaustion with long model names)', () => {
  let proxy: TestProxy;
  let upstream: FaultUpstream;

  before(async () => {
    upstream = await startFaultUpstream();
    proxy = await startTestProxy({
      config: {
        upstreams: { up: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'sk-upstream-model-names' } },
        models: [
          { match: 'sim-*', upstream: 'sim' },
          { match: 'up-*', upstream: 'up' },
          { match: '*', upstream: 'sim' },
        ],
        keys: KEYS,
      },
    });
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    testLogsFrom = proxy.logs.length;
  });

  describe('the model-name rule', () => {
    it('refuses every name outside the rule with a 400 invalid_model_name, through the OpenAI SDK', async () => {
      const client = sdk(proxy);
      for (const [what, model] of BAD) {
        for (const stream of [false, true]) {
          const err = await client.chat.completions.create({ model, messages, stream }).then(
            () => assert.fail(`${what}: accepted`),
            (e: unknown) => e,
          );
          assert.ok(err instanceof OpenAI.BadRequestError, `${what}: expected BadRequestError, got ${String(err).slice(0, 200)}`);
          assert.equal(err.code, 'invalid_model_name', what);
          assert.equal(err.param, 'model', what);
          assert.equal(err.type, 'invalid_request_error', what);
          assert.ok(err.message.length < 512, `${what}: a message of ${err.message.length} characters`);
        }
      }
      assertLogLinesBounded(proxy);
      await stillServes(proxy);
    });

    it('refuses them over raw HTTP too, quoting at most 64 characters, and the same connection serves next', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (const [what, model] of BAD) {
          const error = assertInvalidName(await postChat(proxy, model, { agent }));
          assert.ok(error.message.includes(JSON.stringify(model.slice(0, 64)).slice(0, -1)), `${what}: quotes the name's start`);
          assert.ok(!error.message.includes(model.slice(0, 65)) || model.length <= 64, `${what}: quotes no more than 64 characters`);
          assert.ok(error.message.length < 512, `${what}: a message of ${error.message.length} characters`);
        }
        const mega = assertInvalidName(await postChat(proxy, `sim-${'m'.repeat(1024 * 1024)}`, { agent }));
        assert.ok(mega.message.includes(`"sim-${'m'.repeat(60)}…" (${4 + 1024 * 1024} characters)`), mega.message);
        const res = await postChat(proxy, 'sim-fast', { agent });
        assert.equal(res.status, 200, res.body);
        assertLogLinesBounded(proxy);
      } finally {
        agent.destroy();
      }
    });

    it('accepts 256 characters of the allowed set and the usual provider ids; 257 is a 400', async () => {
      const client = sdk(proxy);
      const names = [
        allowedName('sim-', 256),
        allowedName('x', 256),
        'gpt-4o-2024-08-06',
        'ft:gpt-4o-mini:org:name:id',
        'meta-llama/Llama-3-8B',
        'llama3:8b',
        'model@2024',
        'anthropic.claude-3-haiku-20240307-v1:0',
        'a+b',
        'x',
      ];
      for (const model of names) {
        assert.ok(model.length <= 256);
        // Routed (the catch-all sends it to the simulator): answered, or 404 when nothing routes it.
        const r = await client.chat.completions.create({ model, messages }).then(
          (ok) => ({ status: 200, code: null as string | null | undefined, ok }),
          (e: unknown) => {
            assert.ok(e instanceof OpenAI.APIError, String(e));
            return { status: e.status ?? 0, code: e.code, ok: null };
          },
        );
        assert.ok(r.status === 200 || (r.status === 404 && r.code === 'model_not_found'), `${model}: ${r.status} ${r.code ?? ''}`);
      }
      assertInvalidName(await postChat(proxy, allowedName('sim-', 257)));
      assertInvalidName(await postChat(proxy, allowedName('x', 257)));
      assertLogLinesBounded(proxy);
    });

    it('keeps the refusal short in the error body, the request record and every log line', async () => {
      for (const [i, model] of [`sim-${'q'.repeat(1024 * 1024)}`, 'z'.repeat(100_000), `${'"'.repeat(5000)}`].entries()) {
        const id = `long-name-${i}`;
        const recorded = nextRequestRecord(proxy, (r) => r.id === id);
        const res = await postChat(proxy, model, { id });
        assertInvalidName(res);
        const record = await recorded;
        assert.equal(record.status, 400);
        assert.ok((record.error ?? '').length < 512, `record error of ${(record.error ?? '').length} characters`);
        assert.ok(record.model.length <= 256, `record model of ${record.model.length} characters`);
        assert.ok(logLineOf(proxy, id).length < LINE_MAX);
      }
      assertLogLinesBounded(proxy);
      await stillServes(proxy);
    });
  });

  describe('restricted keys, the feed and other caller texts', () => {
    it('a restricted key asking for a 256-character model it may not use gets a bounded 403, in the log and the feed', async () => {
      const feed = await openFeed(proxy);
      try {
        const model = allowedName('x', 256);
        const id = 'narrow-256';
        const res = await postChat(proxy, model, { key: NARROW, id });
        assert.equal(res.status, 403, res.body.slice(0, 300));
        assert.ok(res.body.length < LINE_MAX, `a 403 body of ${res.body.length} characters`);
        const { error } = res.json<ErrorBody>();
        assert.equal(error.type, 'permission_error');
        assert.ok(error.message.length < 512, `a 403 message of ${error.message.length} characters`);

        const end = await feed.next((e) => e.event === 'request.end' && e.data.id === id, 'the feed record of the 403');
        assert.ok(end.data.length < LINE_MAX, `a feed event of ${end.data.length} characters`);
        const data = JSON.parse(end.data) as { status: number; model: string; error: string };
        assert.equal(data.status, 403);
        assert.ok(data.model.length <= 256);
        assert.ok(logLineOf(proxy, id).length < LINE_MAX);

        // Longer than any model name: refused as a name before the key's models are looked at,
        // so neither the 403's message nor the feed ever quotes it.
        const longId = 'narrow-long';
        const long = await postChat(proxy, `x${'y'.repeat(20_000)}`, { key: NARROW, id: longId });
        assertInvalidName(long);
        const longEnd = await feed.next((e) => e.event === 'request.end' && e.data.id === longId, 'the feed record of the 400');
        assert.ok(longEnd.data.length < LINE_MAX, `a feed event of ${longEnd.data.length} characters`);
        assert.ok(logLineOf(proxy, longId).length < LINE_MAX);
        for (const e of feed.events) assert.ok(e.data.length < LINE_MAX, `a ${e.event} feed event of ${e.data.length} characters`);
      } finally {
        feed.close();
      }
      assertLogLinesBounded(proxy);
      await stillServes(proxy, NARROW);
    });

    it('an unknown URL quotes at most 200 characters of its path', async () => {
      const res = await rawRequest(`${proxy.url}/${'p'.repeat(10_000)}`);
      assert.equal(res.status, 404);
      const { error } = res.json<ErrorBody>();
      assert.equal(error.code, 'unknown_url');
      assert.ok(error.message.length < 300, `a message of ${error.message.length} characters`);
      assert.ok(error.message.includes(`/${'p'.repeat(199)}…`), error.message);
      assertLogLinesBounded(proxy);
      await stillServes(proxy);
    });

    it('an unsupported Content-Type is quoted clipped in the 415', async () => {
      const type = `text/${'t'.repeat(8_000)}`;
      const res = await rawRequest(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${FULL}`, 'content-type': type },
        body: JSON.stringify({ model: 'sim-fast', messages }),
      });
      assert.equal(res.status, 415);
      assert.ok(res.body.length < LINE_MAX, `a 415 body of ${res.body.length} characters`);
      assert.ok(res.json<ErrorBody>().error.message.includes(`"${type.slice(0, 200)}…"`));
      assertLogLinesBounded(proxy);
      await stillServes(proxy);
    });

    it('an upstream error text is clipped in the log line and the feed', async () => {
      // Under the 64 KiB an upstream error body may have (src/relay/upstream-response.ts), so
      // the caller gets it whole; the log and the feed must not.
      const huge = `upstream says: ${'E'.repeat(40_000)}`;
      upstream.script(upstreamStatus(400, {}, { error: { message: huge, type: 'invalid_request_error', param: null, code: 'too_big' } }));
      const feed = await openFeed(proxy);
      try {
        const id = 'upstream-huge-error';
        const recorded = nextRequestRecord(proxy, (r: RequestRecord) => r.id === id);
        const res = await postChat(proxy, 'up-1', { id });
        assert.equal(res.status, 400);
        await recorded;
        const line = logLineOf(proxy, id);
        assert.ok(line.length < LINE_MAX, `a log line of ${line.length} characters`);
        assert.match(line, /upstream says: E+…"/);
        const end = await feed.next((e) => e.event === 'request.end' && e.data.id === id, 'the feed record');
        assert.ok(end.data.length < LINE_MAX, `a feed event of ${end.data.length} characters`);
      } finally {
        feed.close();
      }
      assertLogLinesBounded(proxy);
      await stillServes(proxy);
    });
  });

  describe('memory', () => {
    const COUNT = 300;
    const CONCURRENCY = 8;
    const NAME_BYTES = 3 * 1024 * 1024;
    const HEAP_BOUND = 150 * 1024 * 1024;

    /** POST a chat completion whose model is `<i>-` and 3 MB of `n`, written from one shared buffer. */
    function sendHuge(agent: http.Agent, filler: Buffer, i: number): Promise<{ status: number; body: string }> {
      const head = Buffer.from(`{"messages":[{"role":"user","content":"hi"}],"model":"${i}-`);
      const tail = Buffer.from('"}');
      return new Promise((resolve, reject) => {
        const req = http.request(`${proxy.url}/v1/chat/completions`, {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${FULL}`,
            'content-type': 'application/json',
            'content-length': String(head.length + filler.length + tail.length),
          },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.write(head);
        req.write(filler);
        req.end(tail);
      });
    }

    it(`${COUNT} requests with 3 MB model names (${CONCURRENCY} at a time) leave the heap and the log lines bounded`, async function () {
      this.timeout(120_000);
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      const before = process.memoryUsage().heapUsed;
      const logsFrom = proxy.logs.length;
      const filler = Buffer.alloc(NAME_BYTES, 'n');
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      const statuses = new Map<string, number>();
      // Without gc() the heap holds garbage too: the low-water mark over the last third, once
      // collections have run many times over (each request leaves ~6 MB of strings), is what
      // stays live. A proxy that keeps the names grows by ~3 MB a request, past any such mark.
      let low = Number.POSITIVE_INFINITY;
      let grewTooMuch = false;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < COUNT && !grewTooMuch) {
          const i = next++;
          const res = await sendHuge(agent, filler, i);
          assert.ok(res.body.length < LINE_MAX, `an error body of ${res.body.length} characters`);
          const key = `${res.status} ${(JSON.parse(res.body) as Partial<ErrorBody>).error?.code ?? ''}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          const heap = process.memoryUsage().heapUsed;
          if (i >= (2 * COUNT) / 3) low = Math.min(low, heap);
          // Stop early rather than take the whole test process down with the proxy.
          if (heap - before > 1024 * 1024 * 1024) grewTooMuch = true;
        }
      };
      try {
        await within(100_000, Promise.all(Array.from({ length: CONCURRENCY }, worker)), `${COUNT} requests with 3 MB model names`);
      } finally {
        agent.destroy();
      }
      assert.ok(!grewTooMuch, 'the heap grew by more than 1 GB');
      assert.deepEqual([...statuses], [['400 invalid_model_name', COUNT]]);
      gc?.();
      const grown = (gc ? process.memoryUsage().heapUsed : low) - before;
      assert.ok(grown < HEAP_BOUND, `the heap grew by ${Math.round(grown / 1048576)} MB`);
      assert.ok(proxy.logs.length - logsFrom >= COUNT, 'one log line per request');
      assertLogLinesBounded(proxy, logsFrom);
      await stillServes(proxy);
    });
  });
});
