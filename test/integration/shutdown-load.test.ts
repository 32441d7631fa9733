/**
 * Graceful shutdown under load (issue 7): a real proxy process (`node --import=tsx src/main.ts`,
 * temp config, the built-in simulator slowed down) with 200 open streams gets SIGTERM.
 * Half of the streams can finish within the grace period, half cannot. Every one must end within
 * the grace period (plus a small margin to write the frames): the short ones with `[DONE]`, the
 * long ones with an error frame (`server_shutdown`); none hangs, none is cut silently; new
 * requests are answered 503 `server_shutdown` at once (not refused: a load balancer still routing
 * here gets an answer); the process exits 0.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chatBody, dataPayloads } from '../helpers/fault-upstream.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STREAMS = 200;
const GRACE_MS = 1_500;
/** Time allowed past the grace period for the last frames and the exit. */
const MARGIN_MS = 1_000;
const TOKEN_MS = 40;

interface StreamEnd {
  kind: 'done' | 'error_frame' | 'cut' | 'failed';
  at: number;
  code?: string | null;
}

/** Open one stream; resolves when its first frame arrived, with a promise of how it ends. */
function openStream(url: string, maxTokens: number): Promise<{ end: Promise<StreamEnd> }> {
  return new Promise((resolveOpen, rejectOpen) => {
    const body = JSON.stringify(chatBody('sim-load', { max_tokens: maxTokens }));
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', rejectOpen);
    req.on('response', (res) => {
      let text = '';
      let opened = false;
      const end = new Promise<StreamEnd>((resolveEnd) => {
        const finish = (failed: boolean): void => {
          const data = dataPayloads(text);
          const last = data[data.length - 1];
          if (failed) return resolveEnd({ kind: 'failed', at: Date.now() });
          if (last === '[DONE]') return resolveEnd({ kind: 'done', at: Date.now() });
          try {
            const err = (JSON.parse(last ?? '') as { error?: { code: string | null } }).error;
            if (err) return resolveEnd({ kind: 'error_frame', at: Date.now(), code: err.code });
          } catch {
            /* not an error frame */
          }
          resolveEnd({ kind: 'cut', at: Date.now() });
        };
        res.on('end', () => finish(false));
        res.on('error', () => finish(true));
        res.on('aborted', () => finish(true));
      });
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (!opened && text.includes('\n\n')) {
          opened = true;
          resolveOpen({ end });
        }
      });
    });
    req.end(body);
  });
}

function waitExit(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    proc.once('exit', (code) => resolve(code));
  });
}

describe('graceful shutdown under load (integration, real process)', function () {
  this.timeout(20_000);
  let dir: string;
  let proc: ChildProcess | null = null;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'proxy-shutdown-'));
  });
  after(() => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it(`SIGTERM with ${STREAMS} open streams: each finishes or ends with an error frame within the grace period; exit 0`, async () => {
    const configFile = path.join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0, shutdownGraceMs: GRACE_MS, keepAliveMs: 10_000 },
        upstreams: { sim: { type: 'sim', sim: { ttftMs: 20, tokenDelayMs: TOKEN_MS, defaultMaxTokens: 16 } } },
        models: [{ match: 'sim-*', upstream: 'sim' }],
        logging: { level: 'warn' },
        metrics: { enabled: true },
      }),
    );
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', CONFIG_FILE: configFile, LOG_LEVEL: 'info' };
    proc = spawn(process.execPath, ['--import=tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => logs.push(...d.split('\n').filter(Boolean)));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => logs.push(...d.split('\n').filter(Boolean)));
    const exited = waitExit(proc);

    const url = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = logs.map((l) => /listening on (http:\/\/[\d.:]+)/.exec(l)).find(Boolean);
        if (m) {
          clearInterval(t);
          resolve(m[1]!);
        } else if (proc!.exitCode !== null) {
          clearInterval(t);
          reject(new Error(`proxy exited: ${logs.join('\n')}`));
        }
      }, 20);
    });

    // Half can finish inside the grace period (10 tokens ≈ 0.4 s), half cannot (1000 tokens ≈ 40 s).
    const short = Math.floor(GRACE_MS / TOKEN_MS / 4);
    const opened = await Promise.all(Array.from({ length: STREAMS }, (_, i) => openStream(url, i % 2 === 0 ? short : 1000)));

    const t0 = Date.now();
    proc.kill('SIGTERM');
    // New callers are answered 503 once the signal is handled: poll (bounded) until one is.
    const tryRequest = (): Promise<string> =>
      new Promise((resolve) => {
        http.get(`${url}/v1/models`, { agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve(res.statusCode === 503 && res.headers.connection === 'close' ? ((JSON.parse(body) as { error: { code: string } }).error.code) : `answered ${res.statusCode}`));
        }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
    let outcome = await tryRequest();
    for (let i = 0; i < 40 && outcome === 'answered 200'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      outcome = await tryRequest();
    }
    assert.equal(outcome, 'server_shutdown', 'new callers are answered 503 server_shutdown with Connection: close');

    const limit = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), GRACE_MS + MARGIN_MS + 2_000).unref());
    const ends = await Promise.all(opened.map((o) => Promise.race([o.end, limit])));
    const code = await Promise.race([exited, limit]);

    const count = (k: string): number => ends.filter((e) => e !== 'hung' && e.kind === k).length;
    const hung = ends.filter((e) => e === 'hung').length;
    const lastEnd = Math.max(...ends.map((e) => (e === 'hung' ? Infinity : e.at))) - t0;
    const summary = `done ${count('done')}, error frame ${count('error_frame')}, cut ${count('cut')}, failed ${count('failed')}, hung ${hung}; last end +${lastEnd} ms; exit ${String(code)} at +${Date.now() - t0} ms`;
    console.log(`      shutdown: ${summary}`);
    assert.equal(hung, 0, summary);
    assert.equal(count('cut') + count('failed'), 0, `no silent truncation: ${summary}`);
    assert.equal(count('done'), STREAMS / 2, summary);
    assert.equal(count('error_frame'), STREAMS / 2, summary);
    assert.ok(
      ends.every((e) => e === 'hung' || e.kind !== 'error_frame' || e.code === 'server_shutdown'),
      'the error frames say the proxy is shutting down',
    );
    assert.ok(lastEnd <= GRACE_MS + MARGIN_MS, `every stream ended within the grace period (+${lastEnd} ms)`);
    assert.equal(code, 0, `exit code: ${logs.slice(-5).join('\n')}`);
  });
});
