/**
 * Side-by-side benchmark harness. Each scenario runs mqttkit and the peer
 * library alternately, in rounds, after a warm-up, on the same data, and
 * reports the median ops/s of each and their ratio. Only ratios hold on a
 * noisy machine; absolute numbers are for orientation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Row {
  scenario: string;
  mqttkit: number;
  peer: number;
  peerName: string;
  ratio: number;
  /** Minimum ratio the scenario is held to, if any. */
  target?: number;
}

export interface CompareOptions {
  /** Target ratio mqttkit/peer. */
  target?: number;
  /** Measured time per side per round, ms. @default 300 */
  ms?: number;
  /** Rounds (alternating sides). @default 5 */
  rounds?: number;
  /** Operations done by one call of the function. @default 1 */
  opsPerCall?: number;
}

/** Runs `fn` repeatedly for about `ms` milliseconds; returns calls per second. */
function measure(fn: () => unknown, ms: number): number {
  let calls = 0;
  let batch = 64;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < batch; i++) fn();
    calls += batch;
    elapsed = process.hrtime.bigint() - start;
    if (elapsed < limit / 20n) batch *= 2;
  }
  return (calls * 1e9) / Number(elapsed);
}

/** The median; of an even count, the mean of the middle two. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function compare(
  scenario: string,
  ours: () => unknown,
  peerName: string,
  theirs: () => unknown,
  options: CompareOptions = {},
): Row {
  const ms = options.ms ?? 300;
  const rounds = options.rounds ?? 5;
  const per = options.opsPerCall ?? 1;
  measure(ours, ms);
  measure(theirs, ms);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(measure(ours, ms));
      b.push(measure(theirs, ms));
    } else {
      b.push(measure(theirs, ms));
      a.push(measure(ours, ms));
    }
  }
  const row: Row = {
    scenario,
    mqttkit: median(a) * per,
    peer: median(b) * per,
    peerName,
    ratio: median(a) / median(b),
    target: options.target,
  };
  process.stderr.write(
    `  ${scenario}: ${fmt(row.mqttkit)} vs ${fmt(row.peer)} ops/s (${row.ratio.toFixed(2)}x)\n`,
  );
  return row;
}

export function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}k`;
  return n.toFixed(0);
}

/** A markdown table of rows: scenario, mqttkit, peer, ratio, target. */
export function table(rows: Row[]): string {
  const lines = ['| scenario | mqttkit ops/s | peer ops/s | ratio | target |', '|---|---:|---:|---:|---:|'];
  for (const r of rows) {
    const target = r.target === undefined ? '' : `>= ${r.target}x ${r.ratio >= r.target ? 'met' : 'MISSED'}`;
    lines.push(
      `| ${r.scenario} | ${fmt(r.mqttkit)} | ${fmt(r.peer)} (${r.peerName}) | ${r.ratio.toFixed(2)}x | ${target} |`,
    );
  }
  return lines.join('\n');
}

/**
 * One row of the suite's table (`npm run bench` prints every benchmark's rows
 * in one table and collects them in `bench/results/latest.json`).
 */
export interface SuiteRow {
  scenario: string;
  /** The cells as printed, units included. */
  mqttkit: string;
  peer: string;
  /** Who the peer is: `MQTT.js`, `mqtt-packet`, `raw limit`, ... */
  peerName: string;
  /** How many times better mqttkit does, whatever the unit (peer/mqttkit where lower is better). */
  ratio?: number;
  /** The target as printed: `>= 3x`, `<= 1/2`, `>= 0.9x raw limit`. */
  target?: string;
  met?: boolean;
  /** Client CPU per message (or request), µs. */
  cpuUs?: { mqttkit?: number; peer?: number };
  /** The numbers behind the cells. */
  values?: Record<string, number | undefined>;
}

/** A ratio target: `>= 3x` where higher is better, `<= 1/3` where lower is. */
export function targetText(target: number, lowerIsBetter = false): string {
  return lowerIsBetter ? `<= 1/${target}` : `>= ${target}x`;
}

export function fromCompare(r: Row, unit = 'ops/s'): SuiteRow {
  return {
    scenario: r.scenario,
    mqttkit: `${fmt(r.mqttkit)} ${unit}`,
    peer: `${fmt(r.peer)} ${unit}`,
    peerName: r.peerName,
    ratio: r.ratio,
    ...(r.target !== undefined && { target: targetText(r.target), met: r.ratio >= r.target }),
    values: { mqttkit: r.mqttkit, peer: r.peer },
  };
}

export function fromRun(r: RunRow): SuiteRow {
  return {
    ...fromCompare(r, 'msgs/s'),
    cpuUs: { mqttkit: r.mqttkitCpuUs, peer: r.peerCpuUs },
  };
}

/**
 * Writes a benchmark's rows to bench/results/NAME.json with the date, Node
 * version and platform; `details` holds whatever else the run recorded.
 */
export function save(name: string, rows: readonly SuiteRow[], details?: unknown): void {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${name}.json`),
    `${JSON.stringify(
      { date: new Date().toISOString(), node: process.version, os: process.platform, rows, details },
      null,
      2,
    )}\n`,
  );
}

/** One measured run: messages, wall time and this process's CPU time. */
export interface RunResult {
  msgs: number;
  ms: number;
  cpuUs: number;
}

export interface RunRow {
  scenario: string;
  /** msgs/s, median of the rounds */
  mqttkit: number;
  peer: number;
  peerName: string;
  ratio: number;
  target?: number;
  /** client CPU per message, µs, median */
  mqttkitCpuUs: number;
  peerCpuUs: number;
}

/** Measures `fn` from the start of the call to its resolution, with CPU time. */
export async function timed(msgs: number, fn: () => Promise<unknown>): Promise<RunResult> {
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(cpu);
  return { msgs, ms, cpuUs: c.user + c.system };
}

/**
 * Runs both sides `rounds` times, alternating which goes first, after one
 * warm-up run each, and reports the medians.
 */
export async function compareRuns(
  scenario: string,
  ours: () => Promise<RunResult>,
  peerName: string,
  theirs: () => Promise<RunResult>,
  options: { rounds?: number; target?: number } = {},
): Promise<RunRow> {
  const rounds = options.rounds ?? 3;
  await ours();
  await theirs();
  const a: RunResult[] = [];
  const b: RunResult[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(await ours());
      b.push(await theirs());
    } else {
      b.push(await theirs());
      a.push(await ours());
    }
  }
  const rate = (x: RunResult) => (x.msgs * 1000) / x.ms;
  const cpu = (x: RunResult) => x.cpuUs / x.msgs;
  const row: RunRow = {
    scenario,
    mqttkit: median(a.map(rate)),
    peer: median(b.map(rate)),
    peerName,
    ratio: median(a.map(rate)) / median(b.map(rate)),
    target: options.target,
    mqttkitCpuUs: median(a.map(cpu)),
    peerCpuUs: median(b.map(cpu)),
  };
  process.stderr.write(
    `  ${scenario}: ${fmt(row.mqttkit)} vs ${fmt(row.peer)} msgs/s (${row.ratio.toFixed(2)}x), ` +
      `CPU ${row.mqttkitCpuUs.toFixed(2)} vs ${row.peerCpuUs.toFixed(2)} µs/msg\n`,
  );
  return row;
}

/** A markdown table of run rows with throughput, ratio, target and CPU per message. */
export function runTable(rows: RunRow[]): string {
  const lines = [
    '| scenario | mqttkit msgs/s | peer msgs/s | ratio | target | CPU µs/msg mqttkit | CPU µs/msg peer |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const target = r.target === undefined ? '' : `>= ${r.target}x ${r.ratio >= r.target ? 'met' : 'MISSED'}`;
    lines.push(
      `| ${r.scenario} | ${fmt(r.mqttkit)} | ${fmt(r.peer)} (${r.peerName}) | ${r.ratio.toFixed(2)}x | ${target} | ${r.mqttkitCpuUs.toFixed(2)} | ${r.peerCpuUs.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}
