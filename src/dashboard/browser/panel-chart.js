// @ts-check
/**
 * The "Last 60 s" chart on a canvas: completion tokens per second as bars, errors as a red foot
 * under their second, active streams as a line. Colours come from app.css's custom properties.
 * Drawn on every tick (render.js), events or not, so the chart keeps moving left.
 */
import { $ } from './dom.js';
import { fmt } from './format.js';
import { bucket } from './reduce-throughput.js';
import { CHART_SECONDS, S } from './state.js';

export function renderChart() {
  var canvas = $('chart', HTMLCanvasElement);
  var dpr = window.devicePixelRatio || 1;
  var w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  var g = canvas.getContext('2d');
  if (!g) return;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  var now = Math.floor(Date.now() / 1000);
  // Active streams are sampled here, at each tick: the feed reports opens and closes, not levels.
  var cur = bucket(now);
  cur.streams = Math.max(cur.streams || 0, S.streams.size);
  for (var k of S.buckets.keys()) if (k < now - CHART_SECONDS - 5) S.buckets.delete(k);
  var maxTok = 1, maxStreams = 1, s, b;
  for (s = now - CHART_SECONDS + 1; s <= now; s++) {
    b = S.buckets.get(s);
    if (!b) continue;
    maxTok = Math.max(maxTok, b.tokens);
    maxStreams = Math.max(maxStreams, b.streams || 0);
  }
  var pad = 28, plotH = h - 18, barW = (w - pad) / CHART_SECONDS;
  var css = getComputedStyle(document.documentElement);
  g.strokeStyle = css.getPropertyValue('--line');
  g.beginPath(); g.moveTo(pad, plotH + 0.5); g.lineTo(w, plotH + 0.5); g.stroke();
  g.fillStyle = css.getPropertyValue('--muted');
  g.font = '10px system-ui, sans-serif';
  g.fillText(fmt(maxTok), 2, 10);
  g.fillText('0', 2, plotH);
  g.fillText('-60 s', pad, h - 4);
  g.fillText('now', w - 22, h - 4);
  for (s = now - CHART_SECONDS + 1; s <= now; s++) {
    b = S.buckets.get(s);
    if (!b) continue;
    var x = pad + (s - (now - CHART_SECONDS + 1)) * barW;
    var bh = (b.tokens / maxTok) * (plotH - 14);
    g.fillStyle = css.getPropertyValue('--accent');
    g.fillRect(x + 1, plotH - bh, Math.max(1, barW - 2), bh);
    if (b.errors) { g.fillStyle = css.getPropertyValue('--bad'); g.fillRect(x + 1, plotH - 3, Math.max(1, barW - 2), 3); }
  }
  g.strokeStyle = css.getPropertyValue('--streams');
  g.lineWidth = 2;
  g.beginPath();
  var started = false;
  for (s = now - CHART_SECONDS + 1; s <= now; s++) {
    b = S.buckets.get(s);
    var v = b && b.streams != null ? b.streams : 0;
    var px = pad + (s - (now - CHART_SECONDS + 1)) * barW + barW / 2;
    var py = plotH - (v / maxStreams) * (plotH - 14);
    if (!started) { g.moveTo(px, py); started = true; } else g.lineTo(px, py);
  }
  g.stroke();
  g.fillStyle = css.getPropertyValue('--streams');
  g.fillText(maxStreams + ' streams', w - 70, 10);
}
