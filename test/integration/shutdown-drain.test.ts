/**
 * Start and stop as an operator and a load balancer see them, on a real process
 * (`node src/main.ts`): SIGTERM drains — /readyz 503 at once, new requests ANSWERED 503
 * `server_shutdown` with `Connection: close` instead of refused, the open stream finishes, the
 * process exits 0 as soon as it has (not at the end of the grace period) with "bye" as the last
 * log line — and a port already taken stops the start with one line naming the address.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { DONE, finishChunk, frame, openSse, rawRequest, roleChunk, startUpstream, tokenChunk, within, type TestUpstream } from '../helpers/upstream.js';

/** Long, so exiting "soon after the stream ends" cannot be the grace period running out. */
const GRACE_MS = 20_000;

describe('drain on SIGTERM and listen errors (process)', function () {
  this.timeout(30_000);
  let tmp: string;
  let upstream: TestUpstream;
  let proxy: ProxyProcess | null = null;

  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'proxy-drain-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));
  beforeEach(async () => {
    upstream = await startUpstream();
  });
  afterEach(async () => {
    await proxy?.stop(1000);
    proxy = null;
    await upstream.close();
  });

  function configFile(): string {
    const file = path.join(tmp, 'drain.yaml');
    writeFileSync(
      file,
      stringify({
        server: { host: '127.0.0.1', port: 8080, shutdownGraceMs: GRACE_MS },
        upstreams: { up: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'sk-upstream-test' } },
        models: [{ match: 'up-*', upstream: 'up' }],
      }),
    );
    return file;
  }

  it('SIGTERM: /readyz 503, new requests 503 server_shutdown with Connection: close, the open stream ends, exit 0 at once, "bye" last', async () => {
    proxy = await startProxyProcess({ env: { CONFIG_FILE: configFile() } });
    const p = proxy;
    // 'close', not 'exit': the child's stdout is read to its end, so its last line is in p.logs.
    const exited = new Promise<number | null>((resolve) => p.proc.once('close', (code: number | null) => resolve(code)));
    // A keep-alive connection the load balancer holds, used once before the signal.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await rawRequest(`${p.url}/readyz`, { agent })).status, 200);

    // The proxy sends its response head once the upstream answers: open, then answer.
    const opening = openSse(`${p.baseURL}/chat/completions`, { body: { model: 'up-1', messages: [{ role: 'user', content: 'hi' }], stream: true } });
    const call = await upstream.next();
    call.sseHead();
    await call.write(frame(roleChunk()) + frame(tokenChunk('Hello')));
    const stream = await within(5000, opening, 'the stream to open');
    await stream.frame(1);

    p.proc.kill('SIGTERM');
    await p.waitForLog(/shutting down/);

    const ready = await rawRequest(`${p.url}/readyz`, { agent });
    assert.equal(ready.status, 503, 'readiness fails at once');
    assert.equal(ready.headers.connection, 'close', 'the keep-alive connection ends after this answer');

    // A request still routed here, on a new connection: answered, not refused.
    const late = await rawRequest(`${p.baseURL}/chat/completions`, { body: { model: 'up-1', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(late.status, 503, late.body);
    assert.equal(late.headers.connection, 'close');
    const e = late.json<{ error: { type: string; code: string } }>().error;
    assert.equal(e.type, 'server_error');
    assert.equal(e.code, 'server_shutdown');
    assert.equal(upstream.calls.length, 1, 'the late request reached no upstream');

    // The held stream finishes normally; the process leaves right after, well within the grace.
    await call.write(frame(tokenChunk(' world')) + frame(finishChunk()) + DONE);
    await call.end();
    assert.deepEqual(await within(5000, stream.ended, 'the stream to end'), { aborted: false });
    assert.ok(stream.text().includes('data: [DONE]'), stream.text());
    const ended = Date.now();
    assert.equal(await within(5000, exited, 'the process to exit'), 0);
    assert.ok(Date.now() - ended < 3000, `exited ${Date.now() - ended} ms after the last stream ended`);
    agent.destroy();

    const last = p.logs.filter((l) => l.trim() !== '').at(-1)!;
    assert.equal((JSON.parse(last) as { msg: string }).msg, 'bye', `last line: ${last}`);
  });

  it('a taken port: one line on stderr naming host:port and what to do, exit 1', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const err = await startProxyProcess({ env: { HOST: '127.0.0.1', PORT: String(port) } }).then(
        () => assert.fail('the proxy started on a taken port'),
        (e: Error) => e,
      );
      assert.match(err.message, /exited \(code 1,/);
      const output = err.message.split('\n').slice(1).filter((l) => l.trim() !== '');
      assert.equal(output.length, 1, `one line:\n${output.join('\n')}`);
      assert.match(output[0]!, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use \\(another process is listening there\\).*set PORT`));
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
