/**
 * Prints, as JSON, the packages (directories under node_modules) a program
 * loads when it imports a module and does one thing with it:
 *
 *   node loaded-packages.mjs <file> import|require [session]
 *
 * `import` loads the file with `import()`, `require` with `require()` (a
 * CommonJS program requiring the ES module); `session` then constructs a
 * `Session` from it and closes it. ES modules are seen by a resolve hook
 * (`module.register`), which records every URL the loader resolves, packages
 * imported by ES modules included; CommonJS modules by `require.cache`.
 * Plain JavaScript, so that no loader (tsx) adds modules of its own.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [path, how, then] = process.argv.slice(2);
const file = resolve(path);
const log = join(tmpdir(), `mqttkit-loaded-${process.pid}.txt`);
writeFileSync(log, '');
process.on('exit', () => rmSync(log, { force: true }));

/** The hook, in the loader's thread: appends each resolved URL to the log, synchronously. */
const hooks = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(log, resolved.url + '\\n');
  return resolved;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { log } });

const require = createRequire(import.meta.url);
const before = new Set(Object.keys(require.cache));
const mod = how === 'require' ? require(file) : await import(pathToFileURL(file).href);
if (then === 'session') {
  const session = new mod.Session({ url: 'mqtt://127.0.0.1:1883', clientId: 'loaded-packages' });
  await session.close();
}

const packages = new Set();
const files = [
  ...Object.keys(require.cache).filter((f) => !before.has(f)),
  ...readFileSync(log, 'utf8').split('\n'),
];
for (const f of files) {
  const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(f);
  if (m !== null) packages.add(m[1].replace('\\', '/'));
}
process.stdout.write(
  `${JSON.stringify({ packages: [...packages].sort(), exports: Object.keys(mod).length })}\n`,
);
