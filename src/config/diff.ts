/**
 * What a configuration reload changes, and what of that only a restart can apply. Pure: compares
 * two validated configs, imports nothing of the app.
 *
 * Restart-only settings are those held by things built once per process: the listening socket
 * and the Node server's own limits (host, port, backlog, head size and timeouts, connection cap),
 * the upstream HTTP client (its kind and connect timeout), the Redis connection and the limiter
 * store's key layout, whether metrics are registered at all, the logger's redaction paths (compiled
 * into it), and the admin feed's replay buffer and keep-alive. Everything else is read per
 * request from the configuration the request started on (README "Change the configuration live").
 */
import { createHash } from 'node:crypto';
import type { Config } from './schema.js';

/** Paths (dotted) whose change needs a restart. */
export const RESTART_ONLY: readonly string[] = [
  'server.host',
  'server.port',
  'server.listenBacklog',
  'server.maxHeaderBytes',
  'server.headersTimeoutMs',
  'server.requestTimeoutMs',
  'server.timeoutCheckIntervalMs',
  'server.maxConnections',
  'server.upstreamClient',
  'server.connectTimeoutMs',
  'redisUrl',
  'rateLimit.redisKeyPrefix',
  'rateLimit.redisFailure',
  'rateLimit.concurrencyLeaseMs',
  'metrics.enabled',
  'logging.redactPaths',
  'admin.bufferSize',
  'admin.keepAliveMs',
  'reload',
  // the replay store's bounds are fixed when it is made (src/streams/)
  'resumable',
];

/** The difference between two configurations. */
export interface ConfigDiff {
  /** Dotted paths that changed and apply at once (`keys.team-a`, `upstreams.openai.baseUrl`, `models`). */
  changed: string[];
  /** Dotted paths that changed but keep their old value until a restart. */
  restartRequired: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Deep equality of two JSON-like values. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => same(a[k], b[k]));
  }
  return false;
}

/** Changed leaves below `path`, descending into objects; keys are compared by name. */
function walk(a: unknown, b: unknown, path: string, out: string[]): void {
  if (same(a, b)) return;
  if (isObject(a) && isObject(b) && !RESTART_ONLY.includes(path)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  out.push(path);
}

/** Key lists are compared by key name, so a change reads `keys.team-a` rather than `keys`. */
function byName(keys: Config['keys']): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k.name, k]));
}

/** What changed from `from` to `to`. */
export function diffConfig(from: Config, to: Config): ConfigDiff {
  const paths: string[] = [];
  walk({ ...from, keys: byName(from.keys) }, { ...to, keys: byName(to.keys) }, '', paths);
  // A changed key is reported by its name only: its fields may hold a secret's digest.
  const changed = new Set<string>();
  const restartRequired: string[] = [];
  for (const p of paths) {
    const restart = RESTART_ONLY.find((r) => p === r || p.startsWith(`${r}.`));
    if (restart !== undefined) restartRequired.push(restart);
    else changed.add(p.startsWith('keys.') ? p.split('.').slice(0, 2).join('.') : p);
  }
  return { changed: [...changed].sort(), restartRequired: [...new Set(restartRequired)].sort() };
}

/**
 * `to` with the restart-only settings of `running` put back: what the process actually runs after
 * a reload that changed some of them.
 */
export function keepRestartOnly(running: Config, to: Config): Config {
  const out = structuredClone(to) as Config & Record<string, unknown>;
  for (const path of RESTART_ONLY) {
    const parts = path.split('.');
    let src: unknown = running;
    let dst: Record<string, unknown> = out;
    for (const p of parts.slice(0, -1)) {
      src = isObject(src) ? src[p] : undefined;
      dst = dst[p] as Record<string, unknown>;
    }
    const last = parts.at(-1)!;
    const value = isObject(src) ? src[last] : undefined;
    if (value === undefined) delete dst[last];
    else dst[last] = value;
  }
  return out;
}

/**
 * A short digest of a configuration, the same on every instance that loaded the same file with
 * the same environment: operators compare it across instances (`/readyz`, the
 * `llm_proxy_config_info` gauge). A hash, so it shows no secret.
 */
export function configDigest(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}

/** How a reload ended: swapped (or nothing to swap), or refused with every problem listed. */
export type ReloadOutcome =
  | { ok: true; digest: string; changed: string[]; restartRequired: string[] }
  | { ok: false; problems: string[] };

/** What set a reload off. */
export type ReloadTrigger = 'signal' | 'api' | 'file' | 'test';
