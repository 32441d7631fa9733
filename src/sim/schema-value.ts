/**
 * A value that fits a JSON Schema: what the simulator puts in a tool call's arguments, so a
 * caller that validates them against the tool's `parameters` (or `input_schema`) finds them
 * valid. Deterministic: the same schema and the same random source give the same value.
 *
 * Understood: `type` (a name or a list; Gemini's upper-case names too), `enum`, `const`,
 * `properties` + `required` (required properties always, optional ones on a coin toss),
 * `additionalProperties` (none added beyond `minProperties`), `items` / `prefixItems` (and the
 * draft-4 tuple `items: [...]`), `minItems` / `maxItems` / `uniqueItems`, `minimum` / `maximum` /
 * `exclusiveMinimum` / `exclusiveMaximum` (numbers or draft-4 booleans) / `multipleOf`,
 * `minLength` / `maxLength`, common `format`s (date-time, date, time, email, uri, uuid, ipv4,
 * hostname), `anyOf` / `oneOf` (a non-null branch), `allOf` (merged), local `$ref`s (`#/…`).
 * Not understood: `pattern`, `not`, `if`/`then`, `contains`, `dependent*` — a schema relying on
 * them may get a value it rejects. Numeric keywords given as strings (Gemini's int64 fields in
 * proto JSON, e.g. `"minItems": "1"`) are read as numbers.
 */
import { SIM_WORDS } from './text.js';

type Rnd = () => number;
type Schema = Record<string, unknown>;

/** Below this depth optional properties are left out and arrays kept at their minimum, so recursive schemas end. */
const OPTIONAL_DEPTH = 4;
/** A schema whose required properties recurse forever has no finite instance: give up with null. */
const MAX_DEPTH = 16;
/** The ASCII words of the vocabulary (emails, hosts, URLs). */
const ASCII_WORDS = SIM_WORDS.filter((w) => /^[a-z]+$/.test(w));

function isObj(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function pick<T>(list: readonly T[], rnd: Rnd): T {
  return list[Math.floor(rnd() * list.length)]!;
}

/** A value fitting `schema`; `rnd` returns floats in [0, 1). */
export function schemaValue(schema: unknown, rnd: Rnd): unknown {
  return gen(schema, schema, rnd, 0);
}

/** The schema `#/a/b` points to in `root`, or an empty (anything-goes) schema. */
function resolveRef(ref: string, root: unknown): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return {};
  let cur: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    let key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    try {
      key = decodeURIComponent(key);
    } catch {
      // keep it as written
    }
    if (!isObj(cur) || !(key in cur)) return {};
    cur = cur[key];
  }
  return cur;
}

/** `$ref` and `allOf` folded into one schema (the referenced one, with the siblings laid over it). */
function flatten(s: Schema, root: unknown, depth: number): Schema {
  let out = s;
  if (typeof out.$ref === 'string' && depth <= MAX_DEPTH) {
    const { $ref, ...rest } = out;
    const target = resolveRef($ref as string, root);
    out = { ...(isObj(target) ? flatten(target, root, depth + 1) : {}), ...rest };
  }
  if (Array.isArray(out.allOf)) {
    const { allOf, ...rest } = out;
    let merged: Schema = {};
    for (const part of [...(allOf as unknown[]), rest]) {
      if (!isObj(part)) continue;
      const p = flatten(part, root, depth + 1);
      const properties = { ...(isObj(merged.properties) ? merged.properties : {}), ...(isObj(p.properties) ? p.properties : {}) };
      const required = [...(Array.isArray(merged.required) ? merged.required : []), ...(Array.isArray(p.required) ? p.required : [])];
      merged = { ...merged, ...p, properties, required };
    }
    out = merged;
  }
  return out;
}

function typeOf(s: Schema): string {
  const t = s.type;
  if (typeof t === 'string') return t.toLowerCase();
  if (Array.isArray(t)) {
    const names = t.filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase());
    return names.find((x) => x !== 'null') ?? names[0] ?? 'any';
  }
  if (isObj(s.properties) || Array.isArray(s.required) || s.additionalProperties !== undefined) return 'object';
  if (s.items !== undefined || Array.isArray(s.prefixItems)) return 'array';
  if (s.minimum !== undefined || s.maximum !== undefined || s.multipleOf !== undefined) return 'number';
  return 'any';
}

function isNullOnly(s: unknown): boolean {
  return isObj(s) && (s.type === 'null' || s.type === 'NULL');
}

function gen(schema: unknown, root: unknown, rnd: Rnd, depth: number): unknown {
  if (depth > MAX_DEPTH) return null;
  if (!isObj(schema)) return schema === false ? null : pick(SIM_WORDS, rnd);
  const s = flatten(schema, root, depth);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return pick(s.enum, rnd);
  const alt = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : null;
  if (alt !== null && alt.length > 0) {
    // A value is more useful to a caller than null: take a non-null branch when there is one.
    const branches = alt.filter((b) => !isNullOnly(b));
    const { anyOf: _a, oneOf: _o, ...rest } = s;
    const branch = pick(branches.length > 0 ? branches : alt, rnd);
    return gen(isObj(branch) ? { ...rest, ...branch } : branch, root, rnd, depth + 1);
  }
  switch (typeOf(s)) {
    case 'object':
      return objectValue(s, root, rnd, depth);
    case 'array':
      return arrayValue(s, root, rnd, depth);
    case 'integer':
      return integerValue(s, rnd);
    case 'number':
      return numberValue(s, rnd);
    case 'boolean':
      return rnd() < 0.5;
    case 'null':
      return null;
    default:
      return stringValue(s, rnd);
  }
}

function objectValue(s: Schema, root: unknown, rnd: Rnd, depth: number): Record<string, unknown> {
  const props = isObj(s.properties) ? s.properties : {};
  const required = new Set(Array.isArray(s.required) ? s.required.filter((k): k is string => typeof k === 'string') : []);
  const extra = isObj(s.additionalProperties) ? s.additionalProperties : {};
  const out: Record<string, unknown> = {};
  const optional: string[] = [];
  for (const [k, sub] of Object.entries(props)) {
    if (required.has(k) || (depth < OPTIONAL_DEPTH && rnd() < 0.5)) out[k] = gen(sub, root, rnd, depth + 1);
    else optional.push(k);
  }
  for (const k of required) if (!(k in out)) out[k] = gen(extra, root, rnd, depth + 1);
  const minProps = num(s.minProperties) ?? 0;
  for (const k of optional) {
    if (Object.keys(out).length >= minProps) break;
    out[k] = gen(props[k], root, rnd, depth + 1);
  }
  for (let i = 0; Object.keys(out).length < minProps && s.additionalProperties !== false; i++) {
    if (!(`key${i}` in out)) out[`key${i}`] = gen(extra, root, rnd, depth + 1);
  }
  return out;
}

function arrayValue(s: Schema, root: unknown, rnd: Rnd, depth: number): unknown[] {
  const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : [];
  const rest = Array.isArray(s.items) ? s.additionalItems : s.items;
  const min = Math.max(0, num(s.minItems) ?? 0);
  const max = Math.max(min, num(s.maxItems) ?? Infinity);
  let count = min;
  if (depth < OPTIONAL_DEPTH) {
    const lo = Math.min(Math.max(min, 1), max);
    count = lo + Math.floor(rnd() * (Math.min(max, lo + 2) - lo + 1));
  }
  if (rest === false) count = Math.min(count, tuple.length);
  const out: unknown[] = [];
  const seen = new Set<string>();
  // uniqueItems: draw again on a duplicate, a bounded number of times (an enum may be too small).
  for (let i = 0, tries = 0; out.length < count && tries < count + 16; tries++) {
    const sub = i < tuple.length ? tuple[i] : rest === undefined ? {} : rest;
    const v = gen(sub, root, rnd, depth + 1);
    if (s.uniqueItems === true) {
      const key = JSON.stringify(v);
      if (seen.has(key)) continue;
      seen.add(key);
    }
    out.push(v);
    i++;
  }
  return out;
}

/** Bounds from minimum / maximum / exclusive*, numbers (2019+) or draft-4 booleans. */
function bounds(s: Schema): { lo?: number; hi?: number; exLo: boolean; exHi: boolean } {
  let lo = num(s.minimum);
  let hi = num(s.maximum);
  let exLo = s.exclusiveMinimum === true;
  let exHi = s.exclusiveMaximum === true;
  const eLo = num(s.exclusiveMinimum);
  const eHi = num(s.exclusiveMaximum);
  if (eLo !== undefined && (lo === undefined || eLo >= lo)) [lo, exLo] = [eLo, true];
  if (eHi !== undefined && (hi === undefined || eHi <= hi)) [hi, exHi] = [eHi, true];
  return { lo, hi, exLo, exHi };
}

function integerValue(s: Schema, rnd: Rnd): number {
  const b = bounds(s);
  let lo = b.lo === undefined ? undefined : b.exLo ? Math.floor(b.lo) + 1 : Math.ceil(b.lo);
  let hi = b.hi === undefined ? undefined : b.exHi ? Math.ceil(b.hi) - 1 : Math.floor(b.hi);
  if (lo === undefined) lo = hi === undefined ? 0 : hi - 100;
  if (hi === undefined) hi = lo + 100;
  const m = num(s.multipleOf);
  if (m !== undefined && m > 0) {
    const kLo = Math.ceil(lo / m);
    const kHi = Math.floor(hi / m);
    if (kLo <= kHi) return Number(((kLo + Math.floor(rnd() * Math.min(kHi - kLo + 1, 100))) * m).toFixed(10));
  }
  return hi < lo ? lo : lo + Math.floor(rnd() * (hi - lo + 1));
}

function numberValue(s: Schema, rnd: Rnd): number {
  const { lo: l, hi: h, exLo, exHi } = bounds(s);
  const lo = l ?? (h === undefined ? 0 : h - 100);
  const hi = h ?? lo + 100;
  const m = num(s.multipleOf);
  if (m !== undefined && m > 0) {
    const kLo = exLo ? Math.floor(lo / m) + 1 : Math.ceil(lo / m);
    const kHi = exHi ? Math.ceil(hi / m) - 1 : Math.floor(hi / m);
    if (kLo <= kHi) return Number(((kLo + Math.floor(rnd() * Math.min(kHi - kLo + 1, 100))) * m).toFixed(10));
  }
  const v = Math.round((lo + rnd() * (hi - lo)) * 100) / 100;
  const inside = (x: number): boolean => (exLo ? x > lo : x >= lo) && (exHi ? x < hi : x <= hi);
  return inside(v) ? v : (lo + hi) / 2;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function formatted(format: string, rnd: Rnd): string | undefined {
  const d2 = (lo: number, hi: number): string => String(lo + Math.floor(rnd() * (hi - lo + 1))).padStart(2, '0');
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
  switch (format) {
    case 'date-time':
      return `2025-${d2(1, 12)}-${d2(1, 28)}T${d2(0, 23)}:${d2(0, 59)}:${d2(0, 59)}Z`;
    case 'date':
      return `2025-${d2(1, 12)}-${d2(1, 28)}`;
    case 'time':
      return `${d2(0, 23)}:${d2(0, 59)}:${d2(0, 59)}Z`;
    case 'email':
      return `${pick(ASCII_WORDS, rnd)}@example.com`;
    case 'hostname':
      return `${pick(ASCII_WORDS, rnd)}.example.com`;
    case 'uri':
    case 'url':
      return `https://example.com/${pick(ASCII_WORDS, rnd)}`;
    case 'uuid':
      return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(rnd() * 4)]}${hex(3)}-${hex(12)}`;
    case 'ipv4':
      return Array.from({ length: 4 }, () => Math.floor(rnd() * 256)).join('.');
    default:
      return undefined;
  }
}

function stringValue(s: Schema, rnd: Rnd): string {
  const f = typeof s.format === 'string' ? formatted(s.format, rnd) : undefined;
  if (f !== undefined) return f;
  const min = num(s.minLength) ?? 0;
  const max = num(s.maxLength) ?? Infinity;
  const words = 1 + Math.floor(rnd() * 3);
  let out = pick(SIM_WORDS, rnd);
  for (let i = 1; i < words || codePoints(out) < min; i++) out += ' ' + pick(SIM_WORDS, rnd);
  if (codePoints(out) > max) out = Array.from(out).slice(0, max).join('');
  return out;
}
