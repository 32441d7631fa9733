/**
 * `GET /examples/resume`: an example page for resumable streams (README "Resumable streams"). It
 * starts a detached stream (`x-stream-detach: true` → 202 `{id, url, read_token}`) and reads it
 * with EventSource on `GET /v1/streams/{id}` (`?token=` when keys are on, `?after=<seq>` when the
 * reader is cut and opens a new EventSource; the browser's own reconnection sends
 * `Last-Event-ID`). The page and its script hold no data, so they are public, like the dashboard
 * (src/dashboard/routes.ts): the chat request the page sends carries the key the user types, and
 * the stream it reads needs that key's read token.
 *
 * Served the dashboard's way: a fixed list of files (a request path never reaches the file
 * system), read once when the routes are registered, byte for byte as on disk (no build step: the
 * script is type-checked by `tsc -p tsconfig.browser.json`), under the same strict
 * Content-Security-Policy — same-origin script, style and connections only, nothing inline.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteTable } from '../http/route-table.js';

/**
 * Where the page's files are: from the package root, so this works both as src/examples/routes.ts
 * (tsx) and as dist/examples/routes.js (`tsc` does not copy non-TypeScript files to dist/).
 */
export const EXAMPLES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/examples/browser');

/** The dashboard's policy (src/dashboard/routes.ts), kept identical. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const TYPES = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  // A module script needs a JavaScript MIME type, and `nosniff` forbids guessing one.
  js: 'text/javascript; charset=utf-8',
} as const;

/** Every public route of the examples, with the file it serves (test/security/routes.test.ts lists them). */
export const EXAMPLE_FILES: ReadonlyArray<{ route: string; file: string; type: string }> = [
  { route: '/examples/resume', file: 'resume.html', type: TYPES.html },
  { route: '/examples/resume.css', file: 'resume.css', type: TYPES.css },
  { route: '/examples/resume.js', file: 'resume.js', type: TYPES.js },
];

let assets: Map<string, { type: string; body: string }> | null = null;

/** The files by route, read on first use and kept: a missing one fails start-up, not a page view. */
function loadAssets(): Map<string, { type: string; body: string }> {
  if (assets !== null) return assets;
  const loaded = new Map<string, { type: string; body: string }>();
  for (const { route, file, type } of EXAMPLE_FILES) {
    const where = path.join(EXAMPLES_DIR, file);
    try {
      loaded.set(route, { type, body: readFileSync(where, 'utf8') });
    } catch (err) {
      throw new Error(`examples: cannot read ${where} (${(err as Error).message}); it ships with the repository, next to src/examples/routes.ts`);
    }
  }
  assets = loaded;
  return assets;
}

/** Register the example pages (public: they hold no data). */
export function registerExampleRoutes(table: RouteTable): void {
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
