#!/usr/bin/env node
// pretest: the tests start real Redis, Prometheus and Chromium themselves
// (test/integration/prometheus.test.ts, redis-limits.test.ts, test/browser/dashboard.test.ts), and
// real line-reading SSE clients (Java okhttp, Python httpx); this makes sure Debian's packages are
// there. As root it installs what is missing (--no-install-recommends; README "Two commands");
// otherwise it prints the exact apt command and fails, so a
// missing service is never silently skipped.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const missing = [];
if (!has('redis-server')) missing.push('redis-server');
if (!has('prometheus')) missing.push('prometheus');
if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
// The line-reading clients of test/integration/line-clients.test.ts: okhttp's readUtf8Line()
// loop (Java: javac, okhttp and okio jars) and httpx's iter_lines() (Debian's /usr/bin/python3).
const installed = (pkg) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed') === true;
if (!has('javac')) missing.push('default-jdk-headless');
for (const pkg of ['libokhttp-java', 'libokio-java', 'python3-httpx']) if (!installed(pkg)) missing.push(pkg);

if (missing.length === 0) process.exit(0);
const cmd = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`;
if (typeof process.getuid === 'function' && process.getuid() === 0) {
  console.log(`pretest: installing ${missing.join(', ')} from Debian`);
  execFileSync('sh', ['-c', cmd], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
} else {
  console.error(`pretest: missing Debian packages: ${missing.join(', ')}\nRun as root:\n  ${cmd}`);
  process.exit(1);
}
