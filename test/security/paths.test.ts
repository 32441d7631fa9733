/**
 * Security review, pass-through stays inside the API:
 *
 * - a request target with dot segments (plain or percent-encoded), an encoded slash or backslash,
 *   a raw backslash or in absolute form is a 400 before any upstream (src/http/target.ts);
 * - pass-through serves only the endpoints listed in `passthrough.endpoints` (default: the
 *   OpenAI API's public paths); anything else under /v1 is a 404, whatever the body says;
 * - endpoints that can run models outside `body.model` (batches, fine-tuning, …) are refused to
 *   keys restricted by `models` unless the endpoint allows them;
 * - a body that names its model twice, or with an escaped key, reaches the upstream as the proxy
 *   read it (src/http/forwarded-body.ts), so the upstream cannot run a model the key may not use.
 *
 * Before this change `/v1/../admin`, `/v1/%2e%2e/admin` and friends reached the upstream host's
 * `/admin` with the proxy's key, for any method.
 */
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { requestTarget } from '../helpers/raw-target.js';

const APP = 'paths-app-key-0001';
const LIMITED = 'paths-limited-key-0001';

function config(upstream: RecordingUpstream, passthrough?: unknown): Record<string, unknown> {
  return {
    upstreams: { rec: { type: 'openai', baseUrl: upstream.url, apiKey: 'sk-paths-upstream-secret' } },
    models: [
      { match: 'sim-*', upstream: 'sim' },
      { match: '*', upstream: 'rec' },
    ],
    keys: [
      { name: 'app', key: APP },
      { name: 'limited', key: LIMITED, models: ['up-allowed*'] },
    ],
    ...(passthrough === undefined ? {} : { passthrough }),
  };
}

const json = { 'content-type': 'application/json' };
const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

describe('security: pass-through stays inside the API', () => {
  let upstream: RecordingUpstream;
  let proxy: TestProxy;

  before(async () => {
    upstream = await startRecordingUpstream();
    proxy = await startTestProxy({ config: config(upstream) });
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('dot segments, encoded slashes, backslashes and absolute-form targets are 400 before the upstream', async () => {
    const targets = [
      '/v1/../admin',
      '/v1/%2e%2e/admin',
      '/v1/%2E%2E/admin',
      '/v1/.%2E/admin',
      '/v1/%2e./admin',
      '/v1/models/../../internal',
      '/v1/files/..',
      '/v1/./embeddings',
      '/v1/files/abc%2F..%2F..%2Finternal',
      '/v1/files/abc%5c..%5cinternal',
      '/v1\\..\\admin',
      '/v1/files/\\..\\internal',
      '/v1//embeddings',
      `http://127.0.0.1:${new URL(upstream.url).port}/v1/embeddings`,
      'http://evil.example/v1/models',
    ];
    for (const target of targets) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const body = method === 'POST' ? JSON.stringify({ model: 'up-allowed-1', input: 'x' }) : undefined;
        const res = await requestTarget(proxy.port, method, target, { ...json, ...auth(APP) }, body);
        assert.equal(res.status, 400, `${method} ${target}: ${res.body}`);
        assert.equal(res.json<{ error: { code: string } }>().error.code, 'invalid_path', target);
      }
    }
    assert.equal(upstream.requests.length, 0, 'nothing reached the upstream');
    // Still serving.
    const ok = await requestTarget(proxy.port, 'POST', '/v1/embeddings', { ...json, ...auth(APP) }, JSON.stringify({ model: 'up-1', input: 'x' }));
    assert.equal(ok.status, 200);
    assert.equal(upstream.requests.at(-1)!.url, '/v1/embeddings');
  });

  it('only the listed endpoints pass through; a restricted key cannot reach others with an allowed model', async () => {
    const before = upstream.requests.length;
    for (const [method, path] of [
      ['POST', '/v1/internal'],
      ['POST', '/v1/admin/keys'],
      ['DELETE', '/v1/organization/projects'],
      ['GET', '/v1/models/up-1/secret'],
      ['POST', '/v1/embeddings/extra'],
    ] as const) {
      for (const key of [APP, LIMITED]) {
        const body = method === 'POST' ? JSON.stringify({ model: 'up-allowed-1' }) : undefined;
        const res = await requestTarget(proxy.port, method, path, { ...json, ...auth(key) }, body);
        assert.equal(res.status, 404, `${method} ${path}`);
      }
    }
    assert.equal(upstream.requests.length, before);
    // A listed endpoint with an id goes to the same path upstream, query string kept.
    const file = await requestTarget(proxy.port, 'GET', '/v1/files/file-abc_1.2/content?x=1', auth(APP));
    assert.equal(file.status, 200);
    assert.equal(upstream.requests.at(-1)!.url, '/v1/files/file-abc_1.2/content?x=1');
  });

  it('endpoints that run models elsewhere are refused to restricted keys unless allowed', async () => {
    const before = upstream.requests.length;
    for (const [method, path] of [
      ['POST', '/v1/batches'],
      ['GET', '/v1/batches/batch_1'],
      ['POST', '/v1/fine_tuning/jobs'],
      ['POST', '/v1/audio/transcriptions'],
    ] as const) {
      const body = method === 'POST' ? JSON.stringify({ model: 'up-allowed-1', input_file_id: 'f', endpoint: '/v1/chat/completions' }) : undefined;
      const res = await requestTarget(proxy.port, method, path, { ...json, ...auth(LIMITED) }, body);
      assert.equal(res.status, 403, `${method} ${path}: ${res.body}`);
      assert.equal(res.json<{ error: { code: string } }>().error.code, 'endpoint_not_allowed');
    }
    assert.equal(upstream.requests.length, before);
    // The unrestricted key may.
    const ok = await requestTarget(proxy.port, 'POST', '/v1/batches', { ...json, ...auth(APP) }, JSON.stringify({ input_file_id: 'f' }));
    assert.equal(ok.status, 200);
    // A restricted key on a body endpoint must name an allowed model.
    const noModel = await requestTarget(proxy.port, 'POST', '/v1/embeddings', { ...json, ...auth(LIMITED) }, JSON.stringify({ input: 'x' }));
    assert.equal(noModel.status, 403);
    const other = await requestTarget(proxy.port, 'POST', '/v1/embeddings', { ...json, ...auth(LIMITED) }, JSON.stringify({ model: 'gpt-4o', input: 'x' }));
    assert.equal(other.status, 403);
    const allowed = await requestTarget(proxy.port, 'POST', '/v1/embeddings', { ...json, ...auth(LIMITED) }, JSON.stringify({ model: 'up-allowed-1', input: 'x' }));
    assert.equal(allowed.status, 200);
  });

  it('a restricted key\'s forbidden model names are refused before routing: the router caches none of them', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `gpt-forbidden-${i}`);
    for (const model of names) {
      const res = await requestTarget(proxy.port, 'POST', '/v1/chat/completions', { ...json, ...auth(LIMITED) }, JSON.stringify({ model, messages: [] }));
      assert.equal(res.status, 403);
    }
    const cached = new Set(proxy.deps.router.cachedNames());
    assert.deepEqual(names.filter((n) => cached.has(n)), [], 'no forbidden name entered the routing cache');
    await requestTarget(proxy.port, 'POST', '/v1/chat/completions', { ...json, ...auth(APP) }, JSON.stringify({ model: 'gpt-any-1', messages: [] }));
    assert.ok(proxy.deps.router.cachedNames().includes('gpt-any-1'), 'an allowed name is cached as before');
  });

  it('a configured endpoint may allow restricted keys, and the list replaces the default', async () => {
    const upstream2 = await startRecordingUpstream();
    const p = await startTestProxy({
      config: config(upstream2, {
        endpoints: [
          { path: '/v1/batches', methods: ['POST'], model: 'elsewhere', allowRestrictedKeys: true },
          { path: '/v1/custom/:id/run', methods: ['POST'] },
        ],
      }),
    });
    try {
      const batch = await requestTarget(p.port, 'POST', '/v1/batches', { ...json, ...auth(LIMITED) }, JSON.stringify({ input_file_id: 'f' }));
      assert.equal(batch.status, 200);
      const custom = await requestTarget(p.port, 'POST', '/v1/custom/x1/run', { ...json, ...auth(LIMITED) }, JSON.stringify({ model: 'up-allowed-2' }));
      assert.equal(custom.status, 200);
      assert.equal(upstream2.requests.at(-1)!.url, '/v1/custom/x1/run');
      const embeddings = await requestTarget(p.port, 'POST', '/v1/embeddings', { ...json, ...auth(APP) }, JSON.stringify({ model: 'up-1', input: 'x' }));
      assert.equal(embeddings.status, 404, 'not listed in this config');
    } finally {
      await p.close();
      await upstream2.close();
    }
  });

  it('a body naming its model twice or with an escaped key reaches the upstream as the proxy read it', async () => {
    const bodies = [
      '{"model":"gpt-forbidden","model":"up-allowed-1","input":"x","messages":[{"role":"user","content":"hi"}]}',
      '{"mod\\u0065l":"gpt-forbidden","model":"up-allowed-1","input":"x","messages":[{"role":"user","content":"hi"}]}',
      '{"model":"up-allowed-1","mod\\u0065l":"up-allowed-1","input":"x","messages":[{"role":"user","content":"hi"}]}',
    ];
    for (const path of ['/v1/chat/completions', '/v1/embeddings']) {
      for (const body of bodies) {
        const res = await requestTarget(proxy.port, 'POST', path, { ...json, ...auth(LIMITED) }, body);
        assert.equal(res.status, 200, `${path} ${body}: ${res.body}`);
        const sent = upstream.requests.at(-1)!.body.toString('utf8');
        assert.equal(sent.split('"model"').length - 1, 1, `one model key upstream: ${sent}`);
        assert.ok(!sent.includes('forbidden') && !sent.includes('\\u0065'), sent);
        assert.equal((JSON.parse(sent) as { model: string }).model, 'up-allowed-1');
      }
      // The forbidden one last is what the proxy reads: refused.
      const res = await requestTarget(proxy.port, 'POST', path, { ...json, ...auth(LIMITED) }, '{"model":"up-allowed-1","model":"gpt-forbidden","input":"x","messages":[]}');
      assert.equal(res.status, 403);
    }
    // A plain body is forwarded byte for byte (no re-encoding on the common path).
    const plain = '{"model":  "up-allowed-1", "input": "x"}';
    await requestTarget(proxy.port, 'POST', '/v1/embeddings', { ...json, ...auth(LIMITED) }, plain);
    assert.equal(upstream.requests.at(-1)!.body.toString('utf8'), plain);
  });
});
