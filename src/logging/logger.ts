/**
 * The logger: pino, JSON to stdout (pretty in `npm run dev`), with redaction always on — the
 * caller's and the upstream's credentials never reach a log line (README "Security model"; test/unit/redaction.test.ts).
 *
 * Two layers:
 * 1. {@link REDACT_PATHS} (plus `logging.redactPaths`): pino censors these paths in every logged
 *    object — credential headers, API keys, configured client keys, tokens.
 * 2. {@link scrubSecrets} (`secrets.ts`) as pino's `streamWrite` hook: a last net over every
 *    serialised line for credential-shaped text (`Bearer …`, `sk-…` keys) that got into a message
 *    or error string. It is one regex test per line when nothing matches.
 *
 * Note: `key` is deliberately not redacted at the top level: it is the *name* of the caller's key
 * in every request record (never the secret). Secrets live under `apiKey`, `api_key`, `keys[*].key`.
 * Request and answer content is never logged here unless content logging is on, and then it is
 * scrubbed before it reaches the logger (`content.ts`, `tap.ts`).
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { CENSOR, scrubSecrets } from './secrets.js';

/** Credential headers, censored inside every header container below. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key'];
/** Where headers appear in logged objects: `headers`, `req.headers`, … */
const HEADER_CONTAINERS = ['headers', 'req.headers', 'res.headers', 'request.headers', 'response.headers'];

/**
 * Paths pino censors in every logged object. Explicit paths only, no leading `*.` wildcard:
 * fast-redact walks every top-level key for each of those, which measured 3–5 µs per wildcard
 * per log line (18 of them cost 50–90 µs on the request record; these ~50 explicit paths cost
 * about 1 µs). Wildcards under a fixed prefix (`keys[*].key`) are cheap and are kept. Whatever
 * is logged elsewhere is still covered by the credential-shape net ({@link scrubSecrets}).
 */
export const REDACT_PATHS: readonly string[] = [
  // Credentials at the top level of a logged object.
  'authorization',
  'cookie',
  'apiKey',
  'api_key',
  'secret',
  'password',
  'token',
  // Credential headers wherever headers are logged.
  ...HEADER_CONTAINERS.flatMap((c) => CREDENTIAL_HEADERS.map((h) => `${c}["${h}"]`)),
  // An upstream or client object with its key.
  'upstream.apiKey',
  'upstream.api_key',
  'client.apiKey',
  'options.apiKey',
  // The config, should it ever be logged: upstream keys, client keys, the metrics token.
  'upstreams.*.apiKey',
  'config.upstreams.*.apiKey',
  'keys[*].key',
  'keys[*].sha256',
  'config.keys[*].key',
  'config.keys[*].sha256',
  'metrics.token',
  'config.metrics.token',
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  /** Extra paths (`logging.redactPaths`, README "Configuration"), pino syntax (`a.b`, `a[*].b`, `a["x-y"]`). */
  redactPaths?: readonly string[];
  /** Where to write (tests capture it); default stdout. */
  destination?: DestinationStream;
}

/** Loggers whose lines {@link lineWriter} may write: ours, with only the default redaction. */
const plainStreams = new WeakMap<Logger, DestinationStream>();

/**
 * A writer of finished lines into `logger`'s destination, as pino writes its own (through the
 * same secrets net), for a logger made by {@link createLogger} with the default redaction and no
 * transport; null for any other logger. Lines so written must be what pino would write
 * (`record-line.ts`).
 */
export function lineWriter(logger: Logger): ((line: string) => void) | null {
  const stream = plainStreams.get(logger);
  return stream === undefined ? null : (line) => void stream.write(scrubSecrets(line));
}

/** Build the process logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const base = {
    level: opts.level,
    base: undefined,
    redact: { paths: [...REDACT_PATHS, ...(opts.redactPaths ?? [])], censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: { streamWrite: scrubSecrets },
  };
  if (opts.pretty && !opts.destination) return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  const logger = opts.destination ? pino(base, opts.destination) : pino(base);
  if ((opts.redactPaths ?? []).length === 0) plainStreams.set(logger, (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!);
  return logger;
}
