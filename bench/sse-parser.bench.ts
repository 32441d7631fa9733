// Micro-benchmark: is src/sse/parser.ts (eventsource-parser + fixes) fast enough, or should we hand-write one?
//   node --import=tsx bench/sse-parser.bench.ts          (~8 s)
// Parses a realistic OpenAI chat.completion.chunk stream (256 JSON chunks of ~220 bytes, plus usage and
// [DONE]) fed in 1-4 KiB reads, with:
//   ours  createSseParser (TextDecoder + eventsource-parser + our fixes)
//   front src/sse/frames.ts (byte-level `data: <x>\n\n` frames in front of ours), payloads decoded
//   hand  a minimal byte-level parser written below (LF/CRLF, data lines only; not spec-complete)
//   lib   eventsource-parser alone behind a TextDecoder (to show what our fixes cost)
// Runs are interleaved and the best of several rounds is kept, to damp JIT and GC noise. A second part
// times the relay's whole job per read (parse, then frames out as one buffer): re-encoding each
// payload against forwarding the upstream's bytes.
import { createParser } from 'eventsource-parser';
import { createSseParser } from '../src/sse/parser.js';
import { createFrameSplitter } from '../src/sse/frames.js';
import { encodeData } from '../src/sse/encoder.js';

interface Feeder { feed(chunk: Uint8Array): void }
type Make = (onData: (data: string) => void) => Feeder;

const ROUNDS = 5;
const ROUND_MS = 250;

// --- workload ------------------------------------------------------------------------------------
function rng(seed: number): () => number { // mulberry32: same reads every run
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function openAiStream(lineEnd: string): string {
  const words = ['The', ' quick', ' brown', ' fox', ' jumps', ' über', ' the', ' lazy', ' dog', ' 🦊', ' — ', ' 世界', '.\n'];
  const head = '{"id":"chatcmpl-AXq7c2nB4kT0f9ZyHq1LmE3sVd8Wj","object":"chat.completion.chunk","created":1732531234,' +
    '"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":';
  const frames: string[] = [`${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`];
  for (let i = 0; i < 256; i++) {
    frames.push(`${head}{"content":${JSON.stringify(words[i % words.length])}},"logprobs":null,"finish_reason":null}],"usage":null}`);
  }
  frames.push(`${head}{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`);
  frames.push('{"id":"chatcmpl-AXq7c2nB4kT0f9ZyHq1LmE3sVd8Wj","object":"chat.completion.chunk","created":1732531234,' +
    '"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":256,"total_tokens":275}}');
  frames.push('[DONE]');
  return frames.map((f) => `data: ${f}${lineEnd}${lineEnd}`).join('');
}

function reads(wire: Uint8Array, seed: number): Uint8Array[] {
  const next = rng(seed);
  const out: Uint8Array[] = [];
  for (let at = 0; at < wire.length;) {
    const n = 1024 + Math.floor(next() * 3073); // 1-4 KiB, like socket reads
    out.push(wire.subarray(at, at + n));
    at += n;
  }
  return out;
}

// --- contenders ----------------------------------------------------------------------------------
const ours: Make = (onData) => createSseParser({ onEvent: (e) => onData(e.data) });

const lib: Make = (onData) => {
  const decoder = new TextDecoder();
  const p = createParser({ onEvent: (e) => onData(e.data) });
  return { feed: (chunk) => p.feed(decoder.decode(chunk, { stream: true })) };
};

/** src/sse/frames.ts in front of ours: `data: <x>\n\n` frames as byte ranges (decoded here, to compare like with like). */
const front: Make = (onData) => createFrameSplitter({
  onDataFrame: (buf, _f, ps, pe) => onData(buf.toString('utf8', ps, pe)),
  onEvent: (e) => onData(e.data),
});

/** Minimal byte-level SSE: split on LF (dropping a CR before it), decode only `data:` values. */
const hand: Make = (onData) => {
  const decoder = new TextDecoder();
  let carry: Uint8Array | undefined;
  let data = '';
  let hasData = false;
  return {
    feed(chunk) {
      let buf = chunk;
      if (carry !== undefined) {
        buf = new Uint8Array(carry.length + chunk.length);
        buf.set(carry);
        buf.set(chunk, carry.length);
        carry = undefined;
      }
      let start = 0;
      for (let lf = buf.indexOf(10, start); lf !== -1; lf = buf.indexOf(10, start)) {
        const end = lf > start && buf[lf - 1] === 13 ? lf - 1 : lf;
        if (end === start) {
          if (hasData) { onData(({ data }).data); data = ''; hasData = false; } // one object per event, like ours
        } else if (buf[start] === 100 && buf[start + 1] === 97 && buf[start + 2] === 116 && buf[start + 3] === 97 && buf[start + 4] === 58) {
          const from = buf[start + 5] === 32 ? start + 6 : start + 5;
          const value = decoder.decode(buf.subarray(from, end));
          data = hasData ? `${data}\n${value}` : value;
          hasData = true;
        }
        start = lf + 1;
      }
      if (start < buf.length) carry = buf.slice(start);
    },
  };
};

// --- harness -------------------------------------------------------------------------------------
interface Result { mbPerS: number; eventsPerS: number }

function run(make: Make, input: Uint8Array[], bytesPerPass: number): Result {
  let events = 0;
  let sink = 0;
  const onData = (d: string) => { events++; sink += d.length; };
  let passes = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ROUND_MS) {
    const p = make(onData);
    for (const chunk of input) p.feed(chunk);
    passes++;
    elapsed = performance.now() - t0;
  }
  if (sink === 0) throw new Error('nothing parsed');
  return { mbPerS: (passes * bytesPerPass) / 1e6 / (elapsed / 1e3), eventsPerS: events / (elapsed / 1e3) };
}

function collect(make: Make, input: Uint8Array[]): string[] {
  const out: string[] = [];
  const p = make((d) => out.push(d));
  for (const chunk of input) p.feed(chunk);
  return out;
}

const contenders: [string, Make][] = [['ours', ours], ['front', front], ['hand', hand], ['lib', lib]];
const fmt = (n: number, w = 8) => n.toFixed(1).padStart(w);

for (const [scenario, lineEnd] of [['LF', '\n'], ['CRLF', '\r\n']] as const) {
  const wire = new TextEncoder().encode(openAiStream(lineEnd));
  const input = reads(wire, 42);
  const reference = collect(hand, input);
  for (const [name, make] of contenders) { // all three must agree before we time them
    const got = collect(make, input);
    if (got.length !== reference.length || got.some((d, i) => d !== reference[i])) throw new Error(`${name} disagrees`);
  }
  const best = new Map<string, Result>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of contenders) {
      const r = run(make, input, wire.length);
      if (!best.has(name) || r.mbPerS > best.get(name)!.mbPerS) best.set(name, r);
    }
  }
  console.log(`\n${scenario}: ${reference.length} events, ${wire.length} bytes per stream, ${input.length} reads of 1-4 KiB; best of ${ROUNDS} x ${ROUND_MS} ms`);
  console.log('parser      MB/s    events/s');
  for (const [name] of contenders) {
    const r = best.get(name)!;
    console.log(`${name.padEnd(6)} ${fmt(r.mbPerS)}  ${fmt(r.eventsPerS / 1e3, 8)}k`);
  }
  const ratio = best.get('ours')!.mbPerS / best.get('hand')!.mbPerS;
  console.log(`ours / hand = ${ratio.toFixed(2)}x   ours / lib = ${(best.get('ours')!.mbPerS / best.get('lib')!.mbPerS).toFixed(2)}x   front / ours = ${(best.get('front')!.mbPerS / best.get('ours')!.mbPerS).toFixed(2)}x`);
}

// --- the relay's whole job per read: events in, canonical frames out as one buffer ----------------
// "decode+encode": parse with ours, re-encode each payload (encodeData), one Buffer per read (the
// relay before it forwarded the upstream's bytes). "bytes": the frame splitter, each payload decoded for the
// observer as before, and the frames forwarded as the upstream's bytes (runs of the read, one
// concat per read). 64 KiB reads, as a busy socket delivers them.
type Relay = (onOut: (b: Buffer) => void) => { feed(chunk: Uint8Array): void };
const relayDecodeEncode: Relay = (onOut) => {
  let out = '';
  const p = createSseParser({ onEvent: (e) => { out += encodeData(e.data); } });
  return { feed(chunk) { out = ''; p.feed(chunk); onOut(Buffer.from(out)); } };
};
const relayBytes: Relay = (onOut) => {
  let pieces: Buffer[] = [];
  let run: Buffer | null = null;
  let runStart = 0;
  let runEnd = 0;
  let sink = 0;
  const emit = (buf: Buffer, a: number, b: number): void => {
    if (run === buf && runEnd === a) { runEnd = b; return; }
    if (run !== null) pieces.push(run.subarray(runStart, runEnd));
    run = buf; runStart = a; runEnd = b;
  };
  const s = createFrameSplitter({
    onDataFrame: (buf, f, ps, pe) => { sink += buf.toString('utf8', ps, pe).length; emit(buf, f, pe + 2); },
    onEvent: (e) => { if (run !== null) pieces.push(run.subarray(runStart, runEnd)); run = null; pieces.push(Buffer.from(encodeData(e.data))); },
  });
  return {
    feed(chunk) {
      s.feed(chunk);
      if (run !== null) pieces.push(run.subarray(runStart, runEnd));
      run = null;
      onOut(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
      pieces = [];
      if (sink < 0) throw new Error('unreachable');
    },
  };
};

{
  const wire = Buffer.from(openAiStream('\n'));
  const input = Array.from({ length: Math.ceil(wire.length / 65536) }, (_, i) => wire.subarray(i * 65536, (i + 1) * 65536));
  const outOf = (r: Relay): Buffer => { const parts: Buffer[] = []; const x = r((b) => parts.push(b)); for (const c of input) x.feed(c); return Buffer.concat(parts); };
  if (!outOf(relayDecodeEncode).equals(wire) || !outOf(relayBytes).equals(wire)) throw new Error('relays disagree with the canonical input');
  const relays: [string, Relay][] = [['decode+encode', relayDecodeEncode], ['bytes', relayBytes]];
  const best = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of relays) {
      let passes = 0;
      let bytes = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < ROUND_MS) {
        const x = make((b) => { bytes += b.length; });
        for (const c of input) x.feed(c);
        passes++;
      }
      const mbps = (passes * wire.length) / 1e6 / ((performance.now() - t0) / 1e3);
      if (bytes === 0) throw new Error('nothing relayed');
      best.set(name, Math.max(best.get(name) ?? 0, mbps));
    }
  }
  console.log(`\nrelay (parse + frames out), LF, ${wire.length} bytes in ${input.length} reads of 64 KiB; best of ${ROUNDS} x ${ROUND_MS} ms`);
  for (const [name] of relays) console.log(`${name.padEnd(14)} ${fmt(best.get(name)!)} MB/s`);
  console.log(`bytes / decode+encode = ${(best.get('bytes')! / best.get('decode+encode')!).toFixed(2)}x`);
}
