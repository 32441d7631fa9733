// @ts-check
/** The "By key" and "By model" tables: totals since the page opened, most requests first. */
import { $, cell } from './dom.js';
import { fmt, pct } from './format.js';

/** @typedef {import('./state.js').Totals} Totals */

/**
 * @param {string} id
 * @param {Map<string, Totals>} map
 */
export function renderTotals(id, map) {
  var tbody = $(id, HTMLTableElement).tBodies[0];
  if (!tbody) return;
  var entries = Array.from(map.entries()).sort(function (a, b) { return b[1].requests - a[1].requests; });
  var frag = document.createDocumentFragment();
  entries.forEach(function (entry) {
    var name = entry[0], t = entry[1], tr = document.createElement('tr');
    tr.setAttribute('data-name', name);
    cell(tr, name);
    cell(tr, fmt(t.requests), 'n requests');
    cell(tr, fmt(t.errors), 'n errors');
    cell(tr, fmt(t.prompt), 'n prompt');
    cell(tr, fmt(t.completion), 'n completion');
    var p = pct(t.ttfts, 0.5);
    cell(tr, p == null ? '–' : fmt(p) + ' ms', 'n');
    frag.appendChild(tr);
  });
  tbody.replaceChildren(frag);
}
