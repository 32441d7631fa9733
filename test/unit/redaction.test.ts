/**
 * Issue 5: redaction is always on. The logger censors credential paths and credential-shaped
 * text; and, end to end, a fake client key and a fake upstream key planted in headers, body and
 * messages — echoed back by the upstream in its answer and in its error text — never reach the
 * log output, with content logging off and on, at debug level (one line per upstream event).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logging/logger.js';
import { scrubSecrets } from '../../src/logging/secrets.js';
import type { FetchLike } from '../../src/upstream/client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

/** Secrets shaped like nothing in particular: only structural redaction can catch them. */
const CLIENT_KEY = 'planted-CLIENT-key-7f3a9c2e';
const UPSTREAM_KEY = 'planted-UPSTREAM-key-51d0b8';
/** A key nobody configured, shaped like OpenAI's: only the credential-shape net can catch it. */
const STRAY_SK = 'sk-proj-strayKEY0123456789abcdef';

function capture(level = 'info', redactPaths: string[] = []) {
  const out: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { out, logger: createLogger({ level, destination, redactPaths }) };
}

describe('redaction', () => {
  describe('the logger', () => {
    it('censors credential headers, API keys, tokens and configured client keys wherever they are logged', () => {
      const { out, logger } = capture('info', ['user.email']);
      logger.info(
        {
          authorization: `Bearer ${CLIENT_KEY}`,
          headers: { authorization: CLIENT_KEY, 'x-api-key': CLIENT_KEY, 'api-key': CLIENT_KEY, cookie: CLIENT_KEY, 'set-cookie': CLIENT_KEY },
          req: { headers: { authorization: CLIENT_KEY, 'x-api-key': CLIENT_KEY, cookie: CLIENT_KEY } },
          res: { headers: { 'set-cookie': CLIENT_KEY } },
          apiKey: UPSTREAM_KEY,
          upstream: { apiKey: UPSTREAM_KEY, api_key: UPSTREAM_KEY },
          request: { headers: { authorization: CLIENT_KEY, 'proxy-authorization': CLIENT_KEY } },
          token: CLIENT_KEY,
          password: CLIENT_KEY,
          config: { upstreams: { openai: { apiKey: UPSTREAM_KEY } }, keys: [{ name: 'a', key: CLIENT_KEY }], metrics: { token: CLIENT_KEY } },
          user: { email: 'someone@example.com', id: 7 },
          key: 'team-a',
        },
        'hello',
      );
      const line = out.join('');
      assert.equal(line.includes(CLIENT_KEY), false, line);
      assert.equal(line.includes(UPSTREAM_KEY), false, line);
      assert.equal(line.includes('someone@example.com'), false, 'configured path');
      const parsed = JSON.parse(line) as Record<string, unknown>;
      assert.equal(parsed.key, 'team-a', 'the key *name* in request records is not a secret');
      assert.deepEqual(parsed.user, { email: '[redacted]', id: 7 });
    });

    it('scrubs credential-shaped text from messages and error strings (last net over every line)', () => {
      const { out, logger } = capture();
      logger.error({ err: new Error(`upstream said: Incorrect API key provided: ${STRAY_SK}`) }, `retrying with Authorization: Bearer ${CLIENT_KEY}`);
      const line = out.join('');
      assert.equal(line.includes(STRAY_SK), false, line);
      assert.equal(line.includes(CLIENT_KEY), false, line);
      assert.match(line, /Bearer \[redacted\]/);
    });

    it('leaves ordinary prose alone', () => {
      assert.equal(scrubSecrets('the bearer of good news asked for sk-1'), 'the bearer of good news asked for sk-1');
      assert.equal(scrubSecrets(`x ${STRAY_SK} y`), 'x [redacted] y');
      assert.equal(scrubSecrets('authorization: bearer abc.def-ghi_jkl'), 'authorization: bearer [redacted]');
    });
  });

  for (const content of [false, true]) {
    describe(`a planted key through the proxy, content logging ${content ? 'on' : 'off'}, debug level`, () => {
      let proxy: TestProxy;
      before(async () => {
        proxy = await startTestProxy({
          fetch: echoUpstream(),
          config: {
            logging: { level: 'debug', content, contentMaxChars: 4000 },
            keys: [
              { name: 'planted', key: CLIENT_KEY, admin: true, api: true },
            ],
            upstreams: { echo: { type: 'openai', baseUrl: 'http://echo.test/v1', apiKey: UPSTREAM_KEY } },
            models: [{ match: 'echo-*', upstream: 'echo' }],
          },
        });
      });
      after(async () => proxy?.close());

      const plantedHeaders = (key = CLIENT_KEY): Record<string, string> => ({
        'content-type': 'application/json',
        authorization: `Bearer ${key}`,
        'x-api-key': CLIENT_KEY,
        'api-key': CLIENT_KEY,
        cookie: `session=${CLIENT_KEY}`,
      });
      const plantedBody = (model: string, stream: boolean) => ({
        model,
        stream,
        api_key: CLIENT_KEY,
        user: CLIENT_KEY,
        metadata: { token: CLIENT_KEY, other: STRAY_SK },
        messages: [
          { role: 'system', content: `Upstream key for reference: ${UPSTREAM_KEY}` },
          { role: 'user', content: `my key is ${CLIENT_KEY}, my other key is ${STRAY_SK}` },
        ],
      });

      it('never writes either key or the stray key to the log', async () => {
        const calls: Array<[string, string, Record<string, string>, unknown]> = [
          ['stream', '/v1/chat/completions', plantedHeaders(), plantedBody('echo-a', true)],
          ['json', '/v1/chat/completions', plantedHeaders(), plantedBody('echo-a', false)],
          ['error', '/v1/chat/completions', plantedHeaders(), plantedBody('echo-error', true)],
          ['passthrough', '/v1/embeddings', plantedHeaders(), { model: 'echo-emb', input: `embed ${CLIENT_KEY}`, user: CLIENT_KEY }],
          ['wrong key', '/v1/chat/completions', plantedHeaders(`${CLIENT_KEY}-wrong`), plantedBody('echo-a', true)],
        ];
        const statuses: number[] = [];
        for (const [name, path, headers, body] of calls) {
          const res = await fetch(`${proxy.url}${path}`, { method: 'POST', headers: { ...headers, 'x-request-id': `planted-${name.replace(' ', '-')}` }, body: JSON.stringify(body) });
          statuses.push(res.status);
          await res.text();
        }
        assert.deepEqual(statuses, [200, 200, 400, 200, 401]);
        const records = await waitForRecords(proxy, 5);

        const all = proxy.logs.join('\n');
        for (const secret of [CLIENT_KEY, UPSTREAM_KEY, STRAY_SK]) {
          assert.equal(all.includes(secret), false, `${secret} leaked:\n${proxy.logs.filter((l) => l.includes(secret)).join('\n')}`);
        }

        // Not vacuous: the records are there, named by key, and carry what they should.
        assert.equal(records.length, 5);
        for (const r of records.slice(0, 4)) assert.equal(r.key, 'planted');
        const debugLines = proxy.records().filter((l) => l.msg === 'upstream event');
        assert.ok(debugLines.length >= 3, 'debug adds one line per upstream event');
        const error = records.find((r) => r.id === 'planted-error')!;
        assert.match(String(error.error), /\[redacted\]/, 'the upstream error echoed the body; the key in it is censored');
        const stream = records.find((r) => r.id === 'planted-stream')!;
        if (content) {
          const c = stream.content as { request: { messages: Array<{ content: string }> }; response: { content: string } };
          assert.match(c.request.messages[1]!.content, /^my key is \[redacted\], my other key is \[redacted\]$/);
          assert.match(c.response.content, /\[redacted\]/, 'the echoed answer is scrubbed too');
          assert.ok(debugLines.some((l) => typeof l.data === 'string'), 'debug lines carry payloads only with content on');
          const pass = records.find((r) => r.id === 'planted-passthrough')!;
          assert.deepEqual((pass.content as { request: unknown }).request, { input: 'embed [redacted]' });
        } else {
          for (const r of records) assert.equal('content' in r, false);
          assert.ok(debugLines.every((l) => !('data' in l)), 'no payloads in debug lines with content off');
        }
      });
    });
  }
});

async function waitForRecords(p: TestProxy, n: number): Promise<Array<Record<string, unknown>>> {
  const end = Date.now() + 3000;
  for (;;) {
    const records = p.records().filter((l) => l.msg === 'request');
    if (records.length >= n) return records;
    if (Date.now() > end) throw new Error(`only ${records.length} request records`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An upstream that echoes everything it was sent — the body, and the Authorization header the
 * proxy used — in its answer (chat stream, chat JSON, embeddings) or, for `echo-error`, in a 400
 * error message, as a careless server might.
 */
function echoUpstream(): FetchLike {
  return async (input, init) => {
    const raw = init.body;
    const text = typeof raw === 'string' ? raw : Buffer.from(raw as Uint8Array).toString('utf8');
    const headers = init.headers as Record<string, string>;
    const echo = `auth=${headers.authorization ?? ''} body=${text}`;
    const body = JSON.parse(text) as { model: string; stream?: boolean };
    const json = (status: number, value: unknown) =>
      new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
    if (body.model === 'echo-error') return json(400, { error: { message: `bad request: ${echo}`, type: 'invalid_request_error', param: null, code: null } });
    if (String(input).endsWith('/embeddings')) return json(200, { object: 'list', data: [], model: body.model, usage: { prompt_tokens: 3, total_tokens: 3 }, echo });
    const choice = (extra: Record<string, unknown>) => ({ index: 0, ...extra, finish_reason: null });
    if (!body.stream) {
      return json(200, {
        id: 'c', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: echo }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
      });
    }
    const frames = [
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [choice({ delta: { role: 'assistant', content: echo.slice(0, 40) } })] },
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [choice({ delta: { content: echo.slice(40) } })] },
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    ];
    const sse = frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).join('') + 'data: [DONE]\n\n';
    return new Response(sse, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}
