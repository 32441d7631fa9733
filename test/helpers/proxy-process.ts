/**
 * Start the proxy as a real process (`node --import=tsx src/main.ts`), as an operator runs it:
 * config from CONFIG_FILE, env overrides, JSON logs on stdout. Tests that need several instances
 * (issue 4: two proxies sharing one Redis) or the real start-up path use this; everything else
 * uses the in-process {@link import('./proxy.js').startTestProxy}.
 *
 * The process listens on PORT=0 unless a port is given; the URL is read from its "listening" log
 * line, so there is no race for a port. Every stdout/stderr line is kept in `logs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The environment variables the proxy reads (.env.example); none leaks in from the test's own env. */
const PROXY_ENV = ['PORT', 'HOST', 'CONFIG_FILE', 'UPSTREAM_BASE_URL', 'UPSTREAM_API_KEY', 'REDIS_URL', 'LOG_LEVEL', 'LOG_CONTENT', 'DEMO_API_KEY'];

export interface ProxyProcessOptions {
  /** Environment for the proxy (CONFIG_FILE, REDIS_URL, DEMO_API_KEY, …), over a clean copy of ours. */
  env?: Record<string, string>;
  /** How long to wait for the "listening" line (tsx compiles on start: ~1–2 s). Default 20 s. */
  startTimeoutMs?: number;
}

export interface ProxyProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** OpenAI SDK base URL. */
  baseURL: string;
  proc: ChildProcess;
  /** Every line written to stdout and stderr so far, in order. */
  logs: string[];
  /** Parsed JSON log lines (others skipped). */
  records(): Array<Record<string, unknown>>;
  /** Resolve with the first line (already written or to come) matching `re`; reject after `timeoutMs`. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs` (default 5 s). Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Every child still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of running) p.kill('SIGKILL');
  });
}

/** Spawn a proxy and resolve once it logs that it listens. Call stop() in after/afterEach. */
export async function startProxyProcess(opts: ProxyProcessOptions = {}): Promise<ProxyProcess> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of PROXY_ENV) delete env[k];
  Object.assign(env, { PORT: '0', LOG_LEVEL: 'info' }, opts.env);

  const proc = spawn(process.execPath, ['--import=tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  installExitHook();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => {
    running.delete(proc);
    resolve();
  }));

  const logs: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  const onLine = (line: string): void => {
    if (!line) return;
    logs.push(line);
    for (const w of waiters) {
      if (w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      lines.forEach(onLine);
    });
    stream.on('end', () => onLine(rest));
  }

  const waitForLog = (re: RegExp, timeoutMs = 5000): Promise<string> => {
    const seen = logs.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        re,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; logs:\n${logs.join('\n')}`));
      }, timeoutMs);
      waiters.add(w);
    });
  };

  const stop = async (graceMs = 5000): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    }
  };

  const startTimeoutMs = opts.startTimeoutMs ?? 20_000;
  const listening = waitForLog(/listening on http:\/\//, startTimeoutMs);
  const died = exited.then((): never => {
    throw new Error(`the proxy exited (code ${proc.exitCode}, signal ${proc.signalCode}) before listening:\n${logs.join('\n')}`);
  });
  // Whichever loses the race settles later; neither may become an unhandled rejection.
  listening.catch(() => {});
  died.catch(() => {});
  let line: string;
  try {
    line = await Promise.race([listening, died]);
  } catch (err) {
    await stop(1000);
    throw err;
  }
  const url = /listening on (http:\/\/[^\s"]+)/.exec(line)![1]!;
  return {
    url,
    baseURL: `${url}/v1`,
    proc,
    logs,
    records: () =>
      logs.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    waitForLog,
    stop,
  };
}
