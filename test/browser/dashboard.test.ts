/**
 * Issue 5: the dashboard in a real browser — Debian's chromium driven by playwright-core (never a
 * downloaded browser; flags from ../shared/recipes/services.md §3). Keys are configured, so the
 * page signs in first. Traffic goes through the proxy with the OpenAI SDK; the page must show it.
 * The page keeps no copy of the admin key (src/dashboard/browser/connection.js): after sign-in
 * neither sessionStorage nor localStorage holds it, and a reload still works through the session
 * cookie.
 * Then the proxy is stopped and a new one started on the same port: the page must notice, and,
 * the new instance having forgotten every session, ask for the key again; signed in, it shows
 * the new traffic. A screenshot is saved to test-artifacts/ (not committed).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../helpers/services.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const ADMIN_KEY = 'dashboard-admin-key-for-tests';
const KEYS = [
  { name: 'ops', key: ADMIN_KEY, admin: true },
  { name: 'team-a', key: 'team-a-key-for-tests' },
  { name: 'team-b', key: 'team-b-key-for-tests' },
];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe('dashboard in Debian chromium', function () {
  this.timeout(60_000);
  let browser: Browser;
  let proxy: TestProxy | null = null;
  let port = 0;

  const startOn = (p: number) =>
    startTestProxy({
      config: {
        server: { port: p },
        keys: KEYS,
        upstreams: { sim: { type: 'sim', sim: { ttftMs: 40, tokenDelayMs: 8, defaultMaxTokens: 24 } } },
        admin: { keepAliveMs: 1000 },
      },
    });

  before(async () => {
    port = await freePort();
    proxy = await startOn(port);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
  });

  it('shows live requests and totals, keeps no copy of the key, and asks for it again after a restart', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    await page.goto(`http://127.0.0.1:${port}/dashboard`);
    // Keys are configured: the page asks for an admin key before it connects.
    await page.waitForSelector('#login:not([hidden])');
    await waitState(page, 'login');
    await page.fill('#login-key', 'not-the-key');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '') !== '');
    await page.fill('#login-key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await waitState(page, 'live');
    await assertKeyNotStored(page);

    // A reload signs in through the HttpOnly cookie alone.
    await page.reload();
    await waitState(page, 'live');
    assert.equal(await page.isHidden('#login'), true, 'the session cookie is enough after a reload');
    await assertKeyNotStored(page);

    const a = sdk('team-a-key-for-tests');
    const b = sdk('team-b-key-for-tests');
    await Promise.all([
      streamChat(a, 'sim-alpha', 'dash-1'),
      streamChat(a, 'sim-alpha', 'dash-2'),
      b.chat.completions.create({ model: 'sim-beta', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': 'dash-3' } }),
    ]);
    await waitRowsDone(page, ['dash-1', 'dash-2', 'dash-3']);

    assert.equal(await text(page, '#requests'), '3');
    assert.equal(await text(page, '#errors'), '0');
    assert.deepEqual(await totals(page, 'by-key'), { 'team-a': '2', 'team-b': '1' });
    assert.deepEqual(await totals(page, 'by-model'), { 'sim-alpha': '2', 'sim-beta': '1' });
    const row = await page.$eval('tr[data-id="dash-1"]', (tr) => ({
      key: tr.querySelector('.key')!.textContent,
      mode: tr.querySelector('.mode')!.textContent,
      status: tr.querySelector('.status')!.textContent,
      ttft: tr.querySelector('.ttft')!.textContent,
      tokens: tr.querySelector('.tokens')!.textContent,
      tps: tr.querySelector('.tps')!.textContent,
    }));
    assert.deepEqual([row.key, row.mode, row.status], ['team-a', 'stream', '200']);
    assert.match(row.ttft ?? '', /^\d+$/);
    assert.match(row.tokens ?? '', /^\d+ \+ 24$/);
    assert.match(row.tps ?? '', /^\d+(\.\d)?$/);
    assert.notEqual(await text(page, '#ttft-p50'), '–');

    // Active streams: a slow stream is shown while it runs.
    const slow = streamChat(a, 'sim-alpha', 'dash-long', 150);
    await page.waitForFunction(() => document.getElementById('active-streams')?.textContent === '1');
    await slow;
    await waitRowsDone(page, ['dash-long']);
    assert.equal(await text(page, '#active-streams'), '0');

    // Restart: stop the proxy, start a new one on the same port.
    const firstInstance = await page.evaluate(() => (window as unknown as { __dash: { instance: string } }).__dash.instance);
    await proxy!.close();
    proxy = null;
    await page.waitForFunction(() => document.getElementById('conn')?.getAttribute('data-state') !== 'live');
    proxy = await startOn(port);
    // The new instance has no session, and the page has no key to sign in with: it asks.
    await waitState(page, 'login', 20_000);
    assert.match(await text(page, '#login-error'), /session has ended/);
    await page.fill('#login-key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await page.waitForFunction(
      (before) => {
        const d = (window as unknown as { __dash: { instance: string; status: string } }).__dash;
        return d.status === 'live' && d.instance !== before;
      },
      firstInstance,
      { timeout: 20_000 },
    );
    assert.equal(await page.isHidden('#login'), true, 'signed in again');
    await assertKeyNotStored(page);

    await streamChat(sdk('team-b-key-for-tests'), 'sim-alpha', 'dash-after-restart');
    await waitRowsDone(page, ['dash-after-restart']);
    assert.equal(await text(page, '#requests'), '5', 'totals since the page opened span both proxies');
    assert.deepEqual(await totals(page, 'by-key'), { 'team-a': '3', 'team-b': '2' });
    assert.match(await text(page, '#instance'), /1 restart/);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png` });
    assert.deepEqual(pageErrors, []);
  });

  it('with no keys configured (the default) connects at once, without a sign-in', async () => {
    const open = await startTestProxy();
    try {
      const page = await browser.newPage();
      await page.goto(`${open.url}/dashboard`);
      await waitState(page, 'live');
      assert.equal(await page.isHidden('#login'), true);
      assert.equal(await page.isHidden('#sign-out'), true);
      await streamChat(new OpenAI({ baseURL: open.baseURL, apiKey: 'unused', maxRetries: 0 }), 'sim-a', 'open-1');
      await waitRowsDone(page, ['open-1']);
      assert.deepEqual(await totals(page, 'by-key'), { anonymous: '1' });
      await page.close();
    } finally {
      await open.close();
    }
  });

  it('shows tokens per second while a slow stream runs, and each budget\'s spend', async () => {
    const budgeted = await startTestProxy({
      config: {
        keys: [
          { name: 'ops', key: ADMIN_KEY, admin: true },
          { name: 'team-a', key: 'team-a-key-for-tests', budget: 'team' },
        ],
        // 40 tokens 60 ms apart: a stream of about 2.4 s.
        upstreams: { sim: { type: 'sim', sim: { ttftMs: 0, tokenDelayMs: 60, defaultMaxTokens: 8 } } },
        metrics: { prices: { 'sim-*': { prompt: 1000, completion: 2000 } } },
        budgets: { team: { usd: 5, period: 'month' } },
      },
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${budgeted.url}/dashboard`);
      await waitState(page, 'login');
      await page.fill('#login-key', ADMIN_KEY);
      await page.click('#login button[type=submit]');
      await waitState(page, 'live');
      assert.equal(await text(page, '#tokens-per-second'), '0.0');
      assert.equal(await page.isHidden('#budgets-panel'), true, 'no budget reported yet');

      // Tokens per second moves before the stream's request.end (the feed's stream.progress).
      const client = new OpenAI({ baseURL: budgeted.baseURL, apiKey: 'team-a-key-for-tests', maxRetries: 0 });
      const slow = streamChat(client, 'sim-alpha', 'dash-tps', 40);
      await page.waitForFunction(
        () => document.getElementById('tokens-per-second')?.textContent !== '0.0' || document.querySelector('tr[data-id="dash-tps"]')?.classList.contains('ended'),
        undefined,
        { timeout: 10_000 },
      );
      assert.notEqual(await text(page, '#tokens-per-second'), '0.0');
      assert.equal(await page.$eval('tr[data-id="dash-tps"]', (tr) => tr.className), 'streaming', 'tokens/s moved while the stream was running');
      await slow;
      await waitRowsDone(page, ['dash-tps']);

      // The Budgets panel: the spend the feed last reported, against the limit, with a bar.
      const res = await client.chat.completions.create({ model: 'sim-alpha', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(res.usage);
      await page.waitForSelector('#budgets-panel:not([hidden]) .budget[data-name="team"]');
      const spent = await page.evaluate(() => (window as unknown as { __dash: { budgets: Map<string, { spentUsd: number }> } }).__dash.budgets.get('team')!.spentUsd);
      assert.ok(spent > 0);
      await page.waitForFunction(
        (want) => document.querySelector('.budget[data-name="team"] .amount')?.textContent === want,
        `$${spent.toFixed(4)} / $5.00`,
        { timeout: 5_000 },
      );
      const width = await page.$eval('.budget[data-name="team"] .bar i', (i) => (i as HTMLElement).style.width);
      assert.ok(Math.abs(parseFloat(width) - (spent / 5) * 100) < 0.1, `bar ${width} for $${spent} of $5`);
      assert.deepEqual(pageErrors, []);
      await page.close();
    } finally {
      await budgeted.close();
    }
  });

  function sdk(apiKey: string): OpenAI {
    return new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0 });
  }
});

async function streamChat(client: OpenAI, model: string, id: string, maxTokens?: number): Promise<void> {
  const stream = await client.chat.completions.create(
    { model, stream: true, messages: [{ role: 'user', content: `hello from ${id}` }], ...(maxTokens ? { max_tokens: maxTokens } : {}) },
    { headers: { 'x-request-id': id } },
  );
  for await (const chunk of stream) void chunk;
}

function waitState(page: Page, state: string, timeout = 10_000): Promise<unknown> {
  return page.waitForFunction((s) => document.getElementById('conn')?.getAttribute('data-state') === s, state, { timeout });
}

/** Neither web storage of the page holds the admin key (in a name or a value), and the form is empty. */
async function assertKeyNotStored(page: Page): Promise<void> {
  const stored = await page.evaluate(() =>
    [sessionStorage, localStorage].flatMap((store) =>
      Array.from({ length: store.length }, (_, i) => store.key(i) ?? '').flatMap((k) => [k, store.getItem(k) ?? '']),
    ),
  );
  assert.equal(stored.filter((v) => v.includes(ADMIN_KEY)).length, 0, 'the admin key is in web storage');
  assert.equal(await page.inputValue('#login-key'), '');
}

function waitRowsDone(page: Page, ids: string[]): Promise<unknown> {
  return page.waitForFunction(
    (want) => want.every((id) => document.querySelector(`tr[data-id="${id}"] td.end .badge`)?.textContent === 'done'),
    ids,
    { timeout: 10_000 },
  );
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector)) ?? '';
}

/** name → requests, from a totals table. */
function totals(page: Page, table: string): Promise<Record<string, string>> {
  return page.$$eval(`#${table} tbody tr`, (rows) =>
    Object.fromEntries(rows.map((r) => [r.getAttribute('data-name') ?? '', r.querySelector('.requests')?.textContent ?? ''])),
  );
}
