/**
 * The optional features (auth and limits, admin feed and dashboard), assembled from config into
 * the app's extension points. Kept apart from app.ts so the core has no knowledge of them.
 */
import type { AppDeps } from './deps.js';
import type { AppExtensions } from './app.js';
import { createAccess } from './access.js';

/** Build the extensions for `deps`, and a close() for what they opened (Redis, timers). */
export async function extensionsFor(deps: AppDeps): Promise<{ ext: AppExtensions; close: () => Promise<void> }> {
  // Issue 4: keys (401/403) and rate limits; admission runs inside the routes once the model is known.
  const access = await createAccess(deps);
  deps.admit = access.admit;
  const ext: AppExtensions = { middleware: [access.middleware], routes: [], readiness: [...access.readiness] };
  return { ext, close: () => access.close() };
}
