/**
 * Static pages the proxy serves itself (the dashboard, src/dashboard/routes.ts; the examples,
 * src/examples/routes.ts): a fixed list of files, so a request path never reaches the file system;
 * read once when the routes are registered (a missing file fails start-up, not a page view);
 * served byte for byte as on disk — no build step: their scripts are type-checked by
 * `tsc -p tsconfig.browser.json`, not compiled — public, since they hold no data, under one strict
 * Content-Security-Policy: same-origin script, style and connections only, nothing inline, no
 * framing. Module scripts and their imports are fetched under `script-src 'self'` like any other
 * same-origin script.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteTable } from './route-table.js';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export const TYPES = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  // A module script is refused unless served with a JavaScript MIME type (HTML "fetch a single
  // module script"), and `nosniff` above forbids guessing one.
  js: 'text/javascript; charset=utf-8',
} as const;

/** One public route and the file it serves. */
export interface PageFile {
  route: string;
  file: string;
  type: string;
}

/**
 * The directory of a page's files, `under` the package root. Resolved from the root because the
 * registering module runs both from src/ (tsx, the tests) and from dist/ (`npm start`), two
 * directories below the root either way, and `tsc` does not copy non-TypeScript files to dist/.
 */
export function pageDir(under: string): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..', under);
}

/** Register `files` from `dir` as public routes; throws at start-up when one cannot be read. */
export function registerPages(table: RouteTable, dir: string, files: readonly PageFile[]): void {
  for (const { route, file, type } of files) {
    const where = path.join(dir, file);
    let body: string;
    try {
      body = readFileSync(where, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${where} (${(err as Error).message}); it ships with the repository`);
    }
    table.add({
      methods: ['GET'],
      path: route,
      access: 'public',
      handler: (ctx) => {
        ctx.set(SECURITY_HEADERS);
        ctx.type = type;
        ctx.body = body;
      },
    });
  }
}
