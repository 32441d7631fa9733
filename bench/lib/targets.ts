/**
 * The processes a benchmark run measures and drives: the upstream (the lean mock, or the
 * built-in simulator), the raw byte pipe, the proxy (built JS from dist/, one config per
 * variant), and the load generator (forked, jobs over IPC). Shared by run.ts and profile.ts.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadResult } from '../load.js';
import { freePort, spawnNode, waitHttp, type Child } from './procs.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = path.join(ROOT, 'bench/.build/bench');

/** Env vars of the proxy that would change what we measure if they leaked in from the shell. */
const PROXY_ENV = ['PORT', 'HOST', 'CONFIG_FILE', 'UPSTREAM_BASE_URL', 'UPSTREAM_API_KEY', 'REDIS_URL', 'LOG_LEVEL', 'LOG_CONTENT'];

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(ext)) {
      newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/** The compiled proxy entry (tsconfig.build.json: rootDir src → dist/main.js). */
export function proxyMain(): string {
  for (const rel of ['dist/main.js', 'dist/src/main.js']) if (existsSync(path.join(ROOT, rel))) return path.join(ROOT, rel);
  return path.join(ROOT, 'dist/main.js');
}

/**
 * `npm run build` when dist/ is older than src/ (or missing), then compile the bench's own
 * child processes (bench/tsconfig.build.json → bench/.build).
 */
export function ensureBuilt(log: (s: string) => void): void {
  const main = proxyMain();
  const srcNewest = Math.max(newestMtime(path.join(ROOT, 'src'), '.ts'), statSync(path.join(ROOT, 'tsconfig.build.json')).mtimeMs);
  if (!existsSync(main) || statSync(main).mtimeMs < srcNewest) {
    log('dist/ is stale: npm run build');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  execFileSync('npx', ['--no-install', 'tsc', '-p', 'bench/tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/** A process serving HTTP on a loopback port. */
export interface Server extends Child {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The chat completions URL. */
  chatUrl: string;
  /** Headers the load generator must send (a proxy key). */
  headers: Record<string, string>;
}

function envFor(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !PROXY_ENV.includes(k)) env[k] = v;
  return { ...env, ...extra };
}

async function serve(name: string, args: string[], port: number, probe: string, env: Record<string, string> = {}, nodeFlags: string[] = []): Promise<Server> {
  const child = spawnNode(name, [...nodeFlags, ...args], envFor(env));
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(child, origin + probe);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { ...child, port, origin, chatUrl: `${origin}/v1/chat/completions`, headers: {} };
}

export interface UpstreamOptions {
  kind: 'mock' | 'sim';
  /** Delays for models other than `sim-fast` (which has none). */
  ttftMs: number;
  tokenDelayMs: number;
  /** Mock only: the end of each chunked body this long after `[DONE]`. */
  tailDelayMs?: number;
}

/** The upstream: bench/mock-upstream.ts (default) or the built-in simulator (`npm run sim`). */
export async function startUpstream(o: UpstreamOptions): Promise<Server> {
  const port = await freePort();
  const timing = ['--ttft-ms', String(o.ttftMs), '--token-delay-ms', String(o.tokenDelayMs)];
  if (o.kind === 'sim') return serve('sim', [path.join(ROOT, 'dist/sim/main.js'), '--port', String(port), ...timing], port, '/v1/models');
  return serve('mock', [path.join(BUILD, 'mock-upstream.js'), '--port', String(port), ...timing, '--tail-delay-ms', String(o.tailDelayMs ?? 0)], port, '/v1/models');
}

/** The floor: bench/raw-pipe.ts in front of `upstream`. */
export async function startPipe(upstream: Server, nodeFlags: string[] = []): Promise<Server> {
  const port = await freePort();
  return serve('pipe', [path.join(BUILD, 'raw-pipe.js'), upstream.origin, String(port)], port, '/v1/models', {}, nodeFlags);
}

/** What differs from the proxy's default configuration. */
export interface ProxyVariant {
  metrics: boolean;
  logLevel: 'info' | 'silent';
  logContent: boolean;
  /** A client key with rpm, tpm and maxConcurrent limits far above the load (so nothing is refused). */
  limits: boolean;
  redisUrl?: string;
  /** `server.upstreamClient` (default h1, the proxy's own HTTP/1.1 client). */
  upstreamClient?: 'h1' | 'node';
}

export const DEFAULT_VARIANT: ProxyVariant = { metrics: true, logLevel: 'info', logContent: false, limits: false };

/** The proxy config for a variant: the default config with one route to `upstream`. */
function proxyConfig(upstream: Server, port: number, v: ProxyVariant): string {
  const lines = [
    `server: { host: 127.0.0.1, port: ${port}${v.upstreamClient ? `, upstreamClient: ${v.upstreamClient}` : ''} }`,
    'upstreams:',
    `  bench: { type: openai, baseUrl: "${upstream.origin}/v1" }`,
    'models:',
    '  - { match: "*", upstream: bench }',
    `logging: { level: ${v.logLevel}, content: ${v.logContent} }`,
    `metrics: { enabled: ${v.metrics} }`,
  ];
  if (v.limits) {
    lines.push(
      'keys:',
      '  - name: bench',
      '    key: ${BENCH_API_KEY}',
      '    limits: { rpm: 100000000, tpm: 1000000000000, maxConcurrent: 100000 }',
    );
  }
  return lines.join('\n') + '\n';
}

/** Start the proxy from dist/ with a variant of the default config (port chosen here). */
export async function startProxy(upstream: Server, v: ProxyVariant, name = 'proxy', nodeFlags: string[] = [], main = proxyMain()): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-proxy-bench-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, proxyConfig(upstream, port, v));
  const key = `sk-bench-${randomBytes(12).toString('hex')}`;
  const env: Record<string, string> = { CONFIG_FILE: file, BENCH_API_KEY: key };
  if (v.redisUrl) env.REDIS_URL = v.redisUrl;
  const s = await serve(name, [main], port, '/healthz', env, nodeFlags);
  const stop = s.stop;
  return {
    ...s,
    headers: v.limits ? { authorization: `Bearer ${key}` } : {},
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Start the proxy from dist/ with a whole config of the caller's (bench/formats.ts: several
 * upstreams and routes), made for the port chosen here. Otherwise as {@link startProxy}.
 */
export async function startProxyWithConfig(
  name: string,
  config: (port: number) => string,
  nodeFlags: string[] = [],
  main = proxyMain(),
): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-proxy-bench-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, config(port));
  const s = await serve(name, [main], port, '/healthz', { CONFIG_FILE: file }, nodeFlags);
  const stop = s.stop;
  return {
    ...s,
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The load generator process: one job at a time over IPC. */
export class LoadClient {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  private constructor(readonly child: Child) {
    child.proc.on('message', (m: { id: number; result?: LoadResult; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.result) p.resolve(m.result);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    child.proc.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${code}): ${child.stderrTail()}`));
      this.pending.clear();
    });
  }

  static start(): LoadClient {
    return new LoadClient(spawnNode('load', [path.join(BUILD, 'load.js')], envFor({}), true));
  }

  get pid(): number {
    return this.child.pid;
  }

  run(job: LoadJob): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const id = ++this.nextId;
      this.pending.set(id, { resolve, reject });
      this.child.proc.send({ id, job });
    });
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}
