/**
 * The dashboard's files are real files (src/dashboard/browser/), served byte for byte as they are
 * on disk, and the script is type-checked: `tsc -p tsconfig.browser.json` (part of
 * `npm run typecheck` and `pretest`) covers app.js, passes on it, and fails on a copy whose
 * event field no longer matches the server's type (src/events/types.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BROWSER = path.join(ROOT, 'src/dashboard/browser');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

interface TscResult {
  code: number;
  out: string;
}

/** Run the repository's tsc with `args` in `cwd`; resolves with its exit code and output. */
function tsc(cwd: string, args: string[]): Promise<TscResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, ...args], { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, out: stdout + stderr });
    });
  });
}

describe('dashboard assets', function () {
  this.timeout(40_000);
  let proxy: TestProxy;

  before(async () => {
    proxy = await startTestProxy();
  });
  after(async () => {
    await proxy?.close();
  });

  for (const [route, file, type] of [
    ['/dashboard/app.js', 'app.js', 'text/javascript'],
    ['/dashboard/app.css', 'app.css', 'text/css'],
    ['/dashboard', 'index.html', 'text/html'],
  ] as const) {
    it(`serves ${route} exactly as src/dashboard/browser/${file} is on disk`, async () => {
      const res = await fetch(`${proxy.url}${route}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), `${type}; charset=utf-8`);
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(path.join(BROWSER, file)));
    });
  }

  it('type-checks app.js with tsconfig.browser.json, and the check catches a field the server does not send', async () => {
    const listed = await tsc(ROOT, ['-p', 'tsconfig.browser.json', '--listFilesOnly']);
    assert.equal(listed.code, 0, listed.out);
    assert.ok(listed.out.split('\n').some((f) => path.resolve(ROOT, f.trim()) === path.join(BROWSER, 'app.js')), listed.out);

    const clean = await tsc(ROOT, ['-p', 'tsconfig.browser.json']);
    assert.equal(clean.code, 0, clean.out);

    // A copy at the same depth, so its JSDoc import of ../../events/types.js still resolves, with
    // `request.first_token`'s ttftMs misspelt: the browser would show blanks; tsc must refuse it.
    const app = readFileSync(path.join(BROWSER, 'app.js'), 'utf8');
    const broken = app.replace('r.ttftMs = d.ttftMs;', 'r.ttftMs = d.ttft;');
    assert.notEqual(broken, app, 'the line the mutation targets is still in app.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dashboard-tsc-'));
    try {
      mkdirSync(path.join(dir, 'src/dashboard/browser'), { recursive: true });
      symlinkSync(path.join(ROOT, 'src/events'), path.join(dir, 'src/events'));
      writeFileSync(path.join(dir, 'src/dashboard/browser/app.js'), broken);
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: path.join(ROOT, 'tsconfig.browser.json'), include: ['src/dashboard/browser'] }));
      const failed = await tsc(dir, ['-p', '.']);
      assert.notEqual(failed.code, 0, failed.out);
      assert.match(failed.out, /app\.js\(\d+,\d+\): error TS2339: Property 'ttft' does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
