// The Gemini provider's whole answers (chatResponse), error mapping (errorFrom, stream errors) and
// model list (parseModels): src/providers/gemini/{response,errors}.ts.
import assert from 'node:assert/strict';
import { ProxyError, UpstreamError } from '../../src/errors.js';
import { streamError } from '../../src/providers/gemini/errors.js';
import { geminiProvider } from '../../src/providers/gemini/index.js';
import type { AnswerContext } from '../../src/providers/types.js';

const CTX: AnswerContext = { id: 'chatcmpl-w1', created: 1_700_000_001, model: 'deployment-model' };

describe('Gemini whole answers, errors and models', () => {
  it('a generateContent answer becomes a chat.completion: text, reasoning, tool calls, finish reason, usage', () => {
    const body = {
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              { text: 'Planning.', thought: true },
              { text: 'Let me ' },
              { text: 'check.', thoughtSignature: 'c2ln' },
              { functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'fc-9' } },
              { functionCall: { name: 'get_time' } },
            ],
          },
          finishReason: 'STOP',
        },
      ],
      usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 12, thoughtsTokenCount: 5, cachedContentTokenCount: 10, totalTokenCount: 47 },
      modelVersion: 'gemini-2.5-pro',
      responseId: 'r-1',
    };
    const c = geminiProvider.chatResponse(body, CTX) as { choices: Array<{ message: { tool_calls: Array<{ id: string }> } }> } & Record<string, unknown>;
    const generatedId = c.choices[0]!.message.tool_calls[1]!.id;
    assert.match(generatedId, /^call_[0-9a-f]{24}$/);
    assert.deepEqual(c, {
      id: CTX.id,
      object: 'chat.completion',
      created: CTX.created,
      model: 'gemini-2.5-pro',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check.',
            refusal: null,
            reasoning_content: 'Planning.',
            tool_calls: [
              { id: 'fc-9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: generatedId, type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 30, completion_tokens: 17, total_tokens: 47, prompt_tokens_details: { cached_tokens: 10 }, completion_tokens_details: { reasoning_tokens: 5 } },
    });
  });

  it('several candidates are choices by index; no text is content null; a blocked prompt is content_filter', () => {
    const c = geminiProvider.chatResponse(
      { candidates: [{ index: 1, content: { parts: [{ text: 'B' }] }, finishReason: 'MAX_TOKENS' }, { content: { parts: [] }, finishReason: 'SAFETY' }] },
      CTX,
    ) as { model: string; choices: Array<{ index: number; message: { content: string | null }; finish_reason: string }>; usage?: unknown };
    assert.equal(c.model, CTX.model);
    assert.equal(c.usage, undefined);
    assert.deepEqual(c.choices.map((x) => [x.index, x.message.content, x.finish_reason]), [[0, null, 'content_filter'], [1, 'B', 'length']]);
    const blocked = geminiProvider.chatResponse({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } }, CTX) as Record<string, unknown>;
    assert.deepEqual(blocked.choices, [{ index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: 'content_filter' }]);
    assert.deepEqual(blocked.usage, { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
  });

  it('an error body or a body that is no response throws a proxy error', () => {
    assert.throws(() => geminiProvider.chatResponse({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }, CTX), (e: unknown) => {
      assert.ok(e instanceof ProxyError);
      assert.deepEqual([e.status, e.type, e.code, e.message], [503, 'server_error', 'unavailable', 'The model is overloaded.']);
      return true;
    });
    assert.throws(() => geminiProvider.chatResponse('nope', CTX), UpstreamError);
  });

  it('errorFrom maps Google canonical codes; credentials refusals and other shapes go to the generic rule', () => {
    const body = (status: string, code: number, message = 'm') => ({ error: { code, message, status } });
    const cases: Array<[number, string, number, string]> = [
      [400, 'INVALID_ARGUMENT', 400, 'invalid_request_error'],
      [400, 'FAILED_PRECONDITION', 400, 'invalid_request_error'],
      [404, 'NOT_FOUND', 404, 'invalid_request_error'],
      [429, 'RESOURCE_EXHAUSTED', 429, 'rate_limit_error'],
      [500, 'INTERNAL', 500, 'server_error'],
      [503, 'UNAVAILABLE', 503, 'server_error'],
      [504, 'DEADLINE_EXCEEDED', 504, 'server_error'],
      [499, 'CANCELLED', 499, 'invalid_request_error'],
      [501, 'UNIMPLEMENTED', 501, 'server_error'],
    ];
    for (const [http, status, want, type] of cases) {
      assert.deepEqual(geminiProvider.errorFrom(http, body(status, http, `says ${status}`)), { status: want, message: `says ${status}`, type, code: status.toLowerCase(), param: null }, status);
    }
    assert.equal(geminiProvider.errorFrom(400, body('constructor', 400))?.type, 'invalid_request_error');
    assert.equal(geminiProvider.errorFrom(401, body('UNAUTHENTICATED', 401)), null);
    assert.equal(geminiProvider.errorFrom(403, body('PERMISSION_DENIED', 403)), null);
    for (const other of [null, 'text', { error: 'x' }, { error: { message: 1 } }, { message: 'no wrapper' }]) assert.equal(geminiProvider.errorFrom(400, other), null);
    // An invalid key comes as a 400: still the proxy's credentials, not the caller's request.
    const keyInvalid = { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }] } };
    const mapped = geminiProvider.errorFrom(400, keyInvalid);
    assert.equal(mapped?.status, 502);
    assert.equal(mapped?.code, 'upstream_authentication_failed');
    assert.ok(!mapped?.message.includes('API key not valid'));
  });

  it('a streamed error uses its own code as the status; credentials and unreadable errors are 502s', () => {
    const e = streamError({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } });
    assert.deepEqual([e.status, e.type, e.code], [400, 'invalid_request_error', 'invalid_argument']);
    const auth = streamError({ error: { code: 403, message: 'Permission denied on key AIza…', status: 'PERMISSION_DENIED' } });
    assert.deepEqual([auth.status, auth.code], [502, 'upstream_authentication_failed']);
    assert.ok(!auth.message.includes('AIza'));
    assert.deepEqual([streamError({ error: {} }).status, streamError({ error: {} }).code], [502, 'upstream_error']);
  });

  it('models: ids without the models/ prefix, only those that generate content', () => {
    assert.equal(geminiProvider.modelsPath, '/models?pageSize=1000');
    const body = {
      models: [
        { name: 'models/gemini-2.0-flash', supportedGenerationMethods: ['generateContent', 'countTokens'] },
        { name: 'models/text-embedding-004', supportedGenerationMethods: ['embedContent'] },
        { name: 'models/gemini-2.5-pro', supportedGenerationMethods: ['generateContent'] },
        { name: 'models/no-methods' },
        { displayName: 'no name', supportedGenerationMethods: ['generateContent'] },
      ],
      nextPageToken: 'x',
    };
    assert.deepEqual(geminiProvider.parseModels(body), ['gemini-2.0-flash', 'gemini-2.5-pro']);
    assert.deepEqual(geminiProvider.parseModels({}), []);
    assert.deepEqual(geminiProvider.parseModels(null), []);
  });
});

describe('gemini errors: retry delay', () => {
  it('a 429 with RetryInfo gives the caller a Retry-After in whole seconds', () => {
    const body = { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'quota', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37.2s' }] } };
    const mapped = geminiProvider.errorFrom(429, body);
    assert.equal(mapped?.status, 429);
    assert.equal(mapped?.retryAfterSeconds, 38);
    assert.equal(geminiProvider.errorFrom(429, { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'quota' } })?.retryAfterSeconds, undefined);
  });
});
