// The floor: a raw byte pipe on node:http. No parsing, no observing, no logging; only
// what any Node proxy must do: accept, forward the request over a pooled keep-alive connection,
// and pipe the response bytes back. `node bench/.build/bench/raw-pipe.js <upstream origin> <port>`
import http from 'node:http';

const upstream = new URL(process.argv[2] ?? 'http://127.0.0.1:8081');
const port = Number(process.argv[3] ?? 8090);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4096 });
// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection; Node writes its own.
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);

function endToEnd(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k in h) if (!HOP.has(k)) out[k] = h[k];
  return out;
}

const server = http.createServer({ noDelay: true, keepAliveTimeout: 65_000 }, (req, res) => {
  const up = http.request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: endToEnd(req.headers), agent },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, endToEnd(upRes.headers));
      upRes.pipe(res);
    },
  );
  up.on('socket', (s) => s.setNoDelay(true));
  up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  res.on('close', () => { if (!res.writableFinished) up.destroy(); }); // the caller left: stop upstream
  req.pipe(up);
});
// A deep accept queue (Node's default is 511): 5,000 clients connecting within a second must wait, not be reset.
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`raw pipe listening on http://127.0.0.1:${port} -> ${upstream.origin}\n`));
process.on('SIGTERM', () => process.exit(0));
