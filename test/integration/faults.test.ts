/**
 * The fault matrix (issue 7): an upstream that misbehaves at every stage, and a caller that leaves
 * at every phase. For each: what the caller sees, the record's end reason, and afterwards every
 * resource released (sockets on both sides, `llm_proxy_active_streams`, relays and requests in
 * flight back to zero) and the proxy serving the next request normally.
 *
 * The route has one deployment, so nothing is retried elsewhere. `keepAliveMs` is shorter than
 * `firstByteTimeoutMs`, as in the default config (10 s vs 60 s): a silent upstream gets the
 * caller's 200 committed and `: keep-alive` comments before the proxy gives up on it.
 */
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import {
  allReleased,
  chat,
  chatBody,
  chunk,
  dieAfter,
  frame,
  hang,
  lastRecord,
  metricValue,
  neverEndHeaders,
  rawCaller,
  rawChatRequest,
  sleep,
  sseHead,
  startFaultUpstream,
  tokens,
  waitUntil,
  type FaultUpstream,
} from '../helpers/fault-upstream.js';

const MODEL = 'fault-model';
const MiB = 1024 * 1024;

describe('fault matrix (integration)', () => {
  let up: FaultUpstream;
  let proxy: TestProxy;

  beforeEach(async () => {
    up = await startFaultUpstream();
    proxy = await startTestProxy({
      config: {
        server: { keepAliveMs: 150, firstByteTimeoutMs: 400, idleTimeoutMs: 5_000 },
        upstreams: { u: { baseUrl: up.baseUrl } },
        models: [{ match: MODEL, upstream: 'u' }],
      },
    });
  });
  afterEach(async () => {
    await proxy.close();
    await up.close();
  });

  /** Everything released, then the next request is served normally (request number `n`). */
  async function recovers(n: number): Promise<void> {
    await allReleased(proxy, [up]);
    up.script(tokens(2));
    const next = await chat(proxy.url, chatBody(MODEL));
    assert.equal(next.status, 200);
    assert.equal(next.text, 't0t1');
    assert.equal(next.done, true);
    assert.equal((await lastRecord(proxy, n)).endReason, 'done');
    await allReleased(proxy, [up]);
  }

  describe('upstream faults', () => {
    it('resets mid-frame: the caller keeps the whole tokens before it and gets an error frame', async () => {
      up.script(dieAfter(2, 'reset-mid-frame'));
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1');
      assert.equal(r.data.length, 3, 'two tokens, no half frame, one error frame');
      assert.equal(r.error?.code, 'upstream_disconnected');
      assert.equal((await lastRecord(proxy, 1)).endReason, 'upstream_error');
      await recovers(2);
    });

    it('resets after its headers, before any data: nothing was sent, so a real 502', async () => {
      up.script(dieAfter(0, 'reset'));
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 502);
      assert.equal(r.error?.code, 'upstream_disconnected');
      assert.equal((await lastRecord(proxy, 1)).endReason, 'upstream_error');
      await recovers(2);
    });

    it('sends malformed SSE: unknown lines are dropped (as the standard says), a non-JSON payload is relayed as is', async () => {
      up.script(({ res }) => {
        sseHead(res);
        res.write(frame(chunk('a')));
        res.write('this line has no colon\nevent\nretry: soon\nid: 1\0x\n\n'); // fields only: no event
        res.write('data: {not json\n\n');
        res.write(`data:${chunk('b')}\r\n\r\n`); // no space, CRLF
        res.write(': a comment\n\n');
        res.end(frame('[DONE]'));
      });
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.deepEqual(r.data, [chunk('a'), '{not json', chunk('b'), '[DONE]']);
      assert.equal(r.raw.toString(), `${frame(chunk('a'))}data: {not json\n\n${frame(chunk('b'))}${frame('[DONE]')}`, 'canonical LF frames');
      assert.equal((await lastRecord(proxy, 1)).endReason, 'done');
      await recovers(2);
    });

    it('sends a 1 MiB single event, in odd-sized writes: relayed intact', async () => {
      const big = chunk('x'.repeat(MiB) + 'END');
      up.script(async ({ res }) => {
        sseHead(res);
        const bytes = Buffer.from(frame(big));
        for (let at = 0; at < bytes.length; at += 99_991) {
          res.write(bytes.subarray(at, at + 99_991));
          await sleep(1);
        }
        res.end(frame('[DONE]'));
      });
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.data.length, 2);
      assert.ok(r.data[0] === big, `payload intact (${r.data[0]!.length} of ${big.length} chars)`);
      assert.equal(r.done, true);
      assert.equal((await lastRecord(proxy, 1)).endReason, 'done');
      await recovers(2);
    });

    it('sends bytes that are not UTF-8: each becomes U+FFFD, the caller gets valid UTF-8 and the rest of the stream', async () => {
      up.script(({ res }) => {
        sseHead(res);
        const [head, tail] = chunk('a@b').split('@') as [string, string];
        res.write(Buffer.concat([Buffer.from(`data: ${head}`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`${tail}\n\n`)]));
        res.write(frame(chunk('c')));
        res.end(frame('[DONE]'));
      });
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 'a\uFFFD\uFFFD\uFFFDbc');
      assert.ok(Buffer.from(r.raw.toString('utf8'), 'utf8').equals(r.raw), 'the caller received valid UTF-8');
      assert.equal(r.done, true);
      assert.equal((await lastRecord(proxy, 1)).endReason, 'done');
      await recovers(2);
    });

    it('never ends its headers: 200 and keep-alives, then an error frame at the first-byte timeout', async () => {
      up.script(neverEndHeaders);
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.match(r.raw.toString(), /^: keep-alive\n\n/);
      assert.equal(r.error?.code, 'upstream_timeout');
      const rec = await lastRecord(proxy, 1);
      assert.equal(rec.endReason, 'upstream_error');
      assert.match(rec.attempts[0]!.error!, /no response headers in time/);
      await recovers(2);
    });

    it('closes without [DONE]: the tokens, then an error frame saying so', async () => {
      up.script(dieAfter(2, 'end'));
      const r = await chat(proxy.url, chatBody(MODEL));
      assert.equal(r.status, 200);
      assert.equal(r.text, 't0t1');
      assert.equal(r.error?.code, 'upstream_truncated');
      assert.equal(r.done, false);
      assert.equal((await lastRecord(proxy, 1)).endReason, 'upstream_truncated');
      await recovers(2);
    });
  });

  describe('caller aborts', () => {
    async function abortsAt(prepare: (c: Awaited<ReturnType<typeof rawCaller>>) => Promise<void>): Promise<Record<string, unknown>> {
      const aborts = await metricValue(proxy.deps.registry, 'llm_proxy_client_aborts_total');
      const caller = await rawCaller(proxy.port, rawChatRequest(chatBody(MODEL)));
      await prepare(caller);
      caller.socket.destroy();
      const rec = await lastRecord(proxy, 1);
      assert.equal(rec.endReason, 'client_aborted');
      assert.equal(await metricValue(proxy.deps.registry, 'llm_proxy_client_aborts_total'), aborts + 1);
      return rec;
    }

    it('before headers (upstream still silent): the upstream request is aborted, the attempt recorded', async () => {
      up.script(hang);
      const rec = await abortsAt(async (c) => {
        await waitUntil(() => up.requests.length === 1, 'the upstream request');
        assert.equal(c.bytes(), 0);
      });
      assert.equal((rec.attempts as unknown[]).length, 1, 'the aborted attempt is on the record');
      await recovers(2);
    });

    it('after headers, before the first token', async () => {
      up.script(({ res }) => sseHead(res)); // headers, then silence: the proxy commits 200 at keepAliveMs
      await abortsAt(async (c) => {
        await c.waitFor(/^HTTP\/1\.1 200[\s\S]*: keep-alive\n\n/);
        assert.doesNotMatch(c.received(), /data:/);
      });
      await recovers(2);
    });

    it('mid-stream: the upstream stops being read and its socket is closed', async () => {
      up.script(tokens(200, 10));
      await abortsAt((c) => c.waitFor(/"t2"/));
      await recovers(2);
    });
  });
});
