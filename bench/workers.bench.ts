/**
 * Idle sessions on one machine with `workers`: a fleet of `SESSIONS`
 * sessions run by a primary and `WORKERS` worker processes
 * (`bench/workers-child.ts`), against `BROKERS` private mosquittos (each
 * process, mosquitto included, stops at the machine's open-file limit:
 * 20,000 here), the sessions bound round-robin to `ADDRESSES` local
 * addresses (127.0.0.2, ...: one address gives about 28,000 ephemeral
 * ports). Beside it, the peer: MQTT.js, one process per broker (each
 * `SESSIONS / BROKERS` sessions, `bench/sessions-child.ts`), all at once.
 *
 * Rows: sessions held, the time to connect them all (mqttkit: from the
 * primary's spawn, workers' start-up and fleet file included, and from
 * `started`, every worker ready; MQTT.js: its slowest process, from its
 * first connect), heap and RSS per session summed over the processes
 * (after GC, over each process's baseline taken before the fleet file was
 * loaded: the fleet definition every worker holds counts).
 *
 * Environment: `SESSIONS` (default 20000; `SESSIONS=100000` is the issue's
 * aim), `WORKERS` (default one per 15,000 sessions, at least 2), `BROKERS`
 * (default one per 15,000), `ADDRESSES` (default one per 20,000; 0 binds
 * none: each broker port then has the ephemeral ports to itself),
 * `CONCURRENCY` (connects in flight per worker, default 100), `PEER=0`
 * skips MQTT.js.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Broker } from '../test/helpers/mosquitto.js';
import { type SuiteRow, save } from './harness.js';
import type { ChildResult } from './sessions-child.js';
import { ChildFailure, runChild, startBroker } from './sessions-spawn.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer from ${min}, got ${raw}`);
  return n;
}

const SESSIONS = envInt('SESSIONS', 20_000);
const WORKERS = envInt('WORKERS', Math.max(2, Math.ceil(SESSIONS / 15_000)));
const BROKERS = envInt('BROKERS', Math.ceil(SESSIONS / 15_000));
const ADDRESSES = envInt('ADDRESSES', Math.ceil(SESSIONS / 20_000), 0);
const CONCURRENCY = envInt('CONCURRENCY', 100);
const PEER = process.env.PEER !== '0';
/** A bound on the whole connect phase, ms. */
const CONNECT_LIMIT_MS = 20 * 60_000;

interface KitResult {
  held: number;
  /** ms from the primary's spawn to every session connected. */
  totalMs: number;
  /** ms from `started` (every worker ready) to every session connected. */
  connectMs: number;
  heap: number;
  rss: number;
  /** Why it stopped short, when it did. */
  failure?: string;
}

async function runKit(brokers: Broker[], dir: string): Promise<KitResult> {
  const addresses = Array.from({ length: ADDRESSES }, (_, i) => `127.0.0.${i + 2}`);
  const fleet = {
    concurrency: CONCURRENCY,
    defaults: { keepalive: 60, clean: true, ...(addresses.length > 0 ? { localAddress: addresses } : {}) },
    sessions: Array.from({ length: SESSIONS }, (_, i) => ({
      name: `b${i}`,
      clientId: `b${i}`,
      url: brokers[i % brokers.length].url,
    })),
  };
  const file = join(dir, 'fleet.json');
  writeFileSync(file, JSON.stringify(fleet));
  const t0 = performance.now();
  const proc: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(here, 'workers-child.ts'), file, String(WORKERS)],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const base = new Map<string, { pid: number; heap: number; rss: number }>();
  const counts = new Map<string, number>();
  const mems = new Map<string, { heap: number; rss: number; sessions: number }>();
  let started = 0;
  let progressAt = performance.now();
  let done: (() => void) | undefined;
  let check = (): void => {};
  const exited = new Promise<string>((resolve) =>
    proc.on('exit', (code, sig) => resolve(`exited (${sig ?? code})`)),
  );
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const [what, node, a, b, c] = line.split(' ');
    if (what === 'started') {
      started = performance.now();
      progressAt = started; // a stall counts from here: loading the fleet file may take a while
    } else if (what === 'base') base.set(node, { pid: Number(a), heap: Number(b), rss: Number(c) });
    else if (what === 'count') counts.set(node, Number(a));
    else if (what === 'mem') mems.set(node, { heap: Number(a), rss: Number(b), sessions: Number(c) });
    else return;
    check();
  });
  const held = () => [...counts.values()].reduce((x, y) => x + y, 0);
  let last = 0;
  const connected = await new Promise<number | string>((resolve) => {
    const limit = setTimeout(
      () => resolve(`not all connected within ${CONNECT_LIMIT_MS} ms`),
      CONNECT_LIMIT_MS,
    );
    const stall = setInterval(() => {
      const n = held();
      if (n !== last) {
        last = n;
        progressAt = performance.now();
        process.stderr.write(`  mqttkit: ${n} connected\n`);
      } else if (started > 0 && performance.now() - progressAt > 60_000)
        resolve(`stalled at ${n} sessions for 60 s`);
    }, 2_000);
    check = () => {
      if (held() >= SESSIONS) resolve(performance.now());
    };
    void exited.then(resolve);
    done = () => {
      clearTimeout(limit);
      clearInterval(stall);
    };
  });
  done?.();
  const failure = typeof connected === 'string' ? connected : undefined;
  const end = typeof connected === 'number' ? connected : performance.now();
  const n = held();
  // memory of every worker, after GC
  mems.clear();
  const memDone = new Promise<void>((resolve) => {
    check = () => {
      if (mems.size === base.size) resolve();
    };
  });
  for (const { pid } of base.values()) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      // gone
    }
  }
  await Promise.race([memDone, new Promise((r) => setTimeout(r, 30_000))]);
  let heap = 0;
  let rss = 0;
  for (const [node, m] of mems) {
    const b = base.get(node);
    if (b === undefined) continue;
    heap += m.heap - b.heap;
    rss += m.rss - b.rss;
  }
  process.stderr.write(
    `  mqttkit: ${n} held on ${base.size} workers; per worker: ${[...mems]
      .map(
        ([node, m]) =>
          `${node} ${m.sessions} sessions, heap ${(m.heap / 2 ** 20).toFixed(0)} MiB, RSS ${(m.rss / 2 ** 20).toFixed(0)} MiB`,
      )
      .join('; ')}\n`,
  );
  proc.stdin?.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
  if (proc.exitCode === null) proc.kill('SIGKILL');
  return {
    held: n,
    totalMs: end - t0,
    connectMs: end - (started || t0),
    heap: heap / Math.max(1, n) / 1024,
    rss: rss / Math.max(1, n) / 1024,
    ...(failure !== undefined && { failure }),
  };
}

interface PeerResult {
  held: number;
  connectMs: number;
  heap: number;
  rss: number;
  failure?: string;
}

async function runPeer(brokers: Broker[]): Promise<PeerResult> {
  const per = Math.ceil(SESSIONS / brokers.length);
  const settled = await Promise.allSettled(
    brokers.map((b, i) =>
      runChild({
        lib: 'mqttjs',
        url: b.url,
        sessions: Math.min(per, SESSIONS - i * per),
        concurrency: CONCURRENCY,
        version: 5,
        midpoint: 1,
        warmup: 100,
        phaseTimeoutMs: 10 * 60_000,
      }),
    ),
  );
  const ok = settled
    .filter((s) => s.status === 'fulfilled')
    .map((s) => (s as PromiseFulfilledResult<ChildResult>).value);
  const failed = settled
    .filter((s) => s.status === 'rejected')
    .map((s) => (s as PromiseRejectedResult).reason as unknown);
  const held = ok.reduce((x, r) => x + r.sessions, 0);
  const sum = (k: 'heapUsed' | 'rss') => ok.reduce((x, r) => x + r.loaded[k] - r.baseline[k], 0);
  return {
    held: held + failed.reduce<number>((x, f) => x + (f instanceof ChildFailure ? f.connected : 0), 0),
    connectMs: Math.max(0, ...ok.map((r) => r.connectMs)),
    heap: sum('heapUsed') / Math.max(1, held) / 1024,
    rss: sum('rss') / Math.max(1, held) / 1024,
    ...(failed.length > 0 && { failure: failed.map((f) => (f as Error).message).join('; ') }),
  };
}

function row(
  scenario: string,
  k: number | undefined,
  p: number | undefined,
  unit: string,
  lowerIsBetter: boolean,
  digits = 2,
): SuiteRow {
  const cell = (v: number | undefined) =>
    v === undefined
      ? '—'
      : `${unit === '' ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits)}${unit === '' ? '' : ` ${unit}`}`;
  const ratio =
    k === undefined || p === undefined || k === 0 || p === 0 ? undefined : lowerIsBetter ? p / k : k / p;
  return {
    scenario,
    mqttkit: cell(k),
    peer: cell(p),
    peerName: `MQTT.js, ${BROKERS} process${BROKERS > 1 ? 'es' : ''}`,
    ...(ratio !== undefined && { ratio }),
    values: { mqttkit: k, peer: p },
  };
}

async function main(): Promise<void> {
  const brokers = await Promise.all(Array.from({ length: BROKERS }, () => startBroker()));
  const dir = mkdtempSync(join(tmpdir(), 'mqttkit-workers-bench-'));
  const n = SESSIONS.toLocaleString('en-US');
  try {
    process.stderr.write(
      `  ${n} sessions, ${WORKERS} workers, ${BROKERS} mosquittos, ${ADDRESSES} local addresses, ${CONCURRENCY} connects in flight per worker\n`,
    );
    const k = await runKit(brokers, dir);
    if (k.failure !== undefined) process.stderr.write(`  mqttkit stopped short: ${k.failure}\n`);
    const p = PEER ? await runPeer(brokers) : undefined;
    if (p?.failure !== undefined) process.stderr.write(`  MQTT.js stopped short: ${p.failure}\n`);
    const rows: SuiteRow[] = [
      row(`idle sessions held (of ${n}), ${WORKERS} workers`, k.held, p?.held, '', false),
      row(`time to connect all, from spawn (of ${n})`, k.totalMs / 1000, undefined, 's', true, 1),
      row(
        `time to connect all, workers ready (of ${n})`,
        k.connectMs / 1000,
        p && p.connectMs / 1000,
        's',
        true,
        1,
      ),
      row(`heap per session, summed over processes (of ${n})`, k.heap, p?.heap, 'KiB', true),
      row(`RSS per session, summed over processes (of ${n})`, k.rss, p?.rss, 'KiB', true),
    ];
    const lines = ['| scenario | mqttkit | MQTT.js | ratio |', '|---|---:|---:|---:|'];
    for (const r of rows)
      lines.push(
        `| ${r.scenario} | ${r.mqttkit} | ${r.peer} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} |`,
      );
    process.stdout.write(`${lines.join('\n')}\n`);
    save('workers', rows, {
      sessions: SESSIONS,
      workers: WORKERS,
      brokers: BROKERS,
      addresses: ADDRESSES,
      kit: k,
      peer: p,
    });
  } finally {
    await Promise.all(brokers.map((b) => b.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
