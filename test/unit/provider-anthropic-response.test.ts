// The Anthropic provider's whole answers, errors and model list (src/providers/anthropic/response.ts,
// errors.ts, index.ts).
import { strict as assert } from 'node:assert';
import { ProxyError } from '../../src/errors.js';
import { anthropicProvider } from '../../src/providers/anthropic/index.js';
import { CTX } from './provider-anthropic-wire.test.js';

const respond = (body: unknown) => anthropicProvider.chatResponse(body, CTX)!;

describe('Anthropic whole answers', () => {
  it('text, thinking and tool calls as one chat.completion, usage with cache tokens', () => {
    const out = respond({
      id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-opus-4-1-20250805', stop_reason: 'tool_use', stop_sequence: null,
      content: [
        { type: 'thinking', thinking: 'The user wants weather.', signature: 'sig' },
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'text', text: 'Let me check' },
        { type: 'text', text: ' that.' },
        { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris', days: [1, 2] } },
      ],
      usage: { input_tokens: 10, cache_creation_input_tokens: 20, cache_read_input_tokens: 300, output_tokens: 50, service_tier: 'standard' },
    });
    assert.deepEqual(out, {
      id: CTX.id, object: 'chat.completion', created: CTX.created, model: 'claude-opus-4-1-20250805',
      choices: [{
        index: 0,
        message: {
          role: 'assistant', content: 'Let me check that.', refusal: null, reasoning_content: 'The user wants weather.',
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris","days":[1,2]}' } }],
        },
        finish_reason: 'tool_calls',
        logprobs: null,
      }],
      usage: { prompt_tokens: 330, completion_tokens: 50, total_tokens: 380, prompt_tokens_details: { cached_tokens: 300 } },
    });
  });

  it('content is null when the answer is only tool calls, and a plain answer has no extras', () => {
    const tools = respond({ type: 'message', content: [{ type: 'tool_use', id: 't', name: 'now', input: {} }], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 2 } });
    const msg = (tools.choices as { message: Record<string, unknown> }[])[0]!.message;
    assert.equal(msg.content, null);
    assert.equal(tools.model, CTX.model, 'the context model when the message names none');
    const plain = respond({ type: 'message', model: 'm', content: [{ type: 'text', text: 'Hi' }], stop_reason: 'refusal', usage: { input_tokens: 1, output_tokens: 2 } });
    const choice = (plain.choices as { message: Record<string, unknown>; finish_reason: string }[])[0]!;
    assert.deepEqual(choice.message, { role: 'assistant', content: 'Hi', refusal: null });
    assert.equal(choice.finish_reason, 'content_filter');
    const empty = respond({ type: 'message', content: [], stop_reason: 'max_tokens', usage: {} });
    assert.equal((empty.choices as { message: { content: unknown } }[])[0]!.message.content, '');
  });

  it('a body that is not a message is an upstream failure', () => {
    for (const body of [null, 'text', { type: 'message' }, { content: 'x' }]) {
      assert.throws(() => respond(body), (e: unknown) => e instanceof ProxyError && e.status === 502);
    }
  });
});

describe('Anthropic errors', () => {
  const body = (type: string, message = `${type} happened`) => ({ type: 'error', error: { type, message }, request_id: 'req_1' });

  it('maps each documented error type', () => {
    const table: [number, string, number, string][] = [
      [400, 'invalid_request_error', 400, 'invalid_request_error'],
      [402, 'billing_error', 502, 'upstream_error'],
      [404, 'not_found_error', 404, 'invalid_request_error'],
      [413, 'request_too_large', 413, 'invalid_request_error'],
      [429, 'rate_limit_error', 429, 'rate_limit_error'],
      [500, 'api_error', 500, 'server_error'],
      [504, 'timeout_error', 504, 'server_error'],
      [529, 'overloaded_error', 503, 'server_error'],
    ];
    for (const [status, type, wantStatus, wantType] of table) {
      const m = anthropicProvider.errorFrom(status, body(type));
      assert.ok(m !== null, type);
      assert.deepEqual([m.status, m.type, m.code, m.param], [wantStatus, wantType, type, null], type);
      assert.ok(m.message.includes(`${type} happened`), type);
    }
  });

  it('leaves credential errors and bodies of another shape to the generic rule', () => {
    assert.equal(anthropicProvider.errorFrom(401, body('authentication_error')), null);
    assert.equal(anthropicProvider.errorFrom(403, body('permission_error')), null);
    for (const b of [null, 'Bad Gateway', { error: 'x' }, { error: { message: 'no type' } }, { message: 'x' }]) assert.equal(anthropicProvider.errorFrom(502, b), null);
  });

  it('an unknown error type keeps the HTTP status', () => {
    assert.deepEqual(anthropicProvider.errorFrom(409, body('conflict_error', 'busy')), { status: 409, message: 'busy', type: 'invalid_request_error', code: 'conflict_error', param: null });
    assert.equal(anthropicProvider.errorFrom(503, body('new_error'))?.type, 'server_error');
  });

  it('a stream error event fails as the same HTTP error would', () => {
    const t = anthropicProvider.streamTranslator(CTX)!;
    const failures: ProxyError[] = [];
    t.event({ event: 'error', data: JSON.stringify(body('rate_limit_error', 'slow down')) }, { data: () => assert.fail('no data'), complete: () => assert.fail('no complete'), fail: (e) => failures.push(e) });
    assert.deepEqual([failures[0]!.status, failures[0]!.type, failures[0]!.code, failures[0]!.message], [429, 'rate_limit_error', 'rate_limit_error', 'slow down']);
  });
});

describe('Anthropic models', () => {
  it('lists ids from the model list', () => {
    assert.equal(anthropicProvider.modelsPath, '/v1/models?limit=1000');
    const body = { data: [{ type: 'model', id: 'claude-opus-4-1-20250805', display_name: 'Claude Opus 4.1' }, { id: 'claude-sonnet-4-5' }, { id: 7 }, null], has_more: false };
    assert.deepEqual(anthropicProvider.parseModels(body), ['claude-opus-4-1-20250805', 'claude-sonnet-4-5']);
    assert.deepEqual(anthropicProvider.parseModels({ error: {} }), []);
    assert.deepEqual(anthropicProvider.parseModels(null), []);
  });
});
