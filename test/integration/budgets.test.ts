/**
 * Spend budgets (README "Budgets") through the whole app over real HTTP, with the OpenAI SDK as
 * the client: the 429 `insufficient_quota` it does not retry, the x-budget-* headers, reservation
 * and settlement at the configured prices, the period reset on a manual clock, the metrics, and
 * the configuration errors. The Redis store, shared by two processes, is in redis-budgets.test.ts.
 *
 * Prices are chosen so amounts are easy to read: a prompt token costs $0.001, a completion token
 * $0.002; the scripted upstream reports 10 prompt and 20 completion tokens, so every answered
 * request costs exactly $0.05.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { startUpstream, nextRequestRecord, frame, chatChunk, DONE, type TestUpstream, type UpstreamCall } from '../helpers/upstream.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { ManualClock } from '../../src/clock.js';
import { periodBounds } from '../../src/limits/budget-math.js';

const secret = (p: string): string => `${p}-${randomBytes(16).toString('hex')}`;
const KEY_A = secret('sk-a');
const KEY_B = secret('sk-b');
const messages = [{ role: 'user' as const, content: 'hi' }];
const USAGE = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 };
const PRICES = { 'up-*': { prompt: 1000, completion: 2000 } };

/** Answer chat requests with JSON or a stream that reports USAGE. */
async function answer(call: UpstreamCall): Promise<void> {
  return answerWith(call, USAGE);
}

/** USAGE with 8 of its 10 prompt tokens served from the upstream's prompt cache (OpenAI's shape). */
const CACHED_USAGE = { ...USAGE, prompt_tokens_details: { cached_tokens: 8, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };

/** Answer with JSON or a stream (its last chunk usage-only, as include_usage gives) reporting `usage`. */
async function answerWith(call: UpstreamCall, usage: Record<string, unknown>): Promise<void> {
  const body = call.json<{ stream?: boolean }>();
  if (body.stream) {
    call.sseHead();
    await call.write(frame(chatChunk({ role: 'assistant', content: 'ok' })));
    await call.write(frame(chatChunk({}, 'stop')));
    await call.write(frame(JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up-1', choices: [], usage })));
    await call.end(DONE);
    return;
  }
  const json = JSON.stringify({
    id: 'c',
    object: 'chat.completion',
    created: 1,
    model: 'up-1',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage,
  });
  call.head(200, { 'content-type': 'application/json' });
  await call.end(json);
}

function budgetConfig(up: TestUpstream, usd: number, period = 'month'): Record<string, unknown> {
  return {
    upstreams: { up: { type: 'openai', baseUrl: up.baseUrl, apiKey: 'sk-upstream' } },
    models: [{ match: 'up-*', upstream: 'up' }],
    metrics: { prices: PRICES },
    budgets: { team: { usd, period } },
    keys: [
      { name: 'a', key: KEY_A, budget: 'team' },
      { name: 'b', key: KEY_B, budget: 'team', models: ['up-*'] },
    ],
  };
}

/** Counts every HTTP attempt the SDK makes. */
function countingFetch(counter: { n: number }): typeof fetch {
  return async (input, init) => {
    counter.n++;
    return fetch(input, init);
  };
}

async function metric(proxy: TestProxy, name: string): Promise<number> {
  const text = await (await fetch(`${proxy.url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{budget="team"\\} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} missing`);
  return Number(m[1]);
}

const usd = (h: Headers, name: string): number => {
  const v = h.get(name);
  assert.ok(v !== null, `${name} missing`);
  assert.match(v, /^\d+\.\d{6}$/);
  return Number(v);
};
const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-6;

describe('spend budgets over HTTP (OpenAI SDK as the client)', function () {
  this.timeout(20_000);
  let up: TestUpstream;
  let proxy: TestProxy | undefined;
  beforeEach(async () => {
    up = await startUpstream();
    up.autoReply(answer);
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await up.close();
  });

  it('headers show the shared budget going down by the priced usage; a stream settles to its usage; metrics agree', async () => {
    proxy = await startTestProxy({ config: budgetConfig(up, 1) });
    const a = new OpenAI({ baseURL: proxy.baseURL, apiKey: KEY_A });
    const b = new OpenAI({ baseURL: proxy.baseURL, apiKey: KEY_B });
    const req = { model: 'up-1', messages, max_tokens: 100 };

    const ended1 = nextRequestRecord(proxy);
    const r1 = await a.chat.completions.create(req).withResponse();
    await ended1;
    assert.equal(usd(r1.response.headers, 'x-budget-limit-usd'), 1);
    const rem1 = usd(r1.response.headers, 'x-budget-remaining-usd');
    const reservation = 1 - rem1;
    // Estimated prompt tokens at $0.001 plus 100 completion tokens at $0.002.
    assert.ok(reservation > 0.2 && reservation < 0.25, `reservation ${reservation}`);
    // A monthly budget resets at the start of next month (UTC).
    assert.equal(r1.response.headers.get('x-budget-reset'), new Date(periodBounds('month', Date.now()).end!).toISOString());

    // Key b shares the budget: its admission sees a's request settled to $0.05, plus its own reservation.
    const ended2 = nextRequestRecord(proxy);
    const r2 = await b.chat.completions.create(req).withResponse();
    await ended2;
    const rem2 = usd(r2.response.headers, 'x-budget-remaining-usd');
    assert.ok(close(rem1 - rem2, 0.05), `decreased by ${rem1 - rem2}, expected the settled $0.05`);
    assert.ok(close(await metric(proxy, 'llm_proxy_budget_spent_usd'), 0.1));
    assert.equal(await metric(proxy, 'llm_proxy_budget_limit_usd'), 1);

    // A stream: reserved at admission, settled to its reported usage when it ends.
    const ended3 = nextRequestRecord(proxy);
    const stream = await a.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }).withResponse();
    const rem3 = usd(stream.response.headers, 'x-budget-remaining-usd');
    assert.ok(close(rem2 - rem3, 0.05));
    for await (const _ of stream.data) void _;
    await ended3;
    assert.ok(close(await metric(proxy, 'llm_proxy_budget_spent_usd'), 0.15), 'spend after the stream is the priced usage');
  });

  it('an exhausted budget is a 429 insufficient_quota the SDK does not retry, and costs nothing', async () => {
    proxy = await startTestProxy({ config: budgetConfig(up, 0.3) });
    const attempts = { n: 0 };
    const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: KEY_A, fetch: countingFetch(attempts) }); // default maxRetries (2)
    const req = { model: 'up-1', messages, max_tokens: 100 };
    for (let i = 0; i < 2; i++) {
      const ended = nextRequestRecord(proxy);
      await client.chat.completions.create(req);
      await ended;
    }
    assert.equal(up.calls.length, 2);
    attempts.n = 0;

    const err = await client.chat.completions.create(req).then(
      () => assert.fail('expected a 429'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'insufficient_quota');
    assert.equal(err.type, 'insufficient_quota');
    assert.equal(attempts.n, 1, 'the SDK did not retry');
    assert.equal(up.calls.length, 2, 'nothing reached the upstream');
    assert.equal(err.headers?.get('x-should-retry'), 'false');
    assert.equal(usd(err.headers!, 'x-budget-remaining-usd'), 0.2);
    const reset = new Date(periodBounds('month', Date.now()).end!).toISOString();
    assert.match(err.message, /budget "team" has spent \$0\.100000 of its \$0\.300000 limit/);
    assert.ok(err.message.includes(`It resets at ${reset}.`), err.message);

    // The refusal cost nothing: the spend is still $0.10, and a smaller request fits.
    assert.ok(close(await metric(proxy, 'llm_proxy_budget_spent_usd'), 0.1));
    const small = await client.chat.completions.create({ ...req, max_tokens: 10 }).withResponse();
    assert.equal(small.response.status, 200);
  });

  it('a period ends at midnight UTC on the injected clock, and the budget is whole again', async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 3, 23, 0, 0)); // a Tuesday, 23:00 UTC
    proxy = await startTestProxy({ clock, config: budgetConfig(up, 0.3, 'day') });
    const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: KEY_A, maxRetries: 0 });
    const req = { model: 'up-1', messages, max_tokens: 140 };
    const ended = nextRequestRecord(proxy);
    const r1 = await client.chat.completions.create(req).withResponse();
    await ended;
    assert.equal(r1.response.headers.get('x-budget-reset'), '2026-03-04T00:00:00.000Z');
    const err = await client.chat.completions.create(req).then(
      () => assert.fail('expected a 429'),
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    assert.equal(err.code, 'insufficient_quota');
    assert.match(err.message, /It resets at 2026-03-04T00:00:00\.000Z\./);

    clock.advance(60 * 60 * 1000); // midnight
    const r2 = await client.chat.completions.create(req).withResponse();
    assert.equal(r2.response.headers.get('x-budget-reset'), '2026-03-05T00:00:00.000Z');
    const reservation = 0.3 - usd(r1.response.headers, 'x-budget-remaining-usd');
    assert.ok(close(usd(r2.response.headers, 'x-budget-remaining-usd'), 0.3 - reservation), 'only the new request is charged');
  });

  it('cached prompt tokens are priced at cachedPrompt: spend, x-budget-remaining-usd and the cost metric', async () => {
    up.autoReply((call) => answerWith(call, CACHED_USAGE));
    // Cached prompt tokens at $0.00025: 2 × $0.001 + 8 × $0.00025 + 20 × $0.002 = $0.044 (not $0.05).
    const config = { ...budgetConfig(up, 1), metrics: { prices: { 'up-*': { prompt: 1000, completion: 2000, cachedPrompt: 250 } } } };
    proxy = await startTestProxy({ config });
    const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: KEY_A });
    const req = { model: 'up-1', messages, max_tokens: 100 };

    const ended1 = nextRequestRecord(proxy);
    const r1 = await client.chat.completions.create(req).withResponse();
    const record = await ended1;
    assert.equal(record.cachedTokens, 8);
    const rem1 = usd(r1.response.headers, 'x-budget-remaining-usd');
    const ended2 = nextRequestRecord(proxy);
    const r2 = await client.chat.completions.create(req).withResponse();
    await ended2;
    const rem2 = usd(r2.response.headers, 'x-budget-remaining-usd');
    assert.ok(close(rem1 - rem2, 0.044), `decreased by ${rem1 - rem2}, expected the settled $0.044`);
    assert.ok(close(await metric(proxy, 'llm_proxy_budget_spent_usd'), 0.088));

    // A stream whose usage chunk carries the cached tokens settles to the same price.
    const ended3 = nextRequestRecord(proxy);
    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }).withResponse();
    for await (const _ of stream.data) void _;
    assert.equal((await ended3).cachedTokens, 8);
    assert.ok(close(await metric(proxy, 'llm_proxy_budget_spent_usd'), 0.132), 'spend after the stream is the cached price');

    const text = await (await fetch(`${proxy.url}/metrics`)).text();
    const cost = /^llm_proxy_cost_usd_total\{[^}]*key="a"[^}]*\} (\S+)$/m.exec(text);
    assert.ok(cost, 'llm_proxy_cost_usd_total missing');
    assert.ok(close(Number(cost[1]), 0.132), `cost metric ${cost[1]}`);
  });

  it('a total budget sends no reset header', async () => {
    proxy = await startTestProxy({ config: budgetConfig(up, 5, 'total') });
    const client = new OpenAI({ baseURL: proxy.baseURL, apiKey: KEY_A });
    const r = await client.chat.completions.create({ model: 'up-1', messages, max_tokens: 5 }).withResponse();
    assert.equal(usd(r.response.headers, 'x-budget-limit-usd'), 5);
    assert.equal(r.response.headers.get('x-budget-reset'), null);
  });
});

describe('spend budgets: configuration errors', () => {
  const base = {
    upstreams: { up: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1' }, sim: { type: 'sim' } },
    models: [
      { match: 'gpt-4o', upstream: 'up' },
      { match: 'up-*', upstream: 'up' },
      { match: '*', upstream: 'sim' },
    ],
    budgets: { team: { usd: 10, period: 'week' } },
  };
  const problems = (keys: unknown[], prices: Record<string, unknown> = {}): string[] => {
    try {
      buildConfig({ ...base, metrics: { prices }, keys }, {});
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
  };

  it('refuses a key naming an unknown budget', () => {
    const p = problems([{ name: 'k', key: 'sk-1', budget: 'nope', models: ['gpt-4o'] }], { 'gpt-4o': { prompt: 1, completion: 1 } });
    assert.deepEqual(p, ['keys[0] (k): unknown budget "nope" (declare it under "budgets")']);
  });

  it('refuses a budgeted key that can reach a model without a price', () => {
    // Every model: the `*` and `up-*` routes have no price.
    const all = problems([{ name: 'k', key: 'sk-1', budget: 'team' }], { 'gpt-4o': { prompt: 1, completion: 1 } });
    assert.equal(all.length, 2);
    assert.match(all[0]!, /keys\[0\] \(k\): budget "team" cannot be enforced: .*"\*".*route "up-\*"/);
    // A glob the key may use overlaps an unpriced glob route (`gpt-*` cannot reach `up-*`).
    const glob = problems([{ name: 'k', key: 'sk-1', budget: 'team', models: ['gpt-*'] }], { 'gpt-4o': { prompt: 1, completion: 1 } });
    assert.equal(glob.length, 1);
    assert.match(glob[0]!, /"gpt-\*" that route "\*"/);
    // `up-big*` is wholly taken by the earlier, priced `up-*` route: fine; unpriced, it is not.
    assert.deepEqual(problems([{ name: 'k', key: 'sk-1', budget: 'team', models: ['up-big*'] }], { 'up-*': { prompt: 1, completion: 1 } }), []);
    assert.equal(problems([{ name: 'k', key: 'sk-1', budget: 'team', models: ['up-big*'] }]).length, 2);
    // A plain model name without a price of its own, routed by an unpriced route.
    assert.equal(problems([{ name: 'k', key: 'sk-1', budget: 'team', models: ['gpt-4o'] }]).length, 2);
  });

  it('accepts a budgeted key whose every reachable model is priced', () => {
    const prices = { 'gpt-4o': { prompt: 2.5, completion: 10, cachedPrompt: 1.25 }, 'up-*': { prompt: 1, completion: 2 } };
    assert.deepEqual(problems([{ name: 'k', key: 'sk-1', budget: 'team', models: ['gpt-4o', 'up-*'] }], prices), []);
    // Unbudgeted keys are not checked.
    assert.deepEqual(problems([{ name: 'k', key: 'sk-1' }]), []);
  });
});

describe('budget periods (UTC calendar)', () => {
  it('weeks start on Monday, months on the 1st, days at midnight; total never ends', () => {
    const sunday = Date.UTC(2026, 2, 8, 12); // Sunday 8 March 2026
    assert.deepEqual(periodBounds('week', sunday), { start: Date.UTC(2026, 2, 2), end: Date.UTC(2026, 2, 9) });
    assert.deepEqual(periodBounds('week', Date.UTC(2026, 2, 9)), { start: Date.UTC(2026, 2, 9), end: Date.UTC(2026, 2, 16) });
    assert.deepEqual(periodBounds('month', Date.UTC(2026, 11, 31, 23, 59)), { start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
    assert.deepEqual(periodBounds('day', sunday), { start: Date.UTC(2026, 2, 8), end: Date.UTC(2026, 2, 9) });
    assert.deepEqual(periodBounds('total', sunday), { start: 0, end: null });
  });
});
