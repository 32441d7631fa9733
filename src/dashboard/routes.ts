/**
 * `GET /dashboard`: one static page reading `/admin/events` with EventSource. The page and its
 * script hold no data, so they are served without auth; the feed they read is protected
 * (src/admin/auth.ts). A strict Content-Security-Policy: same-origin script, style and
 * connections only, nothing inline, no framing.
 *
 * The files are src/dashboard/browser/{index.html,app.css,app.js}, served byte for byte as they
 * are on disk (no build step: the script is type-checked by `tsc -p tsconfig.browser.json`, not
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

const FILES: Record<'html' | 'css' | 'js', { file: string; type: string }> = {
  html: { file: 'index.html', type: 'text/html; charset=utf-8' },
  css: { file: 'app.css', type: 'text/css; charset=utf-8' },
  js: { file: 'app.js', type: 'text/javascript; charset=utf-8' },
};

let assets: Record<keyof typeof FILES, Asset> | null = null;

/** The three files, read on first use and kept: a missing one fails start-up, not a page view. */
function loadAssets(): Record<keyof typeof FILES, Asset> {
  if (assets !== null) return assets;
  const read = ({ file, type }: { file: string; type: string }): Asset => {
    const where = path.join(DASHBOARD_DIR, file);
    try {
      return { type, body: readFileSync(where, 'utf8') };
    } catch (err) {
      throw new Error(`dashboard: cannot read ${where} (${(err as Error).message}); it ships with the repository, next to src/dashboard/routes.ts`);
    }
  };
  assets = { html: read(FILES.html), css: read(FILES.css), js: read(FILES.js) };
  return assets;
}

/** Register the page and its two assets (public: they hold no data). */
export function registerDashboardRoutes(table: RouteTable): void {
  const { html, css, js } = loadAssets();
  const serve = (routePath: string, asset: Asset): void =>
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
  serve('/dashboard', html);
  serve('/dashboard/', html);
  serve('/dashboard/app.js', js);
  serve('/dashboard/app.css', css);
}
