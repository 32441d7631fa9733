/**
 * Config loading: YAML file → `${ENV}` interpolation → env overrides → zod validation → frozen.
 * Every problem is collected into one {@link ConfigError} so a user fixes them in one pass
 * (README "Configuration": "one message listing every problem, exit code 1").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { budgetProblems } from './budgets.js';

/** Raised when the configuration cannot be used; `problems` lists each one. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The loaded config plus notes for the start-up log (e.g. routes dropped for want of a key). */
export interface LoadedConfig {
  config: Config;
  source: string;
  notes: string[];
}

/** The repository's `config/default.yaml`, found relative to this module (src/ or dist/). */
export function defaultConfigPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/default.yaml');
}

type Env = Record<string, string | undefined>;

/**
 * Replace `${VAR}` and `${VAR:-fallback}` in every string of a parsed YAML tree.
 *
 * `${VAR}` with VAR not defined at all is a problem naming the variable and the config path: an
 * empty string there would start an upstream with no `Authorization` header, or a key with no
 * secret, and every later error would name neither (test/integration/config.test.ts). A variable
 * defined as the empty string is set. `${VAR:-}` (empty allowed) and `${VAR:-default}` keep the
 * shell's meaning: the fallback stands in for an unset or empty variable.
 */
export function interpolate(value: unknown, env: Env, problems: string[], where = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (fallback !== undefined) return v !== undefined && v !== '' ? v : fallback;
      if (v !== undefined) return v;
      problems.push(`${where || '(top level)'}: environment variable ${name} is not set (write \${${name}:-} to allow it empty)`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, problems, `${where}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, problems, where ? `${where}.${k}` : k);
    return out;
  }
  return value;
}

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (next === null || typeof next !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/** Apply the documented env overrides (.env.example) on top of the file. */
function applyEnvOverrides(raw: Record<string, unknown>, env: Env, problems: string[]): void {
  const int = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v)) {
      problems.push(`env ${name}: expected a whole number, got "${v}"`);
      return undefined;
    }
    return Number(v);
  };
  const port = int('PORT');
  if (port !== undefined) setPath(raw, ['server', 'port'], port);
  if (env.HOST) setPath(raw, ['server', 'host'], env.HOST);
  if (env.LOG_LEVEL) setPath(raw, ['logging', 'level'], env.LOG_LEVEL);
  if (env.LOG_CONTENT !== undefined && env.LOG_CONTENT !== '') {
    const v = env.LOG_CONTENT.toLowerCase();
    if (v === 'true' || v === '1') setPath(raw, ['logging', 'content'], true);
    else if (v === 'false' || v === '0') setPath(raw, ['logging', 'content'], false);
    else problems.push(`env LOG_CONTENT: expected true or false, got "${env.LOG_CONTENT}"`);
  }
  if (env.REDIS_URL) raw.redisUrl = env.REDIS_URL;
}

/**
 * Drop upstreams whose `enabledIfEnv` vars are all unset, and the routes (or deployments) that
 * point at them; check that every remaining route names a known upstream.
 */
function resolveUpstreams(config: Config, env: Env, problems: string[], notes: string[]): Config {
  const disabled = new Set<string>();
  const upstreams: Config['upstreams'] = {};
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (u.enabledIfEnv && !u.enabledIfEnv.some((v) => (env[v] ?? '') !== '')) {
      disabled.add(name);
      notes.push(`upstream "${name}" is off: set ${u.enabledIfEnv.join(' or ')} to enable it`);
      continue;
    }
    if (u.type === 'openai' && u.baseUrl === '') problems.push(`upstreams.${name}.baseUrl: required for type "openai"`);
    upstreams[name] = u;
  }
  const models: Config['models'] = [];
  config.models.forEach((r, i) => {
    const deployments = r.deployments ?? [{ upstream: r.upstream!, weight: 1, priority: 0 }];
    const kept = deployments.filter((d) => !disabled.has(d.upstream));
    for (const d of kept) {
      if (!upstreams[d.upstream]) problems.push(`models[${i}] (${r.match}): unknown upstream "${d.upstream}"`);
    }
    if (kept.length === 0) {
      notes.push(`route "${r.match}" is off: its upstream is disabled`);
      return;
    }
    models.push({ ...r, upstream: undefined, deployments: kept });
  });
  return { ...config, upstreams, models };
}

/**
 * When the schema already failed, still report routes naming unknown upstreams, so one run lists
 * every problem, not one kind per run (test/integration/config.test.ts).
 */
function rawReferenceProblems(raw: Record<string, unknown>): string[] {
  const upstreams = raw.upstreams !== null && typeof raw.upstreams === 'object' ? Object.keys(raw.upstreams) : [];
  if (!Array.isArray(raw.models)) return [];
  const out: string[] = [];
  raw.models.forEach((r: unknown, i) => {
    if (r === null || typeof r !== 'object') return;
    const route = r as { match?: unknown; upstream?: unknown; deployments?: unknown };
    const names = [route.upstream, ...(Array.isArray(route.deployments) ? route.deployments.map((d: { upstream?: unknown } | null) => d?.upstream) : [])];
    for (const n of names) {
      if (typeof n === 'string' && !upstreams.includes(n)) out.push(`models[${i}] (${String(route.match)}): unknown upstream "${n}"`);
    }
  });
  return out;
}

/**
 * An upstream switched off by `enabledIfEnv` (all its variables unset) is not used, so an unset
 * `${VAR}` inside it is no problem: `apiKey: ${OPENAI_API_KEY}` with
 * `enabledIfEnv: [OPENAI_API_KEY]` is the way to say "only when the key is there".
 */
function underDisabledUpstream(problem: string, raw: Record<string, unknown>, env: Env): boolean {
  const name = /^upstreams\.([^.[:]+)[.:[]/.exec(problem)?.[1];
  const ups = raw.upstreams;
  if (name === undefined || ups === null || typeof ups !== 'object') return false;
  const u = (ups as Record<string, unknown>)[name];
  const vars = u !== null && typeof u === 'object' ? (u as { enabledIfEnv?: unknown }).enabledIfEnv : undefined;
  return Array.isArray(vars) && vars.length > 0 && !vars.some((v) => typeof v === 'string' && (env[v] ?? '') !== '');
}

/** Freeze `o` and everything under it: a configuration is read by every request and changed by none. */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/**
 * Build a validated config from an already-parsed object (tests use this directly) and env.
 * @throws ConfigError listing every problem
 */
export function buildConfig(rawInput: unknown, env: Env = process.env, source = 'inline'): LoadedConfig {
  const problems: string[] = [];
  const notes: string[] = [];
  const unset: string[] = [];
  const raw = (interpolate(rawInput ?? {}, env, unset) ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(source, ['the file must hold a YAML mapping']);
  problems.push(...unset.filter((p) => !underDisabledUpstream(p, raw, env)));
  applyEnvOverrides(raw, env, problems);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const at = issue.path.length ? issue.path.join('.') : '(top level)';
      problems.push(`${at}: ${issue.message}`);
    }
    problems.push(...rawReferenceProblems(raw));
    throw new ConfigError(source, problems);
  }
  const config = resolveUpstreams(parsed.data, env, problems, notes);
  problems.push(...budgetProblems(config));
  if (problems.length) throw new ConfigError(source, problems);
  return { config: deepFreeze(config), source, notes };
}

/**
 * Load `CONFIG_FILE` (or config/default.yaml) with env overrides.
 * @throws ConfigError listing every problem
 */
export function loadConfig(env: Env = process.env): LoadedConfig {
  const file = env.CONFIG_FILE ? path.resolve(env.CONFIG_FILE) : defaultConfigPath();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) throw new ConfigError(file, doc.errors.map((e) => e.message.split('\n')[0]!));
  return buildConfig(doc.toJS(), env, file);
}
