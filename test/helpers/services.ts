import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port));
    });
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Prom { url: string; proc: ChildProcess; stop(): Promise<void> }

/** Start a throw-away Prometheus that scrapes `targets` every 1s. Resolves when /-/ready is 200. */
export async function startPrometheus(targets: string[], job = 'proxy'): Promise<Prom> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'prom-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1s}\n` +
    `scrape_configs:\n  - job_name: ${job}\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`);
  const proc = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${port}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = ''; proc.stderr!.on('data', (d) => { stderr += d; });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5000).then(() => proc.kill('SIGKILL'))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {                     // <= ~10 s
    if (proc.exitCode !== null) break;
    try { if ((await fetch(`${url}/-/ready`)).ok) return { url, proc, stop }; } catch { /* not up yet */ }
    await sleep(100);
  }
  await stop();
  throw new Error(`prometheus did not become ready: ${stderr}`);
}

/** Instant query; returns the result vector. */
export async function promQuery(url: string, q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const j = await r.json() as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (j.status !== 'success') throw new Error(JSON.stringify(j));
  return j.data.result;
}

/** Poll until `q` returns a non-empty vector (first scrape lands ~5-6 s after start). */
export async function waitForSeries(url: string, q: string, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const res = await promQuery(url, q);
    if (res.length) return res;
    await sleep(250);
  }
  throw new Error(`no series for ${q} within ${timeoutMs} ms`);
}

export interface RedisSrv { url: string; port: number; proc: ChildProcess; stop(): Promise<void> }

/**
 * Start a throw-away redis-server (no persistence) on a free loopback port, or on `port` (to
 * restart one that was stopped, so clients reconnect to the same URL); resolves on first PING reply.
 */
export async function startRedis(port?: number): Promise<RedisSrv> {
  port ??= await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--dir', os.tmpdir(), '--loglevel', 'warning'], { stdio: 'ignore' });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000).then(() => proc.kill('SIGKILL'))]);
  };
  for (let i = 0; i < 100; i++) {                     // <= ~5 s
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
      s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
      s.once('error', () => resolve(false));
    });
    if (proc.exitCode !== null) break; // e.g. the port is taken
    if (ok) return { url: `redis://127.0.0.1:${port}`, port, proc, stop };
    await sleep(50);
  }
  await stop();
  throw new Error(`redis-server did not answer PING on port ${port}`);
}
