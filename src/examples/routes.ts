/**
 * `GET /examples/resume`: an example page for resumable streams (README "Resumable streams"). It
 * starts a detached stream (`x-stream-detach: true` → 202 `{id, url, read_token}`) and reads it
 * with EventSource on `GET /v1/streams/{id}` (`?token=` when keys are on, `?after=<seq>` when the
 * reader is cut and opens a new EventSource; the browser's own reconnection sends
 * `Last-Event-ID`). The page and its script hold no data, so they are public, like the dashboard
 * (src/dashboard/routes.ts): the chat request the page sends carries the key the user types, and
 * the stream it reads needs that key's read token.
 *
 * Served as the dashboard is (src/http/static-pages.ts), under the same Content-Security-Policy.
 */
import type { RouteTable } from '../http/route-table.js';
import { pageDir, registerPages, TYPES, type PageFile } from '../http/static-pages.js';

/** Where the page's files are (src/http/static-pages.ts serves them). */
export const EXAMPLES_DIR = pageDir('src/examples/browser');

/** Every public route of the examples, with the file it serves (test/security/routes.test.ts lists them). */
export const EXAMPLE_FILES: readonly PageFile[] = [
  { route: '/examples/resume', file: 'resume.html', type: TYPES.html },
  { route: '/examples/resume.css', file: 'resume.css', type: TYPES.css },
  { route: '/examples/resume.js', file: 'resume.js', type: TYPES.js },
];

/** Register the example pages (public: they hold no data). */
export function registerExampleRoutes(table: RouteTable): void {
  registerPages(table, EXAMPLES_DIR, EXAMPLE_FILES);
}
