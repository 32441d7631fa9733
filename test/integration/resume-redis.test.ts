/**
 * Resumable streams across proxy PROCESSES on one Redis (README "Resumable streams"): two real
 * proxies (`node src/main.ts`, the same YAML config from CONFIG_FILE, REDIS_URL from the env, so
 * the replay store is Redis Streams) on one redis-server this test starts.
 *
 * (a) A stream started on A (`x-stream-resume: true`) is read through B from the start, with the
 *     key and with the read token: B's bytes are A's bytes, whole, to `[DONE]`.
 * (b) A long stream started on A is read live through B; A is SIGKILLed mid-generation: B's
 *     reader gets every stored frame and then an error frame `stream_generation_lost` within a
 *     bounded time (the lease, `resumable.leaseMs`, is 1 s) — never a hang; a new read through B
 *     gets the same bytes.
 * (c) The restart story of the example page (/examples/resume): a reader of A is cut when A is
 *     SIGKILLed; A is started again on the same port; the reader comes back as a browser's
 *     EventSource would (`Last-Event-ID`) and gets the rest of what was stored, then the lost
 *     error; new streams work on the new A (and read through B).
 *
 * Every wait is bounded; nothing sleeps in place of an assertion.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { startRedis, type RedisSrv } from '../helpers/services.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

const KEY = `sk-resume-${randomBytes(12).toString('hex')}`;
const LEASE_MS = 1000;
/** How long after A's death B's reader may take to say the generation is lost: a lease, a renew period, a wait, and slack. */
const LOST_WITHIN_MS = 3 * LEASE_MS + 2000;

/** One SSE frame as the proxy wrote it: its text (blank line included), its id and data. */
interface Frame {
  text: string;
  id: string | undefined;
  data: string | undefined;
}

function parseFrames(body: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  let at = 0;
  for (;;) {
    const end = body.indexOf('\n\n', at);
    if (end < 0) break;
    const text = body.slice(at, end + 2);
    let id: string | undefined;
    const data: string[] = [];
    for (const line of text.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    frames.push({ text, id, data: data.length ? data.join('\n') : undefined });
    at = end + 2;
  }
  return { frames, rest: body.slice(at) };
}

const seqOf = (f: Frame, id: string): number => {
  const fid = f.id ?? '';
  assert.ok(fid.startsWith(`${id}:`), `frame id ${f.id} of stream ${id}`);
  return Number(fid.slice(id.length + 1));
};

const errorCode = (f: Frame | undefined): string | undefined => {
  if (f?.data === undefined || f.data === '[DONE]') return undefined;
  return (JSON.parse(f.data) as { error?: { code?: string } }).error?.code;
};

/** A streamed response read as it comes: its text so far, and bounded waits on it. */
class Reading {
  text = '';
  ended = false;
  failed: Error | null = null;
  private readonly settled: Promise<void>;
  private wake: () => void = () => {};

  constructor(readonly res: Response) {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    this.settled = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.text += decoder.decode(value, { stream: true });
          this.wake();
        }
        this.ended = true;
      } catch (err) {
        this.failed = err as Error;
      }
      this.wake();
    })();
  }

  /** Every whole frame so far, comments (`: keep-alive`) included. */
  get frames(): Frame[] {
    return parseFrames(this.text).frames;
  }

  /** The events so far: the frames with data (a reader that starts before the first frame gets a `: keep-alive` first). */
  get events(): Frame[] {
    return this.frames.filter((f) => f.data !== undefined);
  }

  /** The events' bytes, comments left out. */
  get eventText(): string {
    return this.events.map((f) => f.text).join('');
  }

  /** Until `check` holds (checked on each chunk), or throw after `timeoutMs` with `what`. */
  async until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (this.ended || this.failed) throw new Error(`the response ended (${this.failed?.message ?? 'cleanly'}) before ${what}:\n${this.text}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}:\n${this.text}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Until the body has ended (or failed), or throw after `timeoutMs`. */
  async end(timeoutMs: number): Promise<this> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`the response did not end within ${timeoutMs} ms:\n${this.text}`)), timeoutMs);
    });
    try {
      await Promise.race([this.settled, timeout]);
    } finally {
      clearTimeout(t);
    }
    return this;
  }
}

const auth = { authorization: `Bearer ${KEY}` };

/** POST a streamed chat request to `p`; `headers` add the resume headers. */
async function startChat(p: ProxyProcess, headers: Record<string, string>, maxTokens?: number): Promise<Response> {
  return fetch(`${p.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth, ...headers },
    body: JSON.stringify({ model: 'sim-1', stream: true, messages: [{ role: 'user', content: 'hi' }], ...(maxTokens ? { max_tokens: maxTokens } : {}) }),
    signal: AbortSignal.timeout(60_000),
  });
}

/** A detached start on `p`: the stream's id. */
async function startDetached(p: ProxyProcess, maxTokens?: number): Promise<{ id: string; url: string; read_token: string }> {
  const res = await startChat(p, { 'x-stream-detach': 'true' }, maxTokens);
  const body = (await res.json()) as { id: string; url: string; read_token: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body;
}

/** GET /v1/streams/{id} on `p`, as a Reading. */
async function readStream(p: ProxyProcess, id: string, opts: { headers?: Record<string, string>; query?: string } = {}): Promise<Reading> {
  const res = await fetch(`${p.url}/v1/streams/${id}${opts.query ?? ''}`, { headers: opts.headers ?? auth, signal: AbortSignal.timeout(60_000) });
  assert.equal(res.status, 200, `GET /v1/streams/${id} on ${p.url}: ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  return new Reading(res);
}

/** SIGKILL `p` and wait for it to be gone (bounded). */
async function kill(p: ProxyProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (p.proc.exitCode !== null || p.proc.signalCode !== null) resolve();
    else p.proc.once('exit', () => resolve());
  });
  p.proc.kill('SIGKILL');
  let t: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error('the proxy did not die')), 5000)))]);
  clearTimeout(t);
}

/** The frames of a finished read: consecutive seqs from `from + 1`, and how it ended. */
function checkConsecutive(frames: Frame[], id: string, from: number): void {
  frames.forEach((f, i) => assert.equal(seqOf(f, id), from + i + 1, `frame ${i} of ${frames.length}: ${f.text}`));
}

describe('resumable streams across proxy processes (real redis-server)', function () {
  this.timeout(90_000);
  let srv: RedisSrv;
  let dir: string;
  let env: Record<string, string>;
  let a: ProxyProcess;
  let b: ProxyProcess;
  const spawned: ProxyProcess[] = [];

  const spawn = async (extra: Record<string, string> = {}): Promise<ProxyProcess> => {
    const p = await startProxyProcess({ env: { ...env, ...extra } });
    spawned.push(p);
    return p;
  };

  before(async () => {
    srv = await startRedis();
    dir = mkdtempSync(path.join(os.tmpdir(), 'resume-redis-'));
    const configFile = path.join(dir, 'proxy.yaml');
    writeFileSync(
      configFile,
      stringify({
        // keepAliveMs well above the token delay: no keep-alive comment in the bytes compared.
        server: { host: '127.0.0.1', port: 8080, shutdownGraceMs: 500, keepAliveMs: 30_000 },
        upstreams: { sim: { type: 'sim', sim: { ttftMs: 20, tokenDelayMs: 30, defaultMaxTokens: 40 } } },
        models: [{ match: 'sim-*', upstream: 'sim' }],
        keys: [{ name: 'app', key: '${RESUME_TEST_KEY}' }],
        rateLimit: { redisKeyPrefix: `resume-${process.pid}-${randomBytes(4).toString('hex')}` },
        resumable: { leaseMs: LEASE_MS },
        logging: { level: 'info' },
      }),
    );
    env = { CONFIG_FILE: configFile, REDIS_URL: srv.url, RESUME_TEST_KEY: KEY };
    [a, b] = await Promise.all([spawn(), spawn()]);
  });
  after(async () => {
    await Promise.all(spawned.map((p) => p.stop(1000)));
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('(a) a stream started on A reads through B byte for byte, from the start to [DONE] (key and read token)', async () => {
    const res = await startChat(a, { 'x-stream-resume': 'true' });
    assert.equal(res.status, 200);
    const id = res.headers.get('x-stream-id') ?? '';
    const token = res.headers.get('x-stream-token') ?? '';
    assert.ok(id !== '' && token !== '', 'x-stream-id and x-stream-token');
    const onA = new Reading(res);
    await onA.until(() => onA.events.length >= 3, 'three frames on A', 10_000);
    assert.ok(!onA.events.some((f) => f.data === '[DONE]'), 'read on B while A is still generating');

    const [withKey, withToken] = await Promise.all([
      readStream(b, id),
      readStream(b, id, { headers: {}, query: `?token=${encodeURIComponent(token)}` }),
    ]);
    await Promise.all([onA.end(15_000), withKey.end(15_000), withToken.end(15_000)]);
    for (const r of [onA, withKey, withToken]) assert.equal(r.failed, null);
    const frames = onA.events;
    assert.equal(frames.at(-1)?.data, '[DONE]');
    assert.ok(frames.length > 20, `${frames.length} frames`);
    checkConsecutive(frames, id, 0);
    assert.equal(withKey.text, onA.text, 'B (key) gives A\'s bytes');
    assert.equal(withToken.text, onA.text, 'B (read token) gives A\'s bytes');

    // Read again through B after the end, from a position: the rest only.
    const k = 7;
    const tail = await (await readStream(b, id, { query: `?after=${k}` })).end(10_000);
    assert.equal(tail.text, frames.slice(k).map((f) => f.text).join(''));
  });

  it('(b) A killed mid-generation: B\'s live reader gets the stored frames, then stream_generation_lost, within a bound', async () => {
    const { id } = await startDetached(a, 2000); // ~60 s of tokens: it is cut long before its end
    const live = await readStream(b, id);
    await live.until(() => live.events.length >= 8, 'eight frames through B', 10_000);

    const killedAt = Date.now();
    await kill(a);
    await live.end(LOST_WITHIN_MS + 5000);
    const tookMs = Date.now() - killedAt;
    assert.equal(live.failed, null);
    assert.ok(tookMs <= LOST_WITHIN_MS, `the loss was told ${tookMs} ms after the kill (bound ${LOST_WITHIN_MS} ms, lease ${LEASE_MS} ms)`);
    const frames = live.events;
    assert.equal(parseFrames(live.text).rest, '', 'whole frames only');
    const last = frames.at(-1)!;
    assert.equal(errorCode(last), 'stream_generation_lost', last.text);
    assert.equal(last.id, undefined, 'the error frame is the reader\'s own, not a stored one');
    const stored = frames.slice(0, -1);
    assert.ok(stored.length >= 8, `${stored.length} frames before the error`);
    checkConsecutive(stored, id, 0);
    assert.ok(!stored.some((f) => f.data === '[DONE]' || errorCode(f) !== undefined), 'no end and no error before the loss');

    // A new read through B afterwards: the same stored frames, the same error frame.
    const again = await (await readStream(b, id)).end(LOST_WITHIN_MS + 5000);
    assert.equal(again.eventText, live.eventText);
  });

  it('(c) A restarted on its port: a reader coming back with Last-Event-ID gets the rest that was stored, then the loss; new streams work', async () => {
    // The first A is gone (b); this one plays the page's proxy.
    a = await spawn();
    const port = new URL(a.url).port;
    const { id, read_token } = await startDetached(a, 2000);
    // The page reads from A itself, with the read token, as the example page does.
    const first = await readStream(a, id, { headers: {}, query: `?token=${encodeURIComponent(read_token)}` });
    await first.until(() => first.events.length >= 6, 'six frames from A', 10_000);
    await kill(a);
    await first.end(5000);
    assert.ok(first.failed !== null || first.ended, 'the reader of A is cut');
    const seen = first.events;
    const lastSeen = seqOf(seen.at(-1)!, id);
    checkConsecutive(seen, id, 0);

    // A again, on the same port: the URL the page reads does not change.
    a = await spawn({ PORT: port });
    assert.equal(a.url, `http://127.0.0.1:${port}`);
    const back = await (
      await readStream(a, id, { headers: { 'last-event-id': `${id}:${lastSeen}` }, query: `?token=${encodeURIComponent(read_token)}` })
    ).end(LOST_WITHIN_MS + 5000);
    assert.equal(back.failed, null);
    const rest = back.events;
    assert.equal(errorCode(rest.at(-1)), 'stream_generation_lost', back.text);
    checkConsecutive(rest.slice(0, -1), id, lastSeen);
    // Together: exactly the stream read whole (through B), nothing missing, nothing twice.
    const whole = await (await readStream(b, id)).end(LOST_WITHIN_MS + 5000);
    assert.equal(first.eventText + back.eventText, whole.eventText);

    // New streams work on the new A, and read through B.
    const res = await startChat(a, { 'x-stream-resume': 'true' });
    assert.equal(res.status, 200);
    const newId = res.headers.get('x-stream-id') ?? '';
    const fresh = await new Reading(res).end(15_000);
    assert.equal(fresh.events.at(-1)?.data, '[DONE]');
    const viaB = await (await readStream(b, newId)).end(10_000);
    assert.equal(viaB.text, fresh.text);
  });
});
