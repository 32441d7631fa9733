/**
 * `POST …/responses`: one assistant message of simulated text, streamed as the Responses API's
 * named events (`response.created` … `response.completed`) or answered whole as a `response`
 * object. The limit is `max_output_tokens`; a response cut by it is `incomplete`, otherwise
 * `completed`. `input_tokens` estimates `input` and `instructions`.
 */
import type { SimOptions } from './options.js';
import { collect, esc, newGen, totalDelay, type Gen } from './generation.js';
import { json, nextId, simError, streamHeaders, type SimReply, type SimStep } from './reply.js';
import { estimateTokens, readLength, readModel, textChars, type Json } from './request.js';
import { createTokenCursor } from './text.js';

function responseUsage(input: number, output: number): Json {
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

interface RespGen extends Gen {
  msgId: string;
  instructions: string | null;
  maxOutput: number | null;
}

function responseObject(g: RespGen, status: 'in_progress' | 'completed' | 'incomplete', text: string | null): Json {
  const done = status !== 'in_progress';
  return {
    id: g.id,
    object: 'response',
    created_at: g.created,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: g.instructions,
    max_output_tokens: g.maxOutput,
    model: g.model,
    output: done ? [messageItem(g, text ?? '', 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done ? responseUsage(g.promptTokens, g.n) : null,
    metadata: {},
  };
}

function messageItem(g: RespGen, text: string, status: 'in_progress' | 'completed'): Json {
  return {
    id: g.msgId,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'completed' ? [{ type: 'output_text', text, annotations: [], logprobs: [] }] : [],
  };
}

function* responseFrames(g: RespGen): Generator<SimStep, void, undefined> {
  let seq = 0;
  const ev = (type: string, rest: Json): string =>
    'event: ' + type + '\ndata: ' + JSON.stringify({ type, sequence_number: seq++, ...rest }) + '\n\n';
  if (g.timing.ttft > 0) yield g.timing.ttft;
  yield ev('response.created', { response: responseObject(g, 'in_progress', null) });
  yield ev('response.in_progress', { response: responseObject(g, 'in_progress', null) });
  yield ev('response.output_item.added', { output_index: 0, item: messageItem(g, '', 'in_progress') });
  const part = { item_id: g.msgId, output_index: 0, content_index: 0 };
  yield ev('response.content_part.added', { ...part, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
  const deltaHead = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":';
  const deltaMid = ',"item_id":' + esc(g.msgId) + ',"output_index":0,"content_index":0,"delta":';
  const next = createTokenCursor(g.seed);
  const delay = g.timing.delay;
  let text = '';
  for (let i = 0; i < g.n; i++) {
    if (i > 0 && delay > 0) yield delay;
    const t = next();
    text += t;
    yield deltaHead + seq++ + deltaMid + esc(t) + ',"logprobs":[]}\n\n';
  }
  yield ev('response.output_text.done', { ...part, text, logprobs: [] });
  yield ev('response.content_part.done', { ...part, part: { type: 'output_text', text, annotations: [], logprobs: [] } });
  yield ev('response.output_item.done', { output_index: 0, item: messageItem(g, text, 'completed') });
  const status = g.finish === 'length' ? 'incomplete' : 'completed';
  yield ev('response.' + status, { response: responseObject(g, status, text) });
}

/** Answer a Responses API request body. */
export function responses(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  if (body.input === undefined || body.input === null) return simError(400, "Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  const len = readLength(body, ['max_output_tokens'], opts);
  if ('kind' in len) return len;
  const stream = body.stream === true;
  const instructions = typeof body.instructions === 'string' ? body.instructions : null;
  const id = nextId();
  const promptTokens = estimateTokens(textChars(body.input) + (instructions?.length ?? 0));
  const g: RespGen = {
    ...newGen('resp_' + id, model, len, body, promptTokens, false, opts),
    msgId: 'msg_' + id,
    instructions,
    maxOutput: len.explicit ? len.n : null,
  };
  if (stream) return { kind: 'stream', status: 200, headers: streamHeaders(), frames: responseFrames(g) };
  const status = g.finish === 'length' ? 'incomplete' : 'completed';
  return json(200, responseObject(g, status, collect(g.n, g.seed)), totalDelay(g.timing, g.n));
}
