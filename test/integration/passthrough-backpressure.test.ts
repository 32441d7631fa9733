// A large plain (non-SSE) pass-through body relayed to a caller who pauses: the proxy stops reading
// the upstream while the caller's socket is full (the upstream's own writes back up), and once the
// caller reads again every byte arrives, in order. Over real sockets: a test upstream, the proxy, a
// node:http client.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { startTestProxy, routeUpTo, type TestProxy } from '../helpers/proxy.js';
import { startUpstream, within, type TestUpstream } from '../helpers/upstream.js';

const SIZE = 24 * 1024 * 1024;

describe('pass-through: a large plain body to a caller who pauses', () => {
  let upstream: TestUpstream;
  let proxy: TestProxy;

  before(async () => {
    upstream = await startUpstream();
    proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl) });
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('holds the upstream back while the caller does not read, then relays every byte', async () => {
    const audio = randomBytes(SIZE);
    // The upstream writes until its socket refuses more (the proxy stopped reading), says so, then writes the rest.
    let backedUp: () => void = () => undefined;
    const upstreamBackedUp = new Promise<void>((r) => (backedUp = r));
    upstream.autoReply(async (call) => {
      call.head(200, { 'content-type': 'audio/mpeg', 'content-length': String(SIZE) });
      const piece = 64 * 1024;
      for (let at = 0; at < SIZE; at += piece) {
        if (!call.res.write(audio.subarray(at, at + piece))) {
          backedUp();
          await new Promise<void>((r) => call.res.once('drain', () => r()));
        }
      }
      call.res.end();
    });

    const res = await within(
      5_000,
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(`${proxy.url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' } }, resolve);
        req.on('error', reject);
        req.end(JSON.stringify({ model: 'up-tts', input: 'hello', voice: 'alloy' }));
      }),
      'the head',
    );
    assert.equal(res.statusCode, 200);
    // Not reading: the caller's socket fills, then the proxy's, then the upstream's.
    res.pause();
    await within(10_000, upstreamBackedUp, 'the upstream to be held back');

    const hash = createHash('sha256');
    let bytes = 0;
    res.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    res.resume();
    await within(20_000, new Promise<void>((r) => res.once('end', () => r())), 'the whole body after resuming');
    assert.equal(bytes, SIZE);
    assert.equal(hash.digest('hex'), createHash('sha256').update(audio).digest('hex'));
  });
});
