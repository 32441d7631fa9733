/**
 * Load-time checks of spend budgets (README "Budgets"): every `keys[].budget` names a declared
 * budget, and a budgeted key cannot reach a model the proxy has no price for — it could not
 * enforce a budget it cannot price.
 *
 * The rule, sound (it never lets an unpriced model through) though not complete (it may refuse
 * a config whose unpriced route is in fact shadowed by an earlier one):
 *   At run time a model's price is `prices[model] ?? prices[its route's label]`, and a route's
 *   label is its `label`, else its `match` (src/upstream/router.ts; a model named in the price
 *   table is priced by its own name first). So a route whose label has a price prices every model
 *   it takes. For each route without one, every glob of the key's `models` (all models: `*`) that
 *   may match a name the route matches must be a plain model name with its own price, or be
 *   wholly taken by an earlier priced route (routes are tried in order, first match wins).
 * Routes are those left after disabled upstreams are dropped (load.ts `resolveUpstreams`).
 */
import { compileGlob } from '../glob.js';
import type { Config } from './schema.js';

const WILD = /[*?]/;

/** The literal text before the first and after the last wildcard. */
function ends(glob: string): [string, string] {
  const first = glob.search(WILD);
  let last = -1;
  for (let i = glob.length - 1; i >= 0; i--) {
    if (glob[i] === '*' || glob[i] === '?') {
      last = i;
      break;
    }
  }
  return [glob.slice(0, first), glob.slice(last + 1)];
}

/**
 * May some model name match both globs? Exact when either is a plain name; otherwise true unless
 * their literal prefixes or suffixes contradict (an over-approximation, which keeps the check sound).
 */
export function globsMayOverlap(a: string, b: string): boolean {
  if (!WILD.test(a)) return compileGlob(b).test(a);
  if (!WILD.test(b)) return compileGlob(a).test(b);
  const [pa, sa] = ends(a);
  const [pb, sb] = ends(b);
  return (pa.startsWith(pb) || pb.startsWith(pa)) && (sa.endsWith(sb) || sb.endsWith(sa));
}

/**
 * Does every name `inner` matches also match `outer`? Exact when `inner` is a plain name; for
 * globs only the sure cases (the same glob, or `outer` is a plain prefix and `*` and `inner`'s
 * literal prefix starts with it), which keeps the check sound.
 */
export function globCovers(outer: string, inner: string): boolean {
  if (!WILD.test(inner)) return compileGlob(outer).test(inner);
  if (outer === inner) return true;
  const prefix = outer.slice(0, -1);
  return outer.endsWith('*') && !WILD.test(prefix) && inner.slice(0, inner.search(WILD)).startsWith(prefix);
}

/** Problems with budgets in a schema-valid config whose routes are resolved; empty when none. */
export function budgetProblems(config: Pick<Config, 'keys' | 'budgets' | 'models' | 'metrics'>): string[] {
  const problems: string[] = [];
  const prices = config.metrics.prices;
  const priced = (r: Config['models'][number]): boolean => prices[r.label ?? r.match] !== undefined;
  config.keys.forEach((k, i) => {
    if (k.budget === undefined) return;
    const where = `keys[${i}] (${k.name})`;
    if (config.budgets[k.budget] === undefined) {
      problems.push(`${where}: unknown budget "${k.budget}" (declare it under "budgets")`);
      return;
    }
    for (const glob of k.models ?? ['*']) {
      if (!WILD.test(glob) && prices[glob] !== undefined) continue;
      config.models.forEach((r, at) => {
        if (priced(r) || !globsMayOverlap(glob, r.match)) return;
        // Routes are tried in order: names an earlier priced route takes never get here.
        if (config.models.slice(0, at).some((earlier) => priced(earlier) && globCovers(earlier.match, glob))) return;
        problems.push(
          `${where}: budget "${k.budget}" cannot be enforced: the key may use models matching "${glob}" that route "${r.match}" ` +
            `serves with no price; add metrics.prices."${r.label ?? r.match}" or narrow the key's models to priced names`,
        );
      });
    }
  });
  return problems;
}
