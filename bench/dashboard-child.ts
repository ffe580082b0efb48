/**
 * The two processes of `bench/dashboard.bench.ts` besides the broker:
 *
 *   node --expose-gc --import tsx bench/dashboard-child.ts '<ChildConfig JSON>'
 *
 * `role: 'fleet'`: a `SessionManager` with `sessions` MQTT 5 sessions, the
 * i-th subscribed (its own subscription, with a handler that counts) to
 * `load/<i % topics>/data`, connected `concurrency` at a time; it prints
 * `{"ready":...}` once every session is ready. Then it answers commands
 * (one JSON line each on stdin, one JSON line each on stdout, same `id`):
 * - `mark`: its CPU time (`process.cpuUsage()`, µs), messages received, the
 *   time, and since the previous mark the durations of the dashboard's ticks
 *   (see below) and the event loop's delay (p50, p99, max);
 * - `dashboard` `{on}`: `manager.serveDashboard({ port: 0 })`, or close it;
 * - `snapshot` `{query}`: times `GET /api/snapshot?<query>` on its own
 *   dashboard (3 requests, one after the other): build, JSON and loopback;
 * - `heap`: heap used and RSS after forced GCs;
 * - `profile` `{file}` / `profile` `{stop: true}`: starts / stops a CPU
 *   profile (inspector, 100 µs sampling) written to `file`.
 * A dashboard tick is timed by wrapping `Aggregator.prototype.tick` (the
 * module the dashboard loads; nothing in src/ changes): every session's
 * `metrics()` read, the totals, and each connected browser's view built,
 * serialized and written; wall time and the process's CPU time (which
 * does not count the time the tick was preempted on a busy machine). Two
 * `performance.now()` and two `process.cpuUsage()` calls a tick.
 *
 * `role: 'load'`: one mqttkit session publishing QoS 0, `publishRate`
 * messages a second paced by wall clock in batches every 10 ms (what is due
 * since the start, at most 100 ms of it in one batch), topics in turn so
 * each gets the same rate, payloads 16-64 bytes of JSON (`{"v":..,"n":..}`
 * padded). `mark` answers its CPU time and messages published.
 *
 * Both exit when stdin ends (the parent is gone).
 */

import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { Session as Inspector } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Aggregator } from '../src/dashboard/aggregator.js';
import { type DashboardServer, Session, SessionManager } from '../src/index.js';

export interface ChildConfig {
  role: 'fleet' | 'load';
  url: string;
  sessions: number;
  topics: number;
  /** Load: publishes per second over all topics. */
  publishRate: number;
  /** Fleet: connects in flight. */
  concurrency: number;
}

export interface Mark {
  /** user + system, µs, since the process started */
  cpuUs: number;
  userUs: number;
  /** fleet: messages received; load: published */
  msgs: number;
  /** performance.now(), ms */
  t: number;
  /** fleet: durations of the dashboard ticks since the previous mark, ms */
  ticks?: number[];
  /** fleet: the process's CPU time during each of those ticks, ms (preemption not counted) */
  tickCpu?: number[];
  /** fleet: event-loop delay since the previous mark, ms */
  loop?: { p50: number; p99: number; max: number };
}

export interface Heap {
  heapUsed: number;
  rss: number;
}

type Command =
  | { id: number; cmd: 'mark' }
  | { id: number; cmd: 'dashboard'; on: boolean }
  | { id: number; cmd: 'snapshot'; query: string }
  | { id: number; cmd: 'heap' }
  | { id: number; cmd: 'profile'; file?: string; stop?: boolean };

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const topicName = (k: number): string => `load/${k}/data`;
let received = 0;
let published = 0;

function reply(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function cpu(): { cpuUs: number; userUs: number } {
  const c = process.cpuUsage();
  return { cpuUs: c.user + c.system, userUs: c.user };
}

// ---------------------------------------------------------------------------
// fleet

const tickMs: number[] = [];
const tickCpuMs: number[] = [];
const loop = monitorEventLoopDelay({ resolution: 10 });

function timeTicks(): void {
  const tick = Aggregator.prototype.tick;
  Aggregator.prototype.tick = function timedTick(this: Aggregator): void {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    tick.call(this);
    tickMs.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    tickCpuMs.push((c.user + c.system) / 1000);
  };
}

async function fleet(): Promise<(c: Command) => Promise<unknown>> {
  timeTicks();
  const manager = new SessionManager({ concurrency: config.concurrency });
  const count = (): void => {
    received++;
  };
  for (let i = 0; i < config.sessions; i++) {
    manager.add({
      name: `dev-${String(i).padStart(5, '0')}`,
      url: config.url,
      protocolVersion: 5,
      keepalive: 60,
      subscriptions: [{ filter: topicName(i % config.topics), handler: count }],
    });
  }
  manager.on('session_error', () => {});
  const t0 = performance.now();
  await manager.connectAll();
  await manager.waitReady(undefined, { timeout: 300_000 });
  reply({ ready: true, connectMs: performance.now() - t0 });
  loop.enable();

  let dashboard: DashboardServer | undefined;
  let inspector: Inspector | undefined;
  return async (c) => {
    switch (c.cmd) {
      case 'mark': {
        const ticks = tickMs.splice(0);
        const tickCpu = tickCpuMs.splice(0);
        const ms = (n: number) => n / 1e6;
        const l = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) };
        loop.reset();
        return { ...cpu(), msgs: received, t: performance.now(), ticks, tickCpu, loop: l } satisfies Mark;
      }
      case 'dashboard':
        if (c.on && dashboard === undefined) dashboard = await manager.serveDashboard({ port: 0 });
        if (!c.on && dashboard !== undefined) {
          await dashboard.close();
          dashboard = undefined;
        }
        return { port: dashboard?.port };
      case 'snapshot': {
        if (dashboard === undefined) throw new Error('no dashboard');
        const ms: number[] = [];
        let bytes = 0;
        for (let i = 0; i < 3; i++) {
          const t = performance.now();
          bytes = await get(dashboard.port, `/api/snapshot?${c.query}`);
          ms.push(performance.now() - t);
        }
        return { ms, bytes };
      }
      case 'heap': {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (gc === undefined) throw new Error('run with --expose-gc');
        for (let i = 0; i < 3; i++) {
          gc();
          await new Promise((resolve) => setImmediate(resolve));
        }
        gc();
        const m = process.memoryUsage();
        return { heapUsed: m.heapUsed, rss: m.rss } satisfies Heap;
      }
      case 'profile':
        if (c.stop) {
          if (inspector === undefined) throw new Error('no profile running');
          const { profile } = await inspector.post('Profiler.stop');
          inspector.disconnect();
          inspector = undefined;
          if (profileFile !== undefined) writeFileSync(profileFile, JSON.stringify(profile));
          return { file: profileFile };
        }
        inspector = new Inspector();
        inspector.connect();
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.setSamplingInterval', { interval: 100 });
        await inspector.post('Profiler.start');
        profileFile = c.file;
        return {};
    }
  };
}

let profileFile: string | undefined;

/** GET on loopback; resolves with the body's length once it is read. */
function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        n += chunk.length;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------
// load

/** JSON payloads of 16 to 64 bytes with numeric fields (the topic detail plots them). */
function payloads(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 97; i++) {
    const base = `{"v":${(Math.sin(i) * 100).toFixed(2)},"n":${i}`;
    const size = 16 + ((i * 37) % 49); // 16..64
    const pad = size - base.length - 1;
    const text = pad >= 8 ? `${base},"p":"${'x'.repeat(pad - 7)}"}` : `${base}}`.padEnd(size, ' ');
    out.push(Buffer.from(text));
  }
  return out;
}

async function load(): Promise<(c: Command) => Promise<unknown>> {
  const session = new Session({
    url: config.url,
    clientId: `dashboard-bench-load-${process.pid}`,
    protocolVersion: 5,
    keepalive: 60,
  });
  session.on('error', () => {});
  await session.connect();
  const pool = payloads();
  const topics = Array.from({ length: config.topics }, (_, k) => topicName(k));
  const rate = config.publishRate;
  const start = performance.now();
  let failed = 0;
  const onFail = (): void => {
    failed++;
  };
  /** Messages due so far that were sent or given up. */
  let done = 0;
  setInterval(() => {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    // behind by more than 100 ms (a stall): give that up rather than burst
    if (due - done > rate / 10) done = due - Math.ceil(rate / 10);
    for (; done < due; done++) {
      session.publish(topics[done % topics.length], pool[done % pool.length], { qos: 0 }).catch(onFail);
      published++;
    }
  }, 10);
  reply({ ready: true });
  return async (c) => {
    if (c.cmd !== 'mark') throw new Error(`load: no command ${c.cmd}`);
    return { ...cpu(), msgs: published, t: performance.now(), failed };
  };
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => process.exit(3)); // the parent is gone
  const handle = config.role === 'fleet' ? await fleet() : await load();
  for await (const line of rl) {
    const c = JSON.parse(line) as Command;
    try {
      const value = await handle(c);
      reply({ id: c.id, value });
    } catch (err) {
      reply({ id: c.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `dashboard-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
