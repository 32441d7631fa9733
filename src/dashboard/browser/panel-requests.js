// @ts-check
/**
 * The Requests table: one row per request, newest first, from waiting through streaming to its
 * end reason (`lost` shows as unknown: it was in flight when the feed dropped and is no longer).
 */
import { $, badge, cell } from './dom.js';
import { fmt } from './format.js';
import { S } from './state.js';

export function renderRequests() {
  var tbody = $('requests-table', HTMLTableElement).tBodies[0];
  if (!tbody) return;
  var frag = document.createDocumentFragment();
  S.rows.forEach(function (r) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-id', r.id);
    tr.className = r.phase + (r.failed ? ' failed' : '');
    cell(tr, r.startedAt ? new Date(r.startedAt + S.skewMs).toLocaleTimeString() : '', 'time');
    cell(tr, r.id, 'id').title = r.id;
    cell(tr, r.key, 'key');
    cell(tr, r.model, 'model');
    cell(tr, r.stream == null ? '' : r.stream ? 'stream' : 'json', 'mode');
    cell(tr, r.phase === 'ended' ? r.status : '', 'n status');
    var reason = cell(tr, '', 'end');
    if (r.phase === 'ended') badge(reason, String(r.endReason), String(r.endReason));
    else badge(reason, r.phase === 'lost' ? 'unknown' : String(r.phase), String(r.phase));
    cell(tr, fmt(r.ttftMs), 'n ttft');
    cell(tr, r.phase === 'ended' ? fmt(r.durationMs) : '', 'n duration');
    var tok = r.phase === 'ended' && r.promptTokens != null ? (r.promptTokens + ' + ' + r.completionTokens + (r.tokenSource === 'estimated' ? ' est' : '')) : '';
    cell(tr, tok, 'n tokens');
    cell(tr, r.tokensPerSecond == null ? '' : fmt(r.tokensPerSecond, 1), 'n tps');
    cell(tr, r.phase === 'ended' ? fmt(r.bytesOut) : '', 'n bytes');
    frag.appendChild(tr);
  });
  tbody.replaceChildren(frag);
}
