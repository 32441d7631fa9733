/**
 * `GET /dashboard` (issue 5): one static page reading `/admin/events` with EventSource. The page
 * and its script hold no data, so they are served without auth; the feed they read is protected
 * (src/admin/auth.ts). A strict Content-Security-Policy: same-origin script, style and
 * connections only, nothing inline, no framing.
 */
import type { RouteTable } from '../http/route-table.js';
import { DASHBOARD_JS } from './client.js';
import { DASHBOARD_CSS, DASHBOARD_HTML } from './page.js';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Register the page and its two assets (public: they hold no data). */
export function registerDashboardRoutes(table: RouteTable): void {
  const serve = (path: string, type: string, body: string): void =>
    table.add({
      methods: ['GET'],
      path,
      access: 'public',
      handler: (ctx) => {
        ctx.set(SECURITY_HEADERS);
        ctx.type = type;
        ctx.body = body;
      },
    });
  serve('/dashboard', 'text/html; charset=utf-8', DASHBOARD_HTML);
  serve('/dashboard/', 'text/html; charset=utf-8', DASHBOARD_HTML);
  serve('/dashboard/app.js', 'text/javascript; charset=utf-8', DASHBOARD_JS);
  serve('/dashboard/app.css', 'text/css; charset=utf-8', DASHBOARD_CSS);
}
