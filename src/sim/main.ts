/**
 * `npm run sim` (or `tsx src/sim/main.ts`): the simulated upstream on its own port.
 *
 *   --port N            (env SIM_PORT, default 8081)
 *   --host H            (env SIM_HOST, default 127.0.0.1)
 *   --ttft-ms N         (env SIM_TTFT_MS, default 150)
 *   --token-delay-ms N  (env SIM_TOKEN_DELAY_MS, default 20)
 *   --max-tokens N      (env SIM_MAX_TOKENS, default 16; used when a request sets no limit)
 *
 * Serves the OpenAI API under `/v1`, Anthropic's under `/anthropic/v1` and Gemini's under
 * `/gemini/v1beta` (see `route.ts`).
 *
 * Flags win over the environment. Prints one line with the base URL once listening; exits 0 on
 * SIGTERM / SIGINT (open streams are cut), 2 on bad arguments, 1 when it cannot listen.
 */
import { parseArgs } from 'node:util';
import { defaultSimOptions, type SimOptions } from './options.js';
import { createSimServer } from './server.js';

const USAGE =
  'usage: sim [--port N] [--host H] [--ttft-ms N] [--token-delay-ms N] [--max-tokens N]\n' +
  '  env: SIM_PORT, SIM_HOST, SIM_TTFT_MS, SIM_TOKEN_DELAY_MS, SIM_MAX_TOKENS';

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    fail(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'ttft-ms': { type: 'string' },
      'token-delay-ms': { type: 'string' },
      'max-tokens': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
if (values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}
const str = (k: string): string | undefined => {
  const v = values[k];
  return typeof v === 'string' ? v : undefined;
};
const env = process.env;

const port = int('--port / SIM_PORT', str('port') ?? env.SIM_PORT, 8081, 0, 65535);
const host = str('host') ?? env.SIM_HOST ?? '127.0.0.1';
const opts: SimOptions = {
  ttftMs: int('--ttft-ms / SIM_TTFT_MS', str('ttft-ms') ?? env.SIM_TTFT_MS, defaultSimOptions.ttftMs, 0, 3_600_000),
  tokenDelayMs: int('--token-delay-ms / SIM_TOKEN_DELAY_MS', str('token-delay-ms') ?? env.SIM_TOKEN_DELAY_MS, defaultSimOptions.tokenDelayMs, 0, 3_600_000),
  defaultMaxTokens: int('--max-tokens / SIM_MAX_TOKENS', str('max-tokens') ?? env.SIM_MAX_TOKENS, defaultSimOptions.defaultMaxTokens, 1, 1_000_000),
};

const server = createSimServer(opts);
server.on('error', (err) => {
  process.stderr.write(`sim: cannot listen on ${host}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => {
  const addr = server.address();
  const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
  const h = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(
    `sim upstream listening on http://${h}:${actual}/v1 (also /anthropic/v1 and /gemini/v1beta; ttft ${opts.ttftMs} ms, ` +
      `${opts.tokenDelayMs} ms/token, default ${opts.defaultMaxTokens} tokens)\n`,
  );
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
