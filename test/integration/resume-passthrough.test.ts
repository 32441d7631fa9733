// Resumable streams are a chat-completions feature: a pass-through endpoint asked for one answers a
// clear 400 naming the header, instead of a plain stream the caller would believe resumable, and
// the proxy keeps serving.
import assert from 'node:assert/strict';
import nock from 'nock';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

describe('x-stream-resume on a pass-through endpoint', () => {
  let proxy: TestProxy;
  before(async () => {
    if (nock.isActive()) nock.restore();
    proxy = await startTestProxy();
  });
  after(() => proxy.close());

  for (const header of ['x-stream-resume', 'x-stream-detach']) {
    it(`${header}: true on /v1/completions → 400 unsupported_header, then a normal request is served`, async () => {
      const body = JSON.stringify({ model: 'sim-1', prompt: 'hi', stream: true });
      const res = await fetch(`${proxy.baseURL}/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [header]: 'true' }, body });
      assert.equal(res.status, 400);
      const err = ((await res.json()) as { error: { code: string; param: string; message: string } }).error;
      assert.equal(err.code, 'unsupported_header');
      assert.equal(err.param, header);
      assert.match(err.message, /chat\/completions/);
      const ok = await fetch(`${proxy.baseURL}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /\[DONE\]/);
    });
  }
});
