/**
 * `npm run build`: dist/ as the package ships it.
 *
 * 1. `tsc -p tsconfig.build.json` type-checks src/ and writes the
 *    declarations (dist/**\/*.d.ts, one per source file: what a user's
 *    compiler reads).
 * 2. esbuild bundles the JavaScript: one file per entry of package.json's
 *    `exports` and the CLI, and shared chunks in dist/chunks/. Source files
 *    are small and have one job each (about 150 of them); loaded one by one,
 *    Node's ES module loader spends a quarter of a millisecond on each, so
 *    `import 'mqttkit'` would cost 60 ms instead of 33. What src/ loads
 *    lazily (the WebSocket transport, fleet files, the CLI's commands) stays
 *    a chunk of its own, loaded on first use. Packages stay external: they
 *    are the user's (optional peers, ws, jose, yaml, zod).
 * 3. esbuild bundles the dashboard's browser page (src/dashboard/page/,
 *    Preact and uPlot included, nothing fetched at run time: it works
 *    offline) into dist/dashboard/ui/: app.js (minified), app.css (the
 *    page's styles after uPlot's) and index.html, which the dashboard server
 *    serves as they are.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// a clean dist/: no file of an earlier layout lingers
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});

/** `./dist/codec/index.js` -> `src/codec/index.ts`, for every entry of the exports map and the bin. */
const entries = [
  ...Object.values(pkg.exports)
    .map((e) => (typeof e === 'object' ? e.default : undefined))
    .filter((p) => typeof p === 'string' && p.endsWith('.js')),
  ...Object.values(pkg.bin),
].map((p) => p.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));

await build({
  absWorkingDir: root,
  entryPoints: entries,
  outdir: 'dist',
  outbase: 'src',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
});
chmodSync(join(dist, 'cli/main.js'), 0o755);

const page = join(root, 'src/dashboard/page');
const ui = join(dist, 'dashboard/ui');
await build({
  absWorkingDir: root,
  entryPoints: [
    { in: join(page, 'main.tsx'), out: 'app' },
    { in: join(page, 'app.css'), out: 'app' },
  ],
  outdir: ui,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: join(page, 'tsconfig.json'),
  banner: {
    js: '/*! mqttkit dashboard; bundles Preact (MIT, (c) Jason Miller) and uPlot (MIT, (c) Leon Sorokin) */',
  },
  logLevel: 'warning',
});
copyFileSync(join(page, 'index.html'), join(ui, 'index.html'));
