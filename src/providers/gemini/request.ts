/**
 * An OpenAI chat completions request as a Gemini `generateContent` request (API reference
 * "Generating content": `contents`, `systemInstruction`, `tools`, `toolConfig`,
 * `generationConfig`). Anything it cannot honour is a 400 naming the parameter; the parameters
 * table (parameters.ts) lists what is mapped, ignored or refused. Pure.
 */
import { InvalidRequestError } from '../../errors.js';
import { contentParts, dataUrl, textOnly, toolArguments } from '../content.js';
import type { ChatBody, ProviderRequest, ProviderTarget } from '../types.js';
import { PARAMETERS, REFUSED_DEFAULTS } from './parameters.js';
import { checkParameters } from '../parameter-check.js';
import { isRecord } from './response.js';

type Part = Record<string, unknown>;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

/**
 * The documented escape hatch for function calls the model did not just make ("Thought
 * signatures", FAQ): Gemini 3 models refuse a replayed `functionCall` part without the
 * `thoughtSignature` they sent with it, and OpenAI's messages have no place to carry one back.
 * Gemini 1.x and 2.x do not check signatures, so their requests go without it; any other name
 * (Gemini 3 and later, `-latest` aliases) gets it.
 */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

/** Model names whose requests need no signature placeholder. */
const UNSIGNED_MODELS = /^gemini-[12][.-]/;

/** `reasoning_effort` as a thinking budget in tokens ("Thinking", thinkingBudget); `none` turns thinking off where the model allows. */
const THINKING_BUDGET: Readonly<Record<string, number>> = { none: 0, low: 1024, medium: 8192, high: 24576 };

/** Image types Gemini reads ("Image understanding", supported image formats), by file extension. */
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
};

/** The caller's body as a Gemini request below the base URL (`…/v1beta`). */
export function chatRequest(body: ChatBody, target: ProviderTarget): ProviderRequest {
  checkBody(body);
  const modelName = target.model.replace(/^models\//, '');
  const { contents, system } = mapMessages(body.messages, !UNSIGNED_MODELS.test(modelName));
  const out: Record<string, unknown> = { contents };
  if (system.length > 0) out.systemInstruction = { parts: system };
  const tools = mapTools(body.tools);
  if (tools !== undefined) out.tools = tools;
  const mode = mapToolChoice(body.tool_choice);
  if (mode !== undefined) out.toolConfig = { functionCallingConfig: mode };
  const config = generationConfig(body);
  if (Object.keys(config).length > 0) out.generationConfig = config;
  // A model named as in Gemini's own list (`models/gemini-2.0-flash`) must not put its slash into the path.
  const model = encodeURIComponent(modelName);
  const path = target.stream ? `/models/${model}:streamGenerateContent?alt=sse` : `/models/${model}:generateContent`;
  return { path, body: JSON.stringify(out) };
}

function bad(message: string, param: string, code = 'invalid_value'): InvalidRequestError {
  return new InvalidRequestError(message, { param, code });
}

/** Unknown parameters and refused ones set to anything but their default are a 400 naming them (../parameter-check.ts). */
function checkBody(body: ChatBody): void {
  checkParameters(body, PARAMETERS, REFUSED_DEFAULTS, 'Gemini');
  if (body.stream_options !== undefined && body.stream_options !== null && !isRecord(body.stream_options)) {
    throw bad('stream_options must be an object.', 'stream_options');
  }
}

/**
 * `messages` as `contents` and the system instruction. Gemini has one system instruction, so
 * every system and developer message goes there, in order, wherever it stood. Tool results are
 * `functionResponse` parts of a user turn, named after the call they answer (Gemini matches them
 * by name, and by `id` where it gave one); consecutive turns of one role are merged, as Gemini
 * wants all responses to one turn of parallel calls together ("Function calling", parallel).
 */
function mapMessages(messages: unknown, signCalls: boolean): { contents: Content[]; system: Part[] } {
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages must be a non-empty array.', 'messages');
  const contents: Content[] = [];
  const system: Part[] = [];
  const callNames = new Map<string, string>();
  const push = (role: Content['role'], parts: Part[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isRecord(m)) throw bad(`${at} must be an object.`, at);
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOnly(m.content, `${at}.content`);
        if (text !== '') system.push({ text });
        return;
      }
      case 'user':
        return push('user', userParts(m.content, `${at}.content`));
      case 'assistant':
        return push('model', assistantParts(m, at, callNames, signCalls));
      case 'tool':
        return push('user', [toolResult(m, at, callNames)]);
      default:
        throw bad(`${at}.role "${String(m.role)}" is not supported by Gemini upstreams.`, `${at}.role`, 'unsupported_value');
    }
  });
  if (contents.length === 0) throw bad('messages must hold at least one user or assistant message with content.', 'messages');
  return { contents, system };
}

function userParts(content: unknown, param: string): Part[] {
  return contentParts(content, param).flatMap((p, j): Part[] => {
    if (p.type === 'text') return p.text === '' ? [] : [{ text: p.text }];
    return [imagePart(p.url, `${param}[${j}].image_url.url`)];
  });
}

/**
 * An image by URL: a base64 `data:` URL inline (`inlineData`), an http(s) URL by reference
 * (`fileData`, which needs the media type: guessed from the extension). Detail hints have no
 * Gemini counterpart per part and are ignored.
 */
function imagePart(url: string, param: string): Part {
  const inline = dataUrl(url);
  if (inline !== null) return { inlineData: { mimeType: inline.mediaType, data: inline.data } };
  if (!/^https?:\/\//i.test(url)) throw bad(`${param} must be a base64 data: URL or an http(s) URL.`, param);
  let ext = '';
  try {
    ext = /\.([a-z0-9]+)$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase() ?? '';
  } catch {
    throw bad(`${param} is not a valid URL.`, param);
  }
  const mimeType = Object.hasOwn(IMAGE_TYPES, ext) ? IMAGE_TYPES[ext] : undefined;
  if (mimeType === undefined) {
    throw bad(`${param}: Gemini needs the image's type, and it cannot be told from this URL's extension (${Object.keys(IMAGE_TYPES).join(', ')}); send it as a data: URL instead.`, param);
  }
  return { fileData: { fileUri: url, mimeType } };
}

/**
 * An assistant message: its text, then its tool calls as `functionCall` parts. The call `id` goes
 * along ("the id must be sent back in the associated FunctionResponse"); the first call of each
 * turn carries the signature placeholder (see {@link SKIP_THOUGHT_SIGNATURE}) where the model
 * needs one, in the place Gemini puts the real one.
 */
function assistantParts(m: Record<string, unknown>, at: string, callNames: Map<string, string>, signCalls: boolean): Part[] {
  const parts: Part[] = [];
  for (const p of contentParts(m.content, `${at}.content`)) {
    if (p.type !== 'text') throw bad(`${at}.content: an assistant message may hold only text.`, `${at}.content`, 'unsupported_value');
    if (p.text !== '') parts.push({ text: p.text });
  }
  if (m.function_call !== undefined && m.function_call !== null) {
    throw bad(`${at}.function_call is the legacy form; send tool_calls instead.`, `${at}.function_call`, 'unsupported_parameter');
  }
  const calls = m.tool_calls;
  if (calls === undefined || calls === null) return parts;
  if (!Array.isArray(calls)) throw bad(`${at}.tool_calls must be an array.`, `${at}.tool_calls`);
  calls.forEach((tc: unknown, k) => {
    const cat = `${at}.tool_calls[${k}]`;
    if (!isRecord(tc)) throw bad(`${cat} must be an object.`, cat);
    if (tc.type !== undefined && tc.type !== 'function') throw bad(`${cat}.type must be "function".`, `${cat}.type`, 'unsupported_value');
    const fn = tc.function;
    if (!isRecord(fn) || typeof fn.name !== 'string' || fn.name === '') throw bad(`${cat}.function.name must be a non-empty string.`, `${cat}.function.name`);
    const call: Part = { name: fn.name, args: toolArguments(fn.arguments, `${cat}.function.arguments`) };
    if (typeof tc.id === 'string' && tc.id !== '') {
      call.id = tc.id;
      callNames.set(tc.id, fn.name);
    }
    parts.push(k === 0 && signCalls ? { functionCall: call, thoughtSignature: SKIP_THOUGHT_SIGNATURE } : { functionCall: call });
  });
  return parts;
}

function toolResult(m: Record<string, unknown>, at: string, callNames: Map<string, string>): Part {
  const id = m.tool_call_id;
  const name = typeof id === 'string' ? callNames.get(id) : undefined;
  if (name === undefined) {
    throw bad(`${at}.tool_call_id does not match a tool call of an earlier assistant message (Gemini needs the function's name).`, `${at}.tool_call_id`);
  }
  return { functionResponse: { id, name, response: { content: textOnly(m.content, `${at}.content`) } } };
}

/**
 * `tools` as function declarations. Parameters go as `parametersJsonSchema`, which takes JSON
 * Schema as OpenAI's tools carry it ("Function calling", FunctionDeclaration), instead of
 * `parameters`, Gemini's OpenAPI subset that rejects keywords such as `additionalProperties`.
 */
function mapTools(tools: unknown): unknown[] | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw bad('tools must be an array.', 'tools');
  if (tools.length === 0) return undefined;
  const declarations = tools.map((t: unknown, i) => {
    const at = `tools[${i}]`;
    if (!isRecord(t) || t.type !== 'function') throw bad(`${at}.type must be "function" for Gemini upstreams.`, `${at}.type`, 'unsupported_value');
    const fn = t.function;
    if (!isRecord(fn) || typeof fn.name !== 'string' || fn.name === '') throw bad(`${at}.function.name must be a non-empty string.`, `${at}.function.name`);
    const d: Record<string, unknown> = { name: fn.name };
    if (typeof fn.description === 'string') d.description = fn.description;
    if (fn.parameters !== undefined && fn.parameters !== null) {
      if (!isRecord(fn.parameters)) throw bad(`${at}.function.parameters must be a JSON Schema object.`, `${at}.function.parameters`);
      d.parametersJsonSchema = fn.parameters;
    }
    return d;
  });
  return [{ functionDeclarations: declarations }];
}

/** `tool_choice` as a function calling mode ("Function calling", function calling modes). */
function mapToolChoice(choice: unknown): Record<string, unknown> | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
  }
  throw bad('tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":…}} for Gemini upstreams.', 'tool_choice', 'unsupported_value');
}

/** The sampling and output parameters as `generationConfig`. */
function generationConfig(body: ChatBody): Record<string, unknown> {
  const g: Record<string, unknown> = {};
  const legacyMax = integer(body, 'max_tokens', 1);
  set(g, 'maxOutputTokens', integer(body, 'max_completion_tokens', 1) ?? legacyMax);
  set(g, 'temperature', number(body, 'temperature', 0, 2));
  set(g, 'topP', number(body, 'top_p', 0, 1));
  set(g, 'candidateCount', integer(body, 'n', 1));
  set(g, 'seed', integer(body, 'seed', Number.MIN_SAFE_INTEGER));
  set(g, 'presencePenalty', number(body, 'presence_penalty', -2, 2));
  set(g, 'frequencyPenalty', number(body, 'frequency_penalty', -2, 2));
  const stop = body.stop;
  if (typeof stop === 'string') g.stopSequences = [stop];
  else if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) {
    if (stop.length > 0) g.stopSequences = stop;
  } else if (stop !== undefined && stop !== null) throw bad('stop must be a string or an array of strings.', 'stop');
  responseFormat(body.response_format, g);
  const effort = body.reasoning_effort;
  if (effort !== undefined && effort !== null) {
    const budget = typeof effort === 'string' && Object.hasOwn(THINKING_BUDGET, effort) ? THINKING_BUDGET[effort] : undefined;
    if (budget === undefined) {
      throw bad(`reasoning_effort must be one of ${Object.keys(THINKING_BUDGET).join(', ')} for Gemini upstreams.`, 'reasoning_effort', 'unsupported_value');
    }
    g.thinkingConfig = budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true };
  }
  return g;
}

/** JSON output ("Structured output"): `responseMimeType`, and `responseJsonSchema` for a schema. */
function responseFormat(rf: unknown, g: Record<string, unknown>): void {
  if (rf === undefined || rf === null) return;
  if (!isRecord(rf)) throw bad('response_format must be an object.', 'response_format');
  if (rf.type === 'text') return;
  if (rf.type === 'json_object') {
    g.responseMimeType = 'application/json';
    return;
  }
  if (rf.type === 'json_schema') {
    const js = rf.json_schema;
    if (!isRecord(js)) throw bad('response_format.json_schema must be an object.', 'response_format.json_schema');
    g.responseMimeType = 'application/json';
    if (js.schema !== undefined && js.schema !== null) {
      if (!isRecord(js.schema)) throw bad('response_format.json_schema.schema must be a JSON Schema object.', 'response_format.json_schema.schema');
      g.responseJsonSchema = js.schema;
    }
    return;
  }
  throw bad('response_format.type must be "text", "json_object" or "json_schema".', 'response_format.type', 'unsupported_value');
}

function set(g: Record<string, unknown>, key: string, v: number | undefined): void {
  if (v !== undefined) g[key] = v;
}

function number(body: ChatBody, param: string, min: number, max: number): number | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(`${param} must be a number from ${min} to ${max}.`, param);
  return v;
}

function integer(body: ChatBody, param: string, min: number): number | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${param} must be an integer of at least ${min}.`, param);
  return v;
}
