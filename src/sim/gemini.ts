/**
 * The simulator speaking the Gemini API, under `/gemini` (any version segment, e.g. `/v1beta`):
 * - `POST /gemini/v1beta/models/{model}:generateContent` and `…:streamGenerateContent`
 *   (`?alt=sse` for SSE; without it a streamed JSON array) (`gemini-stream.ts`);
 * - `GET /gemini/v1beta/models`, `GET /gemini/v1beta/models/{model}` (`provider-models.ts`);
 * errors in Google's shape `{error:{code, message, status}}`.
 *
 * Semantics (the OpenAI face's):
 * - Length: `generationConfig.maxOutputTokens` ?? `defaultMaxTokens` tokens of text;
 *   `finishReason` MAX_TOKENS when the request set the limit, STOP otherwise (and for tool
 *   calls and stop sequences, as Gemini reports them).
 * - `candidateCount` (1–8) candidates, each with its `index` and its own text (`choice.ts`);
 *   `generationConfig.seed` seeds the text like OpenAI's `seed`; `stopSequences` (≤ 5) cut it.
 * - Thinking only when `thinkingConfig` asks for it: `thinkingBudget` 0 → none, > 0 →
 *   `min(budget, defaultMaxTokens)` thought tokens, absent or -1 → `defaultMaxTokens`. They are
 *   counted in `thoughtsTokenCount` (not against `maxOutputTokens`) and sent as thought parts
 *   only with `includeThoughts`.
 * - Tools: `functionDeclarations` (`parameters` or `parametersJsonSchema`), the rule of
 *   `tools.ts`; `functionCallingConfig.mode` AUTO / ANY / NONE / VALIDATED with
 *   `allowedFunctionNames`.
 * - `promptTokenCount`: ceil(characters / 4) of the system instruction, the contents (text,
 *   function calls and responses) and the tool declarations; `candidatesTokenCount` the text
 *   tokens and argument pieces of every candidate.
 * - Unknown top-level fields are rejected as the API does; snake_case names are accepted.
 */
import { planChoice } from './choice.js';
import { timingFor, totalDelay } from './generation.js';
import { geminiFrames, geminiResponse, geminiRounds, type GeminiAnswer } from './gemini-stream.js';
import type { SimOptions } from './options.js';
import { getGeminiModel, listGeminiModels } from './provider-models.js';
import { geminiError, json, nextId, streamHeaders, type SimJsonReply, type SimReply } from './reply.js';
import { estimateTokens, isObj, MAX_COMPLETION_TOKENS, type Json } from './request.js';
import { pickTools, type SimTool, type ToolMode } from './tools.js';

const FIELDS = new Set(['contents', 'model', 'systemInstruction', 'generationConfig', 'tools', 'toolConfig', 'safetySettings', 'cachedContent', 'labels']);
const MAX_CANDIDATES = 8;
const MAX_STOPS = 5;

const bad = (message: string): SimJsonReply => geminiError(400, message);

/** `obj[name]`, or its snake_case spelling (proto JSON accepts both). */
function field(obj: Json, name: string): unknown {
  return obj[name] ?? obj[name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())];
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function partsChars(content: unknown): number {
  if (!isObj(content) || !Array.isArray(content.parts)) return 0;
  let n = 0;
  for (const p of content.parts) {
    if (!isObj(p)) continue;
    if (typeof p.text === 'string') n += p.text.length;
    const fc = field(p, 'functionCall') ?? field(p, 'functionResponse');
    if (fc !== undefined) n += JSON.stringify(fc).length;
  }
  return n;
}

function readTools(body: Json): { tools: SimTool[]; mode: ToolMode } | SimJsonReply {
  const raw = body.tools ?? [];
  if (!Array.isArray(raw)) return bad('Invalid value at \'tools\': expected a list of Tool.');
  const tools: SimTool[] = [];
  for (const [i, t] of raw.entries()) {
    const decls = isObj(t) ? field(t, 'functionDeclarations') : undefined;
    if (decls === undefined) continue; // googleSearch, codeExecution …: accepted, never called
    if (!Array.isArray(decls)) return bad(`Invalid value at 'tools[${i}].function_declarations': expected a list.`);
    for (const [j, d] of decls.entries()) {
      if (!isObj(d) || typeof d.name !== 'string' || d.name === '') {
        return bad(`* GenerateContentRequest.tools[${i}].function_declarations[${j}].name: Name cannot be empty.\n`);
      }
      tools.push({ name: d.name, schema: field(d, 'parameters') ?? field(d, 'parametersJsonSchema') ?? { type: 'object', properties: {} } });
    }
  }
  const tc = field(body, 'toolConfig');
  const fcc = isObj(tc) ? field(tc, 'functionCallingConfig') : undefined;
  if (!isObj(fcc)) return { tools, mode: { kind: 'auto' } };
  const allowedRaw = field(fcc, 'allowedFunctionNames');
  const allowed = Array.isArray(allowedRaw) ? allowedRaw.filter((x): x is string => typeof x === 'string') : undefined;
  const unknown = allowed?.find((n) => !tools.some((t) => t.name === n));
  if (unknown !== undefined) return bad(`* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: ${unknown} is not a declared function.\n`);
  switch (fcc.mode ?? 'AUTO') {
    case 'AUTO':
    case 'MODE_UNSPECIFIED':
    case 'VALIDATED':
      return { tools, mode: { kind: 'auto', allowed } };
    case 'ANY':
      return { tools, mode: { kind: 'required', allowed } };
    case 'NONE':
      return { tools, mode: { kind: 'none' } };
    default:
      return bad(`Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "${String(fcc.mode)}"`);
  }
}

function int(cfg: Json, name: string, min: number, max: number): number | undefined | SimJsonReply {
  const v = field(cfg, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return bad(`* GenerateContentRequest.generation_config.${name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())}: must be an integer between ${min} and ${max}.\n`);
  }
  return v;
}

function readAnswer(model: string, body: Json, opts: SimOptions): GeminiAnswer | SimJsonReply {
  for (const k of Object.keys(body)) if (!FIELDS.has(camel(k))) return bad(`Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
  const contents = body.contents;
  if (!Array.isArray(contents) || contents.length === 0) return bad('* GenerateContentRequest.contents: contents is not specified\n');
  for (const [i, c] of contents.entries()) {
    if (!isObj(c) || !Array.isArray(c.parts) || c.parts.length === 0) return bad(`* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
  }
  const cfgRaw = field(body, 'generationConfig') ?? {};
  if (!isObj(cfgRaw)) return bad("Invalid value at 'generation_config': expected a GenerationConfig object.");
  const maxOut = int(cfgRaw, 'maxOutputTokens', 1, MAX_COMPLETION_TOKENS);
  if (typeof maxOut === 'object') return maxOut;
  const count = int(cfgRaw, 'candidateCount', 1, MAX_CANDIDATES);
  if (typeof count === 'object') return count;
  const stops = field(cfgRaw, 'stopSequences') ?? [];
  if (!Array.isArray(stops) || stops.length > MAX_STOPS || !stops.every((s) => typeof s === 'string')) {
    return bad(`* GenerateContentRequest.generation_config.stop_sequences: at most ${MAX_STOPS} strings.\n`);
  }
  const seedRaw = field(cfgRaw, 'seed');
  const seed = typeof seedRaw === 'number' || typeof seedRaw === 'string' ? String(seedRaw) : undefined;
  const natural = Math.max(0, Math.floor(opts.defaultMaxTokens));
  const tcfg = field(cfgRaw, 'thinkingConfig');
  let thinking = 0;
  if (isObj(tcfg)) {
    const budget = field(tcfg, 'thinkingBudget');
    thinking = typeof budget === 'number' && budget >= 0 ? Math.min(budget, natural) : natural;
  }
  const rt = readTools(body);
  if ('kind' in rt) return rt;
  const last = contents[contents.length - 1] as Json;
  const parts = last.parts as unknown[];
  const call = pickTools(rt.tools, rt.mode, {
    lastUserText: last.role === undefined || last.role === 'user' ? parts.map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : '')).join('\n') : '',
    afterToolResult: parts.some((p) => isObj(p) && field(p, 'functionResponse') !== undefined),
    parallel: true,
  });
  let chars = partsChars(field(body, 'systemInstruction'));
  for (const c of contents) chars += partsChars(c);
  if (Array.isArray(body.tools)) chars += JSON.stringify(body.tools).length;
  const n = maxOut ?? natural;
  return {
    responseId: nextId(),
    model,
    promptTokens: estimateTokens(chars),
    timing: timingFor(model, opts),
    candidates: Array.from({ length: count ?? 1 }, (_, k) => planChoice(k, { seed, n, stops: stops as string[], thinking, tools: call })),
    includeThoughts: isObj(tcfg) && field(tcfg, 'includeThoughts') === true,
    explicitLimit: maxOut !== undefined,
  };
}

const GENERATE = /^\/v1(?:beta|alpha)?\d*\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;
const MODEL_PATH = /^\/v1(?:beta|alpha)?\d*\/models\/([^/:]+)$/;
const MODELS = /^\/v1(?:beta|alpha)?\d*\/models$/;

/** Answer a request whose path is `/gemini` + `rest`. */
export function geminiRoute(method: string, rest: string, bodyText: string, opts: SimOptions, query: URLSearchParams): SimReply {
  if (method === 'GET') {
    if (MODELS.test(rest)) return listGeminiModels(query);
    const mm = MODEL_PATH.exec(rest);
    if (mm) return getGeminiModel(mm[1]!);
  }
  const gm = method === 'POST' ? GENERATE.exec(rest) : null;
  if (!gm) return geminiError(404, `Method not found: ${method} ${rest}`);
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return bad('Invalid JSON payload received. Unexpected token.');
  }
  if (!isObj(body)) return bad('Invalid JSON payload received. Expected an object.');
  let model = gm[1]!;
  try {
    model = decodeURIComponent(model);
  } catch {
    // keep it raw
  }
  const a = readAnswer(model, body, opts);
  if ('kind' in a) return a;
  if (gm[2] === 'streamGenerateContent') {
    const sse = query.get('alt') === 'sse';
    const headers = sse ? streamHeaders() : { ...streamHeaders(), 'content-type': 'application/json; charset=UTF-8' };
    return { kind: 'stream', status: 200, headers, frames: geminiFrames(a, sse) };
  }
  return json(200, geminiResponse(a), totalDelay(a.timing, Math.max(...a.candidates.map((p) => geminiRounds(a, p)))));
}
