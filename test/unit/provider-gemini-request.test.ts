// The Gemini request mapping (src/providers/gemini/request.ts): messages, images, tool calls and
// their results, generation config, tools, and every refused parameter as a 400 naming it.
import assert from 'node:assert/strict';
import { InvalidRequestError } from '../../src/errors.js';
import { geminiProvider } from '../../src/providers/gemini/index.js';
import { REFUSED_DEFAULTS } from '../../src/providers/gemini/parameters.js';
import { SKIP_THOUGHT_SIGNATURE } from '../../src/providers/gemini/request.js';
import type { ChatBody } from '../../src/providers/types.js';

const TARGET = { model: 'gemini-3-flash-preview', stream: true, defaultMaxTokens: 4096 };
const HI = [{ role: 'user', content: 'Hi' }];

function request(body: ChatBody, target = TARGET): { path: string; json: Record<string, unknown> } {
  const r = geminiProvider.chatRequest({ model: 'x', ...body }, target);
  return { path: r.path, json: JSON.parse(r.body) as Record<string, unknown> };
}

/** Asserts `body` is refused with a 400 naming `param` (and `code`, when given). */
function refused(body: ChatBody, param: string, code?: string): void {
  assert.throws(
    () => request(body),
    (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.param, param);
      if (code !== undefined) assert.equal(e.code, code);
      return true;
    },
    JSON.stringify(body),
  );
}

describe('Gemini request mapping', () => {
  it('paths: streamGenerateContent with alt=sse or generateContent; the model encoded, a models/ prefix dropped', () => {
    assert.equal(request({ messages: HI }).path, '/models/gemini-3-flash-preview:streamGenerateContent?alt=sse');
    assert.equal(request({ messages: HI }, { ...TARGET, stream: false }).path, '/models/gemini-3-flash-preview:generateContent');
    assert.equal(request({ messages: HI }, { ...TARGET, model: 'models/gemini-2.0-flash' }).path, '/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
    assert.equal(request({ messages: HI }, { ...TARGET, model: 'a b/c?' }).path, '/models/a%20b%2Fc%3F:streamGenerateContent?alt=sse');
    assert.deepEqual(geminiProvider.authHeaders('k-1'), { 'x-goog-api-key': 'k-1' });
  });

  it('system and developer messages become the system instruction; roles user / model; same-role turns merged', () => {
    const { json } = request({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'One' },
        { role: 'user', content: [{ type: 'text', text: 'Two' }] },
        { role: 'assistant', content: 'Three' },
        { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] },
        { role: 'user', content: 'Four' },
      ],
    });
    assert.deepEqual(json.systemInstruction, { parts: [{ text: 'Be brief.' }, { text: 'Use French.' }] });
    assert.deepEqual(json.contents, [
      { role: 'user', parts: [{ text: 'One' }, { text: 'Two' }] },
      { role: 'model', parts: [{ text: 'Three' }] },
      { role: 'user', parts: [{ text: 'Four' }] },
    ]);
    assert.equal(json.generationConfig, undefined, 'nothing asked, no config');
  });

  it('images: data URLs inline, http(s) URLs by reference with a type from the extension, others a 400 naming the part', () => {
    const { json } = request({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/a/cat.JPG?size=2', detail: 'low' } },
          ],
        },
      ],
    });
    assert.deepEqual((json.contents as Array<{ parts: unknown[] }>)[0]!.parts, [
      { text: 'What is this?' },
      { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      { fileData: { fileUri: 'https://example.com/a/cat.JPG?size=2', mimeType: 'image/jpeg' } },
    ]);
    const image = (url: string) => ({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'image_url', image_url: { url } }] }] });
    refused(image('https://example.com/picture'), 'messages[0].content[1].image_url.url');
    refused(image('https://example.com/doc.bmp'), 'messages[0].content[1].image_url.url');
    refused(image('https://example.com/a.constructor'), 'messages[0].content[1].image_url.url');
    refused(image('ftp://example.com/a.png'), 'messages[0].content[1].image_url.url');
    refused({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type');
  });

  it('tool calls become functionCall parts; tool results functionResponse parts named after their call, in one user turn', () => {
    const { json } = request({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_b', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_a', content: [{ type: 'text', text: 'Rain' }] },
        { role: 'user', content: 'Thanks' },
      ],
    });
    assert.deepEqual(json.contents, [
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'call_a' }, thoughtSignature: SKIP_THOUGHT_SIGNATURE },
          { functionCall: { name: 'get_weather', args: { city: 'Rome' }, id: 'call_b' } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'call_b', name: 'get_weather', response: { content: 'Sunny' } } },
          { functionResponse: { id: 'call_a', name: 'get_weather', response: { content: 'Rain' } } },
          { text: 'Thanks' },
        ],
      },
    ]);
    const call = { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] };
    // Gemini 1.x / 2.x check no signatures: no placeholder; Gemini 3 and aliases get it.
    const firstCall = (model: string) => (request({ messages: [...HI, call] }, { ...TARGET, model }).json.contents as Array<{ parts: unknown[] }>)[1]!.parts[0];
    assert.deepEqual(firstCall('gemini-2.5-pro'), { functionCall: { name: 'f', args: {}, id: 'c1' } });
    assert.deepEqual(firstCall('models/gemini-1.5-flash-002'), { functionCall: { name: 'f', args: {}, id: 'c1' } });
    for (const model of ['gemini-3-pro-preview', 'gemini-flash-latest']) {
      assert.deepEqual(firstCall(model), { functionCall: { name: 'f', args: {}, id: 'c1' }, thoughtSignature: SKIP_THOUGHT_SIGNATURE }, model);
    }
    refused({ messages: [...HI, call, { role: 'tool', tool_call_id: 'nope', content: 'x' }] }, 'messages[2].tool_call_id');
    refused({ messages: [...HI, { role: 'tool', tool_call_id: 'c1', content: 'x' }] }, 'messages[1].tool_call_id');
    refused({ messages: [...HI, { ...call, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '[1' } }] }] }, 'messages[1].tool_calls[0].function.arguments');
    refused({ messages: [...HI, { role: 'function', name: 'f', content: 'x' }] }, 'messages[1].role');
    refused({ messages: [...HI, { role: 'assistant', function_call: { name: 'f', arguments: '{}' } }] }, 'messages[1].function_call');
    refused({ messages: [] }, 'messages');
    refused({ messages: [{ role: 'system', content: 'Only a system prompt' }] }, 'messages');
  });

  it('generation config: every sampling parameter, stop, n, seed, penalties, JSON output and thinking', () => {
    const { json } = request({
      messages: HI,
      max_tokens: 50,
      max_completion_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      n: 2,
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema: { type: 'object', additionalProperties: false } } },
      reasoning_effort: 'medium',
    });
    assert.deepEqual(json.generationConfig, {
      maxOutputTokens: 100,
      temperature: 0.2,
      topP: 0.9,
      stopSequences: ['END'],
      candidateCount: 2,
      seed: 7,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      responseMimeType: 'application/json',
      responseJsonSchema: { type: 'object', additionalProperties: false },
      thinkingConfig: { thinkingBudget: 8192, includeThoughts: true },
    });
    const config = (body: ChatBody) => request({ messages: HI, ...body }).json.generationConfig;
    assert.deepEqual(config({ max_tokens: 30, stop: ['a', 'b'] }), { maxOutputTokens: 30, stopSequences: ['a', 'b'] });
    assert.deepEqual(config({ response_format: { type: 'json_object' } }), { responseMimeType: 'application/json' });
    assert.equal(config({ response_format: { type: 'text' }, stop: [] }), undefined);
    assert.deepEqual(config({ reasoning_effort: 'low' }), { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } });
    assert.deepEqual(config({ reasoning_effort: 'high' }), { thinkingConfig: { thinkingBudget: 24576, includeThoughts: true } });
    assert.deepEqual(config({ reasoning_effort: 'none' }), { thinkingConfig: { thinkingBudget: 0 } });
    refused({ messages: HI, reasoning_effort: 'extreme' }, 'reasoning_effort');
    refused({ messages: HI, reasoning_effort: 'constructor' }, 'reasoning_effort');
    refused({ messages: HI, temperature: 2.5 }, 'temperature');
    refused({ messages: HI, top_p: '1' }, 'top_p');
    refused({ messages: HI, max_tokens: 0 }, 'max_tokens');
    refused({ messages: HI, max_completion_tokens: 10, max_tokens: -1 }, 'max_tokens');
    refused({ messages: HI, n: 1.5 }, 'n');
    refused({ messages: HI, stop: [1] }, 'stop');
    refused({ messages: HI, response_format: { type: 'yaml' } }, 'response_format.type');
  });

  it('tools as function declarations with parametersJsonSchema; tool_choice as the function calling mode', () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const tools = [
      { type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters, strict: true } },
      { type: 'function', function: { name: 'ping' } },
    ];
    const { json } = request({ messages: HI, tools, tool_choice: 'required' });
    assert.deepEqual(json.tools, [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather now', parametersJsonSchema: parameters }, { name: 'ping' }] }]);
    assert.deepEqual(json.toolConfig, { functionCallingConfig: { mode: 'ANY' } });
    const mode = (tool_choice: unknown) => request({ messages: HI, tools, tool_choice }).json.toolConfig;
    assert.deepEqual(mode('auto'), { functionCallingConfig: { mode: 'AUTO' } });
    assert.deepEqual(mode('none'), { functionCallingConfig: { mode: 'NONE' } });
    assert.deepEqual(mode({ type: 'function', function: { name: 'ping' } }), { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['ping'] } });
    refused({ messages: HI, tools, tool_choice: 'any' }, 'tool_choice');
    refused({ messages: HI, tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type');
    refused({ messages: HI, tools: [{ type: 'function', function: {} }] }, 'tools[0].function.name');
  });

  it('refuses what Gemini cannot honour, naming the parameter; accepts its defaults and the no-ops', () => {
    const cases: Array<[string, unknown]> = [
      ['logit_bias', { '50256': -100 }],
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['modalities', ['text', 'audio']],
      ['prediction', { type: 'content', content: 'x' }],
      ['web_search_options', {}],
      ['functions', [{ name: 'f' }]],
      ['function_call', 'auto'],
      ['parallel_tool_calls', false],
      ['logprobs', true],
      ['top_logprobs', 3],
      ['verbosity', 'low'],
      ['top_k', 40],
      ['constructor', 1],
      ['toString', 'x'],
    ];
    for (const [param, value] of cases) refused({ messages: HI, [param]: value }, param, 'unsupported_parameter');
    const accepted = {
      logit_bias: {},
      modalities: ['text'],
      parallel_tool_calls: true,
      logprobs: false,
      functions: null,
      user: 'u-1',
      store: true,
      metadata: { a: 'b' },
      service_tier: 'auto',
      prompt_cache_key: 'k',
      safety_identifier: 's',
      stream: true,
      stream_options: { include_usage: true },
    };
    assert.deepEqual(request({ messages: HI, ...accepted }).json, { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
    refused({ messages: HI, stream_options: 'yes' }, 'stream_options');
  });

  it('the parameters table covers every parameter it maps or refuses, with a note each', () => {
    const table = geminiProvider.parameters;
    for (const [name, s] of Object.entries(table)) {
      assert.ok(['mapped', 'no-op', 'refused'].includes(s.support), name);
      assert.ok(s.note.length > 0 && s.note.length < 80, name);
      assert.equal(s.support === 'refused', REFUSED_DEFAULTS[name] !== undefined, `${name}: refused exactly when it has refused defaults`);
    }
    for (const p of ['max_tokens', 'temperature', 'tools', 'tool_choice', 'response_format', 'reasoning_effort', 'n', 'seed', 'stop']) assert.equal(table[p]?.support, 'mapped', p);
    for (const p of ['user', 'store', 'metadata', 'service_tier']) assert.equal(table[p]?.support, 'no-op', p);
  });
});
