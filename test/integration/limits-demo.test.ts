/**
 * The README's "Keys and rate limits" → "Try it" demo, run as it is written: a real proxy process
 * with config/examples/limits.yaml and exactly the env the README exports. The demo key is
 * refused the model outside its list (403), and the admin key reads the live feed.
 */
import assert from 'node:assert/strict';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { openSse, rawRequest } from '../helpers/upstream.js';

/** The values README.md "Try it" exports. */
const README_ENV = { DEMO_API_KEY: 'sk-demo-change-me', ADMIN_KEY: 'sk-admin-change-me' };

describe('README limits demo (config/examples/limits.yaml)', function () {
  this.timeout(30_000);
  let proxy: ProxyProcess | null = null;
  afterEach(async () => {
    await proxy?.stop();
    proxy = null;
  });

  it('answers the demo key, refuses it premium-1 with 403, and serves the admin key the feed', async () => {
    proxy = await startProxyProcess({ env: { CONFIG_FILE: 'config/examples/limits.yaml', HOST: '127.0.0.1', ...README_ENV } });
    const chat = (model: string): ReturnType<typeof rawRequest> =>
      rawRequest(`${proxy!.baseURL}/chat/completions`, {
        headers: { authorization: `Bearer ${README_ENV.DEMO_API_KEY}` },
        body: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
      });

    const feed = await openSse(`${proxy.url}/admin/events`, { headers: { authorization: `Bearer ${README_ENV.ADMIN_KEY}` } });
    try {
      assert.equal(feed.status, 200);
      assert.match(String(feed.headers['content-type']), /^text\/event-stream/);
      assert.match(await feed.frame(0), /^event: feed\.hello/m);

      const ok = await chat('sim-1');
      assert.equal(ok.status, 200, ok.body);

      const denied = await chat('premium-1');
      assert.equal(denied.status, 403, denied.body);
      const e = denied.json<{ error: { type: string; code: string } }>().error;
      assert.equal(e.type, 'permission_error');
      assert.equal(e.code, 'model_not_allowed');
    } finally {
      feed.destroy();
    }
  });

  it('the admin key may not spend the API', async () => {
    proxy = await startProxyProcess({ env: { CONFIG_FILE: 'config/examples/limits.yaml', ...README_ENV } });
    const r = await rawRequest(`${proxy.baseURL}/chat/completions`, {
      headers: { authorization: `Bearer ${README_ENV.ADMIN_KEY}` },
      body: { model: 'sim-1', messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(r.status, 403, r.body);
  });
});
