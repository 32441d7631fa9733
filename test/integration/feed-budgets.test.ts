/**
 * The live feed's own events (src/admin/feed.ts): `budget.update`, a budget's spend and limit as
 * the limiter reports them (src/events/bus.ts `withBudgetEvents`, wired in src/access.ts),
 * coalesced, and listed in `feed.hello`; and `stream.progress`, the content chunks written each
 * second while streams are open, sampled from the open streams' counters.
 *
 * Prices make amounts easy to check: a prompt token costs $0.001, a completion token $0.002; the
 * simulator reports its usage in every JSON answer, so the expected spend is computed from it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { createSseParser } from '../../src/sse/parser.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const ADMIN = 'feed-budgets-admin-key-for-tests';
const KEY_A = 'feed-budgets-a-key-for-tests';
const LIMIT_USD = 5;

interface FeedEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

interface FeedClient {
  events: FeedEvent[];
  close(): void;
  /** Resolves when `pred` holds for the events so far (checked at each event); rejects after `ms`. */
  until(pred: (events: FeedEvent[]) => boolean, what: string, ms?: number): Promise<void>;
}

function openFeed(url: string): Promise<FeedClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', authorization: `Bearer ${ADMIN}` } }, (res) => {
      assert.equal(res.statusCode, 200);
      const events: FeedEvent[] = [];
      const waiters = new Set<() => void>();
      const parser = createSseParser({
        onEvent: (e) => {
          events.push({ event: e.event ?? 'message', id: e.id, data: JSON.parse(e.data) as Record<string, unknown> });
          for (const w of [...waiters]) w();
        },
      });
      res.on('data', (chunk: Buffer) => parser.feed(chunk));
      res.on('error', () => undefined);
      resolve({
        events,
        close: () => req.destroy(),
        until: (pred, what, ms = 5000) =>
          new Promise<void>((ok, fail) => {
            const check = (): void => {
              if (!pred(events)) return;
              cleanup();
              ok();
            };
            const timer = setTimeout(() => {
              cleanup();
              fail(new Error(`timed out waiting for ${what}; got ${events.map((e) => e.event).join(', ')}`));
            }, ms);
            const cleanup = (): void => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
            check();
          }),
      });
    });
    req.on('error', reject);
  });
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** A JSON chat answer for key A; returns its cost at the test's prices. */
async function chatCost(proxy: TestProxy, id: string): Promise<number> {
  const res = await fetch(`${proxy.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}`, 'x-request-id': id },
    body: JSON.stringify({ model: 'sim-a', max_tokens: 8, messages: [{ role: 'user', content: `hello ${id}` }] }),
  });
  assert.equal(res.status, 200);
  const { usage } = (await res.json()) as { usage: Usage };
  return usage.prompt_tokens * 0.001 + usage.completion_tokens * 0.002;
}

const budgetEvents = (events: FeedEvent[]) => events.filter((e) => e.event === 'budget.update');
const lastSpent = (events: FeedEvent[]): number | undefined => budgetEvents(events).at(-1)?.data.spentUsd as number | undefined;
const near = (a: number | undefined, b: number): boolean => a !== undefined && Math.abs(a - b) < 1e-6;

function start(sim: Record<string, unknown> = {}): Promise<TestProxy> {
  return startTestProxy({
    config: {
      upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 8, ...sim } } },
      metrics: { prices: { 'sim-*': { prompt: 1000, completion: 2000 } } },
      budgets: { team: { usd: LIMIT_USD, period: 'month' } },
      keys: [
        { name: 'ops', key: ADMIN, admin: true },
        { name: 'a', key: KEY_A, budget: 'team' },
      ],
    },
  });
}

describe('admin feed: budget.update and stream.progress', function () {
  this.timeout(20_000);

  describe('budget.update', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await start();
    });
    after(async () => proxy?.close());

    it('publishes the spend and limit after a request, coalesces a burst, and lists the latest in hello', async () => {
      const feed = await openFeed(`${proxy.url}/admin/events`);
      try {
        await feed.until((e) => e.length > 0, 'hello');
        assert.deepEqual(feed.events[0]!.data.budgets, [], 'nothing reported yet');

        let spent = await chatCost(proxy, 'budget-1');
        await feed.until((e) => near(lastSpent(e), spent), `budget.update with spentUsd ${spent}`);
        const first = budgetEvents(feed.events).at(-1)!;
        assert.equal(first.data.budget, 'team');
        assert.equal(first.data.limitUsd, LIMIT_USD);
        assert.equal(typeof first.data.at, 'number');
        assert.ok(first.id, 'a ring event, replayable');

        // A burst: each request reports twice (admission, settle); the feed sends far fewer events.
        const before = budgetEvents(feed.events).length;
        const n = 30;
        const startedAt = Date.now();
        const costs = await Promise.all(Array.from({ length: n }, (_, i) => chatCost(proxy, `burst-${i}`)));
        spent += costs.reduce((a, b) => a + b, 0);
        await feed.until((e) => near(lastSpent(e), spent), `budget.update with the burst's final spend ${spent}`);
        const burst = budgetEvents(feed.events).slice(before);
        const elapsed = Date.now() - startedAt;
        assert.ok(burst.length < n / 2, `${burst.length} events for ${2 * n} reports`);
        // At most one per 250 ms, plus the leading one (the client's clock bounds the server's span).
        assert.ok(burst.length <= Math.ceil(elapsed / 250) + 1, `${burst.length} events in ${elapsed} ms`);

        // A new client gets the current value at once, in its hello.
        const late = await openFeed(`${proxy.url}/admin/events`);
        try {
          await late.until((e) => e.length > 0, 'hello of the second client');
          const budgets = late.events[0]!.data.budgets as Array<Record<string, unknown>>;
          assert.equal(budgets.length, 1);
          assert.equal(budgets[0]!.budget, 'team');
          assert.equal(budgets[0]!.limitUsd, LIMIT_USD);
          assert.ok(near(budgets[0]!.spentUsd as number, spent), `hello spent ${String(budgets[0]!.spentUsd)}, want ${spent}`);
        } finally {
          late.close();
        }
      } finally {
        feed.close();
      }
    });
  });

  describe('stream.progress', () => {
    let proxy: TestProxy;
    before(async () => {
      // 40 tokens 60 ms apart: a stream of about 2.4 s, so progress is sampled while it runs.
      proxy = await start({ tokenDelayMs: 60 });
    });
    after(async () => proxy?.close());

    it('counts chunks written while a slow stream runs, each chunk once', async () => {
      const feed = await openFeed(`${proxy.url}/admin/events`);
      try {
        await feed.until((e) => e.length > 0, 'hello');
        const id = 'slow-stream';
        const done = fetch(`${proxy.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}`, 'x-request-id': id },
          body: JSON.stringify({ model: 'sim-a', stream: true, max_tokens: 40, messages: [{ role: 'user', content: 'slowly' }] }),
        }).then((r) => r.text());
        const ended = (e: FeedEvent) => e.event === 'request.end' && e.data.id === id;
        await feed.until((es) => es.some((e) => e.event === 'stream.progress' && (e.data.chunks as number) > 0) || es.some(ended), 'stream.progress or request.end');
        assert.ok(!feed.events.some(ended), 'a progress event with chunks came before the request ended');
        const live = feed.events.find((e) => e.event === 'stream.progress')!;
        assert.equal(live.data.streams, 1);
        assert.ok((live.data.intervalMs as number) > 0);
        assert.ok(!('chunksWritten' in (feed.events.find((e) => e.event === 'stream.open')?.data ?? {})));

        await done;
        // The last sample (after the end) has no open stream; together the samples count every chunk.
        await feed.until((es) => es.some(ended) && es.at(-1)!.event === 'stream.progress' && es.at(-1)!.data.streams === 0, 'the last progress');
        const end = feed.events.find(ended)!;
        const counted = feed.events.filter((e) => e.event === 'stream.progress').reduce((n, e) => n + (e.data.chunks as number), 0);
        assert.ok((end.data.chunks as number) > 0);
        assert.equal(counted, end.data.chunks);
      } finally {
        feed.close();
      }
    });
  });
});
