/**
 * The proxy's own per-event cost of a translated stream, without sockets: the decode → translate →
 * observe → encode stages of src/relay/pipeline.ts over a 256-token Anthropic, Gemini and OpenAI
 * stream fed one event per read (as upstreams send them). Backs the hand-written chunk encoding in
 * src/providers/chunks.ts (docs/ARCHITECTURE.md "Performance rules").
 *
 *   node --import=tsx bench/translate.bench.ts [--streams 2000] [--only openai|anthropic|gemini]
 */
import { parseArgs } from 'node:util';
import { createFrameSplitter } from '../src/sse/frames.js';
import type { SseEvent } from '../src/sse/parser.js';
import { encodeRelayed } from '../src/sse/encoder.js';
import { anthropicProvider } from '../src/providers/anthropic/index.js';
import { geminiProvider } from '../src/providers/gemini/index.js';
import type { TranslateOut } from '../src/relay/stages.js';
import { scanContentDelta, scanContentDeltaBytes } from '../src/usage/scan.js';
import { simTokens } from '../src/sim/text.js';

const { values } = parseArgs({ options: { streams: { type: 'string', default: '2000' }, only: { type: 'string' } } });
const ONLY = values.only;
const STREAMS = Number(values.streams);
const N = 256;
const tokens = simTokens(N);

const openai = tokens.map((t) => Buffer.from(`data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`));
const anthropic = [
  Buffer.from('event: message_start\ndata: {"type":"message_start","message":{"id":"msg","type":"message","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":7,"output_tokens":1}}}\n\n'),
  Buffer.from('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'),
  ...tokens.map((t) => Buffer.from(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(t)}}}\n\n`)),
  Buffer.from('event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":256}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'),
];
const gemini = tokens.map((t, k) =>
  Buffer.from(`data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: t }], role: 'model' }, ...(k === N - 1 ? { finishReason: 'STOP' } : {}), index: 0 }], usageMetadata: { promptTokenCount: 7, candidatesTokenCount: k + 1, totalTokenCount: 8 + k }, modelVersion: 'gemini', responseId: 'r' })}\n\n`),
);

let sink = 0;
/** What the observer and encoder do with a translated payload (src/relay/chat-observer.ts, src/relay/pipeline.ts). */
const out: TranslateOut = {
  data(payload, content) {
    const c = content ?? scanContentDelta(payload);
    sink += c === null ? 0 : c.length;
    sink += encodeRelayed({ data: payload }).length;
  },
  complete() {},
  fail() {},
};

function run(name: string, frames: Buffer[], provider: typeof anthropicProvider | null): void {
  if (ONLY !== undefined && ONLY !== name) return;
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < STREAMS; s++) {
    const translator = provider?.streamTranslator({ id: 'chatcmpl-1', created: 1, model: 'm' }) ?? null;
    const splitter = createFrameSplitter({
      onDataFrame(buf: Buffer, _fs: number, ps: number, pe: number) {
        if (translator !== null) return translator.event({ data: buf.toString('utf8', ps, pe) }, out);
        const c = scanContentDeltaBytes(buf, ps, pe);
        sink += c === null || c === undefined ? 0 : c.length;
      },
      onEvent(e: SseEvent) {
        if (translator !== null) translator.event(e, out);
      },
    });
    for (const f of frames) splitter.feed(f);
    splitter.end();
    translator?.end(out);
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / STREAMS;
  console.log(`${name.padEnd(10)} ${us.toFixed(1).padStart(8)} µs per ${N}-token stream  ${(us / N).toFixed(2)} µs per event`);
}

for (let round = 0; round < 3; round++) {
  run('openai', openai, null);
  run('anthropic', anthropic, anthropicProvider);
  run('gemini', gemini, geminiProvider);
}
if (sink < 0) console.log(sink);
