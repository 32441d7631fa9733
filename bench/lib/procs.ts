/**
 * Child processes of the benchmark: spawned with the open-file limit raised to the hard limit
 * (5,000 concurrent streams need ~10,000 sockets in a proxy), waited for until they answer HTTP,
 * and stopped by their own pid (SIGTERM, then SIGKILL) — never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last lines of stderr (for a crash report). */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** A free loopback port (tiny race between closing and the child binding it; fine here). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Spawn `node <args>` through bash so `ulimit -n` can be raised to the hard limit first; `exec`
 * keeps the pid, so /proc/<pid> is node's own. stdout is discarded (the proxy's request log goes
 * to /dev/null: what logging costs is serialising and writing, not a disk), stderr is kept.
 */
export function spawnNode(name: string, args: string[], env: Record<string, string> = {}, ipc = false): Child {
  // BENCH_STDOUT_DIR=dir keeps each child's stdout in dir/<name>.log (e.g. `--trace-gc` output).
  const dir = process.env.BENCH_STDOUT_DIR;
  const out = dir ? openSync(path.join(dir, `${name}.log`), 'w') : 'ignore';
  const proc = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, 'pipe', ...(ipc ? ['ipc' as const] : [])],
  });
  // The child has its own copy of the descriptor.
  if (typeof out === 'number') closeSync(out);
  let tail = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    tail = (tail + d).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
    if (killed) {
      proc.kill('SIGKILL');
      await Promise.race([exited, sleep(2_000)]);
    }
  };
  return { name, proc, pid: proc.pid!, stderrTail: () => tail, stop };
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Wait until `url` answers 2xx (at most `timeoutMs`); throws with the child's stderr otherwise. */
export async function waitHttp(child: Child, url: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.proc.exitCode !== null) break;
    try {
      const status = await get(url);
      if (status >= 200 && status < 300) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not answer ${url} within ${timeoutMs} ms (exit ${child.proc.exitCode}):\n${child.stderrTail()}`);
}

/**
 * What a benchmark run starts, stopped together: at the end, when the run goes over its time
 * budget (exit 1), and on SIGINT/SIGTERM (exit 130), so no child outlives the run.
 */
export function guardChildren(budgetMs: number, log: (s: string) => void): { children: Array<{ stop(): Promise<void> }>; stopAll(): Promise<void>; disarm(): void } {
  const children: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(children.splice(0).map((c) => c.stop().catch(() => undefined)));
  };
  const watchdog = setTimeout(() => {
    log(`!! over the ${budgetMs / 60_000} min budget: stopping`);
    void stopAll().finally(() => process.exit(1));
  }, budgetMs);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stopAll().finally(() => process.exit(130)));
  return { children, stopAll, disarm: () => clearTimeout(watchdog) };
}
