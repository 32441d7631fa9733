// @ts-check
/**
 * When the panels are drawn: app.js calls `render` every 250 ms. The tables and cards are rebuilt
 * only after an event changed the state (`markDirty`, from dispatch.js), so a quiet feed costs no
 * DOM work; the chart is drawn every time, because time moves it even without events.
 */
import { renderBudgets } from './panel-budgets.js';
import { renderCards } from './panel-cards.js';
import { renderChart } from './panel-chart.js';
import { renderRequests } from './panel-requests.js';
import { renderTotals } from './panel-totals.js';
import { S } from './state.js';

var dirty = true;

export function markDirty() {
  dirty = true;
}

/** @param {boolean} force */
export function render(force) {
  if (dirty || force) {
    dirty = false;
    renderCards();
    renderTotals('by-key', S.byKey);
    renderTotals('by-model', S.byModel);
    renderBudgets();
    renderRequests();
  }
  renderChart();
}
