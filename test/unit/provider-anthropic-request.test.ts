// The Anthropic request mapping (src/providers/anthropic/request.ts): an OpenAI chat body becomes
// a Messages API body, and everything it cannot honour is a 400 naming the parameter.
import { strict as assert } from 'node:assert';
import { InvalidRequestError } from '../../src/errors.js';
import { anthropicProvider } from '../../src/providers/anthropic/index.js';
import type { ChatBody, ProviderTarget } from '../../src/providers/types.js';

const TARGET: ProviderTarget = { model: 'claude-sonnet-4-5', stream: false, defaultMaxTokens: 4096 };
const USER = [{ role: 'user', content: 'Hi' }];

function map(body: ChatBody, target: Partial<ProviderTarget> = {}): Record<string, unknown> {
  const req = anthropicProvider.chatRequest({ model: 'alias', messages: USER, ...body }, { ...TARGET, ...target });
  assert.equal(req.path, '/v1/messages');
  return JSON.parse(req.body) as Record<string, unknown>;
}

/** The 400 a body gets: its param and code. */
function refusal(body: ChatBody): { param: string | null; code: string | null } {
  try {
    map(body);
  } catch (e) {
    assert.ok(e instanceof InvalidRequestError, String(e));
    assert.equal(e.status, 400);
    return { param: e.param, code: e.code };
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

describe('Anthropic request mapping', () => {
  it('a minimal body: model from the target, the default max_tokens, stream only when streaming', () => {
    assert.deepEqual(map({}), { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], max_tokens: 4096 });
    assert.equal(map({ stream: true, stream_options: { include_usage: true } }, { stream: true }).stream, true);
  });

  it('system and developer messages become system blocks in order', () => {
    const out = map({
      messages: [
        { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] },
        { role: 'system', content: '' }, { role: 'assistant', content: 'Salut' }, { role: 'user', content: 'Encore' },
      ],
    });
    assert.deepEqual(out.system, [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use French.' }]);
    assert.deepEqual((out.messages as { role: string }[]).map((m) => m.role), ['user', 'assistant', 'user']);
  });

  it('images: data URLs as base64, http(s) URLs as url sources; empty text parts left out', () => {
    const out = map({
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' }, { type: 'text', text: '' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ],
      }],
    });
    assert.deepEqual((out.messages as { content: unknown }[])[0]!.content, [
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
    assert.deepEqual(refusal({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }).param, 'messages[0].content[0].image_url.url');
  });

  it('tool calls and tool results: tool_use blocks, results merged into one user turn, results first', () => {
    const out = map({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant', content: 'Checking.', tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '24°C' }] },
        { role: 'user', content: 'Thanks' },
      ],
    });
    assert.deepEqual(out.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant', content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'weather', input: {} },
        ],
      },
      {
        role: 'user', content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '24°C' },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
    const reordered = map({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 't', content: '' }] });
    assert.deepEqual((reordered.messages as { content: unknown }[])[1]!.content, [{ type: 'tool_result', tool_use_id: 't' }, { type: 'text', text: 'x' }]);
  });

  it('consecutive user messages are merged', () => {
    const out = map({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] });
    assert.deepEqual(out.messages, [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]);
  });

  it('sampling, stops, limits and the user id', () => {
    const out = map({ max_tokens: 100, temperature: 0.3, top_p: 0.9, stop: 'END', user: 'u-1', seed: 7, store: false, metadata: { a: 'b' }, service_tier: 'auto', parallel_tool_calls: true });
    assert.deepEqual([out.max_tokens, out.temperature, out.top_p, out.stop_sequences, out.metadata], [100, 0.3, 0.9, ['END'], { user_id: 'u-1' }]);
    assert.equal(map({ max_tokens: 100, max_completion_tokens: 200 }).max_tokens, 200);
    assert.deepEqual(map({ stop: ['a', 'b'] }).stop_sequences, ['a', 'b']);
    assert.deepEqual(map({ safety_identifier: 'hash' }).metadata, { user_id: 'hash' });
  });

  it('tools and every tool_choice', () => {
    const tools = [
      { type: 'function', function: { name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true } },
      { type: 'function', function: { name: 'now' } },
    ];
    const out = map({ tools });
    assert.deepEqual(out.tools, [
      { name: 'weather', description: 'Weather now', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    assert.equal(out.tool_choice, undefined);
    const choice = (c: unknown, parallel?: boolean) => map({ tools, tool_choice: c, parallel_tool_calls: parallel }).tool_choice;
    assert.deepEqual(choice('auto'), { type: 'auto' });
    assert.deepEqual(choice('required'), { type: 'any' });
    assert.deepEqual(choice('none'), { type: 'none' });
    assert.deepEqual(choice({ type: 'function', function: { name: 'now' } }), { type: 'tool', name: 'now' });
    assert.deepEqual(choice(undefined, false), { type: 'auto', disable_parallel_tool_use: true });
    assert.deepEqual(choice('required', false), { type: 'any', disable_parallel_tool_use: true });
    assert.deepEqual(choice('none', false), { type: 'none' });
    assert.equal(map({ tool_choice: 'none' }).tool_choice, undefined);
    assert.equal(refusal({ tool_choice: 'required' }).param, 'tool_choice');
    assert.equal(refusal({ tools, tool_choice: 'sometimes' }).param, 'tool_choice');
    assert.equal(refusal({ tools: [{ type: 'custom', custom: { name: 'x' } }] }).param, 'tools[0].type');
  });

  it('reasoning_effort: a thinking budget below max_tokens', () => {
    assert.deepEqual(pick(map({ reasoning_effort: 'low' })), [4096, { type: 'enabled', budget_tokens: 1024 }]);
    assert.deepEqual(pick(map({ reasoning_effort: 'medium' })), [8192, { type: 'enabled', budget_tokens: 4096 }]);
    assert.deepEqual(pick(map({ reasoning_effort: 'high' }, { defaultMaxTokens: 32000 })), [32000, { type: 'enabled', budget_tokens: 16384 }]);
    assert.deepEqual(pick(map({ reasoning_effort: 'high', max_completion_tokens: 20000 })), [20000, { type: 'enabled', budget_tokens: 16384 }]);
    assert.deepEqual(pick(map({ reasoning_effort: 'high', max_tokens: 8000 })), [8000, { type: 'enabled', budget_tokens: 4000 }]);
    assert.deepEqual(pick(map({ reasoning_effort: 'none' })), [4096, undefined]);
    assert.deepEqual(refusal({ reasoning_effort: 'low', max_tokens: 1024 }), { param: 'max_tokens', code: 'invalid_value' });
    assert.equal(refusal({ reasoning_effort: 'extreme' }).param, 'reasoning_effort');
    assert.equal(refusal({ reasoning_effort: 'low', temperature: 0.5 }).param, 'temperature');
    assert.equal(refusal({ reasoning_effort: 'low', top_p: 0.5 }).param, 'top_p');
    assert.equal(refusal({ reasoning_effort: 'low', tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' }).param, 'tool_choice');
    function pick(out: Record<string, unknown>) {
      const max = out.max_tokens as number;
      const thinking = out.thinking as { budget_tokens: number } | undefined;
      if (thinking !== undefined) assert.ok(max > thinking.budget_tokens);
      return [max, thinking];
    }
  });

  it('refuses every parameter it cannot honour, naming it', () => {
    const refused: [string, unknown][] = [
      ['n', 2], ['logprobs', true], ['top_logprobs', 3], ['logit_bias', { '50256': -100 }], ['presence_penalty', 0.5], ['frequency_penalty', -1],
      ['response_format', { type: 'json_object' }], ['audio', { voice: 'alloy', format: 'mp3' }], ['modalities', ['text', 'audio']],
      ['prediction', { type: 'content', content: 'x' }], ['web_search_options', {}], ['functions', [{ name: 'f' }]], ['function_call', 'auto'],
      ['verbosity', 'low'], ['made_up_parameter', 1],
    ];
    for (const [param, value] of refused) assert.deepEqual(refusal({ [param]: value }), { param, code: 'unsupported_parameter' }, param);
    // Their defaults (and null) ask for nothing, so they pass.
    map({ n: 1, logprobs: false, top_logprobs: 0, logit_bias: {}, presence_penalty: 0, frequency_penalty: 0, response_format: { type: 'text' }, modalities: ['text'], audio: null, made_up: null });
  });

  it('rejects bad values and odd messages, naming the parameter', () => {
    const cases: [ChatBody, string][] = [
      [{ temperature: 1.5 }, 'temperature'], [{ temperature: -1 }, 'temperature'], [{ top_p: 2 }, 'top_p'], [{ max_tokens: 0 }, 'max_tokens'],
      [{ max_completion_tokens: 1.5 }, 'max_completion_tokens'], [{ stop: [1] }, 'stop'], [{ user: 42 }, 'user'], [{ tools: {} }, 'tools'],
      [{ messages: [] }, 'messages'], [{ messages: 'hi' }, 'messages'], [{ messages: [{ role: 'system', content: 'only' }] }, 'messages'],
      [{ messages: [{ role: 'user', content: 'a' }, { role: 'function', content: 'x' }] }, 'messages[1].role'],
      [{ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: '' }, { role: 'user', content: 'b' }, { role: 'user', content: [] }] }, 'messages[1].content'],
      [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: '' }] }, 'messages[1].content'],
      [{ messages: [{ role: 'user', content: 'a' }, { role: 'tool', content: 'r' }] }, 'messages[1].tool_call_id'],
      [{ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }, ...USER] }, 'messages[0].content'],
      [{ messages: [{ role: 'assistant', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{bad' } }] }] }, 'messages[0].tool_calls[0].function.arguments'],
      [{ messages: [{ role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'f' } }] }] }, 'messages[0].tool_calls[0].id'],
      [{ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type'],
      [{ messages: [null] }, 'messages[0]'],
    ];
    for (const [body, param] of cases) assert.equal(refusal(body).param, param, JSON.stringify(body));
    assert.equal(refusal({ temperature: 1.5 }).code, 'unsupported_value');
  });

  it('authenticates with x-api-key and the API version', () => {
    assert.deepEqual(anthropicProvider.authHeaders('sk-ant-x'), { 'x-api-key': 'sk-ant-x', 'anthropic-version': '2023-06-01' });
  });

  it('its parameters table lists every parameter the mapping accepts or refuses', () => {
    const table = anthropicProvider.parameters;
    for (const p of ['n', 'logprobs', 'top_logprobs', 'logit_bias', 'presence_penalty', 'frequency_penalty', 'response_format', 'audio', 'modalities', 'prediction', 'web_search_options', 'functions', 'function_call']) {
      assert.equal(table[p]?.support, 'refused', p);
    }
    for (const p of ['seed', 'store', 'metadata', 'service_tier', 'stream_options']) assert.equal(table[p]?.support, 'no-op', p);
    for (const p of ['model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'tools', 'tool_choice', 'parallel_tool_calls', 'user', 'reasoning_effort', 'stream']) {
      assert.equal(table[p]?.support, 'mapped', p);
    }
    for (const [name, s] of Object.entries(table)) assert.ok(s.note.length > 0 && s.note.length < 80, name);
  });
});
