// @ts-check
/** The row of cards at the top: active streams, requests, errors, tokens per second, TTFT, tokens. */
import { $ } from './dom.js';
import { fmt, pct } from './format.js';
import { S } from './state.js';

export function renderCards() {
  $('active-streams').textContent = fmt(S.streams.size);
  $('in-flight').textContent = S.active.size + ' in flight';
  $('requests').textContent = fmt(S.total.requests);
  $('errors').textContent = fmt(S.total.errors);
  $('error-hint').textContent = S.rateLimited + ' rate-limited · ' + S.upstreamFailures + ' upstream failures';
  // The last ten complete seconds (reduce-throughput.js), not the one still filling.
  var now = Math.floor(Date.now() / 1000), sum = 0;
  for (var s = now - 10; s < now; s++) { var b = S.buckets.get(s); if (b) sum += b.tokens; }
  $('tokens-per-second').textContent = fmt(sum / 10, 1);
  var p50 = pct(S.ttfts, 0.5), p95 = pct(S.ttfts, 0.95);
  $('ttft-p50').textContent = p50 == null ? '–' : fmt(p50) + ' ms';
  $('ttft-p95').textContent = 'p95 ' + (p95 == null ? '–' : fmt(p95) + ' ms');
  $('tokens-total').textContent = fmt(S.total.prompt + S.total.completion);
  $('tokens-split').textContent = fmt(S.total.prompt) + ' prompt · ' + fmt(S.total.completion) + ' completion';
  $('feed-note').textContent = S.missed ? S.missed + ' feed events missed (buffer overrun)' : '';
}
