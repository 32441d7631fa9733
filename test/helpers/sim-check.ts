/**
 * Checking what the simulator sends, for the sim-*.test.ts files: its SSE events (parsed with the
 * proxy's own parser) and a small JSON Schema checker for generated tool arguments — written
 * independently of src/sim/schema-value.ts, for the keywords that file claims to honour.
 */
import { createSimFetch } from '../../src/sim/handler.js';
import { createSseParser, type SseEvent } from '../../src/sse/parser.js';

export type SimFetchFn = ReturnType<typeof createSimFetch>;
/** Wire JSON, loosely typed on purpose: the tests assert its shape field by field. */
export type Wire = Record<string, any>;

/** POST `body` as JSON to `http://sim.local` + `path`. */
export function simPost(f: SimFetchFn, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return f('http://sim.local' + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** Every SSE event of `text`, which must end on an event boundary. */
export function sseEvents(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  const p = createSseParser({ onEvent: (e) => out.push(e) });
  p.feed(text);
  if (p.end() !== null) throw new Error('the stream ended inside an event');
  return out;
}

function isObj(v: unknown): v is Wire {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolve(ref: string, root: unknown): unknown {
  if (ref === '#') return root;
  let cur: unknown = root;
  for (const k of ref.slice(2).split('/')) cur = isObj(cur) ? cur[k] : undefined;
  return cur;
}

function typeMatches(t: string, v: unknown): boolean {
  switch (t.toLowerCase()) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isObj(v);
    default:
      return true;
  }
}

const FORMATS: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  date: /^\d{4}-\d\d-\d\d$/,
  email: /^[^@\s]+@[^@\s]+\.[a-z]+$/,
  uri: /^https?:\/\/\S+$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};

/** Why `v` does not fit `schema` (empty: it fits). */
export function schemaErrors(schema: unknown, v: unknown, root: unknown = schema, at = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${at}: no value allowed`];
  if (!isObj(schema)) return [];
  const errs: string[] = [];
  const s = schema;
  if (typeof s.$ref === 'string') errs.push(...schemaErrors(resolve(s.$ref, root), v, root, at));
  if (Array.isArray(s.allOf)) for (const sub of s.allOf) errs.push(...schemaErrors(sub, v, root, at));
  const alt = s.anyOf ?? s.oneOf;
  if (Array.isArray(alt) && !alt.some((sub) => schemaErrors(sub, v, root, at).length === 0)) errs.push(`${at}: fits no branch`);
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(v)) errs.push(`${at}: not the const`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) errs.push(`${at}: not in enum`);
  if (s.type !== undefined) {
    const types = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
    if (!types.some((t) => typeMatches(t, v))) return [...errs, `${at}: ${JSON.stringify(v)} is not ${types.join('|')}`];
  }
  if (typeof v === 'string') {
    const len = Array.from(v).length;
    if (typeof s.minLength === 'number' && len < s.minLength) errs.push(`${at}: shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && len > s.maxLength) errs.push(`${at}: longer than ${s.maxLength}`);
    const f = typeof s.format === 'string' ? FORMATS[s.format] : undefined;
    if (f && !f.test(v)) errs.push(`${at}: not a ${s.format}`);
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) errs.push(`${at}: < minimum`);
    if (typeof s.maximum === 'number' && v > s.maximum) errs.push(`${at}: > maximum`);
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) errs.push(`${at}: <= exclusiveMinimum`);
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) errs.push(`${at}: >= exclusiveMaximum`);
    if (typeof s.multipleOf === 'number') {
      const q = v / s.multipleOf;
      if (Math.abs(q - Math.round(q)) > 1e-7) errs.push(`${at}: not a multiple of ${s.multipleOf}`);
    }
  }
  if (Array.isArray(v)) {
    const min = Number(s.minItems ?? 0);
    const max = Number(s.maxItems ?? Infinity);
    if (v.length < min || v.length > max) errs.push(`${at}: ${v.length} items, not in [${min}, ${max}]`);
    if (s.uniqueItems === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) errs.push(`${at}: duplicate items`);
    v.forEach((x, i) => errs.push(...schemaErrors(s.items, x, root, `${at}[${i}]`)));
  }
  if (isObj(v)) {
    const props = isObj(s.properties) ? s.properties : {};
    for (const k of Array.isArray(s.required) ? s.required : []) if (!(k in v)) errs.push(`${at}: missing ${k}`);
    for (const [k, x] of Object.entries(v)) {
      if (k in props) errs.push(...schemaErrors(props[k], x, root, `${at}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${at}: extra property ${k}`);
      else if (isObj(s.additionalProperties)) errs.push(...schemaErrors(s.additionalProperties, x, root, `${at}.${k}`));
    }
  }
  return errs;
}
