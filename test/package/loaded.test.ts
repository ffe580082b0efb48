/**
 * What `import 'mqttkit'` loads: the built entry points (dist/, as a user
 * gets them) are loaded in a fresh child process by `loaded-packages.mjs`,
 * which reports every package (a directory under node_modules) the process
 * loaded. The root entry, with a `Session` made and closed, must load none of
 * the packages that only some features need: those load on first use
 * (the config stack with the first fleet configuration, prom-client with the
 * first registry, ioredis with the first RedisStore of its own, aedes with
 * the first embedded broker, jose with the first JWT, ws with the first
 * WebSocket connection, the CLI's libraries with the command).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = fileURLToPath(new URL('./loaded-packages.mjs', import.meta.url));

/** Loaded on first use only, never by an entry point. */
const LAZY = [
  'zod',
  'yaml',
  'prom-client',
  'ioredis',
  'aedes',
  'jose',
  'ws',
  'commander',
  'cli-progress',
  'hdr-histogram-js',
  'picocolors',
  '@opentelemetry/api',
];

interface Loaded {
  packages: string[];
  exports: number;
}

function probe(file: string, how: 'import' | 'require', then?: 'session'): Promise<Loaded> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [PROBE, file, how, ...(then === undefined ? [] : [then])],
      { cwd: ROOT, timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as Loaded);
      },
    );
  });
}

const entry = (path: string): string => join(ROOT, 'dist', path);

describe('what an entry point loads', () => {
  it('sees packages imported by ES modules and required by CommonJS ones (the probe itself)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mqttkit-loaded-'));
    try {
      const require = createRequire(import.meta.url);
      const zod = pathToFileURL(join(ROOT, 'node_modules/zod/index.js')).href;
      const file = join(dir, 'canary.mjs');
      await writeFile(
        file,
        `import ${JSON.stringify(zod)};\n` +
          "import { createRequire } from 'node:module';\n" +
          `createRequire(import.meta.url)(${JSON.stringify(require.resolve('ioredis'))});\n` +
          'export const x = 1;\n',
      );
      const loaded = await probe(file, 'import');
      expect(loaded.packages).toContain('zod');
      expect(loaded.packages).toContain('ioredis');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("import 'mqttkit' and a Session load none of the optional or heavy packages", async () => {
    const loaded = await probe(entry('index.js'), 'import', 'session');
    expect(loaded.exports).toBeGreaterThan(40);
    expect(loaded.packages.filter((p) => LAZY.includes(p))).toEqual([]);
  });

  it("require('mqttkit') works (no top-level await in its graph) and loads none of them either", async () => {
    const loaded = await probe(entry('index.js'), 'require', 'session');
    expect(loaded.exports).toBeGreaterThan(40);
    expect(loaded.packages.filter((p) => LAZY.includes(p))).toEqual([]);
  });

  it("import 'mqttkit' loads none of the dashboard: its server is a chunk of its own, imported on first use", async () => {
    const seen = new Set<string>();
    const walk = async (file: string): Promise<string> => {
      if (seen.has(file)) return '';
      seen.add(file);
      const text = await readFile(file, 'utf8');
      // static imports only (`import ... from "./x.js"`, `import "./x.js"`), not `import("./x.js")`
      const statics = [
        ...text.matchAll(/(?:^|[;\n])\s*(?:import|export)\s*(?:[^'"();]*?from\s*)?["'](\.[^"']+)["']/g),
      ];
      const parts = await Promise.all(statics.map((m) => walk(join(dirname(file), m[1]))));
      return text + parts.join('');
    };
    const loaded = await walk(entry('index.js'));
    expect(seen.size).toBeGreaterThan(1);
    expect(loaded).not.toContain('mqttkit_dashboard'); // the dashboard's cookie
    expect(loaded).not.toContain('text/event-stream');
    expect(loaded).toMatch(/import\(["']\.\/chunks\/[^"']+["']\)/);
  });

  it('mqttkit/codec, mqttkit/broker and mqttkit/router load none of them', async () => {
    const [codec, broker, router] = await Promise.all([
      probe(entry('codec/index.js'), 'require'),
      probe(entry('broker/index.js'), 'import'),
      probe(entry('router/index.js'), 'import'),
    ]);
    expect(codec.exports).toBeGreaterThan(10);
    expect(codec.packages).toEqual([]);
    expect(broker.packages.filter((p) => LAZY.includes(p))).toEqual([]);
    expect(router.exports).toBe(2);
    expect(router.packages).toEqual([]);
  });
});
