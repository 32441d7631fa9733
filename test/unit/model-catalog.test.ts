// The model lists behind GET /v1/models (src/upstream/model-catalog.ts): fetched through each
// upstream's provider, kept for the upstream's TTL, served stale while a refresh runs, and a dead
// or slow upstream never fails or holds a listing for long. No sockets: a scripted client.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buildConfig } from '../../src/config/load.js';
import type { UpstreamCall, UpstreamClient } from '../../src/upstream/client.js';
import type { UpstreamResponse } from '../../src/upstream/transport.js';
import { ModelCatalog } from '../../src/upstream/model-catalog.js';
import { ModelRouter } from '../../src/upstream/router.js';

const { config } = buildConfig({
  upstreams: {
    claude: { type: 'anthropic', apiKey: 'sk-ant-test', modelListTtlMs: 1000 },
    gem: { type: 'gemini', apiKey: 'g-test' },
    oai: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1' },
  },
  models: [
    { match: 'claude-special', upstream: 'oai' },
    { match: 'claude-*', upstream: 'claude' },
    { match: 'gemini-*', upstream: 'gem' },
    { match: 'exact-1', upstream: 'oai' },
  ],
}, {});

function response(status: number, body: unknown): UpstreamResponse {
  const headers = new Headers();
  return { status, ok: status < 300, headers, body: Readable.from([Buffer.from(JSON.stringify(body))]) } as unknown as UpstreamResponse;
}

class ScriptedClient implements UpstreamClient {
  calls: UpstreamCall[] = [];
  answer: (call: UpstreamCall) => Promise<UpstreamResponse> = (call) =>
    Promise.resolve(
      call.upstreamName === 'claude'
        ? response(200, { data: [{ id: 'claude-a' }, { id: 'claude-special' }, { id: 'other' }] })
        : response(200, { models: [{ name: 'models/gemini-x', supportedGenerationMethods: ['generateContent'] }, { name: 'models/embed', supportedGenerationMethods: ['embedContent'] }] }),
    );
  send(call: UpstreamCall): Promise<UpstreamResponse> {
    this.calls.push(call);
    return this.answer(call);
  }
  async close(): Promise<void> {}
}

describe('model catalog (GET /v1/models)', () => {
  let now = 0;
  const clock = { now: () => now, monotonic: () => now };
  const warnings: string[] = [];
  const log = { warn: (_o: object, msg: string) => void warnings.push(msg) };
  const router = new ModelRouter(config);

  beforeEach(() => {
    now = 0;
    warnings.length = 0;
  });

  it('lists exact names and what glob routes’ upstreams report, each only where its route is the first match', async () => {
    const client = new ScriptedClient();
    const catalog = new ModelCatalog(config, client, clock, log);
    const ids = router.listModels(await catalog.lists(router.globUpstreams()));
    assert.deepEqual(warnings, []);
    // claude-special is an exact route to another upstream; `other` matches no claude-* glob; the
    // embedding-only Gemini model cannot chat.
    assert.deepEqual(ids, ['claude-special', 'claude-a', 'gemini-x', 'exact-1']);
    const claude = client.calls.find((c) => c.upstreamName === 'claude')!;
    assert.equal(claude.path, '/v1/models?limit=1000');
    assert.equal(claude.headers['x-api-key'], 'sk-ant-test');
    assert.equal(claude.method, 'GET');
    const gem = client.calls.find((c) => c.upstreamName === 'gem')!;
    assert.equal(gem.headers['x-goog-api-key'], 'g-test');
    assert.equal(gem.headers.authorization, undefined);
  });

  it('keeps a list for the upstream’s TTL, then serves it while one refresh runs', async () => {
    const client = new ScriptedClient();
    const catalog = new ModelCatalog(config, client, clock, log);
    await catalog.lists(['claude']);
    await catalog.lists(['claude']);
    assert.equal(client.calls.length, 1, 'cached within the TTL');
    now = 1000;
    let release!: () => void;
    client.answer = () => new Promise((resolve) => (release = () => resolve(response(200, { data: [{ id: 'claude-b' }] }))));
    const stale = await catalog.lists(['claude']);
    assert.deepEqual(stale('claude'), ['claude-a', 'claude-special', 'other'], 'the stale list, at once');
    await catalog.lists(['claude']);
    assert.equal(client.calls.length, 2, 'one refresh at a time');
    release();
    // The refresh lands when its body is read: the first listing that sees it, bounded.
    let list = (await catalog.lists(['claude']))('claude');
    for (let turn = 0; turn < 100 && list[0] !== 'claude-b'; turn++) {
      await new Promise((r) => setImmediate(r));
      list = (await catalog.lists(['claude']))('claude');
    }
    assert.deepEqual(list, ['claude-b']);
    assert.equal(client.calls.length, 2, 'no fetch beyond the one refresh');
  });

  it('a failing upstream keeps the last list (none at first), is logged, and is asked again only later', async () => {
    const client = new ScriptedClient();
    client.answer = () => Promise.resolve(response(500, { error: 'down' }));
    const catalog = new ModelCatalog(config, client, clock, log);
    assert.deepEqual((await catalog.lists(['claude']))('claude'), []);
    assert.equal(warnings.length, 1);
    await catalog.lists(['claude']);
    assert.equal(client.calls.length, 1, 'not asked again at once');
    now = 30_000;
    client.answer = () => Promise.reject(new Error('ECONNREFUSED'));
    await catalog.lists(['claude']);
    assert.equal(client.calls.length, 2);
    assert.ok(!warnings.join(' ').includes('sk-ant-test'), 'no key in the log');
  });

  it('a listing waits a bounded time for an upstream that does not answer', async () => {
    const client = new ScriptedClient();
    client.answer = () => new Promise(() => {});
    const catalog = new ModelCatalog(config, client, clock, log, 50);
    const t0 = Date.now();
    const lists = await catalog.lists(['claude', 'gem']);
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual(lists('claude'), []);
  });
});
