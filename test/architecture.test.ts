/**
 * The layout in README's architecture section, checked: imports go one way,
 * downwards; code above `session/` uses the public Session API and `core/`;
 * `codec/` and `protocol/` stay pure; timers live in the coarse timer and the
 * layers that own I/O; and no source file outgrows one job.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Each folder's floor: a file may import from its own floor or below, never above. */
const FLOOR: Record<string, number> = {
  core: 0,
  codec: 1,
  protocol: 2,
  transport: 2,
  router: 3,
  store: 3,
  tracing: 3,
  session: 4,
  manager: 5,
  rpc: 5,
  forward: 5,
  channels: 5,
  metrics: 5,
  broker: 5,
  cluster: 6,
  cli: 7,
  dashboard: 7,
  '.': 8, // src/index.ts
};

/** Where timers may be set: the coarse timer, the layers that own sockets, and the command. */
const TIMER_HOMES = ['core/timer.ts', 'session/', 'transport/', 'cli/'];

/**
 * Elsewhere, one timer per object and never one per message, where the coarse
 * timer's 100 ms would change what the user asked for.
 */
const ONE_TIMER_EACH: Record<string, string> = {
  'channels/batch.ts': "a batch's interval, which may be shorter than 100 ms",
  'channels/queue.ts': "the rate limit's next send",
  'metrics/fleet.ts': 'the sampling tick (unref-ed)',
  'dashboard/aggregator.ts': "the dashboard's snapshot tick (unref-ed)",
};

/** No source file over about 600 lines (DESIGN.md). */
const MAX_LINES = 650;

interface Source {
  readonly path: string; // relative to src/, with forward slashes
  readonly folder: string;
  readonly text: string;
  readonly imports: { readonly spec: string; readonly target: string; readonly typeOnly: boolean }[];
}

function sources(): Source[] {
  const out: Source[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (full === join(SRC, 'dashboard', 'page')) continue; // the dashboard's browser page: no Node floor
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) out.push(read(full));
    }
  };
  walk(SRC);
  return out;
}

function read(full: string): Source {
  const path = relative(SRC, full).split('\\').join('/');
  const text = readFileSync(full, 'utf8');
  const imports: Source['imports'][number][] = [];
  const re = /^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const spec = m[2] ?? m[3];
    const target = relative(SRC, resolve(dirname(full), spec))
      .split('\\')
      .join('/');
    imports.push({ spec, target, typeOnly: m[1] !== undefined });
  }
  return { path, folder: folderOf(path), text, imports };
}

function folderOf(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? '.' : path.slice(0, slash);
}

const all = sources();

describe('the layout', () => {
  it('knows the floor of every folder', () => {
    const unknown = [...new Set(all.map((s) => s.folder))].filter((f) => FLOOR[f] === undefined);
    expect(unknown).toEqual([]);
  });

  it('imports downwards only', () => {
    const upward = all.flatMap((s) =>
      s.imports
        .filter((i) => FLOOR[folderOf(i.target)] > FLOOR[s.folder])
        .map((i) => `${s.path} imports ${i.target}`),
    );
    expect(upward).toEqual([]);
  });

  it('builds everything above session/ on the public Session API and core/', () => {
    const reaching = all
      .filter((s) => FLOOR[s.folder] > FLOOR.session)
      .flatMap((s) =>
        s.imports
          .filter(
            (i) =>
              (folderOf(i.target) === 'session' && i.target !== 'session/index.js') ||
              folderOf(i.target) === 'protocol',
          )
          .map((i) => `${s.path} imports ${i.target}`),
      );
    expect(reaching).toEqual([]);
  });

  it('keeps codec/ and protocol/ pure: no Node I/O, no timers, no clock', () => {
    const impure = all
      .filter((s) => s.folder === 'codec' || s.folder === 'protocol')
      .filter((s) =>
        /from 'node:(?!buffer')|setTimeout|setInterval|setImmediate|Date\.now|performance\.now/.test(s.text),
      )
      .map((s) => s.path);
    expect(impure).toEqual([]);
  });

  it('sets timers only in the coarse timer and the layers that own I/O', () => {
    const timers = all
      .filter((s) => !TIMER_HOMES.some((home) => s.path.startsWith(home)))
      .map((s) => ({ path: s.path, sites: s.text.match(/\bset(?:Timeout|Interval)\(/g)?.length ?? 0 }))
      .filter((f) => f.sites > (ONE_TIMER_EACH[f.path] === undefined ? 0 : 1))
      .map((f) => `${f.path}: ${f.sites} timers`);
    expect(timers).toEqual([]);
  });

  it('patches no class from another module', () => {
    const patches = all.flatMap((s) =>
      [...s.text.matchAll(/^\s*([A-Z]\w*)\.prototype\.\w+\s*=/gm)]
        .filter((m) => !new RegExp(`\\bclass ${m[1]}\\b`).test(s.text))
        .map((m) => `${s.path}: ${m[0].trim()}`),
    );
    expect(patches).toEqual([]);
  });

  it(`has no source file over ${MAX_LINES} lines`, () => {
    const long = all
      .map((s) => ({ path: s.path, lines: s.text.split('\n').length }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.path}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });
});
