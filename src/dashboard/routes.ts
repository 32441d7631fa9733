/**
 * `GET /dashboard` (issue 5): one static page reading `/admin/events` with EventSource. The page
 * and its script hold no data, so they are served without auth; the feed they read is protected
 * (src/admin/auth.ts). A strict Content-Security-Policy: same-origin script, style and
 * connections only, nothing inline, no framing.
 */
import type Router from '@koa/router';
import type { ProxyState } from '../http/request-context.js';
import { DASHBOARD_JS } from './client.js';
import { DASHBOARD_CSS, DASHBOARD_HTML } from './page.js';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Register the page and its two assets. */
export function registerDashboardRoutes(router: Router<ProxyState>): void {
  const serve = (type: string, body: string) => (ctx: { set(h: Record<string, string>): void; type: string; body: unknown }) => {
    ctx.set(SECURITY_HEADERS);
    ctx.type = type;
    ctx.body = body;
  };
  router.get('/dashboard', serve('text/html; charset=utf-8', DASHBOARD_HTML));
  router.get('/dashboard/', serve('text/html; charset=utf-8', DASHBOARD_HTML));
  router.get('/dashboard/app.js', serve('text/javascript; charset=utf-8', DASHBOARD_JS));
  router.get('/dashboard/app.css', serve('text/css; charset=utf-8', DASHBOARD_CSS));
}
