// @ts-check
/**
 * The header's two indicators: the connection state (`#conn`, whose `data-state`
 * test/browser/dashboard.test.ts waits on) and the proxy instance with its restarts.
 */
import { $ } from './dom.js';
import { S } from './state.js';

/** @typedef {import('./state.js').ConnState} ConnState */

/** @type {Record<ConnState, string>} */
var LABELS = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', offline: 'offline · retrying', login: 'sign-in required' };

/** @param {ConnState} s */
export function setStatus(s) {
  S.status = s;
  var el = $('conn');
  el.className = 'conn ' + s;
  el.setAttribute('data-state', s);
  $('conn-text').textContent = LABELS[s] || s;
}

/** Shown as soon as a `feed.hello` is handled (dispatch.js), not at the next render. */
export function showInstance() {
  $('instance').textContent = 'instance ' + S.instance + (S.restarts ? ' · ' + S.restarts + ' restart' + (S.restarts > 1 ? 's' : '') : '');
}
