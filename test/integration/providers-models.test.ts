/**
 * GET /v1/models and GET /v1/models/{id} with Anthropic and Gemini upstreams, through the OpenAI
 * SDK: exact route names, plus for glob routes the models each upstream reports through its own
 * model list endpoint (src/upstream/model-catalog.ts), filtered by the calling key's `models`
 * globs; the lists fetched once per TTL.
 */
import assert from 'node:assert/strict';
import nock from 'nock';
import OpenAI, { APIError } from 'openai';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { sleep, startUpstream, type TestUpstream, type UpstreamCall } from '../helpers/upstream.js';

const FULL_KEY = 'sk-caller-models-full-0123456789';
const CLAUDE3_KEY = 'sk-caller-models-claude3-0123456789';
const ANTH_KEY = 'sk-ant-models-secret-0123456789';
const GEM_KEY = 'AIza-models-secret-0123456789';
/** Gemini's list is kept this long here, so a test can see it refreshed. */
const GEM_TTL_MS = 400;

const ANTHROPIC_LIST = {
  data: [
    { type: 'model', id: 'claude-3-5-sonnet-20241022', display_name: 'Claude 3.5 Sonnet', created_at: '2024-10-22T00:00:00Z' },
    { type: 'model', id: 'claude-3-haiku-20240307', display_name: 'Claude 3 Haiku', created_at: '2024-03-07T00:00:00Z' },
    { type: 'model', id: 'claude-x', display_name: 'Claude X', created_at: '2025-01-01T00:00:00Z' },
    { type: 'model', id: 'not-a-claude', display_name: 'Other', created_at: '2025-01-01T00:00:00Z' },
  ],
  has_more: false,
  first_id: 'claude-3-5-sonnet-20241022',
  last_id: 'not-a-claude',
};

const GEMINI_LIST = {
  models: [
    { name: 'models/gemini-2.5-flash', displayName: 'Gemini 2.5 Flash', supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent'] },
    { name: 'models/gemini-embedding-001', displayName: 'Gemini Embedding', supportedGenerationMethods: ['embedContent', 'countTextTokens'] },
    { name: 'models/gemini-2.0-flash', displayName: 'Gemini 2.0 Flash', supportedGenerationMethods: ['generateContent'] },
    { name: 'models/imagen-3.0', displayName: 'Imagen', supportedGenerationMethods: ['predict'] },
  ],
};

/** An upstream that answers its model list path and counts the calls. */
function serveList(up: TestUpstream, path: string, body: unknown, seen: UpstreamCall[]): void {
  up.autoReply(async (call) => {
    if (call.method === 'GET' && call.url === path) {
      seen.push(call);
      call.head(200, { 'content-type': 'application/json' });
      return call.end(JSON.stringify(body));
    }
    call.head(404, { 'content-type': 'application/json' });
    return call.end(JSON.stringify({ error: { message: `unexpected ${call.method} ${call.url}` } }));
  });
}

describe('GET /v1/models with Anthropic and Gemini upstreams', () => {
  let anth: TestUpstream;
  let gem: TestUpstream;
  let proxy: TestProxy;
  let full: OpenAI;
  let claude3: OpenAI;
  const anthLists: UpstreamCall[] = [];
  const gemLists: UpstreamCall[] = [];

  before(async () => {
    if (nock.isActive()) nock.restore();
    [anth, gem] = await Promise.all([startUpstream(), startUpstream()]);
    serveList(anth, '/v1/models?limit=1000', ANTHROPIC_LIST, anthLists);
    serveList(gem, '/v1beta/models?pageSize=1000', GEMINI_LIST, gemLists);
    proxy = await startTestProxy({
      config: {
        upstreams: {
          anth: { type: 'anthropic', baseUrl: anth.origin, apiKey: ANTH_KEY },
          gem: { type: 'gemini', baseUrl: `${gem.origin}/v1beta`, apiKey: GEM_KEY, modelListTtlMs: GEM_TTL_MS },
        },
        // Arrays replace the base config's: no simulator route, so only these upstreams are listed.
        models: [
          { match: 'house-model', deployments: [{ upstream: 'anth', model: 'claude-3-haiku-20240307' }] },
          { match: 'claude-*', upstream: 'anth' },
          { match: 'gemini-*', upstream: 'gem' },
        ],
        keys: [
          { name: 'full', key: FULL_KEY },
          { name: 'claude3', key: CLAUDE3_KEY, models: ['claude-3*'] },
        ],
      },
    });
    full = new OpenAI({ baseURL: proxy.baseURL, apiKey: FULL_KEY, maxRetries: 0 });
    claude3 = new OpenAI({ baseURL: proxy.baseURL, apiKey: CLAUDE3_KEY, maxRetries: 0 });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all([anth?.close(), gem?.close()]);
  });

  const ids = async (client: OpenAI): Promise<string[]> => (await client.models.list()).data.map((m) => m.id);

  it('lists exact route names, then the matching models each upstream reports (Gemini: generateContent ones, without `models/`)', async () => {
    const list = await full.models.list();
    assert.deepEqual(
      list.data.map((m) => m.id),
      ['house-model', 'claude-3-5-sonnet-20241022', 'claude-3-haiku-20240307', 'claude-x', 'gemini-2.5-flash', 'gemini-2.0-flash'],
    );
    for (const m of list.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
    }
  });

  it('each upstream’s list is asked for with its own credentials, never a caller’s', () => {
    assert.equal(anthLists.length, 1);
    assert.equal(anthLists[0]!.headers['x-api-key'], ANTH_KEY);
    assert.equal(anthLists[0]!.headers['anthropic-version'], '2023-06-01');
    assert.equal(gemLists.length, 1);
    assert.equal(gemLists[0]!.headers['x-goog-api-key'], GEM_KEY);
    for (const call of [...anthLists, ...gemLists]) {
      assert.equal(call.headers.authorization, undefined);
      for (const v of Object.values(call.headers)) assert.ok(!String(v).includes(FULL_KEY) && !String(v).includes(CLAUDE3_KEY));
    }
  });

  it('a key restricted to claude-3* sees only those', async () => {
    assert.deepEqual(await ids(claude3), ['claude-3-5-sonnet-20241022', 'claude-3-haiku-20240307']);
  });

  it('GET /v1/models/{id}: a listed model is answered; an unlisted one, or one the key may not use, is 404 model_not_found', async () => {
    const m = await full.models.retrieve('claude-x');
    assert.equal(m.id, 'claude-x');
    assert.equal(m.object, 'model');
    assert.equal((await full.models.retrieve('house-model')).id, 'house-model');
    assert.equal((await full.models.retrieve('gemini-2.0-flash')).id, 'gemini-2.0-flash');
    assert.equal((await claude3.models.retrieve('claude-3-haiku-20240307')).id, 'claude-3-haiku-20240307');
    const missing: Array<[OpenAI, string]> = [
      [full, 'claude-unlisted'],
      [full, 'not-a-claude'], // reported by the upstream, but no route takes it
      [full, 'gemini-embedding-001'], // matches the glob, but Gemini does not generate content with it
      [claude3, 'claude-x'], // listed, but not for this key
      [claude3, 'house-model'],
    ];
    for (const [client, id] of missing) {
      try {
        await client.models.retrieve(id);
        assert.fail(`expected a 404 for ${id}`);
      } catch (err) {
        assert.ok(err instanceof APIError, String(err));
        assert.equal(err.status, 404, id);
        assert.equal(err.code, 'model_not_found', id);
      }
    }
  });

  it('the upstream lists are cached: more listings within the TTL do not ask the upstream again', async () => {
    const anthBefore = anthLists.length;
    await ids(full);
    await ids(claude3);
    await full.models.retrieve('claude-x');
    assert.equal(anthLists.length, anthBefore, 'Anthropic’s list (default TTL, 10 min) was not fetched again');
  });

  it('after the TTL a listing refreshes the list in the background (the stale one is served meanwhile)', async () => {
    const before = gemLists.length;
    // List until a listing past the TTL has made the proxy ask again; every listing meanwhile is
    // answered at once with the list it holds.
    const end = Date.now() + GEM_TTL_MS + 3000;
    while (gemLists.length === before) {
      assert.ok(Date.now() < end, 'the Gemini list was never fetched again');
      assert.deepEqual((await ids(full)).filter((id) => id.startsWith('gemini-')), ['gemini-2.5-flash', 'gemini-2.0-flash']);
      await sleep(20);
    }
    assert.equal(gemLists.length, before + 1);
  });
});
