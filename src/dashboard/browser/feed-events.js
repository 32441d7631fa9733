// @ts-check
/**
 * What the page reads from `/admin/events`: the event names it listens to and each one's payload.
 * The payloads are typed from the server's own definitions (src/events/types.ts, src/admin/feed.ts),
 * so a field renamed on the server fails `tsc -p tsconfig.browser.json` instead of showing blanks
 * (test/integration/dashboard-assets.test.ts misspells one and expects the check to refuse it).
 */

/**
 * @typedef {import('../../events/types.js').LifecycleEvents} LifecycleEvents
 * @typedef {import('../../events/types.js').RequestRecord} RequestRecord
 * @typedef {import('../../events/types.js').BudgetUpdate} BudgetUpdate
 * @typedef {import('../../events/types.js').StreamProgress} StreamProgress
 */
/**
 * A request in flight as `feed.hello` lists it (src/admin/feed.ts, `ActiveRequest`).
 * @typedef {{ id: string, key: string, model: string, stream: boolean, at: number, streaming: boolean, ttftMs: number | null }} ActiveRequest
 */
/**
 * `feed.hello`: the fields of src/admin/feed.ts `hello()` this page reads.
 * @typedef {{ instance: string, now: number, active: ActiveRequest[], budgets?: BudgetUpdate[] }} Hello
 */
/**
 * `request.end` as the feed publishes it (src/logging/record.ts `feedFields`): the record's
 * fields this page reads, plus the computed `tokensPerSecond`.
 * @typedef {Pick<RequestRecord, 'id' | 'key' | 'model' | 'stream' | 'status' | 'endReason' | 'startedAt' | 'ttftMs' | 'durationMs' | 'bytesOut' | 'promptTokens' | 'completionTokens' | 'tokenSource'> & { tokensPerSecond?: number | null }} EndEvent
 */
/**
 * Every event name the page listens to, with its payload.
 * @typedef {{
 *   'feed.hello': Hello,
 *   'feed.gap': { missed?: number },
 *   'request.start': LifecycleEvents['request.start'],
 *   'request.first_token': LifecycleEvents['request.first_token'],
 *   'stream.open': LifecycleEvents['stream.open'],
 *   'stream.close': LifecycleEvents['stream.close'],
 *   'request.rate_limited': LifecycleEvents['request.rate_limited'],
 *   'upstream.failed': LifecycleEvents['upstream.failed'],
 *   'request.end': EndEvent,
 *   'budget.update': BudgetUpdate,
 *   'stream.progress': StreamProgress,
 * }} FeedEvents
 * @typedef {keyof FeedEvents} FeedEventName
 */

/**
 * The names the EventSource subscribes to (connection.js): an SSE event with an `event:` field
 * reaches only a listener for that name, never `onmessage`.
 * @type {readonly FeedEventName[]}
 */
export const FEED_EVENT_NAMES = ['feed.hello', 'feed.gap', 'request.start', 'request.first_token', 'stream.open', 'stream.close',
  'request.rate_limited', 'upstream.failed', 'request.end', 'budget.update', 'stream.progress'];
