/**
 * Idle sessions: 10,000 of them against a private mosquitto, mqttkit and
 * MQTT.js side by side, each library in its own child process
 * (`bench/sessions-child.ts`) so that heaps do not mix.
 *
 * Each child opens N sessions (own clientId, keepalive 60, clean, default
 * reconnect settings of each library) with the same bound on connects in
 * flight, times first connect call to last CONNACK (and to the 5,000th),
 * forces GC and compares heap used and RSS with the baseline it took before
 * the first session (after a warm-up of a few sessions opened and closed),
 * then closes them all at once and times that. It also reports the client's
 * CPU time per connect: on a shared machine the wall-clock connect rate
 * varies by tens of percent from run to run (the kernel's loopback TCP work
 * and mosquitto share the cores), the CPU time much less.
 *
 * Environment: `SESSIONS` (default 10000; at most ~19,900 with a 20,000 fd
 * limit, which mosquitto and the child each need one of per session),
 * `CONCURRENCY` (connects in flight, default 100: mosquitto 2.0 listens
 * with a backlog of 100, and more connects in flight overflow its accept
 * queue now and then, each overflow costing that connect a 1 s SYN
 * retransmission, which measures the kernel's timer rather than the
 * client), `ROUNDS` (children per library and protocol version,
 * alternating which goes first; medians; default 3: a single connect rate
 * moves by ±20% from run to run), `WARMUP` (sessions each child opens and
 * closes before it measures, default 1000), `VERSIONS` (default `5,4`), `HEAP_MB`
 * (`--max-old-space-size` for both children; default Node's own limit, as
 * users get it).
 *
 * A child that dies (e.g. out of heap) does not end the run: its cells say
 * how and after how many sessions, and the other side still runs.
 *
 * The ratio column is how many times better mqttkit does: MQTT.js/mqttkit
 * for memory and close time, mqttkit/MQTT.js for connect rate. Targets:
 * heap per session <= 1/3 of MQTT.js's, connect rate over 5,000 sessions
 * (the first 5,000 of each run) >= 2x.
 */
import { fmt, median, save, targetText } from './harness.js';
import type { ChildConfig, ChildResult } from './sessions-child.js';
import { ChildFailure, processCpuMs, runChild, startBroker } from './sessions-spawn.js';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

const SESSIONS = envInt('SESSIONS', 10_000);
const CONCURRENCY = envInt('CONCURRENCY', 100);
const ROUNDS = envInt('ROUNDS', 3);
const MIDPOINT = Math.min(5_000, SESSIONS);
/** Sessions opened and closed before the measured ones: the connect path compiled, as in a process that has run a while. */
const WARMUP = envInt('WARMUP', 1000);
const VERSIONS = (process.env.VERSIONS ?? '5,4').split(',').map((v) => {
  if (v.trim() !== '5' && v.trim() !== '4') throw new Error(`VERSIONS: 4 or 5, got ${v}`);
  return Number(v) as 4 | 5;
});
const NODE_ARGS = process.env.HEAP_MB ? [`--max-old-space-size=${envInt('HEAP_MB', 4096)}`] : [];

interface SessionsRow {
  scenario: string;
  unit: string;
  /** undefined: that side's child failed (see `note`). */
  mqttkit: number | undefined;
  peer: number | undefined;
  peerName: string;
  /** How many times better mqttkit does (peer/mqttkit where lower is better). */
  ratio: number | undefined;
  target?: number;
  lowerIsBetter: boolean;
  /** Why a side has no number. */
  note?: string;
}

type Side = { results: ChildResult[]; failure?: ChildFailure };

function row(
  scenario: string,
  unit: string,
  k: Side,
  j: Side,
  measure: (results: ChildResult[]) => number,
  lowerIsBetter: boolean,
  target?: number,
): SessionsRow {
  const mqttkit = k.failure === undefined ? measure(k.results) : undefined;
  const peer = j.failure === undefined ? measure(j.results) : undefined;
  const ratio =
    mqttkit === undefined || peer === undefined ? undefined : lowerIsBetter ? peer / mqttkit : mqttkit / peer;
  const notes = [k.failure, j.failure].filter((f) => f !== undefined).map((f) => f.message);
  return {
    scenario,
    unit,
    mqttkit,
    peer,
    peerName: 'MQTT.js',
    ratio,
    target,
    lowerIsBetter,
    ...(notes.length > 0 && { note: notes.join('; ') }),
  };
}

function value(n: number | undefined, unit: string, failure: ChildFailure | undefined): string {
  if (n === undefined) return `failed: ${failure?.reason ?? '?'} at ${failure?.connected ?? '?'} sessions`;
  if (unit === 'KiB') return `${n.toFixed(2)} KiB`;
  if (unit === 'ms') return `${n.toFixed(0)} ms`;
  if (unit === 'µs') return `${n.toFixed(0)} µs`;
  if (unit === 'sessions/s') return `${Math.round(n).toLocaleString('en-US')}/s`;
  return `${fmt(n)} ${unit}`;
}

function table(rows: { row: SessionsRow; k?: ChildFailure; j?: ChildFailure }[]): string {
  const lines = ['| scenario | mqttkit | MQTT.js | ratio | target |', '|---|---:|---:|---:|---:|'];
  for (const { row: r, k, j } of rows) {
    const goal = r.target === undefined ? '' : r.lowerIsBetter ? `<= 1/${r.target}` : `>= ${r.target}x`;
    const verdict =
      r.ratio === undefined ? (k !== undefined ? 'MISSED' : '') : r.ratio >= r.target! ? 'met' : 'MISSED';
    lines.push(
      `| ${r.scenario} | ${value(r.mqttkit, r.unit, k)} | ${value(r.peer, r.unit, j)} | ` +
        `${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} | ${r.target === undefined ? '' : `${goal} ${verdict}`} |`,
    );
  }
  return lines.join('\n');
}

const perSession = (key: 'heapUsed' | 'rss') => (results: ChildResult[]) =>
  median(results.map((r) => (r.loaded[key] - r.baseline[key]) / r.sessions / 1024));
const rate = (n: number, key: 'connectMs' | 'midpointMs') => (results: ChildResult[]) =>
  median(results.map((r) => (n * 1000) / r[key]));
const closeMs = (results: ChildResult[]) => median(results.map((r) => r.closeMs));
const cpuPerConnect = (results: ChildResult[]) => median(results.map((r) => r.connectCpuUs / r.sessions));
const userPerConnect = (results: ChildResult[]) => median(results.map((r) => r.connectUserUs / r.sessions));

function describe(res: ChildResult): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return (
    `${res.lib} v${res.version}: ${res.sessions} connected in ${res.connectMs.toFixed(0)} ms ` +
    `(slowest ${res.slowestConnectMs.toFixed(0)} ms), heap ${mib(res.baseline.heapUsed)} -> ${mib(res.loaded.heapUsed)} ` +
    `(${mib(res.afterClose.heapUsed)} after close), RSS ${mib(res.baseline.rss)} -> ${mib(res.loaded.rss)}, ` +
    `external ${mib(res.baseline.external)} -> ${mib(res.loaded.external)}, ` +
    `CPU ${(res.connectCpuUs / res.sessions).toFixed(0)} µs/connect, closed in ${res.closeMs.toFixed(0)} ms, ` +
    `${res.errors} errors${res.brokerCpuMs === undefined ? '' : `, mosquitto CPU ${res.brokerCpuMs} ms`}`
  );
}

async function main(): Promise<void> {
  const broker = await startBroker();
  const rows: { row: SessionsRow; k?: ChildFailure; j?: ChildFailure }[] = [];
  const raw: (ChildResult | { lib: string; version: number; failure: string; connected: number })[] = [];
  try {
    for (const version of VERSIONS) {
      const by: Record<ChildConfig['lib'], Side> = { mqttkit: { results: [] }, mqttjs: { results: [] } };
      for (let r = 0; r < ROUNDS; r++) {
        const order: ChildConfig['lib'][] = r % 2 === 0 ? ['mqttkit', 'mqttjs'] : ['mqttjs', 'mqttkit'];
        for (const lib of order) {
          if (by[lib].failure !== undefined) continue; // it would fail again
          try {
            const brokerCpu = processCpuMs(broker.pid);
            const res = await runChild(
              {
                lib,
                url: broker.url,
                sessions: SESSIONS,
                concurrency: CONCURRENCY,
                version,
                midpoint: MIDPOINT,
                warmup: WARMUP,
                phaseTimeoutMs: 5 * 60_000,
              },
              NODE_ARGS,
            );
            const brokerCpuAfter = processCpuMs(broker.pid);
            if (brokerCpu !== undefined && brokerCpuAfter !== undefined)
              res.brokerCpuMs = brokerCpuAfter - brokerCpu;
            process.stderr.write(`  ${describe(res)}\n`);
            by[lib].results.push(res);
            raw.push(res);
          } catch (err) {
            if (!(err instanceof ChildFailure)) throw err;
            process.stderr.write(`  ${err.message}\n`);
            by[lib].failure = err;
            raw.push({ lib, version, failure: err.reason, connected: err.connected });
          }
        }
      }
      const v = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
      const n = SESSIONS.toLocaleString('en-US');
      const k = by.mqttkit;
      const j = by.mqttjs;
      const add = (r: SessionsRow) => rows.push({ row: r, k: k.failure, j: j.failure });
      add(row(`heap per session, ${n} idle, ${v}`, 'KiB', k, j, perSession('heapUsed'), true, 3));
      add(row(`RSS per session, ${n} idle, ${v}`, 'KiB', k, j, perSession('rss'), true));
      add(row(`connect rate, ${n} sessions, ${v}`, 'sessions/s', k, j, rate(SESSIONS, 'connectMs'), false));
      add(
        row(
          `connect rate, first ${MIDPOINT.toLocaleString('en-US')} sessions, ${v}`,
          'sessions/s',
          k,
          j,
          rate(MIDPOINT, 'midpointMs'),
          false,
          2,
        ),
      );
      add(row(`client CPU per connect, ${v}`, 'µs', k, j, cpuPerConnect, true));
      add(row(`client CPU per connect, user part (no kernel), ${v}`, 'µs', k, j, userPerConnect, true));
      add(row(`close ${n} sessions at once, ${v}`, 'ms', k, j, closeMs, true));
    }
  } finally {
    await broker.stop();
  }
  console.log(
    `${SESSIONS.toLocaleString('en-US')} idle sessions, ${CONCURRENCY} connects in flight, ${ROUNDS} round(s)` +
      `${NODE_ARGS.length > 0 ? `, ${NODE_ARGS.join(' ')}` : ''}; ratio: how many times better mqttkit does\n`,
  );
  console.log(table(rows));
  const oom = rows.some((r) => [r.k, r.j].some((f) => f?.reason.includes('heap out of memory')));
  if (oom && NODE_ARGS.length === 0) {
    console.log('\n(a child ran out of heap: HEAP_MB=8192 gives both children a larger one)');
  }
  save(
    'sessions',
    rows.map(({ row: r, k, j }) => ({
      scenario: r.scenario,
      mqttkit: value(r.mqttkit, r.unit, k),
      peer: value(r.peer, r.unit, j),
      peerName: r.peerName,
      ...(r.ratio !== undefined && { ratio: r.ratio }),
      ...(r.target !== undefined && {
        target: targetText(r.target, r.lowerIsBetter),
        met: (r.ratio ?? 0) >= r.target,
      }),
      values: { mqttkit: r.mqttkit, peer: r.peer },
    })),
    { nodeArgs: NODE_ARGS, concurrency: CONCURRENCY, raw },
  );
}

await main();
