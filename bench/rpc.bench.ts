/**
 * Request/response over MQTT 5 through a private mosquitto: mqttkit's
 * `RpcClient` → `RpcServer` against the usual MQTT.js implementation
 * (`bench/rpc-libs.ts`), the same MQTT.js code with `setNoDelay(true)` on
 * its sockets, and the raw limit: a raw-socket requester and responder with
 * pre-encoded packets (`bench/rpc-raw.ts`), i.e. what the broker allows on
 * this machine.
 *
 * Each library's requester and responder run in separate child processes
 * (`bench/rpc-child.ts`), one pair per library and round, so that client
 * CPU does not mix. The requester keeps `concurrency` requests in flight
 * at all times (each response sends the next request) for `DURATION_MS`
 * after a `WARMUP_MS` warm-up at the same concurrency, with 16-byte echo
 * payloads; latency is measured per request from just before the request
 * call to the response's arrival (the promise's resolution). CPU per
 * request is the requester's CPU time over the measured phase divided by
 * its requests plus the responder's divided by the requests it answered
 * meanwhile (`process.cpuUsage()` in each child: user + system, so the
 * kernel's loopback TCP work done in their system calls counts);
 * mosquitto's from /proc (10 ms ticks).
 *
 * Requests and responses are QoS 1 on every side (subscriptions too); the
 * QoS 0 rows publish requests and responses at QoS 0 over the same QoS 1
 * subscriptions. mosquitto runs with `max_inflight_messages 0` (no limit),
 * so its default window of 20 QoS 1 messages per client does not bound
 * the numbers (each client's own Receive Maximum, 65,535, is far above the
 * concurrency), and with `set_tcp_nodelay true` (see BROKER_CONFIG).
 *
 * Libraries alternate within each round (the order reverses every round);
 * every cell is the median of the rounds. The ratio is how many times better
 * mqttkit does: mqttkit/MQTT.js for req/s, MQTT.js/mqttkit for latency and
 * CPU. Targets at concurrency 100, QoS 1, against the usual MQTT.js: req/s
 * >= 2x, p99 latency <= 1/2.
 *
 * Environment: `ROUNDS` (default 3), `WARMUP_MS` (1000), `DURATION_MS`
 * (4000), `LIBS` (`mqttkit,mqttjs,mqttjs-nodelay,raw`), `QOS` (`1,0`),
 * `CONCURRENCY` (`1,100`), `RAW_FLUSH` (`tick`, the default: the raw
 * clients write after each socket read; `immediate`: once per event-loop
 * turn, as mqttkit's Session does), `PROFILE_DIR` (write a CPU profile of
 * every child's measured phase there; summarize them with
 * `npx tsx bench/rpc-profile.ts DIR [FILTER]`). Results are saved to
 * bench/results/rpc.json only for a full default run.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { median, type SuiteRow, save } from './harness.js';
import type { ChildConfig, Lib, RunResult } from './rpc-child.js';
import { RpcChild } from './rpc-spawn.js';
import { processCpuMs } from './sessions-spawn.js';

function envList<T extends string | number>(name: string, fallback: T[], parse: (s: string) => T): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((s) => parse(s.trim()));
}

function envInt(name: string, fallback: number): number {
  const [n] = envList(name, [fallback], Number);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

const ALL_LIBS: Lib[] = ['mqttkit', 'mqttjs', 'mqttjs-nodelay', 'raw'];
const LIBS = envList<Lib>('LIBS', ALL_LIBS, (s) => {
  if (!(ALL_LIBS as string[]).includes(s)) throw new Error(`LIBS: one of ${ALL_LIBS.join(', ')}, got ${s}`);
  return s as Lib;
});
const QOS = envList<0 | 1>('QOS', [1, 0], (s) => {
  if (s !== '0' && s !== '1') throw new Error(`QOS: 0 or 1, got ${s}`);
  return Number(s) as 0 | 1;
});
const CONCURRENCY = envList('CONCURRENCY', [1, 100], (s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`CONCURRENCY: 1..10000, got ${s}`);
  return n;
});
const ROUNDS = envInt('ROUNDS', 3);
const WARMUP_MS = envInt('WARMUP_MS', 1000);
const DURATION_MS = envInt('DURATION_MS', 4000);
const PROFILE_DIR = process.env.PROFILE_DIR === undefined ? undefined : resolve(process.env.PROFILE_DIR);
if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true });
const FULL =
  LIBS.length === ALL_LIBS.length &&
  QOS.length === 2 &&
  CONCURRENCY.join() === '1,100' &&
  ROUNDS >= 3 &&
  PROFILE_DIR === undefined &&
  process.env.RAW_FLUSH !== 'immediate';

const TOPIC = 'bench/rpc/echo';
const SIZE = 16;
const MAX_INFLIGHT = 0;
/**
 * mosquitto leaves Nagle's algorithm on by default: with QoS 1 it writes an
 * ack and a PUBLISH to a client separately, the second waits for the
 * kernel's delayed ACK of the first, and at concurrency 1 every library,
 * raw sockets too, measured ~22 req/s (a 40 ms timer per request): the
 * kernel's timer, not the clients. `set_tcp_nodelay true` turns it off.
 */
const BROKER_CONFIG = 'connection_messages false\nset_tcp_nodelay true';

/** One measured run of one library at one QoS and concurrency. */
interface Run {
  lib: Lib;
  round: number;
  qos: 0 | 1;
  concurrency: number;
  reqPerSec: number;
  /** µs */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** CPU µs per request: requester, responder, mosquitto (10 ms ticks). */
  requesterCpu: number;
  responderCpu: number;
  brokerCpu: number | undefined;
  requests: number;
  errors: number;
}

const rate = (n: number): string =>
  n >= 1e5 ? `${(n / 1e3).toFixed(0)}k` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
const micros = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);

async function runLib(
  lib: Lib,
  round: number,
  url: string,
  brokerPid: () => number | undefined,
): Promise<Run[]> {
  const base: Omit<ChildConfig, 'role'> = { lib, url, topic: TOPIC, size: SIZE };
  const responder = await RpcChild.start({ ...base, role: 'responder' });
  let requester: RpcChild | undefined;
  const runs: Run[] = [];
  try {
    requester = await RpcChild.start({ ...base, role: 'requester' });
    for (const qos of QOS) {
      for (const concurrency of CONCURRENCY) {
        const profile =
          PROFILE_DIR === undefined
            ? undefined
            : (role: string) =>
                join(PROFILE_DIR, `${lib}-${role}-qos${qos}-c${concurrency}-r${round + 1}.cpuprofile`);
        await requester.warm({
          qos,
          concurrency,
          warmupMs: WARMUP_MS,
          durationMs: DURATION_MS,
          ...(profile !== undefined && { profile: profile('requester') }),
        });
        const m0 = await responder.mark(profile === undefined ? undefined : 'start');
        const b0 = processCpuMs(brokerPid());
        const r: RunResult = await requester.go(DURATION_MS);
        const m1 = await responder.mark(profile?.('responder'));
        const b1 = processCpuMs(brokerPid());
        const run: Run = {
          lib,
          round,
          qos,
          concurrency,
          reqPerSec: (r.requests * 1000) / r.ms,
          p50: r.p50,
          p99: r.p99,
          p999: r.p999,
          max: r.max,
          requesterCpu: r.cpuUs / r.requests,
          responderCpu: (m1.cpuUs - m0.cpuUs) / Math.max(1, m1.served - m0.served),
          brokerCpu: b0 === undefined || b1 === undefined ? undefined : ((b1 - b0) * 1000) / r.requests,
          requests: r.requests,
          errors: r.errors,
        };
        if (r.errors > 0) process.stderr.write(`  ${lib}: ${r.errors} failed requests (${r.firstError})\n`);
        process.stderr.write(
          `  round ${round + 1} ${lib.padEnd(14)} QoS ${qos} c=${String(concurrency).padEnd(3)} ` +
            `${rate(run.reqPerSec).padStart(6)} req/s  p50 ${micros(run.p50)}  p99 ${micros(run.p99)}  ` +
            `p99.9 ${micros(run.p999)}  max ${micros(run.max)}  CPU/req requester ${run.requesterCpu.toFixed(1)} µs ` +
            `+ responder ${run.responderCpu.toFixed(1)} µs, mosquitto ${run.brokerCpu?.toFixed(1) ?? '?'} µs\n`,
        );
        runs.push(run);
      }
    }
  } finally {
    await Promise.all([requester?.stop(), responder.stop()]);
  }
  return runs;
}

type Row = SuiteRow;

function buildRows(runs: Run[]): Row[] {
  const pick = (lib: Lib, qos: 0 | 1, c: number, f: (r: Run) => number | undefined): number | undefined => {
    const xs = runs
      .filter((r) => r.lib === lib && r.qos === qos && r.concurrency === c)
      .map(f)
      .filter((x) => x !== undefined);
    return xs.length === 0 ? undefined : median(xs);
  };
  const rows: Row[] = [];
  const show = (v: number | undefined, f: (n: number) => string) => (v === undefined ? '—' : f(v));
  const cpu = (r: Run) => r.requesterCpu + r.responderCpu;
  const cpuCell = (qos: 0 | 1, c: number, lib: Lib) => {
    const total = pick(lib, qos, c, cpu);
    const rq = pick(lib, qos, c, (r) => r.requesterCpu);
    const rs = pick(lib, qos, c, (r) => r.responderCpu);
    return total === undefined ? '—' : `${total.toFixed(1)} µs (${rq!.toFixed(1)} + ${rs!.toFixed(1)})`;
  };
  /** One row: mqttkit against `peer`; `target` only against the usual MQTT.js. */
  const add = (
    peer: Lib,
    scenario: string,
    qos: 0 | 1,
    c: number,
    f: (r: Run) => number | undefined,
    format: (n: number) => string,
    higherIsBetter: boolean,
    target?: number,
  ): Row => {
    const k = pick('mqttkit', qos, c, f);
    const j = pick(peer, qos, c, f);
    const ratio = k === undefined || j === undefined ? undefined : higherIsBetter ? k / j : j / k;
    const row: Row = {
      scenario: `${scenario}, concurrency ${c}, QoS ${qos}${peer === 'mqttjs-nodelay' ? ', vs MQTT.js with setNoDelay(true)' : ''}`,
      mqttkit: show(k, format),
      peer: show(j, format),
      peerName: peer === 'mqttjs-nodelay' ? 'MQTT.js with setNoDelay(true)' : 'MQTT.js',
      ratio,
      ...(target !== undefined && {
        target: higherIsBetter ? `>= ${target}x` : `<= 1/${target}`,
        met: ratio !== undefined && ratio >= target,
      }),
      values: { mqttkit: k, mqttjs: j },
    };
    rows.push(row);
    return row;
  };
  const addCpu = (peer: Lib, qos: 0 | 1, c: number): void => {
    const row = add(peer, 'CPU per request (requester + responder)', qos, c, cpu, (n) => n.toFixed(1), false);
    row.mqttkit = cpuCell(qos, c, 'mqttkit');
    row.peer = cpuCell(qos, c, peer);
  };
  const usual = 'mqttjs';
  for (const qos of QOS) {
    for (const c of CONCURRENCY)
      add(usual, 'req/s', qos, c, (r) => r.reqPerSec, rate, true, qos === 1 && c === 100 ? 2 : undefined);
    for (const c of CONCURRENCY) {
      add(usual, 'p50 latency', qos, c, (r) => r.p50, micros, false);
      add(usual, 'p99 latency', qos, c, (r) => r.p99, micros, false, qos === 1 && c === 100 ? 2 : undefined);
    }
    for (const c of CONCURRENCY) addCpu(usual, qos, c);
    for (const c of CONCURRENCY)
      add(
        usual,
        'mosquitto CPU per request',
        qos,
        c,
        (r) => r.brokerCpu,
        (n) => `${n.toFixed(1)} µs`,
        false,
      );
  }
  // the same MQTT.js code with Nagle's algorithm off
  if (LIBS.includes('mqttjs-nodelay')) {
    for (const qos of QOS) {
      for (const c of CONCURRENCY) {
        add('mqttjs-nodelay', 'req/s', qos, c, (r) => r.reqPerSec, rate, true);
        add('mqttjs-nodelay', 'p50 latency', qos, c, (r) => r.p50, micros, false);
        add('mqttjs-nodelay', 'p99 latency', qos, c, (r) => r.p99, micros, false);
        addCpu('mqttjs-nodelay', qos, c);
      }
    }
  }
  // the raw limit: what the broker allows, and how much of it each library reaches
  /** A row of how far each library gets from the raw limit of `f`. */
  const fromLimit = (
    qos: 0 | 1,
    c: number,
    f: (r: Run) => number,
    format: (n: number) => string,
    scenario: (limit: string) => string,
    cell: (v: number, limit: number) => string,
  ): void => {
    const limit = pick('raw', qos, c, f);
    const k = pick('mqttkit', qos, c, f);
    const j = pick('mqttjs', qos, c, f);
    const against = (v: number | undefined) =>
      v === undefined || limit === undefined ? '—' : cell(v, limit);
    rows.push({
      scenario: `raw limit: ${scenario(show(limit, format))}, concurrency ${c}, QoS ${qos}`,
      mqttkit: against(k),
      peer: against(j),
      peerName: 'MQTT.js',
      values: { mqttkit: k, mqttjs: j, raw: limit },
    });
  };
  const share = (v: number, limit: number) => `${((100 * v) / limit).toFixed(0)}% of it`;
  const times = (v: number, limit: number) => `${(v / limit).toFixed(1)}x it`;
  for (const qos of QOS) {
    for (const c of CONCURRENCY)
      fromLimit(
        qos,
        c,
        (r) => r.reqPerSec,
        rate,
        (l) => `${l} req/s`,
        share,
      );
    for (const c of CONCURRENCY) {
      for (const [name, f] of [
        ['p50', (r: Run) => r.p50],
        ['p99', (r: Run) => r.p99],
      ] as const) {
        fromLimit(qos, c, f, micros, (l) => `${name} latency ${l}`, times);
      }
    }
    for (const c of CONCURRENCY) {
      const rawCpu = pick('raw', qos, c, cpu);
      const rawBroker = pick('raw', qos, c, (r) => r.brokerCpu);
      rows.push({
        scenario:
          `raw limit: CPU per request ${show(rawCpu, (n) => `${n.toFixed(1)} µs`)} (requester + responder), ` +
          `mosquitto ${show(rawBroker, (n) => `${n.toFixed(1)} µs`)}, concurrency ${c}, QoS ${qos}`,
        mqttkit: '',
        peer: '',
        peerName: 'raw limit',
        values: { raw: rawCpu },
      });
    }
  }
  return rows;
}

function table(rows: Row[]): string {
  const lines = ['| scenario | mqttkit | MQTT.js | ratio | target |', '|---|---:|---:|---:|---:|'];
  for (const r of rows) {
    const target = r.target === undefined ? '' : `${r.target} ${r.met ? 'met' : 'MISSED'}`;
    lines.push(
      `| ${r.scenario} | ${r.mqttkit} | ${r.peer} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} | ${target} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const broker = await startMosquitto({ maxInflight: MAX_INFLIGHT, config: BROKER_CONFIG });
  const runs: Run[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? LIBS : [...LIBS].reverse();
      for (const lib of order) runs.push(...(await runLib(lib, round, broker.url, () => broker.pid)));
    }
  } finally {
    await broker.stop();
  }
  const rows = buildRows(runs);
  console.log(
    `RPC over MQTT 5 through mosquitto (max_inflight_messages ${MAX_INFLIGHT} = no limit), ${SIZE}-byte echo payloads, ` +
      `requester and responder each in its own process; ${ROUNDS} round(s) of ${WARMUP_MS} ms warm-up + ` +
      `${DURATION_MS} ms per cell, medians; ratio: how many times better mqttkit does; ` +
      `CPU: requester + responder µs per request\n`,
  );
  console.log(table(rows));
  if (FULL) {
    save('rpc', rows, {
      config: { rounds: ROUNDS, warmupMs: WARMUP_MS, durationMs: DURATION_MS, maxInflight: MAX_INFLIGHT },
      runs,
    });
  } else {
    console.log('\n(a partial run: bench/results/rpc.json left as it was)');
  }
}

await main();
