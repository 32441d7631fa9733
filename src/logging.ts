/**
 * The logger: pino, JSON to stdout (pretty in `npm run dev`), with redaction always on — the
 * caller's and the upstream's credentials never reach a log line (DESIGN.md "Safety").
 */
import { pino, type Logger, type DestinationStream } from 'pino';

/** Paths pino censors wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers.cookie',
  'apiKey',
  '*.apiKey',
  'api_key',
  '*.api_key',
  'key',
  'secret',
  '*.secret',
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  /** Extra paths (issue 5 `logging.redactPaths`). */
  redactPaths?: readonly string[];
  /** Where to write (tests capture it); default stdout. */
  destination?: DestinationStream;
}

/** Build the process logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const base = {
    level: opts.level,
    base: undefined,
    redact: { paths: [...REDACT_PATHS, ...(opts.redactPaths ?? [])], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  return pino(base);
}
