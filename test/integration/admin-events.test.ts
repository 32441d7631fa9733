/**
 * Issue 5: `GET /admin/events`, read with a raw SSE client (node:http + src/sse/parser.ts):
 * named events in order, ids increasing, the retry hint and keep-alive comments, replay after
 * `Last-Event-ID` from the ring (and a gap report when it has moved on), admin auth, and the
 * slow-subscriber rule (bounded memory per connection, nothing slows a proxied stream).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http, { type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { buildConfig } from '../../src/config/load.js';
import type { RequestRecord } from '../../src/events/types.js';
import { createLogger } from '../../src/logging/logger.js';
import { buildDeps, startProxy, type RunningProxy } from '../../src/server.js';
import { createAdminFeature, type AdminFeature } from '../../src/admin/index.js';
import type { FeedOptions } from '../../src/admin/feed.js';
import { createSseParser } from '../../src/sse/parser.js';
import { baseConfig, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { NO_GAPS } from '../../src/events/gaps.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FeedEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

/** A raw SSE client on the admin feed. */
interface FeedClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** JSON body when the status is not 200. */
  body: string;
  events: FeedEvent[];
  comments: string[];
  retries: number[];
  pause(): void;
  resume(): void;
  close(): void;
  /** Wait until `pred` holds for the events received so far. */
  until(pred: (events: FeedEvent[]) => boolean, what: string, ms?: number): Promise<void>;
}

function openFeed(url: string, headers: Record<string, string> = {}): Promise<FeedClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: FeedEvent[] = [];
      const comments: string[] = [];
      const retries: number[] = [];
      let body = '';
      const parser = createSseParser({
        onEvent: (e) => events.push({ event: e.event ?? 'message', id: e.id, data: JSON.parse(e.data) as Record<string, unknown> }),
        onComment: (c) => comments.push(c.trim()),
        onRetry: (ms) => retries.push(ms),
      });
      res.on('data', (chunk: Buffer) => {
        if (res.statusCode === 200) parser.feed(chunk);
        else body += chunk.toString('utf8');
      });
      res.on('error', () => undefined);
      const client: FeedClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        get body() {
          return body;
        },
        events,
        comments,
        retries,
        pause: () => res.pause(),
        resume: () => res.resume(),
        close: () => req.destroy(),
        async until(pred, what, ms = 3000) {
          const end = Date.now() + ms;
          while (!pred(events)) {
            if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${events.map((e) => e.event).join(', ')}`);
            await sleep(5);
          }
        },
      };
      if (res.statusCode === 200) resolve(client);
      else res.on('end', () => resolve(client));
    });
    req.on('error', reject);
  });
}

const seqOf = (id: string | undefined): number => Number(/-(\d+)$/.exec(id ?? '')?.[1] ?? NaN);
const forRequest = (events: FeedEvent[], id: string) => events.filter((e) => e.data.id === id);
const ended = (id: string) => (events: FeedEvent[]) => events.some((e) => e.event === 'request.end' && e.data.id === id);

async function chat(base: string, id: string, stream = true, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers },
    body: JSON.stringify({ model: 'sim-a', stream, messages: [{ role: 'user', content: 'hello feed' }] }),
  });
  await res.text();
  return res.status;
}

describe('GET /admin/events', () => {
  describe('events, ids, retry, keep-alive', () => {
    let proxy: TestProxy;
    before(async () => {
      // Content logging on: the feed must still never carry content.
      proxy = await startTestProxy({ config: { logging: { content: true }, admin: { keepAliveMs: 150 } } });
    });
    after(async () => proxy?.close());

    it('sends the SSE head, a hello with the retry hint, then named events in order with increasing ids', async () => {
      const feed = await openFeed(`${proxy.url}/admin/events`);
      try {
        assert.equal(feed.status, 200);
        assert.equal(feed.headers['content-type'], 'text/event-stream; charset=utf-8');
        assert.equal(feed.headers['cache-control'], 'no-cache');
        assert.equal(feed.headers['x-accel-buffering'], 'no');
        await feed.until((e) => e.length >= 1, 'hello');
        assert.equal(feed.events[0]!.event, 'feed.hello');
        assert.equal(feed.events[0]!.id, undefined, 'hello has no id: it must not move Last-Event-ID');
        assert.deepEqual(feed.retries, [1000]);

        assert.equal(await chat(proxy.url, 'feed-stream', true), 200);
        assert.equal(await chat(proxy.url, 'feed-json', false), 200);
        await feed.until(ended('feed-json'), 'request.end of feed-json');

        // Every event after hello has an id; numbers go up by one, from one instance.
        const withIds = feed.events.slice(1);
        assert.ok(withIds.every((e) => e.id !== undefined));
        const instance = String(feed.events[0]!.data.instance);
        assert.ok(withIds.every((e) => e.id!.startsWith(`${instance}-`)));
        withIds.forEach((e, i) => i > 0 && assert.equal(seqOf(e.id), seqOf(withIds[i - 1]!.id) + 1));

        const names = forRequest(feed.events, 'feed-stream').map((e) => e.event);
        assert.equal(names[0], 'request.start');
        assert.equal(names[names.length - 1], 'request.end');
        for (const n of ['stream.open', 'request.first_token', 'stream.close']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);
        assert.ok(names.indexOf('stream.open') < names.indexOf('stream.close'));
        assert.deepEqual(forRequest(feed.events, 'feed-json').map((e) => e.event), ['request.start', 'request.end']);

        const start = forRequest(feed.events, 'feed-stream')[0]!.data;
        assert.deepEqual(Object.keys(start).sort(), ['at', 'id', 'key', 'method', 'model', 'route', 'stream']);
        const end = forRequest(feed.events, 'feed-stream').at(-1)!.data;
        assert.equal(end.endReason, 'done');
        assert.equal(end.status, 200);
        assert.equal(end.key, 'anonymous');
        assert.ok((end.bytesOut as number) > 0 && (end.completionTokens as number) > 0);
        assert.equal('content' in end, false, 'the feed never carries content');
        assert.equal('interToken' in end, false, 'the gaps are summarised, not published');
        // The log record of the same request does carry it (content logging is on here).
        const logged = proxy.records().find((l) => l.msg === 'request' && l.id === 'feed-stream')!;
        assert.ok(logged.content);
      } finally {
        feed.close();
      }
    });

    it('with no keys configured the feed is open, and /admin/session says so', async () => {
      const s = (await (await fetch(`${proxy.url}/admin/session`)).json()) as Record<string, unknown>;
      assert.deepEqual(s, { authRequired: false, authenticated: true, name: 'anonymous' });
    });

    it('writes a keep-alive comment when idle', async () => {
      const feed = await openFeed(`${proxy.url}/admin/events`);
      try {
        await sleep(400);
        assert.ok(feed.comments.filter((c) => c === 'keep-alive').length >= 1, `comments: ${feed.comments.join('|')}`);
      } finally {
        feed.close();
      }
    });

    it('with no Last-Event-ID, sends live events only; the hello lists requests in flight', async () => {
      const slow = await startTestProxy({ config: { upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 15, defaultMaxTokens: 20 } } } } });
      try {
        await chat(slow.url, 'before-1', false);
        const running = chat(slow.url, 'in-flight', true);
        await sleep(100);
        const feed = await openFeed(`${slow.url}/admin/events`);
        await feed.until(ended('in-flight'), 'in-flight to end');
        await running;
        const hello = feed.events[0]!;
        assert.equal(hello.event, 'feed.hello');
        const active = hello.data.active as Array<Record<string, unknown>>;
        assert.deepEqual(active.map((a) => [a.id, a.streaming]), [['in-flight', true]]);
        assert.equal(forRequest(feed.events, 'before-1').length, 0, 'nothing from before the connection');
        feed.close();
      } finally {
        await slow.close();
      }
    });
  });

  describe('replay', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startTestProxy({ config: { admin: { bufferSize: 12 } } });
    });
    after(async () => proxy?.close());

    it('replays everything after Last-Event-ID, in order, then goes on live', async () => {
      const a = await openFeed(`${proxy.url}/admin/events`);
      await chat(proxy.url, 'r-1');
      await a.until(ended('r-1'), 'r-1');
      const lastSeen = a.events.at(-1)!;
      a.close();

      // Traffic while no one listens.
      await chat(proxy.url, 'r-2', false);
      await chat(proxy.url, 'r-3', false);
      await sleep(20);

      const b = await openFeed(`${proxy.url}/admin/events`, { 'last-event-id': lastSeen.id! });
      try {
        await b.until(ended('r-3'), 'replay of r-3');
        const replayed = b.events.slice(1);
        assert.equal(seqOf(replayed[0]!.id), seqOf(lastSeen.id) + 1, 'resumes right after the last id seen');
        replayed.forEach((e, i) => i > 0 && assert.equal(seqOf(e.id), seqOf(replayed[i - 1]!.id) + 1));
        assert.deepEqual(replayed.map((e) => `${e.event} ${String(e.data.id)}`), [
          'request.start r-2',
          'request.end r-2',
          'request.start r-3',
          'request.end r-3',
        ]);
        await chat(proxy.url, 'r-4', false);
        await b.until(ended('r-4'), 'live r-4 after the replay');
      } finally {
        b.close();
      }

      // The dashboard's fallback for a new EventSource: ?lastEventId= (same meaning).
      const c = await openFeed(`${proxy.url}/admin/events?lastEventId=${encodeURIComponent(lastSeen.id!)}`);
      try {
        await c.until(ended('r-4'), 'replay via the query parameter');
        assert.equal(c.events[1]!.data.id, 'r-2');
      } finally {
        c.close();
      }
    });

    it('reports a gap when Last-Event-ID is older than the ring, then replays what it holds', async () => {
      const probe = await openFeed(`${proxy.url}/admin/events`);
      await probe.until((e) => e.length > 0, 'hello');
      const instance = String(probe.events[0]!.data.instance);
      probe.close();
      for (let i = 0; i < 8; i++) await chat(proxy.url, `g-${i}`, false); // 16 events > 12 held
      await sleep(20);
      const feed = await openFeed(`${proxy.url}/admin/events`, { 'last-event-id': `${instance}-1` });
      try {
        await feed.until(ended('g-7'), 'replay to g-7');
        const gap = feed.events[1]!;
        assert.equal(gap.event, 'feed.gap');
        assert.equal(gap.id, undefined);
        const first = feed.events[2]!;
        assert.equal(gap.data.missed, seqOf(first.id) - 2, 'missed = the events between the id given and the oldest held');
        assert.equal(gap.data.resumeId, first.id);
        assert.equal(feed.events.length - 2, 12, 'then the whole ring');
      } finally {
        feed.close();
      }
    });

    it('an id from another instance (the proxy restarted) replays what this instance holds', async () => {
      const feed = await openFeed(`${proxy.url}/admin/events`, { 'last-event-id': 'oldinstance-99999' });
      try {
        await feed.until((e) => e.some((x) => x.event === 'request.end'), 'replay');
        const evts = feed.events.slice(1).filter((e) => e.event !== 'feed.gap');
        assert.equal(evts.length, 12);
      } finally {
        feed.close();
      }
    });
  });

  describe('admin auth (keys configured)', () => {
    const ADMIN = 'admin-secret-for-feed-tests';
    const APP = 'app-secret-for-feed-tests';
    let proxy: TestProxy;
    before(async () => {
      proxy = await startTestProxy({
        config: {
          keys: [
            { name: 'ops', key: ADMIN, admin: true },
            { name: 'app', key: APP },
          ],
        },
      });
    });
    after(async () => proxy?.close());

    it('401 without a key, 401 with a wrong one, 403 for a non-admin key, 200 for an admin key', async () => {
      const none = await openFeed(`${proxy.url}/admin/events`);
      assert.equal(none.status, 401);
      assert.equal((JSON.parse(none.body) as { error: { code: string } }).error.code, 'invalid_api_key');
      assert.equal((await openFeed(`${proxy.url}/admin/events`, { authorization: 'Bearer nope' })).status, 401);
      assert.equal((await openFeed(`${proxy.url}/admin/events`, { authorization: `Bearer ${APP}` })).status, 403);
      // A key in the URL is not accepted (it would end up in access logs and browser history).
      assert.equal((await openFeed(`${proxy.url}/admin/events?key=${ADMIN}`)).status, 401);
      const ok = await openFeed(`${proxy.url}/admin/events`, { authorization: `Bearer ${ADMIN}` });
      try {
        assert.equal(ok.status, 200);
        assert.equal(await chat(proxy.url, 'auth-1', true, { authorization: `Bearer ${APP}` }), 200);
        await ok.until(ended('auth-1'), 'auth-1');
        assert.equal(forRequest(ok.events, 'auth-1')[0]!.data.key, 'app', 'events name the caller key');
      } finally {
        ok.close();
      }
    });

    it('a browser signs in once with POST /admin/session and reads the feed with the HttpOnly cookie', async () => {
      const status0 = (await (await fetch(`${proxy.url}/admin/session`)).json()) as Record<string, unknown>;
      assert.deepEqual(status0, { authRequired: true, authenticated: false, name: null });
      assert.equal((await fetch(`${proxy.url}/admin/session`, { method: 'POST', headers: { authorization: `Bearer ${APP}` } })).status, 403);

      const res = await fetch(`${proxy.url}/admin/session`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(res.status, 200);
      const setCookie = res.headers.get('set-cookie') ?? '';
      assert.match(setCookie, /^llm_proxy_admin=[\w-]{40,}; path=\/admin; expires=[^;]+; samesite=strict; httponly$/i);
      assert.equal(setCookie.includes(ADMIN), false, 'the cookie is a random token, not the key');
      const cookie = setCookie.split(';')[0]!;

      const status1 = (await (await fetch(`${proxy.url}/admin/session`, { headers: { cookie } })).json()) as Record<string, unknown>;
      assert.deepEqual(status1, { authRequired: true, authenticated: true, name: 'ops' });
      const feed = await openFeed(`${proxy.url}/admin/events`, { cookie });
      assert.equal(feed.status, 200);
      feed.close();

      assert.equal((await fetch(`${proxy.url}/admin/session`, { method: 'DELETE', headers: { cookie } })).status, 204);
      assert.equal((await openFeed(`${proxy.url}/admin/events`, { cookie })).status, 401, 'signed out');
    });

    it('the dashboard page itself is public and locked down', async () => {
      const res = await fetch(`${proxy.url}/dashboard`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.match(await res.text(), /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
      const js = await fetch(`${proxy.url}/dashboard/app.js`);
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      const source = await js.text();
      // The entry is an ES module (it imports the rest, src/dashboard/routes.ts): parsed as one.
      assert.doesNotThrow(() => execFileSync(process.execPath, ['--input-type=module', '--check'], { input: source }), 'the script parses');
    });
  });

  describe('slow subscribers', () => {
    let proxy: RunningProxy;
    let admin: AdminFeature;

    /** A proxy with the admin feature built here, to reach the feed's counters. */
    async function start(feed: Partial<FeedOptions>, cfg: Record<string, unknown> = {}): Promise<void> {
      const { config } = buildConfig({ ...baseConfig(), ...cfg }, {});
      const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
      const deps = buildDeps(config, { logger });
      admin = createAdminFeature(deps, { feed });
      proxy = await startProxy(deps, { routes: [(r) => admin.register(r)] });
    }
    afterEach(async () => {
      await proxy?.shutdown();
      admin?.close();
    });

    /** A request.end record padded to `bytes`, as the relay would publish it. */
    const record = (i: number, bytes: number): RequestRecord => ({
      id: `flood-${i}`, method: 'POST', route: '/v1/chat/completions', key: 'k', model: 'm', modelLabel: 'm', upstream: 'sim',
      stream: true, status: 200, endReason: 'done', startedAt: 0, upstreamTtfbMs: 1, ttftMs: 1, durationMs: 2, overheadMs: 0,
      chunks: 1, bytesOut: 1, promptTokens: 1, completionTokens: 1, tokenSource: 'upstream', finishReason: 'stop', attempts: [],
      error: 'x'.repeat(bytes), interToken: NO_GAPS,
    });

    it('a client that stops reading costs a bounded buffer, slows no stream, and is told what it missed', async () => {
      const maxBufferedBytes = 16 * 1024;
      await start({ maxBufferedBytes, bufferSize: 200 });
      const stalled = await openFeed(`${proxy.url}/admin/events`);
      await stalled.until((e) => e.length > 0, 'hello');
      stalled.pause();

      // 12 000 events of ~3 KB (~36 MB): far more than the socket buffers hold.
      const bus = proxy.deps.bus;
      const total = 12_000;
      let emitMs = 0;
      let maxBuffered = 0;
      for (let i = 0; i < total; i += 1000) {
        const t0 = performance.now();
        for (let j = i; j < i + 1000; j++) bus.emit('request.end', record(j, 3000));
        emitMs += performance.now() - t0;
        await new Promise((r) => setImmediate(r)); // the feed's queue drains on a later tick
        await new Promise((r) => setImmediate(r));
        maxBuffered = Math.max(maxBuffered, ...admin.feed.bufferedBytes());
      }
      assert.ok(maxBuffered <= maxBufferedBytes + 4 * 1024, `buffered ${maxBuffered} bytes for one slow client`);
      assert.ok(emitMs / total < 0.05, `publishing took ${(emitMs / total).toFixed(4)} ms per event`);
      assert.equal(bus.dropped, 0, 'the bus queue kept up (the feed never waits for a socket)');

      // A proxied stream meanwhile is not slowed by the stalled admin client.
      const t0 = performance.now();
      assert.equal(await chat(proxy.url, 'while-stalled', true), 200);
      assert.ok(performance.now() - t0 < 1000);

      // The client reads again: it is told how much it missed, then catches up to the end.
      stalled.resume();
      const lastSeq = admin.feed.stats.published;
      await stalled.until((e) => e.some((x) => seqOf(x.id) === lastSeq), 'catch-up', 10_000);
      const gaps = stalled.events.filter((e) => e.event === 'feed.gap');
      assert.ok(gaps.length >= 1);
      const missed = gaps.reduce((n, g) => n + (g.data.missed as number), 0);
      const received = stalled.events.filter((e) => e.id !== undefined).length;
      assert.equal(received + missed, lastSeq, 'every event is either received or counted as missed');
      assert.equal(admin.feed.stats.missed, missed);
      stalled.close();
    });

    it('closes a client that stays blocked past stallMs; refuses connections past maxConnections', async () => {
      await start({ maxBufferedBytes: 1024, stallMs: 200, keepAliveMs: 50, maxConnections: 1 });
      const stalled = await openFeed(`${proxy.url}/admin/events`);
      await stalled.until((e) => e.length > 0, 'hello');
      stalled.pause();
      const second = await openFeed(`${proxy.url}/admin/events`);
      assert.equal(second.status, 503);
      assert.equal(admin.feed.stats.refused, 1);
      for (let i = 0; i < 3000; i++) proxy.deps.bus.emit('request.end', record(i, 2000));
      const end = Date.now() + 3000;
      while (admin.feed.connections > 0 && Date.now() < end) await sleep(20);
      assert.equal(admin.feed.connections, 0);
      assert.equal(admin.feed.stats.stalledClosed, 1);
      stalled.close();
    });
  });
});
