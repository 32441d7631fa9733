// @ts-check
/**
 * The Budgets panel: each budget's latest spend against its limit, with a bar; hidden until the
 * feed reports a budget (only keys with a `budget` have one).
 */
import { $ } from './dom.js';
import { usd } from './format.js';
import { S } from './state.js';

export function renderBudgets() {
  var list = $('budgets');
  var entries = Array.from(S.budgets.values()).sort(function (a, b) { return a.budget < b.budget ? -1 : a.budget > b.budget ? 1 : 0; });
  $('budgets-panel').hidden = entries.length === 0;
  var frag = document.createDocumentFragment();
  entries.forEach(function (u) {
    var share = u.limitUsd > 0 ? Math.min(1, Math.max(0, u.spentUsd / u.limitUsd)) : 1;
    var row = document.createElement('div');
    row.className = 'budget' + (share >= 0.9 ? ' high' : '');
    row.setAttribute('data-name', u.budget);
    var name = document.createElement('span');
    name.className = 'name';
    name.textContent = u.budget;
    var amount = document.createElement('span');
    amount.className = 'amount';
    amount.textContent = usd(u.spentUsd) + ' / ' + usd(u.limitUsd);
    var bar = document.createElement('span');
    bar.className = 'bar';
    var fill = document.createElement('i');
    // A style property set from script, not a style attribute in markup: the CSP's
    // `style-src 'self'` (src/dashboard/routes.ts) allows the one and not the other.
    fill.style.width = (share * 100).toFixed(1) + '%';
    bar.appendChild(fill);
    row.append(name, amount, bar);
    frag.appendChild(row);
  });
  list.replaceChildren(frag);
}
