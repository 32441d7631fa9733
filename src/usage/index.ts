/** Usage accounting (test/unit/usage.test.ts): pure, imports nothing from the app. */
export { createTokenEstimator, encodingFor, type EncodingName, type TokenEstimator } from './estimate.js';
export { inspectChunk, usageFromBody, contentFromBody, readUsage, type ChunkObservation, type Usage } from './chunk.js';
export { requestUsage, type UsageRequest } from './stream-options.js';
export { UsageTracker, type UsageResult } from './tracker.js';
