/**
 * Token estimation for when the upstream sends no `usage` (issue 3): some OpenAI-compatible
 * servers ignore `stream_options.include_usage`, and a stream cut by the client or the upstream
 * never reaches its usage chunk. Counts use gpt-tokenizer's BPE tables (o200k_base / cl100k_base),
 * so they are exact for OpenAI text and a close approximation for other model families.
 *
 * Pure apart from loading the tables: each encoding is loaded on first use (≈150 ms and ≈60 MB
 * for o200k_base), once per process, synchronously, so nothing runs on import and a proxy whose
 * upstreams always report usage never pays for it.
 */
import { createRequire } from 'node:module';

/** What this module needs from a gpt-tokenizer encoding module. */
interface Encoding {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
}

export type EncodingName = 'o200k_base' | 'cl100k_base';

export interface TokenEstimator {
  /** Tokens in a plain text (special-token markers such as `<|endoftext|>` count as text). */
  countText(text: string, model: string): number;
  /** Tokens of a chat `messages` array, with OpenAI's per-message overhead and reply priming. */
  countMessages(messages: unknown, model: string): number;
  /**
   * Prompt tokens of a whole request body: chat `messages` (+ `tools`/`functions`), completions
   * `prompt`, embeddings or responses `input` (+ `instructions`). 0 for shapes it does not know.
   */
  countPrompt(body: Record<string, unknown>, model: string): number;
}

/**
 * OpenAI's chat rule of thumb (openai-cookbook "How to count tokens with tiktoken", for
 * gpt-3.5-turbo-0613 onward, gpt-4, gpt-4o): every message costs 3 tokens of framing
 * (`<|start|>{role}<|message|>` … `<|end|>`), a `name` 1 more, and the reply is primed with 3.
 */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;
/** Framing of one tool call in an assistant message (not published by OpenAI; measured ≈3). */
export const TOKENS_PER_TOOL_CALL = 3;
/**
 * Images are not fetched or decoded: a `detail: "low"` image is OpenAI's flat 85 tokens; any
 * other is counted as a 1024×1024 image at high detail (85 + 4 tiles × 170 = 765). Audio and file
 * parts are not counted.
 */
export const IMAGE_TOKENS_LOW = 85;
export const IMAGE_TOKENS_DEFAULT = 765;

/** Model families tokenised with o200k_base (gpt-tokenizer's model map agrees); others cl100k. */
const O200K_MODEL = /^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|gpt-realtime|gpt-audio|gpt-image|codex|o[134](?:-|$)|omni-moderation)/;

/** The encoding used for `model`; a provider prefix (`openai/gpt-4o`) is ignored. */
export function encodingFor(model: string): EncodingName {
  const slash = model.lastIndexOf('/');
  const name = (slash >= 0 ? model.slice(slash + 1) : model).toLowerCase();
  return O200K_MODEL.test(name) ? 'o200k_base' : 'cl100k_base';
}

/** User text is text: `<|endoftext|>` typed by a caller is counted, not rejected (the default). */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Create an estimator; encodings load lazily and are shared by every call. */
export function createTokenEstimator(): TokenEstimator {
  // createRequire gives a synchronous lazy load (gpt-tokenizer ships a CJS build next to the ESM one).
  const require = createRequire(import.meta.url);
  const loaded: Partial<Record<EncodingName, Encoding>> = {};
  const encoding = (name: EncodingName): Encoding =>
    (loaded[name] ??= require(`gpt-tokenizer/encoding/${name}`) as Encoding);

  const countText = (text: string, model: string): number =>
    text === '' ? 0 : encoding(encodingFor(model)).countTokens(text, AS_TEXT);

  /** Text and image parts of a `content` array (chat and responses part types). */
  const countParts = (parts: unknown[], model: string): number => {
    let n = 0;
    for (const p of parts) {
      if (typeof p === 'string') n += countText(p, model);
      else if (!isObject(p)) continue;
      else if (typeof p.text === 'string') n += countText(p.text, model);
      else if (typeof p.refusal === 'string') n += countText(p.refusal, model);
      else if (p.type === 'image_url' || p.type === 'input_image') {
        const detail = isObject(p.image_url) ? p.image_url.detail : p.detail;
        n += detail === 'low' ? IMAGE_TOKENS_LOW : IMAGE_TOKENS_DEFAULT;
      }
    }
    return n;
  };

  const countContent = (content: unknown, model: string): number =>
    typeof content === 'string' ? countText(content, model) : Array.isArray(content) ? countParts(content, model) : 0;

  const countCall = (fn: unknown, model: string): number => {
    if (!isObject(fn)) return 0;
    let n = TOKENS_PER_TOOL_CALL;
    if (typeof fn.name === 'string') n += countText(fn.name, model);
    if (typeof fn.arguments === 'string') n += countText(fn.arguments, model);
    return n;
  };

  /** One chat message, or one responses-API input item (message, function_call, its output). */
  const countMessage = (m: Record<string, unknown>, model: string): number => {
    let n = TOKENS_PER_MESSAGE;
    if (typeof m.role === 'string') n += countText(m.role, model);
    n += countContent(m.content, model);
    if (typeof m.name === 'string') n += countText(m.name, model) + TOKENS_PER_NAME;
    if (Array.isArray(m.tool_calls)) for (const tc of m.tool_calls) n += isObject(tc) ? countCall(tc.function, model) : 0;
    if (m.function_call !== undefined) n += countCall(m.function_call, model);
    if (typeof m.arguments === 'string') n += countText(m.arguments, model); // responses `function_call` item
    if (typeof m.output === 'string') n += countText(m.output, model); // responses `function_call_output`
    return n;
  };

  const countMessages = (messages: unknown, model: string): number => {
    if (!Array.isArray(messages)) return 0;
    let n = REPLY_PRIMING_TOKENS;
    for (const m of messages) if (isObject(m)) n += countMessage(m, model);
    return n;
  };

  /** `prompt` / `input`: a string, strings, or token ids (already tokens: counted as they are). */
  const countInput = (input: unknown, model: string): number => {
    if (typeof input === 'string') return countText(input, model);
    if (!Array.isArray(input)) return 0;
    let n = 0;
    for (const x of input) {
      if (typeof x === 'number') n += 1;
      else if (typeof x === 'string') n += countText(x, model);
      else if (Array.isArray(x)) n += x.length;
      else if (isObject(x)) n += countMessage(x, model);
    }
    return n;
  };

  const countPrompt = (body: Record<string, unknown>, model: string): number => {
    let n = 0;
    if (body.messages !== undefined) n += countMessages(body.messages, model);
    if (body.prompt !== undefined) n += countInput(body.prompt, model);
    if (body.input !== undefined) n += countInput(body.input, model);
    if (typeof body.instructions === 'string') n += countText(body.instructions, model);
    // Tool schemas are billed as prompt; OpenAI renders them in its own syntax, JSON is close.
    if (Array.isArray(body.tools) && body.tools.length > 0) n += countText(JSON.stringify(body.tools), model);
    if (Array.isArray(body.functions) && body.functions.length > 0) n += countText(JSON.stringify(body.functions), model);
    return n;
  };

  return { countText, countMessages, countPrompt };
}
