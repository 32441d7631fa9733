/**
 * The layer rules in .dependency-cruiser.cjs (docs/ARCHITECTURE.md "Layers") fail on a violation:
 * `npm run lint:layers` runs from pretest, and this shows the check is live rather than vacuously
 * green. Temporary files that break four rules are written into src/, the cruiser runs on them
 * through its CLI with the `err` output lint:layers uses (package.json), and the files are removed
 * whatever happens.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Each temporary file and what it does wrong; each imports real modules, so tsc stays green. */
const violations: Record<string, string> = {
  // relay → http: a lower layer importing the HTTP layer.
  'src/relay/__violation-layer.ts': "export { RouteTable } from '../http/route-table.js';\n",
  // A pure module (src/sse/) importing app code.
  'src/sse/__violation-pure.ts': "export type { Clock } from '../clock.js';\n",
  // Two modules importing each other.
  'src/util/__violation-cycle-a.ts': "import { b } from './__violation-cycle-b.js';\nexport const a = (): number => b() + 1;\n",
  'src/util/__violation-cycle-b.ts': "import { a } from './__violation-cycle-a.js';\nexport const b = (): number => (a.length > 0 ? 0 : 1);\n",
  // Shipped code importing a test helper.
  'src/util/__violation-test.ts': "export * from '../../test/root-hooks.test.js';\n",
};

function depcruise(files: string[]): Promise<{ code: number; stdout: string }> {
  const bin = fileURLToPath(new URL('../../node_modules/dependency-cruiser/bin/dependency-cruise.mjs', import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...files, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: root, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout });
    });
  });
}

describe('module layers (.dependency-cruiser.cjs)', function () {
  this.timeout(30_000);

  it('fails on each kind of violation, naming the rule', async () => {
    const files = Object.keys(violations);
    try {
      for (const [file, text] of Object.entries(violations)) await writeFile(new URL(file, `file://${root}`), text);
      const { code, stdout } = await depcruise(files);
      assert.notEqual(code, 0, 'depcruise exits non-zero on a violation');
      // One line per violation: "  error <rule>: <from> → <to>".
      const seen = stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n').flatMap((line) => /^\s*error (.+)$/.exec(line)?.[1] ?? []);
      const expect = (rule: string, from: string, to: string): void => {
        assert.ok(seen.includes(`${rule}: ${from} → ${to}`), `expected ${rule}: ${from} → ${to}; got\n${seen.join('\n')}`);
      };
      expect('lower-layer-imports-app', 'src/relay/__violation-layer.ts', 'src/http/route-table.ts');
      expect('pure-module-imports-app', 'src/sse/__violation-pure.ts', 'src/clock.ts');
      expect('src-imports-test-or-bench', 'src/util/__violation-test.ts', 'test/root-hooks.test.ts');
      assert.ok(
        seen.some((v) => v.startsWith('no-circular: src/util/__violation-cycle-')),
        `expected no-circular between the two cycle files; got\n${seen.join('\n')}`,
      );
    } finally {
      await Promise.all(Object.keys(violations).map((f) => rm(new URL(f, `file://${root}`), { force: true })));
    }
  });
});
