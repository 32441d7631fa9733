/**
 * docs/promql.md (linked from config/prometheus.yml) cites only metrics the proxy serves, covers
 * every llm_proxy_* metric, and each of its queries is valid PromQL (parsed by promtool when it
 * is installed: Debian's `prometheus` package has it).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { defineMetrics } from '../../src/metrics/definitions.js';

const DOC = fileURLToPath(new URL('../../docs/promql.md', import.meta.url));

/** Every series name a scrape of the proxy can show, from the registry the proxy fills. */
async function seriesNames(): Promise<{ metrics: string[]; series: Set<string> }> {
  const registry = new Registry();
  defineMetrics(registry, () => 0);
  const metrics = (await registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
  const series = new Set<string>();
  for (const m of metrics) {
    series.add(m.name);
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) series.add(m.name + s);
  }
  return { metrics: metrics.map((m) => m.name), series };
}

/** The fenced ```promql blocks of the document. */
function queries(doc: string): string[] {
  return [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
}

describe('docs/promql.md', () => {
  const doc = readFileSync(DOC, 'utf8');

  it('cites only metric names the registry has, and every llm_proxy_* metric at least once', async () => {
    const { metrics, series } = await seriesNames();
    const cited = new Set(doc.match(/\b(?:llm_proxy|process|nodejs)_[a-z0-9_]+\b/g) ?? []);
    assert.ok(cited.size > 10, 'the document cites metrics');
    const unknown = [...cited].filter((n) => !series.has(n));
    assert.deepEqual(unknown, [], 'names in docs/promql.md that /metrics does not serve');
    const citedBase = new Set([...cited].map((n) => n.replace(/_(?:bucket|sum|count)$/, '')));
    const missing = metrics.filter((n) => n.startsWith('llm_proxy_') && !cited.has(n) && !citedBase.has(n));
    assert.deepEqual(missing, [], 'metrics with no query in docs/promql.md: add one');
  });

  it('has a query for each question config/prometheus.yml sends readers there for', () => {
    const qs = queries(doc);
    const has = (re: RegExp): boolean => qs.some((q) => re.test(q));
    assert.ok(has(/sum by \(key\) \(rate\(llm_proxy_tokens_total/), 'tokens per key');
    assert.ok(has(/histogram_quantile\(0\.5, sum by \(model, le\) \(rate\(llm_proxy_time_to_first_token_seconds_bucket/), 'TTFT p50 per model');
    assert.ok(has(/histogram_quantile\(0\.99, sum by \(model, le\) \(rate\(llm_proxy_time_to_first_token_seconds_bucket/), 'TTFT p99 per model');
    assert.ok(has(/status=~"5\.\."/), 'error ratio');
    assert.ok(has(/llm_proxy_rate_limited_total/) && has(/llm_proxy_refused_total/), 'rate-limited and refused');
    assert.ok(has(/llm_proxy_active_streams/), 'active streams');
    assert.ok(has(/sum by \(key\) \(increase\(llm_proxy_cost_usd_total/), 'cost per key');
    assert.ok(has(/llm_proxy_upstream_up/), 'circuit state');
    assert.ok(has(/llm_proxy_auth_failures_total/), 'auth failures');
  });

  it('every query parses (promtool check rules)', async function () {
    if (spawnSync('promtool', ['--version']).status !== 0) this.skip();
    this.timeout(20_000);
    const qs = queries(doc);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'promql-doc-'));
    try {
      const file = path.join(dir, 'rules.yml');
      // JSON is YAML: no quoting rules to get wrong for the queries' quotes and braces.
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'promql-doc', rules: qs.map((expr, i) => ({ record: `doc:query_${i}`, expr })) }] }));
      const out = await new Promise<{ code: number; text: string }>((resolve) => {
        execFile('promtool', ['check', 'rules', file], { timeout: 15_000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, text: stdout + stderr });
        });
      });
      assert.equal(out.code, 0, out.text);
      assert.match(out.text, new RegExp(`SUCCESS: ${qs.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
