// @ts-check
/**
 * The page's one state object: everything the feed has told it since the page opened. The
 * reducers (dispatch.js, reduce-requests.js, reduce-throughput.js) write it, the panels
 * (panel-*.js) read it, and app.js exposes it as `window.__dash` for
 * test/browser/dashboard.test.ts.
 */

/**
 * @typedef {import('./feed-events.js').EndEvent} EndEvent
 * @typedef {import('./feed-events.js').BudgetUpdate} BudgetUpdate
 * @typedef {'live' | 'connecting' | 'reconnecting' | 'offline' | 'login'} ConnState
 * @typedef {'waiting' | 'streaming' | 'ended' | 'lost'} Phase
 */
/**
 * One line of the requests table: what `request.start` said, then what `request.end` adds.
 * @typedef {{ id: string, phase?: Phase, failed?: boolean } & Partial<Omit<EndEvent, 'id'>>} Row
 */
/** @typedef {{ requests: number, errors: number, prompt: number, completion: number, ttfts: number[] }} Totals */
/** @typedef {{ tokens: number, errors: number, streams: number | null }} Bucket */
/**
 * @typedef {object} DashState
 * @property {ConnState} status
 * @property {string | null} instance
 * @property {number} restarts
 * @property {number} opens
 * @property {number} events
 * @property {string} lastEventId
 * @property {number} skewMs
 * @property {Row[]} rows
 * @property {Map<string, Row>} byId
 * @property {Map<string, Row>} active
 * @property {Set<string>} streams
 * @property {Set<string>} seen
 * @property {string[]} seenOrder
 * @property {{ requests: number, errors: number, prompt: number, completion: number }} total
 * @property {Map<string, Totals>} byKey
 * @property {Map<string, Totals>} byModel
 * @property {number[]} ttfts
 * @property {Map<number, Bucket>} buckets
 * @property {number} missed
 * @property {number} rateLimited
 * @property {number} upstreamFailures
 * @property {number} openedAt
 * @property {Map<string, BudgetUpdate>} budgets
 */

/** Rows kept in the requests table; older ones drop off the bottom. */
export const MAX_ROWS = 100;
/** Event ids remembered to skip a repeat (dispatch.js). */
export const MAX_SEEN = 5000;
/** Seconds the chart shows, and the throughput buckets keep. */
export const CHART_SECONDS = 60;
/** TTFTs kept per percentile (the page's and each key's and model's). */
export const TTFT_WINDOW = 200;

/** @type {DashState} */
export const S = {
  status: 'connecting', instance: null, restarts: 0, opens: 0, events: 0, lastEventId: '', skewMs: 0,
  rows: [], byId: new Map(), active: new Map(), streams: new Set(), seen: new Set(), seenOrder: [],
  total: { requests: 0, errors: 0, prompt: 0, completion: 0 }, byKey: new Map(), byModel: new Map(),
  ttfts: [], buckets: new Map(), missed: 0, rateLimited: 0, upstreamFailures: 0, openedAt: Date.now(),
  budgets: new Map()
};
