/**
 * The resumable stream example page (/examples/resume, src/examples/) in a real browser —
 * Debian's chromium driven by playwright-core, launched as test/browser/dashboard.test.ts does.
 *
 * The page starts a detached stream on a slow simulator and reads it with EventSource. While it
 * streams, the test cuts the reader twice: once with the page's "Cut connection" button (a new
 * EventSource with `?after=<last seq>`), once from the server side (the proxy destroys the
 * reader's socket; the browser reconnects by itself with `Last-Event-ID`). The answer the page
 * shows must be exactly the answer of an uninterrupted run of the same request: the stream's own
 * log read whole afterwards, and a plain streamed request with the same body (the simulator is
 * deterministic) — nothing missing, nothing twice. With keys on, the page reads with the stream's
 * read token (`?token=`) and sends the key with the chat request only.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { dataPayloads, waitUntil } from '../helpers/fault-upstream.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const FILES = fileURLToPath(new URL('../../src/examples/browser/', import.meta.url));
const KEY = 'resume-page-key-for-tests';
const PROMPT = 'Tell me about resumable streams.';
/** ~45 frames, one every 50 ms: the stream lasts ~2.2 s, time for two cuts while it is live. */
const SIM = { ttftMs: 50, tokenDelayMs: 50, defaultMaxTokens: 40 };

/** One request for a stream's events, as the proxy saw it. */
interface Read {
  url: string;
  lastEventId: string | undefined;
  authorization: string | undefined;
  socket: Socket;
}

/** Every reader request of `proxy` (GET /v1/streams/…), in order, with its socket. */
function watchReads(proxy: TestProxy): Read[] {
  const reads: Read[] = [];
  proxy.server.on('request', (req: IncomingMessage) => {
    if (req.method === 'GET' && req.url?.startsWith('/v1/streams/')) {
      reads.push({ url: req.url, lastEventId: req.headers['last-event-id'] as string | undefined, authorization: req.headers.authorization, socket: req.socket });
    }
  });
  return reads;
}

/** The content of a chat event stream's chunks, joined, and how many content frames (not [DONE], not errors) it had. */
function contentOf(body: string): { text: string; frames: number; done: boolean } {
  let text = '';
  let frames = 0;
  let done = false;
  for (const d of dataPayloads(body)) {
    if (d === '[DONE]') {
      done = true;
      continue;
    }
    const j = JSON.parse(d) as { error?: unknown; choices?: Array<{ delta?: { content?: string | null } }> };
    assert.equal(j.error, undefined, `an error frame: ${d}`);
    frames++;
    text += j.choices?.[0]?.delta?.content ?? '';
  }
  return { text, frames, done };
}

const num = async (page: Page, id: string): Promise<number> => Number(await page.textContent(`#${id}`));

/** Wait until the page's number `#id` reaches `min`. */
async function waitNumber(page: Page, id: string, min: number, timeout = 10_000): Promise<void> {
  await page.waitForFunction(([el, n]) => Number(document.getElementById(el as string)?.textContent) >= (n as number), [id, min] as const, { timeout });
}

async function waitState(page: Page, state: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction((s) => document.getElementById('state')?.getAttribute('data-state') === s, state, { timeout });
}

describe('resumable stream example page in Debian chromium', function () {
  this.timeout(60_000);
  let browser: Browser;

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  after(async () => {
    await browser?.close();
  });

  /**
   * Start a stream from the page, cut it with the button, then from the server, and check the
   * answer against the stream's log and an uninterrupted request. Returns the page and what the
   * proxy saw.
   */
  async function cutTwiceAndCompare(proxy: TestProxy, key: string | null): Promise<{ page: Page; reads: Read[]; id: string }> {
    const reads = watchReads(proxy);
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text());
    });
    const nav = await page.goto(`${proxy.url}/examples/resume`);
    assert.equal(nav?.status(), 200);
    assert.match(nav?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await waitState(page, 'idle');
    assert.equal(await page.inputValue('#model'), 'sim-1');
    await page.fill('#prompt', PROMPT);
    if (key !== null) await page.fill('#key', key);

    await page.click('#start');
    await waitState(page, 'streaming');
    const id = (await page.textContent('#stream-id')) ?? '';
    assert.match(id, /^\S{8,}$/);

    // Cut from the page: a new EventSource reads on with ?after=<last seq>.
    await waitNumber(page, 'last-seq', 5);
    await page.click('#cut');
    await waitUntil(() => reads.length === 2, 'the second reader request (after the cut)', 5_000);
    // Cut from the server: the browser reconnects by itself, with Last-Event-ID.
    await waitNumber(page, 'last-seq', 15);
    const seqBeforeDrop = await num(page, 'last-seq');
    reads[1]!.socket.destroy();
    await waitState(page, 'complete', 20_000);

    assert.equal(await num(page, 'manual-cuts'), 1);
    assert.equal(await num(page, 'auto-reconnects'), 1, 'the browser reconnected by itself once');
    assert.equal(await num(page, 'reconnects'), 2);
    assert.equal(await num(page, 'duplicates'), 0);
    assert.equal(await page.textContent('#error'), '');

    // What the proxy saw: from the start, ?after= from the button, Last-Event-ID from the browser.
    assert.equal(reads.length, 3, reads.map((r) => r.url).join(', '));
    const [first, second, third] = reads as [Read, Read, Read];
    const after = Number(new URL(second.url, proxy.url).searchParams.get('after'));
    assert.equal(new URL(first.url, proxy.url).searchParams.get('after'), null);
    assert.equal(first.lastEventId, undefined);
    assert.ok(after >= 5 && after < seqBeforeDrop, `?after=${after}`);
    assert.equal(second.lastEventId, undefined, 'a new EventSource has no Last-Event-ID to send');
    const m = /^(.+):(\d+)$/.exec(third.lastEventId ?? '');
    assert.ok(m, `Last-Event-ID ${third.lastEventId}`);
    assert.equal(m[1], id);
    assert.ok(Number(m[2]) >= seqBeforeDrop, `the browser resumed after ${m[2]}, the page had seen ${seqBeforeDrop}`);
    for (const r of reads) {
      assert.equal(r.authorization, undefined, 'EventSource sends no key');
      assert.equal(new URL(r.url, proxy.url).searchParams.get('token') !== null, key !== null, r.url);
    }

    // The answer shown, against the stream read whole and an uninterrupted request.
    const shown = (await page.textContent('#answer')) ?? '';
    const auth: Record<string, string> = key !== null ? { authorization: `Bearer ${key}` } : {};
    const whole = await fetch(`${proxy.url}/v1/streams/${id}`, { headers: auth });
    assert.equal(whole.status, 200);
    const log = contentOf(await whole.text());
    assert.ok(log.done, 'the stream ends with [DONE]');
    assert.ok(log.text.length > 40, log.text);
    assert.equal(shown, log.text, 'the page shows the stream exactly once');
    assert.equal(await num(page, 'frames'), log.frames, 'every frame applied once');
    const plain = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ model: 'sim-1', stream: true, messages: [{ role: 'user', content: PROMPT }] }),
    });
    assert.equal(plain.status, 200);
    assert.equal(shown, contentOf(await plain.text()).text, 'the same as an uninterrupted run of the same request');
    assert.deepEqual(pageErrors, []);
    return { page, reads, id };
  }

  it('serves every file of src/examples/browser/ byte for byte, under the dashboard\'s CSP', async () => {
    const proxy = await startTestProxy();
    try {
      const served: Record<string, string> = { 'resume.html': '/examples/resume', 'resume.css': '/examples/resume.css', 'resume.js': '/examples/resume.js' };
      const types: Record<string, string> = { html: 'text/html', css: 'text/css', js: 'text/javascript' };
      assert.deepEqual(readdirSync(FILES).sort(), Object.keys(served).sort(), 'a file added to the page must be served (src/examples/routes.ts)');
      for (const [file, route] of Object.entries(served)) {
        const res = await fetch(`${proxy.url}${route}`);
        assert.equal(res.status, 200, route);
        assert.equal(res.headers.get('content-type'), `${types[file.split('.').pop()!]}; charset=utf-8`);
        assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(`${FILES}${file}`));
      }
      assert.match(readFileSync(`${FILES}resume.js`, 'utf8'), /^\/\/ @ts-check\n/);
    } finally {
      await proxy.close();
    }
  });

  it('applies each seq once and shows an error frame that has no id (a scripted stream)', async () => {
    const proxy = await startTestProxy();
    try {
      const page = await browser.newPage();
      const id = 's_scriptedStreamId0000';
      const chunk = (seq: number, content: string) =>
        `id: ${id}:${seq}\ndata: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
      // Seqs 2 and 3 come twice (a server bug the page must survive), then the replay reader's
      // own error frame, which has no id: the event's lastEventId is still the previous frame's.
      const lost = `data: ${JSON.stringify({ error: { message: 'lost', type: 'server_error', param: null, code: 'stream_generation_lost' } })}\n\n`;
      await page.route('**/v1/chat/completions', (route) =>
        route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify({ id, url: `/v1/streams/${id}` }) }),
      );
      await page.route('**/v1/streams/**', (route) =>
        route.fulfill({
          status: 200,
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
          body: chunk(1, 'a') + chunk(2, 'b') + chunk(3, 'c') + chunk(2, 'b') + chunk(3, 'c') + chunk(4, 'd') + lost,
        }),
      );
      await page.goto(`${proxy.url}/examples/resume`);
      await page.click('#start');
      await waitState(page, 'error', 10_000);
      assert.equal(await page.textContent('#answer'), 'abcd');
      assert.equal(await num(page, 'duplicates'), 2);
      assert.equal(await num(page, 'frames'), 4);
      assert.equal(await num(page, 'last-seq'), 4);
      assert.equal(await page.textContent('#error'), 'stream_generation_lost: lost');
      assert.equal(await page.isDisabled('#cut'), true, 'nothing left to cut');
      await page.close();
    } finally {
      await proxy.close();
    }
  });

  it('keys off: a cut from the page and a drop from the server lose nothing and repeat nothing', async () => {
    const proxy = await startTestProxy({ config: { upstreams: { sim: { type: 'sim', sim: SIM } } } });
    try {
      const { page } = await cutTwiceAndCompare(proxy, null);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}resume-example.png`, fullPage: true });
      await page.close();
    } finally {
      await proxy.close();
    }
  });

  it('keys on: the page reads with the read token, keeps the key nowhere, and shows a refused start', async () => {
    const proxy = await startTestProxy({
      config: { keys: [{ name: 'web', key: KEY }], upstreams: { sim: { type: 'sim', sim: SIM } } },
    });
    try {
      // Without a key the start is refused, and the page says why.
      const refused = await browser.newPage();
      await refused.goto(`${proxy.url}/examples/resume`);
      await refused.click('#start');
      await waitState(refused, 'error');
      assert.match((await refused.textContent('#error')) ?? '', /^401 /);
      await refused.close();

      const { page } = await cutTwiceAndCompare(proxy, KEY);
      const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
      assert.equal(stored.includes(KEY), false, stored);
      await page.close();
    } finally {
      await proxy.close();
    }
  });
});
