/**
 * `GET /dashboard`: one static page reading `/admin/events` with EventSource. The page and its
 * scripts hold no data, so they are served without auth (src/http/static-pages.ts: how, and under
 * which Content-Security-Policy); the feed they read is protected (src/admin/auth.ts). The page's
 * script is a set of ES modules (index.html loads app.js with `<script type="module">`, which
 * imports the rest), in src/dashboard/browser/, listed in FILES below.
 */
import type { RouteTable } from '../http/route-table.js';
import { pageDir, registerPages, TYPES, type PageFile } from '../http/static-pages.js';

/** Where the page's files are (src/http/static-pages.ts serves them). */
export const DASHBOARD_DIR = pageDir('src/dashboard/browser');

/**
 * The page's ES modules: app.js and every module it imports, directly or not. A fixed list rather
 * than the directory, so a request path never reaches the file system; a module missing here is a
 * 404 that stops the whole page, and test/integration/dashboard-assets.test.ts fails on any .js
 * file in src/dashboard/browser/ that is not served.
 */
const SCRIPTS = [
  'app.js',
  'connection.js',
  'dispatch.js',
  'dom.js',
  'feed-events.js',
  'format.js',
  'header.js',
  'panel-budgets.js',
  'panel-cards.js',
  'panel-chart.js',
  'panel-requests.js',
  'panel-totals.js',
  'reduce-requests.js',
  'reduce-throughput.js',
  'render.js',
  'state.js',
] as const;

/** Every public route of the page, with the file it serves (test/security/routes.test.ts lists them). */
const FILES: readonly PageFile[] = [
  { route: '/dashboard', file: 'index.html', type: TYPES.html },
  { route: '/dashboard/', file: 'index.html', type: TYPES.html },
  { route: '/dashboard/app.css', file: 'app.css', type: TYPES.css },
  ...SCRIPTS.map((file) => ({ route: `/dashboard/${file}`, file, type: TYPES.js })),
];

/** Register the page, its stylesheet and its modules (public: they hold no data). */
export function registerDashboardRoutes(table: RouteTable): void {
  registerPages(table, DASHBOARD_DIR, FILES);
}
