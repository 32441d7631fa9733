/**
 * The dashboard's HTML and CSS (issue 5), served as they are: no build step, no external
 * resources (the page must work with no internet). The script is ./client.ts.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LLM proxy · live</title>
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<header>
  <h1>LLM proxy <span class="sub">live traffic</span></h1>
  <div class="right">
    <span id="instance" class="muted" title="proxy instance"></span>
    <span id="conn" class="conn connecting" data-state="connecting" role="status" aria-live="polite"><i></i><span id="conn-text">connecting…</span></span>
    <button id="sign-out" type="button" hidden>sign out</button>
  </div>
</header>

<form id="login" hidden autocomplete="on">
  <p>This proxy has client keys: sign in with a key that has <code>admin: true</code>.</p>
  <label>Admin key <input id="login-key" name="password" type="password" autocomplete="current-password" required></label>
  <p class="muted">The key is sent once to start a session (an HttpOnly cookie) and is not kept by this page: when the session ends, sign in again.</p>
  <button type="submit">Sign in</button>
  <p id="login-error" class="error" role="alert"></p>
</form>

<main id="main">
  <section class="cards">
    <div class="card"><span class="label">Active streams</span><span class="value" id="active-streams">0</span><span class="hint" id="in-flight">0 in flight</span></div>
    <div class="card"><span class="label">Requests</span><span class="value" id="requests">0</span><span class="hint">since this page opened</span></div>
    <div class="card"><span class="label">Errors</span><span class="value" id="errors">0</span><span class="hint" id="error-hint">&nbsp;</span></div>
    <div class="card"><span class="label">Tokens / s</span><span class="value" id="tokens-per-second">0</span><span class="hint">completion, last 10 s</span></div>
    <div class="card"><span class="label">TTFT p50</span><span class="value" id="ttft-p50">–</span><span class="hint" id="ttft-p95">p95 –</span></div>
    <div class="card"><span class="label">Tokens</span><span class="value" id="tokens-total">0</span><span class="hint" id="tokens-split">0 prompt · 0 completion</span></div>
  </section>

  <section class="panel">
    <div class="panel-head"><h2>Last 60 s</h2><span class="legend"><i class="sw tokens"></i>completion tokens/s <i class="sw streams"></i>active streams <i class="sw errors"></i>errors</span></div>
    <canvas id="chart" height="150" aria-label="tokens per second and active streams, last 60 seconds"></canvas>
  </section>

  <section class="two">
    <div class="panel">
      <h2>By key</h2>
      <table id="by-key"><thead><tr><th>key</th><th class="n">requests</th><th class="n">errors</th><th class="n">prompt</th><th class="n">completion</th><th class="n">TTFT p50</th></tr></thead><tbody></tbody></table>
    </div>
    <div class="panel">
      <h2>By model</h2>
      <table id="by-model"><thead><tr><th>model</th><th class="n">requests</th><th class="n">errors</th><th class="n">prompt</th><th class="n">completion</th><th class="n">TTFT p50</th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section class="panel">
    <div class="panel-head"><h2>Requests</h2><span class="muted" id="feed-note"></span></div>
    <table id="requests-table">
      <thead><tr><th>time</th><th>request</th><th>key</th><th>model</th><th>mode</th><th class="n">status</th><th>end</th><th class="n">TTFT ms</th><th class="n">duration ms</th><th class="n">tokens</th><th class="n">tok/s</th><th class="n">bytes</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root {
  --bg: #0f1419; --panel: #171d24; --line: #26303a; --text: #d7dee5; --muted: #7d8b99;
  --ok: #3fb950; --warn: #d29922; --bad: #f85149; --accent: #58a6ff; --streams: #f0883e;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; justify-content: space-between; padding: 10px 18px; border-bottom: 1px solid var(--line); }
h1 { font-size: 16px; margin: 0; }
h1 .sub { color: var(--muted); font-weight: normal; margin-left: 6px; }
h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 8px; font-weight: 600; }
.right { display: flex; gap: 12px; align-items: center; }
.muted { color: var(--muted); }
.conn { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 12px; background: var(--panel); border: 1px solid var(--line); }
.conn i { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); display: inline-block; }
.conn.live i { background: var(--ok); box-shadow: 0 0 6px var(--ok); }
.conn.connecting i, .conn.reconnecting i { background: var(--warn); }
.conn.offline i { background: var(--bad); }
.conn.login i { background: var(--accent); }
button { background: var(--panel); color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; cursor: pointer; }
main { padding: 14px 18px; display: grid; gap: 14px; }
.cards { display: grid; grid-template-columns: repeat(6, minmax(120px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; display: flex; flex-direction: column; }
.card .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
.card .value { font-size: 24px; font-variant-numeric: tabular-nums; margin: 2px 0; }
.card .hint { color: var(--muted); font-size: 11px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; overflow: auto; }
.panel-head { display: flex; justify-content: space-between; align-items: baseline; }
.legend { color: var(--muted); font-size: 11px; }
.sw { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: -1px; border-radius: 2px; }
.sw.tokens { background: var(--accent); } .sw.streams { background: var(--streams); } .sw.errors { background: var(--bad); }
canvas { width: 100%; height: 150px; display: block; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 11px; }
.n { text-align: right; }
td.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; max-width: 230px; overflow: hidden; text-overflow: ellipsis; }
tr.waiting td, tr.streaming td { color: var(--accent); }
tr.lost td { color: var(--muted); }
.badge { padding: 1px 7px; border-radius: 9px; font-size: 11px; background: var(--line); }
.badge.done { background: rgba(63,185,80,.18); color: var(--ok); }
.badge.client_aborted, .badge.rate_limited { background: rgba(210,153,34,.18); color: var(--warn); }
.badge.upstream_error, .badge.upstream_truncated, .badge.idle_timeout, .badge.shutdown, .badge.error { background: rgba(248,81,73,.18); color: var(--bad); }
.badge.streaming, .badge.waiting { background: rgba(88,166,255,.18); color: var(--accent); }
#login { max-width: 560px; margin: 40px auto; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; display: grid; gap: 10px; }
#login input[type=password] { width: 100%; margin-top: 4px; padding: 6px 8px; background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 6px; }
.error { color: var(--bad); min-height: 1em; margin: 0; }
[hidden] { display: none !important; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(3, 1fr); } .two { grid-template-columns: 1fr; } }
`;
