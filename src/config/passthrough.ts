/**
 * The pass-through endpoints' configuration (README "Security model"): which OpenAI API paths go
 * to an upstream beyond chat completions and models, and where each takes its model from. Part
 * of the configuration schema (src/config/schema.ts); pure.
 */
import { z } from 'zod';

/**
 * One pass-through endpoint: a path template under `/v1` (`:name` stands for one path segment of
 * letters, digits, `_`, `.` and `-`), its methods, and where it takes its model from:
 * - `body`: the JSON body's `model` (checked against the key's `models`, routed by it);
 * - `none`: no model at all (files): any key may use it, routed to the catch-all route;
 * - `elsewhere`: the endpoint can make the upstream run models the proxy cannot see (batches,
 *   fine-tuning, assistants, multipart uploads): refused to keys restricted by `models` unless
 *   `allowRestrictedKeys`.
 */
export const passthroughEndpointSchema = z
  .object({
    path: z.string().regex(/^\/v1(\/([A-Za-z0-9_.-]+|:[a-z_]+))+$/, 'a path template like /v1/files/:id'),
    methods: z.array(z.enum(['GET', 'POST', 'DELETE'])).min(1),
    model: z.enum(['body', 'none', 'elsewhere']).default('body'),
    allowRestrictedKeys: z.boolean().default(false),
  })
  .strict();

type PassthroughEndpointInput = z.input<typeof passthroughEndpointSchema>;

/** The OpenAI API's public paths served by pass-through out of the box (README "Security model"). */
export const DEFAULT_PASSTHROUGH: readonly PassthroughEndpointInput[] = [
  { path: '/v1/completions', methods: ['POST'] },
  { path: '/v1/embeddings', methods: ['POST'] },
  { path: '/v1/moderations', methods: ['POST'] },
  { path: '/v1/responses', methods: ['POST'] },
  { path: '/v1/responses/:id', methods: ['GET', 'DELETE'], model: 'none' },
  { path: '/v1/responses/:id/cancel', methods: ['POST'], model: 'none' },
  { path: '/v1/responses/:id/input_items', methods: ['GET'], model: 'none' },
  { path: '/v1/images/generations', methods: ['POST'] },
  { path: '/v1/images/edits', methods: ['POST'], model: 'elsewhere' },
  { path: '/v1/images/variations', methods: ['POST'], model: 'elsewhere' },
  { path: '/v1/audio/speech', methods: ['POST'] },
  { path: '/v1/audio/transcriptions', methods: ['POST'], model: 'elsewhere' },
  { path: '/v1/audio/translations', methods: ['POST'], model: 'elsewhere' },
  { path: '/v1/files', methods: ['GET', 'POST'], model: 'none' },
  { path: '/v1/files/:id', methods: ['GET', 'DELETE'], model: 'none' },
  { path: '/v1/files/:id/content', methods: ['GET'], model: 'none' },
  { path: '/v1/batches', methods: ['GET', 'POST'], model: 'elsewhere' },
  { path: '/v1/batches/:id', methods: ['GET'], model: 'elsewhere' },
  { path: '/v1/batches/:id/cancel', methods: ['POST'], model: 'elsewhere' },
  { path: '/v1/fine_tuning/jobs', methods: ['GET', 'POST'], model: 'elsewhere' },
  { path: '/v1/fine_tuning/jobs/:id', methods: ['GET'], model: 'elsewhere' },
  { path: '/v1/fine_tuning/jobs/:id/cancel', methods: ['POST'], model: 'elsewhere' },
  { path: '/v1/fine_tuning/jobs/:id/events', methods: ['GET'], model: 'elsewhere' },
];

/** Pass-through: the endpoints beyond chat completions and models that go to an upstream. */
export const passthroughSchema = z
  .object({
    /** Replaces the default list when given (README "Security model"). */
    endpoints: z.array(passthroughEndpointSchema).default(() => DEFAULT_PASSTHROUGH.map((e) => passthroughEndpointSchema.parse(e))),
  })
  .strict()
  .prefault({});

export type PassthroughEndpoint = z.infer<typeof passthroughEndpointSchema>;
