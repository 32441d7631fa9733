/**
 * One HTTP/1.1 request written byte for byte on a socket, for request targets that an HTTP
 * client would normalise or refuse (`/v1/./x`, `/v1/%2e%2e/x`, backslashes, absolute-form).
 * `Connection: close`, so the answer ends with the socket.
 */
import net from 'node:net';

/** The answer: status, lower-case headers, body text. */
export interface RawTargetResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** Send `method target` to 127.0.0.1:`port`. */
export function requestTarget(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawTargetResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const all: Record<string, string> = { host: `127.0.0.1:${port}`, connection: 'close', ...headers };
    if (body !== undefined) all['content-length'] = String(Buffer.byteLength(body));
    const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    // write, not end: a half-closed request reads as a caller that left.
    socket.on('connect', () => socket.write(head + (body ?? '')));
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(parts).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, split).split('\r\n');
      const status = Number(lines[0]?.split(' ')[1] ?? 0);
      const hdrs: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        hdrs[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      let rest = text.slice(split + 4);
      if (hdrs['transfer-encoding'] === 'chunked') {
        let out = '';
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const size = parseInt(rest.slice(0, nl), 16);
          if (!size) break;
          out += rest.slice(nl + 2, nl + 2 + size);
          rest = rest.slice(nl + 2 + size + 2);
        }
        rest = out;
      }
      resolve({ status, headers: hdrs, body: rest, json: <T>() => JSON.parse(rest) as T });
    });
  });
}
