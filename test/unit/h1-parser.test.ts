import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HttpParseError, ResponseParser, type ResponseHead } from '../../src/upstream/h1/parser.js';

interface Parsed {
  head: ResponseHead | null;
  body: Buffer;
  /** onBody calls. */
  pieces: number;
  ended: boolean;
  /** Events out of order (body before head, anything after end). */
  disorder: boolean;
}

/** Feed `bytes` split at `cuts` (sorted offsets); `close` ends the connection afterwards. */
function parse(bytes: Buffer, cuts: number[] = [], opts: { noBody?: boolean; close?: boolean; maxHeadBytes?: number } = {}): Parsed {
  const out: Parsed = { head: null, body: Buffer.alloc(0), pieces: 0, ended: false, disorder: false };
  const p = new ResponseParser(
    {
      onHead: (h) => {
        if (out.head || out.ended) out.disorder = true;
        out.head = h;
      },
      onBody: (b) => {
        if (!out.head || out.ended) out.disorder = true;
        out.body = Buffer.concat([out.body, b]);
        out.pieces++;
      },
      onEnd: () => {
        if (!out.head || out.ended) out.disorder = true;
        out.ended = true;
      },
    },
    opts,
  );
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    if (c > at) p.execute(bytes.subarray(at, c));
    at = Math.max(at, c);
  }
  if (opts.close) p.finish();
  return out;
}

const CHUNKED = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\nX-Twice: a\r\nx-twice: b\r\n\r\n' +
    '12\r\ndata: {"a":"é"}\n\n\r\n' + // 18 bytes: é is two
    '5;name=value\r\nhello\r\n' +
    'A \r\n0123456789\r\n' +
    '0\r\nx-trailer: 1\r\n\r\n',
);
const CHUNKED_BODY = 'data: {"a":"é"}\n\nhello0123456789';

describe('HTTP/1.1 response parser (src/upstream/h1/parser.ts)', () => {
  it('reads a chunked response split at every byte, with extensions and trailers', () => {
    for (let cut = 0; cut <= CHUNKED.length; cut++) {
      const r = parse(CHUNKED, [cut]);
      assert.equal(r.head?.status, 200, `cut ${cut}`);
      assert.equal(r.head?.headers['content-type'], 'text/event-stream');
      assert.equal(r.head?.headers['x-twice'], 'a, b');
      assert.equal(r.head?.keepAlive, true);
      assert.equal(r.body.toString('utf8'), CHUNKED_BODY, `cut ${cut}`);
      assert.equal(r.ended, true);
      assert.equal(r.disorder, false);
    }
  });

  it('hands a whole read on as one piece, and every byte one at a time gives the same body', () => {
    assert.equal(parse(CHUNKED).pieces, 1);
    const r = parse(CHUNKED, Array.from({ length: CHUNKED.length }, (_, i) => i));
    assert.equal(r.body.toString('utf8'), CHUNKED_BODY);
    assert.equal(r.ended, true);
  });

  it('decodes any chunking of any body at any read boundaries (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        (chunks, rawCuts, lfOnly) => {
          const eol = lfOnly ? '\n' : '\r\n';
          const parts: Buffer[] = [Buffer.from(`HTTP/1.1 200 OK${eol}Transfer-Encoding: chunked${eol}${eol}`)];
          for (const c of chunks) parts.push(Buffer.from(`${c.length.toString(16)}${eol}`), Buffer.from(c), Buffer.from(eol));
          parts.push(Buffer.from(`0${eol}${eol}`));
          const bytes = Buffer.concat(parts);
          const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
          const r = parse(bytes, cuts);
          assert.deepEqual(r.body, Buffer.concat(chunks.map((c) => Buffer.from(c))));
          assert.equal(r.ended, true);
          assert.equal(r.disorder, false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads a Content-Length body and ends exactly at its last byte', () => {
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = parse(bytes, [cut]);
      assert.equal(r.body.toString(), 'hello');
      assert.equal(r.ended, true);
    }
    const empty = parse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
    assert.equal(empty.ended, true);
    assert.equal(empty.pieces, 0);
  });

  it('reads a body without length until the connection closes, and never reuses that connection', () => {
    const r = parse(Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil close'), [20], { close: true });
    assert.equal(r.body.toString(), 'until close');
    assert.equal(r.ended, true);
    assert.equal(r.head?.keepAlive, false);
  });

  it('has no body for HEAD, 204 and 304, whatever the headers say', () => {
    assert.equal(parse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n'), [], { noBody: true }).ended, true);
    assert.equal(parse(Buffer.from('HTTP/1.1 204 No Content\r\ntransfer-encoding: chunked\r\n\r\n')).ended, true);
    assert.equal(parse(Buffer.from('HTTP/1.1 304 Not Modified\r\ncontent-length: 3\r\n\r\n')).ended, true);
  });

  it('skips 1xx interim responses', () => {
    const r = parse(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok'), [10, 40]);
    assert.equal(r.head?.status, 201);
    assert.equal(r.head?.headers['link'], undefined);
    assert.equal(r.body.toString(), 'ok');
  });

  it('tells keep-alive from close: HTTP/1.0, Connection: close, and the server\'s idle timeout', () => {
    assert.equal(parse(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n')).head?.keepAlive, false);
    assert.equal(parse(Buffer.from('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n')).head?.keepAlive, false);
    assert.equal(parse(Buffer.from('HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n')).head?.keepAlive, true);
    assert.equal(parse(Buffer.from('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\ncontent-length: 0\r\n\r\n')).head?.keepAliveTimeoutMs, 5000);
    // Transfer-Encoding and Content-Length together: chunked wins, the connection is not reused.
    const both = parse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'));
    assert.equal(both.body.toString(), 'ok');
    assert.equal(both.head?.keepAlive, false);
  });

  it('refuses malformed responses with HttpParseError', () => {
    const bad = [
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 20 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nbad header: x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nx: a\r\n folded\r\n\r\n',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1x\r\n',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nabc',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffff\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nab',
      'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    ];
    for (const text of bad) assert.throws(() => parse(Buffer.from(text)), HttpParseError, JSON.stringify(text));
    assert.throws(() => parse(Buffer.from(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(2000)}\r\n\r\n`), [100], { maxHeadBytes: 1024 }), /too large/);
  });

  it('reports a response cut by the connection closing', () => {
    assert.throws(() => parse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel'), [], { close: true }), /before the end/);
    assert.throws(() => parse(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n'), [], { close: true }), /before the end/);
    assert.throws(() => parse(Buffer.from('HTTP/1.1 200'), [], { close: true }), /before the response head/);
  });
});
