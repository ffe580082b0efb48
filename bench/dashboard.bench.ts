/**
 * What the live dashboard (issue 21) costs the process that runs the fleet:
 * 10,000 MQTT 5 sessions receiving 50,000 messages a second in total, with
 * the dashboard off, on with nobody watching, and on with one browser
 * watching each view. Three processes and a private mosquitto
 * (`startBroker` of sessions-spawn.ts: no connection limit, no log line
 * per connection):
 *
 * - the fleet (`bench/dashboard-child.ts`, role `fleet`): a SessionManager
 *   with `SESSIONS` sessions, the i-th subscribed to `load/<i % TOPICS>/data`
 *   with a handler that counts (TOPICS default 500: each topic has
 *   SESSIONS/TOPICS subscribers, and the topic table has 500 rows);
 * - the load (same script, role `load`): one mqttkit session publishing QoS 0
 *   payloads of 16-64 bytes of JSON to the topics in turn, paced in batches
 *   every 10 ms at RATE × TOPICS / SESSIONS messages a second, so that with
 *   mosquitto's fan-out the fleet receives RATE messages a second, every
 *   session RATE / SESSIONS (5 a second at the defaults);
 * - this process: the browser, a plain HTTP client reading the SSE stream
 *   (`/api/stream?<view>`) of the phase, counting its bytes and ticks.
 *
 * Phases (`PHASES`, default all five):
 *   off      no dashboard;
 *   idle     `manager.serveDashboard({ port: 0 })`, no browser connected
 *            (the aggregator's tick a second and the topic tap per message);
 *   fleet    + one browser on `view=fleet&limit=100` (10,000 rows sorted,
 *            100 sent with their sparklines);
 *   topics   + one browser on `view=topics` (the topic table);
 *   session  + one browser on `view=session&session=dev-00000`.
 * After connecting, one warm-up pass over the phases (`WARMUP` s each), then
 * `ROUNDS` rounds of them, in order and reversed on alternate rounds (so
 * that `off` sits next to `idle` in every round). Each phase: switch, wait
 * `SETTLE` s (the dashboard's start, the stream's first, complete tick),
 * wait for the rest of the machine to be quiet (below), then measure over
 * `WINDOW` s: the fleet's CPU time (`process.cpuUsage()` in the fleet, user
 * + system, as a share of one core), the messages it received, the SSE
 * bytes and ticks the browser received, each dashboard tick's wall and CPU
 * time (timed in the fleet, see dashboard-child.ts), the fleet's event-loop
 * delay, and the CPU of mosquitto, of the load and of the rest of the
 * machine (/proc, for information). After the window: the fleet's heap
 * after GC, and `GET /api/snapshot` timed for the phase's view (3 requests;
 * build, JSON and loopback, not the aggregator's sampling).
 *
 * Clean windows: one in which the fleet kept up (received within 5% of
 * RATE) and the rest of the machine (others' CPU: busy in /proc/stat less
 * this benchmark's processes) stayed under 1.5 × `QUIET` % of a core
 * (default 30, so 45). This machine is shared: when other processes take
 * the cores, the fleet falls behind and then catches up in bursts, and a
 * read then carries several messages, which makes each message cheaper, so
 * a contended window is not comparable with a quiet one. Before each window
 * the benchmark waits (up to `QUIET_WAIT` s, default 120) for a second in
 * which the others use less than `QUIET` % of a core (0: no waiting, and
 * every window is clean if it kept up), and measures a window that was not
 * clean again, up to `RETRIES` times (default 2). Each phase's numbers are
 * of its clean windows, or of all of them, flagged, when none was.
 *
 * What it reports, medians over the (clean) windows of each phase:
 * - the fleet's CPU as measured, and per message received (µs/msg);
 * - the extra of each phase over `off`, as measured and per message × RATE
 *   (at exactly RATE messages a second; the headline, since a window holds
 *   a few percent more or fewer messages than RATE's). It counts the
 *   dashboard's per-second work (its ticks), its per-message work (the
 *   topic tap and the `message` event it listens to) and the GC both cause,
 *   as a share of one core and of the fleet's own CPU;
 * - "of which the ticks": the CPU time inside the ticks alone;
 * - SSE bytes and ticks per second the browser got, the tick's wall time,
 *   the event-loop delay (a tick blocks the loop), heap after GC.
 * CPU time, not throughput: on this 2-core machine (mosquitto, the load,
 * the fleet, the browser side and whatever else runs share it) wall-clock
 * rates move by tens of percent between runs. The target, `extra <= 5% of
 * a core` for the fleet view, is our reading of the issue's "no more than a
 * few percent CPU".
 *
 * `PROFILE=dir`: after the rounds, one more `WINDOW` of `fleet` and one of
 * `off`, each under the CPU profiler, written to
 * `dir/dashboard-<phase>.cpuprofile`; `npx tsx bench/dashboard-profile.ts
 * dir` summarizes them.
 *
 * Environment: `SESSIONS` (default 10000; ~19,900 at most with a 20,000 fd
 * limit), `RATE` (messages/s the fleet receives, default 50000), `TOPICS`
 * (default 500; at most SESSIONS), `ROUNDS` (default 3), `WINDOW` (s,
 * default 10), `SETTLE` (s, default 3), `WARMUP` (s per phase, default 5),
 * `PHASES` (comma list), `QUIET`, `QUIET_WAIT`, `RETRIES`, `PROFILE` (dir),
 * `HEAP_MB` (the fleet's `--max-old-space-size`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { onProcessEnd } from '../test/helpers/binaries.js';
import type { ChildConfig, Heap, Mark } from './dashboard-child.js';
import { median, type SuiteRow, save } from './harness.js';
import { processCpuMs, startBroker } from './sessions-spawn.js';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

const SESSIONS = envInt('SESSIONS', 10_000);
const RATE = envInt('RATE', 50_000);
const TOPICS = Math.min(envInt('TOPICS', 500), SESSIONS);
const ROUNDS = envInt('ROUNDS', 3);
const WINDOW = envInt('WINDOW', 10);
const SETTLE = envInt('SETTLE', 3);
const WARMUP = envInt('WARMUP', 5);
const PROFILE = process.env.PROFILE;
/** Wait before a window until the rest of the machine uses less than this, % of a core (0: do not wait). */
const QUIET = Number(process.env.QUIET ?? 30);
const QUIET_WAIT = envInt('QUIET_WAIT', 120);
/** Windows measured again, at most, when one was not clean. */
const RETRIES = Number(process.env.RETRIES ?? 2);
const HEAP_ARGS = process.env.HEAP_MB ? [`--max-old-space-size=${envInt('HEAP_MB', 4096)}`] : [];

const ALL_PHASES = ['off', 'idle', 'fleet', 'topics', 'session'] as const;
type Phase = (typeof ALL_PHASES)[number];
const PHASES = (process.env.PHASES ?? ALL_PHASES.join(','))
  .split(',')
  .map((p) => p.trim())
  .map((p) => {
    if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`PHASES: ${ALL_PHASES.join(', ')}`);
    return p as Phase;
  });
if (!PHASES.includes('off')) PHASES.unshift('off');
/** The stream each phase watches. */
const QUERY: Record<Phase, string | undefined> = {
  off: undefined,
  idle: undefined,
  fleet: 'view=fleet&limit=100',
  topics: 'view=topics',
  session: 'view=session&session=dev-00000',
};

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const log = (line: string): void => void process.stderr.write(`  ${line}\n`);

// ---------------------------------------------------------------------------
// children

const live = new Set<ChildProcess>();
onProcessEnd(() => {
  for (const c of live) c.kill('SIGKILL');
});

class Child {
  readonly proc: ChildProcess;
  readonly ready: Promise<{ connectMs?: number }>;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;

  constructor(config: ChildConfig, nodeArgs: string[]) {
    this.proc = spawn(
      process.execPath,
      [
        '--expose-gc',
        ...nodeArgs,
        '--import',
        'tsx',
        join(here, 'dashboard-child.ts'),
        JSON.stringify(config),
      ],
      { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    live.add(this.proc);
    this.proc.stdin!.on('error', () => {});
    let ready: (v: { connectMs?: number }) => void = () => {};
    let failed: (e: Error) => void = () => {};
    this.ready = new Promise((res, rej) => {
      ready = res;
      failed = rej;
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let msg: { id?: number; ready?: boolean; value?: unknown; error?: string; connectMs?: number };
      try {
        msg = JSON.parse(line);
      } catch {
        log(`[${config.role}] ${line}`);
        return;
      }
      if (msg.ready) return ready(msg);
      const w = msg.id === undefined ? undefined : this.#waiting.get(msg.id);
      if (w === undefined) return;
      this.#waiting.delete(msg.id!);
      if (msg.error !== undefined) w.reject(new Error(`${config.role}: ${msg.error}`));
      else w.resolve(msg.value);
    });
    this.proc.once('exit', (code, signal) => {
      live.delete(this.proc);
      const e = new Error(`${config.role} child exited (${signal ?? `code ${code}`})`);
      failed(e);
      for (const w of this.#waiting.values()) w.reject(e);
      this.#waiting.clear();
    });
  }

  call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((res, rej) => {
      this.#waiting.set(id, { resolve: res as (v: unknown) => void, reject: rej });
      this.proc.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// the browser

/** A stream reader that counts what it gets; `close()` ends it. */
class Browser {
  bytes = 0;
  ticks = 0;
  #res: IncomingMessage | undefined;
  readonly first: Promise<void>;

  constructor(port: number, query: string) {
    let carry = '';
    this.first = new Promise((res, rej) => {
      const req = httpGet({ host: '127.0.0.1', port, path: `/api/stream?${query}`, agent: false }, (r) => {
        if (r.statusCode !== 200) return rej(new Error(`stream: HTTP ${r.statusCode}`));
        this.#res = r;
        r.on('data', (chunk: Buffer) => {
          this.bytes += chunk.length;
          // 'event: tick' is 11 characters: one never lies wholly in the 10 carried over
          const text = carry + chunk.toString('latin1');
          for (let i = text.indexOf('event: tick'); i !== -1; i = text.indexOf('event: tick', i + 1)) {
            this.ticks++;
          }
          carry = text.slice(-10);
          if (this.ticks > 0) res();
        });
        r.on('error', () => {});
      });
      req.on('error', rej);
    });
  }

  close(): void {
    this.#res?.destroy();
  }
}

// ---------------------------------------------------------------------------
// one window

interface Window {
  phase: Phase;
  round: number;
  seconds: number;
  /** fleet CPU, % of one core */
  cpu: number;
  user: number;
  /** messages/s the fleet received */
  received: number;
  /** fleet CPU per message received, µs */
  perMsg: number;
  /** messages/s the load published */
  published: number;
  loadCpu: number;
  brokerCpu: number | undefined;
  /** the whole machine, % of one core: busy, stolen, and busy with anything but this benchmark's processes */
  machine: { busy: number; steal: number; others: number | undefined } | undefined;
  sseBytes: number;
  sseTicks: number;
  /** the dashboard's ticks: wall time and CPU time, ms */
  ticks: number[];
  tickCpu: number[];
  loop: { p50: number; p99: number; max: number };
  heap?: Heap;
  snapshot?: { ms: number[]; bytes: number };
  /** The fleet kept up (received within 5% of RATE) and the rest of the machine stayed under 1.5 × QUIET. */
  clean: boolean;
}

/** Machine-wide CPU time from /proc/stat (Linux), in clock ticks: busy (user, system, irq, softirq), steal, all. */
function machineCpu(): { busy: number; steal: number; all: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    return {
      busy: user + nice + system + irq + softirq,
      steal,
      all: user + nice + system + idle + iowait + irq + softirq + steal,
    };
  } catch {
    return undefined;
  }
}

/**
 * Waits (up to QUIET_WAIT s) for a second in which the processes that are
 * not this benchmark's used less than QUIET % of a core; resolves with how
 * long it waited, s.
 */
async function quiet(pids: (number | undefined)[]): Promise<number> {
  if (QUIET <= 0) return 0;
  const t0 = performance.now();
  const ours = () => {
    const own = process.cpuUsage();
    let ms = (own.user + own.system) / 1000;
    for (const pid of pids) ms += processCpuMs(pid) ?? 0;
    return ms;
  };
  while (performance.now() - t0 < QUIET_WAIT * 1000) {
    const c0 = machineCpu();
    const o0 = ours();
    const s0 = performance.now();
    await sleep(1000);
    const c1 = machineCpu();
    const o1 = ours();
    const seconds = (performance.now() - s0) / 1000;
    if (c0 === undefined || c1 === undefined) return 0;
    const busy = (100 * cpus().length * (c1.busy - c0.busy)) / (c1.all - c0.all);
    const others = busy - (o1 - o0) / 10 / seconds;
    if (others < QUIET) break;
  }
  return (performance.now() - t0) / 1000;
}

async function measure(
  fleet: Child,
  loadChild: Child,
  broker: number | undefined,
  browser: Browser | undefined,
): Promise<Omit<Window, 'phase' | 'round'>> {
  const b0 = { bytes: browser?.bytes ?? 0, ticks: browser?.ticks ?? 0 };
  const m0 = processCpuMs(broker);
  const c0 = machineCpu();
  const p0 = process.cpuUsage();
  const [f0, l0] = await Promise.all([fleet.call<Mark>('mark'), loadChild.call<Mark>('mark')]);
  await sleep(WINDOW * 1000);
  const [f1, l1] = await Promise.all([fleet.call<Mark>('mark'), loadChild.call<Mark>('mark')]);
  const p1 = process.cpuUsage(p0);
  const m1 = processCpuMs(broker);
  const c1 = machineCpu();
  const seconds = (f1.t - f0.t) / 1000;
  const loadSeconds = (l1.t - l0.t) / 1000;
  const cpu = (f1.cpuUs - f0.cpuUs) / 1e4 / seconds;
  const loadCpu = (l1.cpuUs - l0.cpuUs) / 1e4 / loadSeconds;
  const brokerCpu = m0 === undefined || m1 === undefined ? undefined : (m1 - m0) / 10 / seconds;
  const received = (f1.msgs - f0.msgs) / seconds;
  let machine: Window['machine'];
  if (c0 !== undefined && c1 !== undefined) {
    const share = (a: number, b: number) => (100 * cpus().length * (b - a)) / (c1.all - c0.all);
    const busy = share(c0.busy, c1.busy);
    const ours = cpu + loadCpu + (p1.user + p1.system) / 1e4 / seconds;
    machine = {
      busy,
      steal: share(c0.steal, c1.steal),
      others: brokerCpu === undefined ? undefined : Math.max(0, busy - ours - brokerCpu),
    };
  }
  const others = machine?.others;
  const clean =
    Math.abs(received - RATE) <= RATE * 0.05 && (QUIET <= 0 || others === undefined || others < 1.5 * QUIET);
  return {
    clean,
    seconds,
    cpu,
    user: (f1.userUs - f0.userUs) / 1e4 / seconds,
    received,
    perMsg: (cpu * 1e4) / received,
    published: (l1.msgs - l0.msgs) / loadSeconds,
    loadCpu,
    brokerCpu,
    machine,
    sseBytes: ((browser?.bytes ?? 0) - b0.bytes) / seconds,
    sseTicks: ((browser?.ticks ?? 0) - b0.ticks) / seconds,
    ticks: f1.ticks ?? [],
    tickCpu: f1.tickCpu ?? [],
    loop: f1.loop ?? { p50: 0, p99: 0, max: 0 },
  };
}

// ---------------------------------------------------------------------------

const pct = (n: number): string => `${n.toFixed(1)}%`;
const signed = (n: number, unit = ''): string => `${n >= 0 ? '+' : ''}${n.toFixed(1)}${unit}`;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const kb = (n: number): string => `${(n / 1024).toFixed(1)}`;
const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)}`;
const ms = (n: number): string => (n < 10 ? n.toFixed(1) : n.toFixed(0));
const opt = <T>(v: T | undefined, f: (v: T) => string): string => (v === undefined ? '?' : f(v));

function describe(w: Window): string {
  const t =
    w.ticks.length === 0 ? '' : `, tick ${ms(median(w.tickCpu))} ms CPU (${ms(median(w.ticks))} wall)`;
  const snap =
    w.snapshot === undefined ? '' : `, snapshot ${ms(median(w.snapshot.ms))} ms ${kb(w.snapshot.bytes)} KB`;
  return (
    `round ${w.round + 1} ${w.phase.padEnd(7)}${w.clean ? '' : ' (not clean)'} fleet CPU ${pct(w.cpu)} (user ${pct(w.user)}), ` +
    `received ${int(w.received)}/s (${w.perMsg.toFixed(1)} µs/msg), published ${int(w.published)}/s, ` +
    `mosquitto ${opt(w.brokerCpu, pct)}, load ${pct(w.loadCpu)}, ` +
    `machine ${opt(w.machine, (m) => `${pct(m.busy)} busy (others ${opt(m.others, pct)}, steal ${pct(m.steal)})`)}` +
    `${w.sseTicks > 0 ? `, SSE ${kb(w.sseBytes)} KB/s ${w.sseTicks.toFixed(2)} ticks/s` : ''}${t}, ` +
    `loop p99 ${ms(w.loop.p99)} ms, heap ${opt(w.heap, (h) => mib(h.heapUsed))} MiB${snap}`
  );
}

async function main(): Promise<void> {
  const publishRate = (RATE * TOPICS) / SESSIONS;
  log(
    `${int(SESSIONS)} sessions, ${TOPICS} topics (${(SESSIONS / TOPICS).toFixed(1)} subscribers each), ` +
      `${int(publishRate)} publishes/s -> ${int(RATE)} msgs/s received; ${ROUNDS} rounds of ${PHASES.join(', ')}, ` +
      `${WINDOW} s windows`,
  );
  const broker = await startBroker();
  const base = { url: broker.url, sessions: SESSIONS, topics: TOPICS, publishRate, concurrency: 100 };
  const fleet = new Child({ ...base, role: 'fleet' }, HEAP_ARGS);
  let loadChild: Child | undefined;
  let browser: Browser | undefined;
  const windows: Window[] = [];
  /** Windows measured again. */
  const unclean: Window[] = [];
  let connectMs: number | undefined;
  try {
    connectMs = (await fleet.ready).connectMs;
    log(`fleet: ${int(SESSIONS)} sessions ready in ${int(connectMs ?? 0)} ms`);
    loadChild = new Child({ ...base, role: 'load' }, []);
    await loadChild.ready;
    const load = loadChild;

    let current: Phase | undefined;
    let port: number | undefined;
    const enter = async (phase: Phase): Promise<void> => {
      browser?.close();
      browser = undefined;
      const on = phase !== 'off';
      if (on !== (current !== undefined && current !== 'off')) {
        port = (await fleet.call<{ port?: number }>('dashboard', { on })).port;
      }
      current = phase;
      const query = QUERY[phase];
      if (query !== undefined) {
        browser = new Browser(port!, query);
        await browser.first;
      }
    };

    const warm = Math.max(WARMUP, 1);
    log(`warm-up: ${warm} s per phase`);
    for (const phase of PHASES) {
      await enter(phase);
      await sleep(warm * 1000);
    }

    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? PHASES : [...PHASES].reverse();
      for (const phase of order) {
        await enter(phase);
        await sleep(SETTLE * 1000);
        let w: Window;
        for (let attempt = 0; ; attempt++) {
          const waited = await quiet([fleet.proc.pid, load.proc.pid, broker.pid]);
          if (waited > 1.5) log(`(waited ${waited.toFixed(0)} s for the rest of the machine to quieten)`);
          w = { phase, round, ...(await measure(fleet, load, broker.pid, browser)) };
          if (w.clean || attempt >= RETRIES) break;
          unclean.push(w);
          log(`${describe(w)}: not clean, again`);
        }
        w.heap = await fleet.call<Heap>('heap');
        const query = QUERY[phase];
        if (query !== undefined) w.snapshot = await fleet.call('snapshot', { query });
        windows.push(w);
        log(describe(w));
      }
    }

    if (PROFILE !== undefined) {
      const dir = resolve(PROFILE);
      mkdirSync(dir, { recursive: true });
      for (const phase of ['fleet', 'off'] as const) {
        await enter(phase);
        await sleep(SETTLE * 1000);
        await quiet([fleet.proc.pid, load.proc.pid, broker.pid]);
        const file = join(dir, `dashboard-${phase}.cpuprofile`);
        await fleet.call('profile', { file });
        await sleep(WINDOW * 1000);
        await fleet.call('profile', { stop: true });
        log(`profile of ${phase}: ${file}`);
      }
    }
    browser?.close();
  } finally {
    browser?.close();
    fleet.kill();
    loadChild?.kill();
    await broker.stop();
  }

  report(windows, unclean, publishRate, connectMs);
}

interface PhaseSummary {
  phase: Phase;
  /** Windows the numbers are of: the clean ones, or every one when none was. */
  windows: number;
  clean: boolean;
  /** fleet CPU, % of a core, as measured */
  cpu: number;
  received: number;
  perMsg: number;
  /** (phase − off) CPU as measured, % of a core */
  rawExtra: number | undefined;
  /** (phase − off) µs/msg × RATE: the extra at exactly RATE, % of a core */
  extra: number | undefined;
  /** the dashboard's ticks' CPU, % of a core */
  tickShare: number | undefined;
  tickCpuMs: number | undefined;
  tickWallMs: number | undefined;
  tickWallMax: number | undefined;
  sse: number | undefined;
  sseTicks: number | undefined;
  snapshotMs: number | undefined;
  snapshotBytes: number | undefined;
  loopP99: number;
  broker: number | undefined;
  others: number | undefined;
  heap: number;
}

function summarize(windows: Window[]): PhaseSummary[] {
  /** A phase's clean windows, or all of them when none is. */
  const of = (phase: Phase) => {
    const all = windows.filter((w) => w.phase === phase);
    const clean = all.filter((w) => w.clean);
    return clean.length > 0 ? clean : all;
  };
  const off = of('off');
  const offCpu = median(off.map((w) => w.cpu));
  const offPerMsg = median(off.map((w) => w.perMsg));
  const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
  const med = (xs: (number | undefined)[]) => {
    const d = defined(xs);
    return d.length === 0 ? undefined : median(d);
  };
  return PHASES.filter((p) => of(p).length > 0).map((phase) => {
    const ws = of(phase);
    const watched = QUERY[phase] !== undefined;
    const ticks = ws.flatMap((w) => w.ticks);
    const snaps = windows.filter((w) => w.phase === phase).flatMap((w) => w.snapshot?.ms ?? []);
    const cpu = median(ws.map((w) => w.cpu));
    const perMsg = median(ws.map((w) => w.perMsg));
    return {
      phase,
      windows: ws.length,
      clean: ws[0].clean,
      cpu,
      received: median(ws.map((w) => w.received)),
      perMsg,
      rawExtra: phase === 'off' ? undefined : cpu - offCpu,
      extra: phase === 'off' ? undefined : ((perMsg - offPerMsg) * RATE) / 1e4,
      tickShare: ticks.length === 0 ? undefined : median(ws.map((w) => sum(w.tickCpu) / 10 / w.seconds)),
      tickCpuMs: ticks.length === 0 ? undefined : median(ws.flatMap((w) => w.tickCpu)),
      tickWallMs: ticks.length === 0 ? undefined : median(ticks),
      tickWallMax: ticks.length === 0 ? undefined : Math.max(...ticks),
      sse: watched ? median(ws.map((w) => w.sseBytes)) : undefined,
      sseTicks: watched ? median(ws.map((w) => w.sseTicks)) : undefined,
      snapshotMs: snaps.length === 0 ? undefined : median(snaps),
      snapshotBytes: med(windows.filter((w) => w.phase === phase).map((w) => w.snapshot?.bytes)),
      loopP99: median(ws.map((w) => w.loop.p99)),
      broker: med(ws.map((w) => w.brokerCpu)),
      others: med(ws.map((w) => w.machine?.others)),
      heap: median(windows.filter((w) => w.phase === phase).map((w) => w.heap!.heapUsed)),
    };
  });
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const cell = <T>(v: T | undefined, f: (v: T) => string): string => (v === undefined ? '' : f(v));

function report(
  windows: Window[],
  unclean: Window[],
  publishRate: number,
  connectMs: number | undefined,
): void {
  const phases = summarize(windows);
  const off = phases.find((p) => p.phase === 'off')!;
  /** The fleet's own CPU at exactly RATE, dashboard off, % of a core. */
  const offAtRate = (off.perMsg * RATE) / 1e4;
  const n = `${int(SESSIONS / 1000)}k sessions, ${int(RATE / 1000)}k msgs/s`;
  const name = (p: PhaseSummary) =>
    `${p.phase}${QUERY[p.phase] === undefined ? '' : ` (${QUERY[p.phase]})`}, ` +
    `${p.windows} ${p.clean ? 'clean ' : 'NOT clean '}window${p.windows === 1 ? '' : 's'}`;

  console.log(
    `\n${int(SESSIONS)} sessions (MQTT 5), ${TOPICS} topics, ${int(RATE)} msgs/s received ` +
      `(${int(publishRate)} publishes/s fanned out by mosquitto), QoS 0, 16-64 B; ` +
      `${ROUNDS} rounds × ${WINDOW} s windows; medians` +
      `${connectMs === undefined ? '' : `; connected and subscribed in ${(connectMs / 1000).toFixed(1)} s`}\n`,
  );
  const lines = [
    '| phase | fleet CPU, % of a core | received msgs/s | fleet µs/msg | extra, % of a core (as measured / at ' +
      `${int(RATE)} msgs/s) | dashboard ticks: CPU, % of a core | tick ms: CPU / wall median / wall max | ` +
      "SSE KB/s | ticks/s | snapshot ms / KB | loop delay p99 ms | mosquitto CPU | others' CPU | heap MiB (after GC) |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of phases) {
    lines.push(
      `| ${name(p)} | ${pct(p.cpu)} | ${int(p.received)} | ${p.perMsg.toFixed(1)} | ` +
        `${p.rawExtra === undefined ? '' : `${signed(p.rawExtra)} / ${signed(p.extra!)}`} | ` +
        `${cell(p.tickShare, (v) => v.toFixed(1))} | ` +
        `${p.tickWallMs === undefined ? '' : `${ms(p.tickCpuMs!)} / ${ms(p.tickWallMs)} / ${ms(p.tickWallMax!)}`} | ` +
        `${cell(p.sse, kb)} | ${cell(p.sseTicks, (v) => v.toFixed(2))} | ` +
        `${p.snapshotMs === undefined ? '' : `${ms(p.snapshotMs)} / ${kb(p.snapshotBytes!)}`} | ` +
        `${ms(p.loopP99)} | ${cell(p.broker, pct)} | ${cell(p.others, pct)} | ${mib(p.heap)} |`,
    );
  }
  console.log(lines.join('\n'));

  const head = [
    `\n| dashboard, ${n} | fleet CPU off | on | extra, % of one core | extra, % of the fleet's | of which the ticks | SSE KB/s |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const rows: SuiteRow[] = [];
  for (const p of phases) {
    if (p.phase === 'off' || p.extra === undefined) continue;
    const what = QUERY[p.phase] === undefined ? 'on, no browser' : `one browser on ${QUERY[p.phase]}`;
    const ofFleet = (100 * p.extra) / offAtRate;
    head.push(
      `| ${what} | ${pct(offAtRate)} | ${pct(offAtRate + p.extra)} | ${signed(p.extra)} | ` +
        `${signed(ofFleet, '%')} | ${cell(p.tickShare, (v) => v.toFixed(1))} | ${cell(p.sse, kb)} |`,
    );
    const target = p.phase === 'fleet' ? { target: '<= 5% of a core extra', met: p.extra <= 5 } : {};
    rows.push({
      scenario: `dashboard, ${n}, ${what}: fleet CPU on (extra) vs off`,
      mqttkit: `${pct(offAtRate + p.extra)} of a core (${signed(p.extra)}, ${signed(ofFleet, '%')})`,
      peer: pct(offAtRate),
      peerName: 'dashboard off',
      ...target,
      values: {
        off: offAtRate,
        on: offAtRate + p.extra,
        extra: p.extra,
        extraOfFleet: ofFleet,
        extraAsMeasured: p.rawExtra,
        ticks: p.tickShare,
        tickCpuMs: p.tickCpuMs,
        sseBytesPerS: p.sse,
        heapOnMiB: p.heap / 2 ** 20,
        heapOffMiB: off.heap / 2 ** 20,
        receivedOff: off.received,
        receivedOn: p.received,
      },
    });
  }
  console.log(head.join('\n'));
  console.log(
    `\n(off and on: the fleet's CPU per message received × ${int(RATE)}, medians of the clean windows; ` +
      'extra: on − off; of which the ticks: the CPU time inside the once-a-second ticks alone)',
  );
  const fleet = phases.find((p) => p.phase === 'fleet');
  if (fleet !== undefined) {
    const d = (fleet.heap - off.heap) / 2 ** 20;
    console.log(
      `\nheap used after GC: ${mib(off.heap)} MiB off, ${mib(fleet.heap)} MiB with the dashboard on (fleet view), ${signed(d, ' MiB')}`,
    );
    rows.push({
      scenario: `dashboard, ${n}: fleet heap after GC, on (fleet view) vs off`,
      mqttkit: `${mib(fleet.heap)} MiB (${signed(d, ' MiB')})`,
      peer: `${mib(off.heap)} MiB`,
      peerName: 'dashboard off',
      values: { off: off.heap, on: fleet.heap },
    });
  }
  save('dashboard', rows, {
    sessions: SESSIONS,
    rate: RATE,
    topics: TOPICS,
    rounds: ROUNDS,
    window: WINDOW,
    phases,
    windows: [...windows, ...unclean.map((w) => ({ ...w, retried: true }))].map(
      ({ ticks, tickCpu, ...w }) => ({
        ...w,
        tickMs:
          ticks.length === 0
            ? undefined
            : { cpu: median(tickCpu), median: median(ticks), max: Math.max(...ticks), n: ticks.length },
      }),
    ),
  });
}

await main();
