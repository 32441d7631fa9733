/**
 * The dashboard's files are real files (src/dashboard/browser/), served byte for byte as they are
 * on disk: index.html, app.css and every ES module (app.js is the entry; a module the routes do
 * not list would be a 404 that stops the page, so every .js file there must be served). The
 * modules are type-checked: `tsc -p tsconfig.browser.json` (part of `npm run typecheck` and
 * `pretest`) covers each of them, passes on them, and fails on a copy whose event field no longer
 * matches the server's type (src/events/types.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BROWSER = path.join(ROOT, 'src/dashboard/browser');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
/** Every script of the page, as it is on disk. */
const SCRIPTS = readdirSync(BROWSER).filter((f) => f.endsWith('.js')).sort();

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

  it('has the entry app.js and the modules it is split into', () => {
    assert.ok(SCRIPTS.includes('app.js'), SCRIPTS.join(', '));
    assert.ok(SCRIPTS.length > 1, SCRIPTS.join(', '));
  });

  for (const [route, file, type] of [
    ...SCRIPTS.map((f) => [`/dashboard/${f}`, f, 'text/javascript'] as const),
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

  it('type-checks every module with tsconfig.browser.json, and the check catches a field the server does not send', async () => {
    const listed = await tsc(ROOT, ['-p', 'tsconfig.browser.json', '--listFilesOnly']);
    assert.equal(listed.code, 0, listed.out);
    const files = new Set(listed.out.split('\n').map((f) => path.resolve(ROOT, f.trim())));
    for (const f of SCRIPTS) {
      assert.ok(files.has(path.join(BROWSER, f)), `${f} is not in the check: ${listed.out}`);
      assert.match(readFileSync(path.join(BROWSER, f), 'utf8'), /^\/\/ @ts-check\n/, `${f} starts with // @ts-check`);
    }

    const clean = await tsc(ROOT, ['-p', 'tsconfig.browser.json']);
    assert.equal(clean.code, 0, clean.out);

    // A copy of the whole directory at the same depth, so the modules still import each other
    // and feed-events.js's JSDoc import of ../../events/types.js still resolves, with
    // `request.first_token`'s ttftMs misspelt in its reducer: the browser would show blanks;
    // tsc must refuse it.
    const target = 'r.ttftMs = d.ttftMs;';
    const holders = SCRIPTS.filter((f) => readFileSync(path.join(BROWSER, f), 'utf8').includes(target));
    assert.equal(holders.length, 1, `the line the mutation targets is in exactly one module: ${holders.join(', ')}`);
    const file = holders[0]!;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dashboard-tsc-'));
    try {
      mkdirSync(path.join(dir, 'src/dashboard'), { recursive: true });
      cpSync(BROWSER, path.join(dir, 'src/dashboard/browser'), { recursive: true });
      symlinkSync(path.join(ROOT, 'src/events'), path.join(dir, 'src/events'));
      const copy = path.join(dir, 'src/dashboard/browser', file);
      writeFileSync(copy, readFileSync(copy, 'utf8').replace(target, 'r.ttftMs = d.ttft;'));
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: path.join(ROOT, 'tsconfig.browser.json'), include: ['src/dashboard/browser'] }));
      const failed = await tsc(dir, ['-p', '.']);
      assert.notEqual(failed.code, 0, failed.out);
      // The copy is otherwise clean: the one error is the misspelt field, in the module that has it.
      assert.equal(failed.out.match(/error TS\d+/g)?.length, 1, failed.out);
      assert.match(failed.out, new RegExp(`${file.replace(/[.-]/g, '\\$&')}\\(\\d+,\\d+\\): error TS2339: Property 'ttft' does not exist`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
