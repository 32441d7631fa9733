/**
 * Token estimation for when the upstream sends no `usage`: some OpenAI-compatible
 * servers ignore `stream_options.include_usage`, and a stream cut by the client or the upstream
 * never reaches its usage chunk. Counts use gpt-tokenizer's BPE tables (o200k_base / cl100k_base),
 * so text counts are exact for OpenAI models (chat framing follows OpenAI's published rule of
 * thumb) and an approximation for other model families.
 *
 * Pure apart from loading the tables: each encoding is loaded on first use, once per process and
 * synchronously (o200k_base ≈175–530 ms and ≈70 MB RSS, cl100k_base ≈80–180 ms and ≈20 MB:
 * `require` of gpt-tokenizer's encoding module, timed with performance.now() and
 * process.memoryUsage().rss). Nothing runs on import, and a proxy whose upstreams always report
 * usage never pays for it: src/main.ts preloads only when estimates are expected (src/access.ts
 * `estimatesExpected`: a network upstream, token limits or budgets)
 * (test/integration/idle-memory.test.ts). The load is one `require`, so it cannot be cut into
 * setImmediate slices, and loading in a worker would not help: the counts are needed
 * synchronously on this thread (admission, UsageTracker.final()).
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
  /**
   * Load the tables now (for `model`'s encoding, or both) instead of on the first estimate, which
   * would otherwise block the event loop for 0.1–0.5 s during that request. Call it at start-up
   * when estimates are likely, before listening (src/main.ts); both cost ≈90 MB RSS.
   */
  preload(model?: string): void;
}

/**
 * OpenAI's chat rule of thumb (openai-cookbook "How to count tokens with tiktoken", for
 * gpt-3.5-turbo-0613 onward, gpt-4, gpt-4o): every message costs 3 tokens of framing
 * (`<|start|>{role}<|message|>` … `<|end|>`), a `name` 1 more, and the reply is primed with 3.
 */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;
/** Framing of one tool call in an assistant message: an allowance, OpenAI does not publish it. */
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

/**
 * Work bounds, so that no request can stall the event loop through the estimator (the limiter may
 * estimate every prompt at admission). BPE cost grows with the square of a pre-token's length: a
 * 100 000-character run of one letter took 6.3 s in one piece, 0.6 ms in 256-character pieces.
 * Cutting a run costs at most one token per cut (+0.1 % on 100 KB of base64).
 */
export const MAX_RUN_CHARS = 256;
/**
 * Characters tokenised exactly per estimate: ≈16 k tokens of prose in ≈3 ms, and at most ≈45 ms
 * on adversarial text (unique random words defeat gpt-tokenizer's merge cache). Text beyond is
 * extrapolated at the tokens-per-character ratio measured on the exact part (within 1 % on
 * uniform text; a long prompt mixing code and prose may be off by a few %).
 */
export const EXACT_CHARS_PER_ESTIMATE = 64 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Token count of `s`, with runs of non-blank characters cut into {@link MAX_RUN_CHARS} pieces. */
function countBounded(enc: Encoding, s: string): number {
  let n = 0;
  let segment = 0; // start of the text not yet counted
  let run = 0; // start of the current run of non-blank characters
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20) run = i + 1;
    else if (i - run >= MAX_RUN_CHARS && (c < 0xdc00 || c > 0xdfff)) {
      // Cut before i (never between the halves of a surrogate pair).
      n += enc.countTokens(s.slice(segment, i), AS_TEXT);
      segment = run = i;
    }
  }
  return n + (segment < s.length ? enc.countTokens(segment === 0 ? s : s.slice(segment), AS_TEXT) : 0);
}

/** One estimate's running total, holding its character budget. */
class Tally {
  tokens = 0;
  private budget = EXACT_CHARS_PER_ESTIMATE;
  private exactChars = 0;
  private exactTokens = 0;
  private skippedChars = 0;

  constructor(private readonly enc: Encoding) {}

  text(s: string): void {
    if (s === '') return;
    if (this.budget <= 0) {
      this.skippedChars += s.length;
      return;
    }
    const exact = s.length <= this.budget ? s : s.slice(0, this.budget);
    this.skippedChars += s.length - exact.length;
    this.budget -= exact.length;
    const n = countBounded(this.enc, exact);
    this.exactChars += exact.length;
    this.exactTokens += n;
    this.tokens += n;
  }

  total(): number {
    if (this.skippedChars === 0) return this.tokens;
    const ratio = this.exactChars > 0 ? this.exactTokens / this.exactChars : 0.25; // ≈4 chars per token
    return this.tokens + Math.round(this.skippedChars * ratio);
  }
}

/** Text and image parts of a `content` array (chat and responses part types). */
function addParts(t: Tally, parts: unknown[]): void {
  for (const p of parts) {
    if (typeof p === 'string') t.text(p);
    else if (!isObject(p)) continue;
    else if (typeof p.text === 'string') t.text(p.text);
    else if (typeof p.refusal === 'string') t.text(p.refusal);
    else if (p.type === 'image_url' || p.type === 'input_image') {
      const detail = isObject(p.image_url) ? p.image_url.detail : p.detail;
      t.tokens += detail === 'low' ? IMAGE_TOKENS_LOW : IMAGE_TOKENS_DEFAULT;
    }
  }
}

function addCall(t: Tally, fn: unknown): void {
  if (!isObject(fn)) return;
  t.tokens += TOKENS_PER_TOOL_CALL;
  if (typeof fn.name === 'string') t.text(fn.name);
  if (typeof fn.arguments === 'string') t.text(fn.arguments);
}

/** One chat message, or one responses-API input item (message, function_call, its output). */
function addMessage(t: Tally, m: Record<string, unknown>): void {
  t.tokens += TOKENS_PER_MESSAGE;
  if (typeof m.role === 'string') t.text(m.role);
  if (typeof m.content === 'string') t.text(m.content);
  else if (Array.isArray(m.content)) addParts(t, m.content);
  if (typeof m.name === 'string') {
    t.text(m.name);
    t.tokens += TOKENS_PER_NAME;
  }
  if (Array.isArray(m.tool_calls)) for (const tc of m.tool_calls) if (isObject(tc)) addCall(t, tc.function);
  if (m.function_call !== undefined) addCall(t, m.function_call);
  if (typeof m.arguments === 'string') t.text(m.arguments); // responses `function_call` item
  if (typeof m.output === 'string') t.text(m.output); // responses `function_call_output`
}

function addMessages(t: Tally, messages: unknown): void {
  if (!Array.isArray(messages)) return;
  t.tokens += REPLY_PRIMING_TOKENS;
  for (const m of messages) if (isObject(m)) addMessage(t, m);
}

/** `prompt` / `input`: a string, strings, or token ids (already tokens: counted as they are). */
function addInput(t: Tally, input: unknown): void {
  if (typeof input === 'string') return t.text(input);
  if (!Array.isArray(input)) return;
  for (const x of input) {
    if (typeof x === 'number') t.tokens += 1;
    else if (typeof x === 'string') t.text(x);
    else if (Array.isArray(x)) t.tokens += x.length;
    else if (isObject(x)) addMessage(t, x);
  }
}

function addPrompt(t: Tally, body: Record<string, unknown>): void {
  if (body.messages !== undefined) addMessages(t, body.messages);
  if (body.prompt !== undefined) addInput(t, body.prompt);
  if (body.input !== undefined) addInput(t, body.input);
  if (typeof body.instructions === 'string') t.text(body.instructions);
  // Tool schemas are billed as prompt; OpenAI renders them in its own syntax, JSON is close.
  if (Array.isArray(body.tools) && body.tools.length > 0) t.text(JSON.stringify(body.tools));
  if (Array.isArray(body.functions) && body.functions.length > 0) t.text(JSON.stringify(body.functions));
}

/** Create an estimator; encodings load lazily and are shared by every call. */
export function createTokenEstimator(): TokenEstimator {
  // createRequire gives a synchronous lazy load (gpt-tokenizer ships a CJS build next to the ESM one).
  const require = createRequire(import.meta.url);
  const loaded: Partial<Record<EncodingName, Encoding>> = {};
  const encoding = (name: EncodingName): Encoding =>
    (loaded[name] ??= require(`gpt-tokenizer/encoding/${name}`) as Encoding);
  const run = (model: string, add: (t: Tally) => void): number => {
    const t = new Tally(encoding(encodingFor(model)));
    add(t);
    return t.total();
  };

  return {
    countText: (text, model) => (text === '' ? 0 : run(model, (t) => t.text(text))),
    countMessages: (messages, model) => run(model, (t) => addMessages(t, messages)),
    countPrompt: (body, model) => run(model, (t) => addPrompt(t, body)),
    preload: (model) => {
      for (const name of model === undefined ? (['o200k_base', 'cl100k_base'] as const) : [encodingFor(model)]) encoding(name);
    },
  };
}
