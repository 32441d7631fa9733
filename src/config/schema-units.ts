/**
 * Building blocks shared by the configuration schema's sections (src/config/schema.ts).
 * Durations carry their unit in the name (`…Ms`), sizes in bytes. Pure.
 */
import { z } from 'zod';

/** A duration in ms: a whole number, 0 or more. */
export const positiveMs = z.number().int().nonnegative();
