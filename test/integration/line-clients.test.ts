/**
 * Real line-reading clients through the proxy: okhttp's `readUtf8Line()` loop (Java,
 * test/clients/LineClient.java, compiled here with javac) and httpx's `iter_lines()` (Python,
 * test/clients/line_client.py). Neither parses SSE: each takes a `data: ` line as one JSON payload.
 *
 * The upstream (node:http on 127.0.0.1:0) answers chat completions, completions and the Responses
 * API with bodies in every framing the standard allows (test/helpers/sse-wires.ts: CR, LF, CRLF, a
 * BOM, comments, id/event/retry and unknown fields, `data:` without its space, one event over
 * several data lines, the last event closed by the end of the stream), written in pieces cut at
 * awkward bytes. Every data line each client reads must be whole JSON or `[DONE]`, with no CR, and
 * the text must come out whole; chat and completions end with `[DONE]`, responses with
 * `response.completed`. (Every byte split is test/unit/sse-reframe.test.ts's, without sockets.)
 *
 * Needs Debian's default-jdk-headless, libokhttp-java, libokio-java and python3-httpx
 * (scripts/ensure-services.mjs installs them).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestProxy, routeUpTo, type TestProxy } from '../helpers/proxy.js';
import { buildWire, CONTENTS, readLines, type LastEnd, type LineEnd, type WireKind } from '../helpers/sse-wires.js';

const CLIENTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'clients');
const PYTHON = '/usr/bin/python3';
const TEXT = CONTENTS.join('');

/** One upstream body and how its writes are cut. */
interface Case {
  kind: WireKind;
  eol: LineEnd;
  bom: boolean;
  last: LastEnd;
  split: 'one write' | 'awkward cuts' | 'every 7 bytes';
}

/** Cut points: inside the BOM, between CR and LF, inside multi-byte characters, inside and right after "data:". */
function cutsFor(wire: Buffer, split: Case['split']): number[] {
  if (split === 'one write') return [];
  if (split === 'every 7 bytes') return Array.from({ length: Math.floor((wire.length - 1) / 7) }, (_, i) => (i + 1) * 7);
  const cuts = new Set<number>([1, 2]);
  for (let i = 0; i < wire.length; i++) {
    if (wire[i] === 0x0d) cuts.add(i + 1);
    if (wire[i]! >= 0xc0) cuts.add(i + 1);
  }
  for (const needle of ['data:', 'data: ', 'event:']) {
    let at = -1;
    while ((at = wire.indexOf(needle, at + 1)) !== -1) {
      cuts.add(at + 2);
      cuts.add(at + needle.length);
    }
  }
  cuts.add(wire.length - 1); // the very end: inside the last event's last line
  return [...cuts].filter((c) => c > 0 && c < wire.length).sort((a, b) => a - b);
}

/** The upstream: the request's text names the case (an index into `cases`). */
async function startWireUpstream(cases: Case[]): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      res.on('error', () => undefined);
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { messages?: Array<{ content: string }>; prompt?: string; input?: string };
      const c = cases[Number(body.messages?.[0]?.content ?? body.prompt ?? body.input)]!;
      const wire = Buffer.from(buildWire(c.kind, CONTENTS, c));
      const cuts = [0, ...cutsFor(wire, c.split), wire.length];
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      void (async () => {
        for (let i = 0; i + 1 < cuts.length; i++) {
          if (res.destroyed) return;
          res.write(wire.subarray(cuts[i], cuts[i + 1]));
          // A pause between pieces, so the proxy reads them one by one.
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        res.end();
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Run a client to its end (bounded); its stdout's lines. */
function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}: ${Buffer.concat(err).toString('utf8')}\n${stdout}`));
      // Each client ends every line it prints with LF; a CR inside one is the payload's own.
      resolve(stdout.split('\n').slice(0, -1));
    });
  });
}

/** The `data: ` lines as the client saw them, back in the shape readLines takes. */
function dataLinesOf(printed: string[]): { status: string; lines: string[]; ended: boolean } {
  const lines: string[] = [];
  for (const p of printed.slice(1, -1)) {
    if (p.startsWith('DATA ') || p.startsWith('JSON ') || p.startsWith('TEXT ')) lines.push(`data: ${p.slice(5)}`);
    else if (p === 'DONE') lines.push('data: [DONE]');
    else if (p.startsWith('LINE ')) lines.push(p.slice(5));
    else assert.fail(`unexpected client output ${JSON.stringify(p)}`);
  }
  return { status: printed[0] ?? '', lines, ended: printed.at(-1) === 'EOF' };
}

function requestFor(kind: WireKind, proxyUrl: string, index: number): { url: string; body: string } {
  const model = 'up-1';
  if (kind === 'chat') return { url: `${proxyUrl}/v1/chat/completions`, body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: String(index) }] }) };
  if (kind === 'completions') return { url: `${proxyUrl}/v1/completions`, body: JSON.stringify({ model, stream: true, prompt: String(index) }) };
  return { url: `${proxyUrl}/v1/responses`, body: JSON.stringify({ model, stream: true, input: String(index) }) };
}

const cases: Case[] = [];
for (const kind of ['chat', 'completions', 'responses'] as WireKind[]) {
  const wires: Array<Omit<Case, 'kind' | 'split'>> = [
    { eol: '\n', bom: false, last: 'none' },
    { eol: '\r\n', bom: true, last: 'eol' },
    { eol: '\r', bom: false, last: 'none' },
  ];
  wires.forEach((w, i) => {
    cases.push({ kind, ...w, split: 'one write' }, { kind, ...w, split: 'awkward cuts' });
    if (i === 0) cases.push({ kind, ...w, split: 'every 7 bytes' });
  });
}

describe('line-reading clients (okhttp readUtf8Line, httpx iter_lines) get whole JSON lines', function () {
  this.timeout(120_000);
  let upstream: Awaited<ReturnType<typeof startWireUpstream>>;
  let proxy: TestProxy;
  let classDir: string;
  let classPath: string;

  before(async () => {
    // The Debian jars, wherever the packages put them.
    const jars = execFileSync('dpkg', ['-L', 'libokhttp-java', 'libokio-java'], { encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\/usr\/share\/java\/(okhttp|okio)\.jar$/.test(f));
    assert.equal(jars.length, 2, `okhttp.jar and okio.jar (found ${jars.join(', ')})`);
    classDir = mkdtempSync(path.join(tmpdir(), 'line-client-'));
    execFileSync('javac', ['-d', classDir, '-cp', jars.join(':'), path.join(CLIENTS, 'LineClient.java')], { stdio: 'pipe' });
    classPath = [...jars, classDir].join(':');
    upstream = await startWireUpstream(cases);
    proxy = await startTestProxy({ config: routeUpTo(upstream.baseUrl, { idleTimeoutMs: 30_000 }) });
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
    if (classDir) rmSync(classDir, { recursive: true, force: true });
  });

  cases.forEach((c, index) => {
    it(`${c.kind}: ${JSON.stringify(c.eol)}${c.bom ? ' + BOM' : ''}, last event closed by ${c.last === 'none' ? 'the end of the stream' : 'its line end only'}, ${c.split}`, async () => {
      const { url, body } = requestFor(c.kind, proxy.url, index);
      const [java, python] = await Promise.all([
        run('java', ['-cp', classPath, 'LineClient', url, body]),
        run(PYTHON, [path.join(CLIENTS, 'line_client.py'), url, body]),
      ]);
      for (const [name, printed] of [['okhttp', java], ['httpx', python]] as const) {
        const got = dataLinesOf(printed);
        assert.equal(got.status, 'STATUS 200', name);
        assert.ok(got.ended, `${name} read to the end`);
        const read = readLines(c.kind, got.lines);
        assert.deepEqual(read.withCr, [], `${name}: no CR in any line`);
        assert.deepEqual(read.broken, [], `${name}: every data: line is whole JSON or [DONE]`);
        assert.ok(!read.payloads.some((p) => p.startsWith('{"error"')), `${name}: no error frame`);
        assert.equal(read.text, TEXT, `${name}: the text whole`);
        if (c.kind === 'responses') assert.equal(read.lastType, 'response.completed', `${name}: the last event`);
        else assert.equal(read.payloads.at(-1), '[DONE]', `${name}: ends with [DONE]`);
      }
    });
  });
});
