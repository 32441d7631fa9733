/**
 * `logging.redactPaths` applied to logged content: the same paths pino censors in every logged
 * object, here censored in the bounded copy of a request body (content logging, `content.ts`).
 */
import { CENSOR } from './secrets.js';

/**
 * Parse a redact path: `a.b`, `a.*.b`, `a[*].b`, `a[0]`, `a["x-y"]`, `a['x']` (pino's syntax;
 * the same paths go to pino, which refuses a malformed one when the logger is built at start-up).
 * @throws Error on a path it cannot read.
 */
export function parsePath(path: string): string[] {
  const segs: string[] = [];
  const re = /\.?([^.[\]"']+)|\[(?:"([^"]*)"|'([^']*)'|(\*|\d+))\]/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path)) !== null) segs.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  if (re.lastIndex !== path.length || segs.length === 0) throw new Error(`cannot read redact path "${path}"`);
  return segs;
}

/** Censor every value at `paths` in `obj` (mutates and returns it); `*` matches any key or index. */
export function redactPaths(obj: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  for (const p of paths) {
    let segs: string[];
    try {
      segs = parsePath(p);
    } catch {
      continue;
    }
    censorAt(obj, segs, 0);
  }
  return obj;
}

function censorAt(node: unknown, segs: readonly string[], i: number): void {
  if (typeof node !== 'object' || node === null) return;
  const o = node as Record<string, unknown>;
  const seg = segs[i]!;
  const keys = seg === '*' ? Object.keys(o) : Object.prototype.hasOwnProperty.call(o, seg) ? [seg] : [];
  for (const k of keys) {
    if (i === segs.length - 1) o[k] = CENSOR;
    else censorAt(o[k], segs, i + 1);
  }
}
