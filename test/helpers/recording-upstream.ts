/**
 * A real upstream on 127.0.0.1:0 that records every request it gets (method, path, headers, body)
 * and answers each one at once: an SSE chat stream when the body asks `stream: true`, else a small
 * JSON answer. For tests that must prove what did, or did not, reach the upstream.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the upstream saw it. */
export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A running recording upstream. */
export interface RecordingUpstream {
  /** Base URL to configure as an `openai` upstream's `baseUrl`. */
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

const chunk = (content: string, finish: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'rec', choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;

/** Start one; close() in after(). */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      let stream = false;
      try {
        stream = (JSON.parse(body.toString('utf8')) as { stream?: unknown }).stream === true;
      } catch {
        /* not JSON */
      }
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`${chunk('ok')}${chunk('', 'stop')}data: [DONE]\n\n`);
        return;
      }
      const answer = JSON.stringify({
        id: 'r1',
        object: 'chat.completion',
        created: 1,
        model: 'rec',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
