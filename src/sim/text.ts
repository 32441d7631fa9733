/**
 * Deterministic simulated completion text, token by token.
 *
 * Every token is a word-like string with a leading space, as BPE tokens usually are
 * (`" stream"`, `" café"`, `" 中文"`, `" 🚀"`). The token at index `i` is drawn from a category
 * fixed by `i % 16`, so every run of 16 tokens (in particular the first 16, the default length)
 * contains a 2-byte UTF-8 character (Latin accents: é, ï, ü, ñ, ç), a 3-byte one (CJK) and a
 * 4-byte one (an emoji, a surrogate pair in UTF-16): a relay that splits UTF-8 at a read boundary
 * or JSON-escapes badly is caught. Slot 0 is capitalised, slot 9 ends with `,`, slot 15 with `.`
 * and every 64th token with `.\n\n` (so `\n` escaping is exercised too).
 *
 * Which word fills a slot comes from a small PRNG (mulberry32) seeded with the FNV-1a hash of
 * `seed`; no seed is the same as `seed = ""`. The sequence is prefix-stable:
 * `simTokens(n, s)` is a prefix of `simTokens(m, s)` for `n <= m`.
 */

const WORDS = [
  'the', 'model', 'stream', 'token', 'proxy', 'quick', 'signal', 'data', 'value', 'event',
  'relay', 'simple', 'random', 'light', 'river', 'system', 'number', 'answer', 'language', 'network',
  'buffer', 'window', 'future', 'garden', 'memory', 'pattern', 'reason', 'vector', 'cloud', 'bridge',
  'orange', 'silver', 'little', 'across', 'before', 'through', 'between', 'always', 'often', 'never',
  'again', 'while', 'about', 'under', 'every', 'other', 'second', 'result', 'request', 'response',
  'message', 'client', 'server', 'engine', 'metric', 'latency', 'upstream', 'chunk', 'frame', 'line',
  'is', 'a', 'of', 'and',
] as const;
/** Two-byte UTF-8 characters. */
const LATIN = ['café', 'naïve', 'über', 'señor', 'façade', 'jalapeño', 'déjà', 'résumé'] as const;
/** Three-byte UTF-8 characters. */
const CJK = ['中文', '你好', '世界', '日本語', '漢字', '東京', '模型', '数据'] as const;
/** Four-byte UTF-8 characters (surrogate pairs in UTF-16). */
const EMOJI = ['🚀', '🎉', '👍', '🌍', '🙂', '🔥', '💡', '🧪'] as const;

/**
 * Every word of the vocabulary, bare (no space, no punctuation): what generated tool-call string
 * values are made of (`schema-value.ts`), so arguments carry 2-, 3- and 4-byte UTF-8 too.
 */
export const SIM_WORDS: readonly string[] = [...WORDS, ...LATIN, ...CJK, ...EMOJI];

function capitalize(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

// Every distinct token is built once; generation is then an array lookup per token.
const PLAIN = WORDS.map((w) => ' ' + w);
const CAPITAL = WORDS.map((w) => ' ' + capitalize(w));
const COMMA = WORDS.map((w) => ' ' + w + ',');
const PERIOD = WORDS.map((w) => ' ' + w + '.');
const PARAGRAPH = WORDS.map((w) => ' ' + w + '.\n\n');
const LATIN_T = LATIN.map((w) => ' ' + w);
const CJK_T = CJK.map((w) => ' ' + w);
const EMOJI_T = EMOJI.map((w) => ' ' + w);

/** 32-bit FNV-1a over UTF-16 code units (cheap and stable; not for security). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A lazy cursor over the token sequence for `seed`: each call returns the next token. Used by
 * the simulator so a long completion never materialises an array of tokens.
 */
export function createTokenCursor(seed = ''): () => string {
  const rnd = mulberry32(fnv1a(seed));
  let i = 0;
  return () => {
    const slot = i & 15;
    const r = rnd();
    let list: readonly string[];
    if (slot === 0) list = CAPITAL;
    else if (slot === 3) list = LATIN_T;
    else if (slot === 7) list = CJK_T;
    else if (slot === 9) list = COMMA;
    else if (slot === 11) list = EMOJI_T;
    else if (slot === 15) list = (i & 63) === 63 ? PARAGRAPH : PERIOD;
    else list = PLAIN;
    i++;
    return list[Math.floor(r * list.length)]!;
  };
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`token count must be a non-negative integer, got ${n}`);
}

/** `n` deterministic tokens: same `n` and `seed` → same tokens (see the module comment). */
export function simTokens(n: number, seed?: string): string[] {
  checkCount(n);
  const next = createTokenCursor(seed);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = next();
  return out;
}

/** `simTokens(n, seed).join('')`. */
export function simText(n: number, seed?: string): string {
  checkCount(n);
  const next = createTokenCursor(seed);
  let s = '';
  for (let i = 0; i < n; i++) s += next();
  return s;
}
