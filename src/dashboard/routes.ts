/**
 * `GET /dashboard`: one static page reading `/admin/events` with EventSource. The page and its
 * scripts hold no data, so they are served without auth; the feed they read is protected
 * (src/admin/auth.ts). A strict Content-Security-Policy: same-origin script, style and
 * connections only, nothing inline, no framing. The page's script is a set of ES modules
 * (index.html loads app.js with `<script type="module">`, which imports the rest); module scripts
 * and their imports are fetched under `script-src 'self'` like any other same-origin script, so
 * the policy needs nothing more for them.
 *
 * The files are in src/dashboard/browser/ (listed in FILES below), served byte for byte as they
 * are on disk (no build step: the scripts are type-checked by `tsc -p tsconfig.browser.json`, not
 * compiled), read once, when the routes are registered at start-up.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteTable } from '../http/route-table.js';

/**
 * Where the page's files are. Resolved from the package root because this module runs both as
 * src/dashboard/routes.ts (tsx, the tests) and as dist/dashboard/routes.js (`npm start`), two
 * directories below the root either way, and `tsc` does not copy non-TypeScript files to dist/
 * (config/default.yaml is found the same way, src/config/load.ts).
 */
export const DASHBOARD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/dashboard/browser');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface Asset {
  type: string;
  body: string;
}

const TYPES = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  // A module script is refused unless served with a JavaScript MIME type (HTML "fetch a single
  // module script"), and `nosniff` above forbids guessing one.
  js: 'text/javascript; charset=utf-8',
} as const;

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
const FILES: ReadonlyArray<{ route: string; file: string; type: string }> = [
  { route: '/dashboard', file: 'index.html', type: TYPES.html },
  { route: '/dashboard/', file: 'index.html', type: TYPES.html },
  { route: '/dashboard/app.css', file: 'app.css', type: TYPES.css },
  ...SCRIPTS.map((file) => ({ route: `/dashboard/${file}`, file, type: TYPES.js })),
];

let assets: Map<string, Asset> | null = null;

/** The files by route, read on first use and kept: a missing one fails start-up, not a page view. */
function loadAssets(): Map<string, Asset> {
  if (assets !== null) return assets;
  const loaded = new Map<string, Asset>();
  for (const { route, file, type } of FILES) {
    const where = path.join(DASHBOARD_DIR, file);
    try {
      loaded.set(route, { type, body: readFileSync(where, 'utf8') });
    } catch (err) {
      throw new Error(`dashboard: cannot read ${where} (${(err as Error).message}); it ships with the repository, next to src/dashboard/routes.ts`);
    }
  }
  assets = loaded;
  return assets;
}

/** Register the page, its stylesheet and its modules (public: they hold no data). */
export function registerDashboardRoutes(table: RouteTable): void {
  for (const [routePath, asset] of loadAssets()) {
    table.add({
      methods: ['GET'],
      path: routePath,
      access: 'public',
      handler: (ctx) => {
        ctx.set(SECURITY_HEADERS);
        ctx.type = asset.type;
        ctx.body = asset.body;
      },
    });
  }
}
