/**
 * `POST …/embeddings`: deterministic unit-length vectors, one per input (a string, strings, or
 * token arrays), `dimensions` long (default 8), as `float` arrays or `base64` (little-endian
 * float32, what the OpenAI SDK asks for by default). Answered after the time to first token.
 */
import type { SimOptions } from './options.js';
import { timingFor } from './generation.js';
import { json, simError, type SimReply } from './reply.js';
import { estimateTokens, readModel, type Json } from './request.js';
import { fnv1a, mulberry32 } from './text.js';

const DEFAULT_EMBEDDING_DIMS = 8;
const MAX_EMBEDDING_DIMS = 4096;

/** A deterministic unit-length vector for `key`. */
export function simEmbedding(key: string, dims: number): Float32Array {
  const rnd = mulberry32(fnv1a(key));
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const x = rnd() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}

/** Answer an embeddings request body. */
export function embeddings(body: Json, opts: SimOptions): SimReply {
  const model = readModel(body);
  if (typeof model !== 'string') return model;
  const input = body.input;
  let items: { key: string; tokens: number }[];
  if (typeof input === 'string') items = [{ key: input, tokens: estimateTokens(input.length) }];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number')) {
    items = [{ key: input.join(','), tokens: input.length }];
  } else if (Array.isArray(input) && input.length > 0) {
    items = [];
    for (const x of input) {
      if (typeof x === 'string') items.push({ key: x, tokens: estimateTokens(x.length) });
      else if (Array.isArray(x) && x.every((t) => typeof t === 'number')) items.push({ key: x.join(','), tokens: Math.max(1, x.length) });
      else return simError(400, "Invalid 'input': expected a string, an array of strings, or token arrays.", 'input', 'invalid_type');
    }
  } else {
    return simError(400, "Invalid 'input': expected a non-empty string, an array of strings, or token arrays.", 'input', input === undefined ? 'missing_required_parameter' : 'invalid_type');
  }
  let dims = DEFAULT_EMBEDDING_DIMS;
  if (body.dimensions !== undefined && body.dimensions !== null) {
    const d = body.dimensions;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_EMBEDDING_DIMS) {
      return simError(400, `Invalid 'dimensions': expected an integer between 1 and ${MAX_EMBEDDING_DIMS}.`, 'dimensions', 'invalid_value');
    }
    dims = d;
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return simError(400, "Invalid 'encoding_format': expected 'float' or 'base64'.", 'encoding_format', 'invalid_value');
  }
  let tokens = 0;
  const data = items.map((it, index) => {
    tokens += it.tokens;
    const v = simEmbedding(it.key, dims);
    const embedding = format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
    return { object: 'embedding', index, embedding };
  });
  return json(200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } }, timingFor(model, opts).ttft);
}
