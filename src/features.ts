/**
 * The optional features (auth and limits, admin feed and dashboard), assembled from config into
 * the app's extension points. Kept apart from app.ts so the core has no knowledge of them.
 */
import type { AppDeps } from './deps.js';
import type { AppExtensions } from './app.js';
import { createAccess } from './access.js';
import { createAdminFeature } from './admin/index.js';
import { breakerReadiness } from './upstream/breaker.js';

/** Build the extensions for `deps`, and a close() for what they opened (Redis, timers). */
export async function extensionsFor(deps: AppDeps): Promise<{ ext: AppExtensions; close: () => Promise<void> }> {
  // Issue 4: keys (401/403) and rate limits; admission runs inside the routes once the model is known.
  const access = await createAccess(deps);
  deps.admit = access.admit;
  deps.permit = access.keys.enabled ? access.permit : null;
  // Issue 5: the live feed (/admin/events, admin keys of the same store), sign-in on
  // /admin/session, and the /dashboard page.
  const admin = createAdminFeature(deps, { keys: access.keys });
  const ext: AppExtensions = {
    authenticate: access.authenticate,
    routes: [(router) => admin.register(router)],
    readiness: [...access.readiness, ...breakerReadiness(deps.health)],
    isAdmin: (authorization) => access.keys.authenticate(authorization)?.admin === true,
  };
  return {
    ext,
    close: async () => {
      admin.close();
      await access.close();
    },
  };
}
