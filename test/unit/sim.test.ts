import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import OpenAI from 'openai';
import { createSimFetch } from '../../src/sim/handler.js';
import { defaultSimOptions, type SimOptions } from '../../src/sim/options.js';
import { createSimServer, type SimStreamEnd } from '../../src/sim/server.js';
import { simText, simTokens } from '../../src/sim/text.js';
import { readChatStream } from '../helpers/sdk.js';

const FAST: SimOptions = { ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 };
const BASE = 'http://sim.local/v1';

type Chunk = Record<string, any>;

function post(fetchFn: ReturnType<typeof createSimFetch>, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetchFn(BASE + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer anything' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** Split an SSE body into `data:` payloads, checking every frame is exactly `data: <x>\n\n`. */
function dataFrames(text: string): string[] {
  assert.ok(text.endsWith('\n\n'), 'body ends with a blank line');
  const frames = text.slice(0, -2).split('\n\n');
  return frames.map((f) => {
    assert.match(f, /^data: [^\n]+$/, `frame is one data line: ${JSON.stringify(f)}`);
    return f.slice(6);
  });
}

function chat(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'sim-1', messages: [{ role: 'user', content: 'Hello there, simulator!' }], ...extra };
}

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** The timer count once mocha has armed its own per-test timeout (after the test's first tick). */
async function timerBaseline(): Promise<number> {
  await new Promise((r) => setImmediate(r));
  return timeouts();
}

async function until(cond: () => boolean, ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setImmediate(r));
  }
}

function utf8Widths(s: string): Set<number> {
  const widths = new Set<number>();
  for (const ch of s) widths.add(Buffer.byteLength(ch));
  return widths;
}

describe('sim text', () => {
  it('is deterministic, prefix-stable and seedable', () => {
    assert.deepEqual(simTokens(50), simTokens(50));
    assert.deepEqual(simTokens(20), simTokens(50).slice(0, 20));
    assert.equal(simText(50), simTokens(50).join(''));
    assert.equal(simText(50, 'abc'), simTokens(50, 'abc').join(''));
    assert.notEqual(simText(50, 'abc'), simText(50));
    assert.deepEqual(simTokens(0), []);
    assert.throws(() => simTokens(-1), RangeError);
    assert.throws(() => simTokens(1.5), RangeError);
  });

  it('makes word-like tokens with a leading space and 2-, 3- and 4-byte UTF-8 in every 16', () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: undefined }), fc.nat(200), (seed, start) => {
        const toks = simTokens(start * 16 + 16, seed);
        for (const t of toks) assert.match(t, /^ \S/u);
        const w = utf8Widths(toks.slice(start * 16).join(''));
        assert.ok(w.has(2) && w.has(3) && w.has(4), `widths ${[...w]}`);
      }),
      { numRuns: 50 },
    );
  });
});

describe('sim fetch: chat completions', () => {
  const f = createSimFetch(FAST);

  it('streams role, one token per chunk, finish, [DONE] — no usage unless asked', async () => {
    const res = await post(f, '/chat/completions', chat({ stream: true }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const frames = dataFrames(await res.text());
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1).map((x) => JSON.parse(x) as Chunk);
    assert.equal(chunks.length, 1 + 16 + 1);
    assert.deepEqual(chunks[0]!.choices[0].delta, { role: 'assistant', content: '', refusal: null });
    const tokens = simTokens(16);
    chunks.slice(1, 17).forEach((c, i) => {
      assert.deepEqual(c.choices[0].delta, { content: tokens[i] });
      assert.equal(c.choices[0].finish_reason, null);
    });
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices[0].delta, {});
    assert.equal(last.choices[0].finish_reason, 'stop');
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0]!.id);
      assert.equal(c.created, chunks[0]!.created);
      assert.equal(c.model, 'sim-1');
      assert.equal(c.system_fingerprint, chunks[0]!.system_fingerprint);
      assert.ok(!('usage' in c), 'no usage field without include_usage');
    }
    assert.match(chunks[0]!.id, /^chatcmpl-/);
  });

  it('with include_usage: usage:null everywhere, then a choices:[] usage chunk before [DONE]; max_tokens → length', async () => {
    const res = await post(f, '/chat/completions', chat({ model: 'sim-x', stream: true, stream_options: { include_usage: true }, max_tokens: 5 }));
    const frames = dataFrames(await res.text());
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1).map((x) => JSON.parse(x) as Chunk);
    assert.equal(chunks.length, 1 + 5 + 1 + 1);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, 'length');
    const u = chunks.at(-1)!;
    assert.deepEqual(u.choices, []);
    assert.equal(u.model, 'sim-x');
    assert.equal(u.id, chunks[0]!.id);
    // "Hello there, simulator!" is 23 characters → ceil(23/4) = 6
    assert.equal(u.usage.prompt_tokens, 6);
    assert.equal(u.usage.completion_tokens, 5);
    assert.equal(u.usage.total_tokens, 11);
  });

  it('the concatenated streamed text equals simText(n) (or simText(n, seed)), for any length', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.option(fc.integer(), { nil: undefined }), async (n, seed) => {
        const res = await post(f, '/chat/completions', chat({ stream: true, max_completion_tokens: n, seed }));
        const frames = dataFrames(await res.text());
        let text = '';
        for (const fr of frames.slice(1, -2)) text += (JSON.parse(fr) as Chunk).choices[0].delta.content;
        assert.equal(text, simText(n, seed === undefined ? undefined : String(seed)));
      }),
      { numRuns: 40 },
    );
  });

  it('answers stream:false with a chat.completion and usage', async () => {
    const res = await post(f, '/chat/completions', chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'abcdefghi' }] }] }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as Chunk;
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'sim-1');
    assert.equal(body.choices[0].message.role, 'assistant');
    assert.equal(body.choices[0].message.content, simText(16));
    assert.equal(body.choices[0].finish_reason, 'stop');
    assert.deepEqual(
      { p: body.usage.prompt_tokens, c: body.usage.completion_tokens, t: body.usage.total_tokens },
      { p: 3, c: 16, t: 19 },
    );
  });

  it('uses defaultMaxTokens from the options', async () => {
    const res = await post(createSimFetch({ ...FAST, defaultMaxTokens: 3 }), '/chat/completions', chat());
    const body = (await res.json()) as Chunk;
    assert.equal(body.choices[0].message.content, simText(3));
    assert.equal(body.usage.completion_tokens, 3);
  });

  it('returns OpenAI-shaped errors: unknown path 404, bad JSON 400, bad parameters 400', async () => {
    const cases: [Promise<Response>, number, string | null][] = [
      [post(f, '/nope', {}), 404, null],
      [f(BASE + '/chat/completions'), 404, null], // GET
      [post(f, '/chat/completions', '{"model": '), 400, null],
      [post(f, '/chat/completions', chat({ max_tokens: 0 })), 400, 'max_tokens'],
      [post(f, '/chat/completions', { model: 'sim-1' }), 400, 'messages'],
      [post(f, '/chat/completions', chat({ stream_options: { include_usage: true } })), 400, 'stream_options'],
    ];
    for (const [p, status, param] of cases) {
      const res = await p;
      assert.equal(res.status, status);
      const body = (await res.json()) as Chunk;
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(typeof body.error.message, 'string');
      assert.equal(body.error.type, 'invalid_request_error');
      assert.equal(body.error.param, param);
    }
  });

  it('accepts a Request object and URL inputs', async () => {
    const req = new Request(BASE + '/chat/completions', { method: 'POST', body: JSON.stringify(chat({ max_tokens: 2 })) });
    const body = (await (await f(req)).json()) as Chunk;
    assert.equal(body.choices[0].message.content, simText(2));
    const models = (await (await f(new URL(BASE + '/models?x=1'))).json()) as Chunk;
    assert.ok(models.data.some((m: Chunk) => m.id === 'sim-1'));
  });
});

describe('sim fetch: other endpoints', () => {
  const f = createSimFetch(FAST);

  it('legacy completions, stream and not', async () => {
    const plain = (await (await post(f, '/completions', { model: 'sim-1', prompt: 'Say hi', max_tokens: 4 })).json()) as Chunk;
    assert.equal(plain.object, 'text_completion');
    assert.equal(plain.choices[0].text, simText(4));
    assert.equal(plain.choices[0].finish_reason, 'length');
    assert.deepEqual(plain.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });

    const res = await post(f, '/completions', { model: 'sim-1', prompt: 'Say hi', stream: true, stream_options: { include_usage: true } });
    const frames = dataFrames(await res.text());
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1).map((x) => JSON.parse(x) as Chunk);
    assert.equal(chunks.slice(0, 16).map((c) => c.choices[0].text).join(''), simText(16));
    assert.equal(chunks[16]!.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks[17]!.choices, []);
    assert.equal(chunks[17]!.usage.completion_tokens, 16);
  });

  it('embeddings: deterministic unit vectors, float and base64 agree', async () => {
    const a = (await (await post(f, '/embeddings', { model: 'sim-1', input: ['hello', 'world'] })).json()) as Chunk;
    const b = (await (await post(f, '/embeddings', { model: 'sim-1', input: ['hello', 'world'] })).json()) as Chunk;
    assert.deepEqual(a, b);
    assert.equal(a.object, 'list');
    assert.equal(a.data.length, 2);
    assert.equal(a.data[0].embedding.length, 8);
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
    const norm = Math.hypot(...(a.data[0].embedding as number[]));
    assert.ok(Math.abs(norm - 1) < 1e-5);
    assert.deepEqual(a.usage, { prompt_tokens: 4, total_tokens: 4 });
    const c = (await (await post(f, '/embeddings', { model: 'sim-1', input: 'hello', encoding_format: 'base64', dimensions: 8 })).json()) as Chunk;
    const buf = Buffer.from(c.data[0].embedding as string, 'base64');
    assert.deepEqual(Array.from(new Float32Array(buf.buffer, buf.byteOffset, 8)), a.data[0].embedding);
  });

  it('models list and model lookup', async () => {
    const list = (await (await f(BASE + '/models', { headers: { authorization: 'Bearer x' } })).json()) as Chunk;
    assert.equal(list.object, 'list');
    const ids = list.data.map((m: Chunk) => m.id);
    assert.ok(ids.includes('sim-1') && ids.includes('sim-fast'));
    assert.equal(((await (await f(BASE + '/models/sim-fast')).json()) as Chunk).id, 'sim-fast');
    const missing = await f(BASE + '/models/gpt-9');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Chunk).error.code, 'model_not_found');
  });

  it('responses: non-streaming shape and named-event stream', async () => {
    const r = (await (await post(f, '/responses', { model: 'sim-1', input: 'hi', max_output_tokens: 5 })).json()) as Chunk;
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'incomplete');
    assert.equal(r.output[0].content[0].text, simText(5));
    assert.equal(r.usage.output_tokens, 5);

    const text = await (await post(f, '/responses', { model: 'sim-1', input: 'hi', stream: true })).text();
    const events = text.slice(0, -2).split('\n\n').map((fr) => {
      const m = /^event: ([^\n]+)\ndata: ([^\n]+)$/.exec(fr);
      assert.ok(m, `frame ${JSON.stringify(fr)}`);
      const data = JSON.parse(m[2]!) as Chunk;
      assert.equal(data.type, m[1]);
      return data;
    });
    assert.equal(events[0]!.type, 'response.created');
    assert.equal(events.at(-1)!.type, 'response.completed');
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta as string);
    assert.equal(deltas.join(''), simText(16));
    assert.equal(events.at(-1)!.response.output[0].content[0].text, simText(16));
  });
});

describe('sim fetch: timing and aborts', () => {
  it('waits ttftMs before the first chunk and tokenDelayMs between content chunks', async () => {
    const f = createSimFetch({ ttftMs: 40, tokenDelayMs: 10, defaultMaxTokens: 4 });
    const t0 = performance.now();
    const res = await post(f, '/chat/completions', chat({ stream: true }));
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - t0);
    }
    assert.equal(arrivals.length, 1 + 4 + 1 + 1);
    assert.ok(arrivals[0]! >= 38, `first chunk at ${arrivals[0]} ms`);
    for (let i = 2; i <= 4; i++) assert.ok(arrivals[i]! - arrivals[i - 1]! >= 8, `gap ${i}: ${arrivals[i]! - arrivals[i - 1]!} ms`);
    assert.ok(arrivals.at(-1)! >= 40 + 30 - 4);

    const t1 = performance.now();
    await (await post(f, '/chat/completions', chat())).json();
    assert.ok(performance.now() - t1 >= 40 + 30 - 4, 'non-streaming answer takes as long as the stream');
  });

  it('sim-fast ignores the timing options', async () => {
    const f = createSimFetch({ ttftMs: 5000, tokenDelayMs: 1000, defaultMaxTokens: 4 });
    const t0 = performance.now();
    await (await post(f, '/chat/completions', chat({ model: 'sim-fast', stream: true }))).text();
    assert.ok(performance.now() - t0 < 1000);
  });

  it('an abort mid-stream errors the body and leaves no timer behind', async () => {
    const f = createSimFetch({ ttftMs: 0, tokenDelayMs: 20, defaultMaxTokens: 16 });
    const before = await timerBaseline();
    const ac = new AbortController();
    const res = await post(f, '/chat/completions', chat({ stream: true, max_tokens: 1000 }), { signal: ac.signal });
    const reader = res.body!.getReader();
    for (let i = 0; i < 3; i++) assert.equal((await reader.read()).done, false);
    const pending = reader.read(); // waiting on the 20 ms timer
    await new Promise((r) => setImmediate(r));
    assert.equal(timeouts(), before + 1, 'one timer at a time');
    ac.abort();
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
    await assert.rejects(reader.read(), (e: Error) => e.name === 'AbortError');
    assert.equal(timeouts(), before);
  });

  it('an abort during ttft errors the stream; before a non-stream answer rejects the fetch', async () => {
    const f = createSimFetch({ ttftMs: 10_000, tokenDelayMs: 0, defaultMaxTokens: 16 });
    const before = await timerBaseline();
    const ac = new AbortController();
    const res = await post(f, '/chat/completions', chat({ stream: true }), { signal: ac.signal });
    const reading = res.text();
    setTimeout(() => ac.abort(), 10);
    await assert.rejects(reading, (e: Error) => e.name === 'AbortError');

    const ac2 = new AbortController();
    const p = post(f, '/chat/completions', chat(), { signal: ac2.signal });
    setTimeout(() => ac2.abort(), 10);
    await assert.rejects(p, (e: Error) => e.name === 'AbortError');
    assert.equal(timeouts(), before);

    await assert.rejects(post(f, '/models', {}, { method: 'GET', body: null, signal: AbortSignal.abort() }), (e: Error) => e.name === 'AbortError');
  });

  it('cancelling the body stops the stream and its timer', async () => {
    const f = createSimFetch({ ttftMs: 0, tokenDelayMs: 50, defaultMaxTokens: 100 });
    const before = await timerBaseline();
    const res = await post(f, '/chat/completions', chat({ stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    void reader.read().catch(() => {}); // now waiting on a timer
    await new Promise((r) => setImmediate(r));
    assert.equal(timeouts(), before + 1);
    await reader.cancel();
    assert.equal(timeouts(), before);
  });
});

describe('sim http server', () => {
  let server: http.Server;
  let baseURL: string;
  let client: OpenAI;

  before(async () => {
    server = createSimServer({ ttftMs: 0, tokenDelayMs: 0, defaultMaxTokens: 16 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    client = new OpenAI({ baseURL, apiKey: 'x', maxRetries: 0 });
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('streams with the openai SDK: text equals simText(n), usage at the end', async () => {
    const stream = await client.chat.completions.create({
      model: 'sim-1',
      messages: [{ role: 'user', content: 'Write a poem' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 200,
    });
    const { text, finish, usage } = await readChatStream(stream);
    assert.equal(text, simText(200));
    assert.equal(finish, 'length');
    assert.equal(usage?.completion_tokens, 200);
    assert.equal(usage?.prompt_tokens, 3);
  });

  it('answers non-streaming requests through the SDK (chat, embeddings, models, responses)', async () => {
    const c = await client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.choices[0]!.message.content, simText(16));
    assert.equal(c.choices[0]!.finish_reason, 'stop');
    assert.equal(c.usage?.total_tokens, 17);

    const e = await client.embeddings.create({ model: 'sim-1', input: 'hello' }); // the SDK asks for base64
    assert.equal(e.data[0]!.embedding.length, 8);
    const f = await client.embeddings.create({ model: 'sim-1', input: 'hello', encoding_format: 'float' });
    assert.deepEqual(e.data[0]!.embedding, f.data[0]!.embedding);

    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('sim-1') && ids.includes('sim-fast'));

    const r = await client.responses.create({ model: 'sim-1', input: 'hi', max_output_tokens: 7 });
    assert.equal(r.output_text, simText(7));
  });

  it('surfaces errors as SDK errors', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'x' }], max_tokens: -3 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'max_tokens',
    );
    const res = await fetch(baseURL + '/chat/completions', { method: 'POST', body: 'not json' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Chunk).error.type, 'invalid_request_error');
    const missing = await fetch(baseURL + '/audio/speech', { method: 'POST', body: '{}' });
    assert.equal(missing.status, 404);
  });

  it('stops producing (timers cleared) when the client goes away', async () => {
    const slow = createSimServer({ ttftMs: 0, tokenDelayMs: 500, defaultMaxTokens: 16 });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const port = (slow.address() as AddressInfo).port;
      const before = await timerBaseline();
      const ended = new Promise<SimStreamEnd>((resolve) => slow.once('sim-stream-end', resolve));
      await new Promise<void>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
          (res) => {
            assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
            let frames = 0;
            res.on('data', (d: Buffer) => {
              frames += d.toString().split('\n\n').length - 1;
              if (frames >= 2) {
                // role + first token arrived; the server now waits 500 ms for the next one
                req.destroy();
                resolve();
              }
            });
          },
        );
        req.on('error', () => {});
        req.on('close', () => resolve());
        req.once('error', reject);
        req.end(JSON.stringify(chat({ stream: true, max_tokens: 100_000 })));
      });
      let guard: NodeJS.Timeout | undefined;
      const end = await Promise.race([
        ended,
        new Promise<never>((_, reject) => {
          guard = setTimeout(() => reject(new Error('the server stream kept going')), 300);
        }),
      ]);
      clearTimeout(guard);
      assert.equal(end.aborted, true);
      assert.equal(end.frames, 2);
      await until(() => timeouts() <= before);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});

describe('sim main', () => {
  it('listens, prints its URL, serves and exits 0 on SIGTERM', async function () {
    this.timeout(20_000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/main.ts', '--port', '0', '--ttft-ms', '0', '--token-delay-ms', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before listening`)));
      });
      const url = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(line)?.[0];
      assert.ok(url, line);
      const client = new OpenAI({ baseURL: url, apiKey: 'x', maxRetries: 0 });
      const c = await client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(c.choices[0]!.message.content, simText(defaultSimOptions.defaultMaxTokens));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
