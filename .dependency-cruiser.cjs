// The proxy's module layers, checked by `npm run lint:layers` (run from `npm test`'s pretest).
// docs/ARCHITECTURE.md "Layers" explains them; test/unit/layers.test.ts shows a violation failing.
//
// Parser: TypeScript 7 has no JavaScript compiler API that dependency-cruiser can load, so the
// sources are read with @swc/core (`parser: 'swc'`), which keeps `import type` lines as
// dependencies — a type-only import still ties one layer to another.

/** The application's top: wiring, HTTP, admin and dashboard. */
const APP_TOP = [
  '^src/http/',
  '^src/admin/',
  '^src/dashboard/',
  '^src/examples/',
  // access.ts assembles auth and limits for the app; shutdown.ts is the server's drain.
  '^src/(server|deps|app|features|main|reload|access|shutdown)\\.ts$',
];

/** The layers below it: relaying, upstream calls, limits, usage, SSE. */
const LOWER = ['^src/relay/', '^src/upstream/', '^src/limits/', '^src/usage/', '^src/sse/', '^src/providers/', '^src/streams/'];

/** Shared foundation every layer may use: it imports none of the layers above it. */
const FOUNDATION = [
  '^src/util/',
  '^src/config/',
  '^src/events/',
  '^src/logging/',
  '^src/metrics/',
  '^src/auth/',
  '^src/(clock|glob|errors|metrics)\\.ts$',
];

/**
 * Pure modules: they import each other and node/npm packages only, never the rest of the app,
 * so they can be unit-tested and reused without the proxy's state.
 */
const PURE = [
  '^src/sse/',
  '^src/usage/(scan|chunk|tail-usage)\\.ts$',
  '^src/limits/(gcra|policy|budget-math|format|store)\\.ts$',
  '^src/errors\\.ts$',
  '^src/glob\\.ts$',
  // provider adapters and the stage interfaces they fill
  '^src/providers/',
  '^src/relay/stages\\.ts$',
  '^src/config/(diff|schema|passthrough|schema-units|server-schema|upstreams-schema|keys-schema)\\.ts$',
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'lower-layer-imports-app',
      severity: 'error',
      comment:
        'relay/, upstream/, limits/, usage/ and sse/ sit below the HTTP and wiring layer: they must not ' +
        'import src/http, src/admin, src/dashboard or the app wiring (server, deps, app, features, main, ' +
        'reload). Declare the interface you need in the lower layer (e.g. RelayDeps in src/relay/relay-deps.ts).',
      from: { path: LOWER },
      to: { path: APP_TOP },
    },
    {
      name: 'foundation-imports-layers',
      severity: 'error',
      comment:
        'util/, config/, events/, logging/, metrics, auth/, clock, glob and errors are shared by every layer, ' +
        'so they import none of relay/, upstream/, limits/, usage/, sse/, sim/ or the app top.',
      from: { path: FOUNDATION },
      to: { path: [...LOWER, ...APP_TOP, '^src/sim/'] },
    },
    {
      name: 'pure-module-imports-app',
      severity: 'error',
      comment:
        'A pure module imports only other pure modules and node/npm packages (see PURE in .dependency-cruiser.cjs).',
      from: { path: PURE },
      to: { path: '^src/', pathNot: PURE },
    },
    {
      name: 'http-imports-simulator',
      severity: 'error',
      comment:
        'The simulator (src/sim/) is an upstream: the wiring (src/server.ts) and src/upstream/ may reach it, ' +
        'the HTTP, admin and dashboard code may not (GET /v1/models asks ModelRouter.listModels()).',
      from: { path: ['^src/http/', '^src/admin/', '^src/dashboard/', '^src/examples/'] },
      to: { path: '^src/sim/' },
    },
    {
      name: 'simulator-imports-app',
      severity: 'error',
      comment: 'The simulator also runs alone (npm run sim): it imports only itself and src/util/.',
      from: { path: '^src/sim/' },
      to: { path: '^src/', pathNot: ['^src/sim/', '^src/util/'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles in src/.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-imports-test-or-bench',
      severity: 'error',
      comment: 'Shipped code never imports test or benchmark code.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'An import the cruiser cannot resolve would hide its layer; if this fires for a real file, fix the ' +
        'resolution options below rather than the rule.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // NodeNext sources import './x.js' for './x.ts'; dependency-cruiser retries such an import
    // as .ts when the .js file does not exist.
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.json'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
    skipAnalysisNotInRules: false,
  },
};
