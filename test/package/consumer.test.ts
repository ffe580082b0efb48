/**
 * mqttkit as a dependency: the package is packed (`npm pack`, the dist/ the
 * global setup keeps fresh), and the tarball installed, offline, into a
 * scratch directory whose apps use it as users do:
 *
 * - `esm/`: `"type": "module"`, the strictest tsconfig (`strict`,
 *   `exactOptionalPropertyTypes`, `noUncheckedIndexedAccess`, module and
 *   resolution node16, `skipLibCheck: false`, so every declaration file the
 *   app reaches is checked);
 * - `bundler/`: the same program with `moduleResolution: bundler`;
 * - `cjs/`: `"type": "commonjs"`, compiled to `require('mqttkit')`
 *   (`module: nodenext`, which allows require() of ES modules).
 *
 * Each app is compiled by tsc (the three at once) and run against a private
 * mosquitto: a QoS 1 round trip. None has the optional peers installed, so
 * `new RedisStore()` and `startEmbeddedBroker()` must say which package to
 * install, the program must not need them to load, and the `mqttkit`
 * command must print one line naming what it needs.
 *
 * The install is offline: the apps' lockfile is made from the repository's
 * (the versions and integrities `npm ci` put in the npm cache), plus the
 * tarball, so `npm ci --offline` needs nothing but that cache (only when a
 * tarball is missing from it does the install go to the registry).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./consumer/', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { ...process.env, ...env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs and throws with the output unless it exits 0. */
async function must(file: string, args: readonly string[], cwd: string): Promise<string> {
  const r = await run(file, args, cwd);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface Manifest {
  version: string;
  license: string;
  engines: Record<string, string>;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, unknown>;
}

/**
 * package.json and package-lock.json of the apps' root: mqttkit from the
 * tarball; its dependencies, typescript and @types/node at the versions of
 * the repository's lockfile (all hoisted there, or this throws).
 */
async function consumerPackage(tarball: string): Promise<{ manifest: object; lock: object }> {
  const repoLock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const self = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const integrity = `sha512-${createHash('sha512')
    .update(await readFile(tarball))
    .digest('base64')}`;
  const file = `file:${tarball.slice(tarball.lastIndexOf('/') + 1)}`;
  const devDependencies: Record<string, string> = {};
  for (const name of ['typescript', '@types/node']) {
    devDependencies[name] = repoLock.packages[`node_modules/${name}`].version;
  }
  const packages: Record<string, object> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { mqttkit: file }, devDependencies },
    'node_modules/mqttkit': {
      version: self.version,
      resolved: file,
      integrity,
      license: self.license,
      dependencies: self.dependencies,
      peerDependencies: self.peerDependencies,
      peerDependenciesMeta: self.peerDependenciesMeta,
      bin: self.bin,
      engines: self.engines,
    },
  };
  const queue: [string, boolean][] = [
    ...Object.keys(self.dependencies).map((name): [string, boolean] => [name, false]),
    ...Object.keys(devDependencies).map((name): [string, boolean] => [name, true]),
  ];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [name, dev] = next;
    const key = `node_modules/${name}`;
    if (packages[key] !== undefined) continue;
    const entry = repoLock.packages[key];
    if (entry === undefined) throw new Error(`${name} is not at the top of the repository's node_modules`);
    const { dev: _dev, peer: _peer, optional: _optional, devOptional: _devOptional, ...rest } = entry;
    packages[key] = dev ? { ...rest, dev: true } : rest;
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push([dep, dev]);
  }
  return {
    manifest: {
      name: 'consumer',
      version: '1.0.0',
      private: true,
      dependencies: { mqttkit: file },
      devDependencies,
    },
    lock: { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages },
  };
}

const STRICT = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  noUnusedLocals: true,
  skipLibCheck: false,
  types: ['node'],
  target: 'ES2022',
  lib: ['ES2023'],
  outDir: 'out',
};

interface App {
  type: 'module' | 'commonjs';
  compilerOptions: Record<string, unknown>;
  program: string;
}

const APPS: Record<string, App> = {
  esm: {
    type: 'module',
    compilerOptions: { ...STRICT, module: 'node16', moduleResolution: 'node16' },
    program: 'round-trip.ts',
  },
  bundler: {
    type: 'module',
    compilerOptions: { ...STRICT, module: 'esnext', moduleResolution: 'bundler' },
    program: 'round-trip.ts',
  },
  cjs: {
    type: 'commonjs',
    compilerOptions: { ...STRICT, module: 'nodenext', moduleResolution: 'nodenext' },
    program: 'round-trip-cjs.ts',
  },
};

describe.skipIf(!hasMosquitto())('mqttkit installed from its tarball into new apps', () => {
  let dir: string;
  let broker: Broker;
  /** Started first so it is ready when the apps are; stopped in afterAll even when beforeAll fails. */
  let starting: Promise<Broker> | undefined;
  /** tsc's output per app, started in beforeAll so the three compile at once. */
  const compiled = new Map<string, Promise<Run>>();
  let files: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mqttkit-consumer-'));
    starting = startMosquitto();
    const packed = JSON.parse(
      await must('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT),
    ) as { filename: string; files: { path: string }[] }[];
    files = packed[0].files.map((f) => f.path);
    const { manifest, lock } = await consumerPackage(join(dir, packed[0].filename));
    await writeFile(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
    await writeFile(join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2));
    const ci = ['ci', '--ignore-scripts', '--no-audit', '--no-fund'];
    const offline = await run('npm', [...ci, '--offline'], dir);
    // a cache that lost a tarball (the repository's own `npm ci` put them all there): fetch it
    if (offline.code !== 0 && offline.stderr.includes('ENOTCACHED'))
      await must('npm', [...ci, '--prefer-offline'], dir);
    else if (offline.code !== 0)
      throw new Error(`npm ci --offline exited ${offline.code}\n${offline.stderr}`);
    const tsc = join(dir, 'node_modules/typescript/bin/tsc');
    for (const [name, app] of Object.entries(APPS)) {
      const appDir = join(dir, name);
      await mkdir(appDir);
      await writeFile(join(appDir, 'package.json'), JSON.stringify({ name, private: true, type: app.type }));
      await writeFile(
        join(appDir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: app.compilerOptions, files: ['main.ts'] }),
      );
      await copyFile(join(FIXTURES, app.program), join(appDir, 'main.ts'));
      compiled.set(name, run(process.execPath, [tsc, '-p', appDir], appDir));
    }
    broker = await starting;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(compiled.values());
    await (await starting?.catch(() => undefined))?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function compileAndRun(name: string): Promise<Run> {
    const tsc = await compiled.get(name)!;
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.code).toBe(0);
    const r = await run(process.execPath, [join(dir, name, 'out/main.js')], join(dir, name), {
      MQTT_URL: broker.url,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r;
  }

  it("ships dist/ and src/ (the maps point into it), not the tests nor the CLI's declarations", () => {
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('src/index.ts');
    const other = files.filter((f) => !/^(dist|src)\/|^(README|LICENSE|CHANGELOG)|^package\.json$/.test(f));
    expect(other).toEqual([]);
    expect(files.filter((f) => f.startsWith('dist/cli/') && f.includes('.d.ts'))).toEqual([]);
  });

  it('a strict ES module app (node16) typechecks, runs a QoS 1 round trip, and is told what to install', async () => {
    const r = await compileAndRun('esm');
    expect(r.stdout.split('\n')).toEqual([
      "RedisStore: missing ioredis: RedisStore needs the optional package 'ioredis': npm install ioredis",
      "broker: missing aedes: The embedded broker (mqttkit/broker) needs the optional package 'aedes': npm install aedes",
      'codec: 2 bytes',
      'round trip: hello at QoS 1',
      '',
    ]);
  });

  it('an app with bundler resolution typechecks and runs', async () => {
    const r = await compileAndRun('bundler');
    expect(r.stdout).toContain('round trip: hello at QoS 1');
  });

  it('a CommonJS app require()s mqttkit, typechecks (module nodenext) and runs', async () => {
    const r = await compileAndRun('cjs');
    expect(r.stdout.split('\n')).toEqual([
      'RedisStore: missing ioredis',
      'round trip: hello at QoS 1',
      'module: commonjs',
      '',
    ]);
  });

  it('the mqttkit command without its optional packages prints one line naming them and exits 2', async () => {
    const r = await run(join(dir, 'node_modules/.bin/mqttkit'), ['pub', '-t', 't', '-m', 'x'], dir);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "mqttkit: the command needs the optional packages 'commander', 'picocolors', 'cli-progress', 'hdr-histogram-js': " +
        'npm install commander picocolors cli-progress hdr-histogram-js\n',
    );
    expect(r.code).toBe(2);
  });
});
