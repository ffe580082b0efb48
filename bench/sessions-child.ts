/**
 * One side of `bench/sessions.bench.ts`, in a process of its own so that the
 * two libraries' heaps do not mix:
 *
 *   node --expose-gc --import tsx bench/sessions-child.ts '<ChildConfig JSON>'
 *
 * Loads one library (mqttkit from src/ or MQTT.js), warms it up with a few
 * sessions opened and closed, forces GC and reads the baseline; then opens
 * `sessions` idle sessions (own clientId, keepalive 60, clean, MQTT 5 or
 * 3.1.1) with at most `concurrency` connects in flight, timing from the first
 * connect call to the last CONNACK; forces GC and reads heap and RSS again;
 * optionally writes heap snapshots (before and after); closes them all,
 * timing that too. Prints one JSON line ({@link ChildResult}) on stdout;
 * `{"progress":n}` lines every 500 connects before it (how far a child that
 * dies got); other output goes to stderr. Exits when its stdin ends (the
 * parent is gone).
 */
import { writeHeapSnapshot } from 'node:v8';

export interface ChildConfig {
  lib: 'mqttkit' | 'mqttjs';
  url: string;
  sessions: number;
  /** Connects in flight at once. */
  concurrency: number;
  version: 4 | 5;
  /** Also report the connect rate at this many sessions (e.g. 5,000). */
  midpoint: number;
  /** Sessions opened and closed before the baseline. */
  warmup: number;
  /** Write `<prefix>-base.heapsnapshot` and `<prefix>-full.heapsnapshot`. */
  snapshotPrefix?: string;
  /** Give up (exit 1) if a phase takes longer, ms. */
  phaseTimeoutMs: number;
}

export interface Memory {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

export interface ChildResult {
  lib: ChildConfig['lib'];
  version: 4 | 5;
  sessions: number;
  baseline: Memory;
  loaded: Memory;
  afterClose: Memory;
  /** ms from the first connect call to the last CONNACK. */
  connectMs: number;
  /** ms from the first connect call to the `midpoint`-th CONNACK. */
  midpointMs: number;
  /** Slowest single connect, ms (spots SYN-backlog stalls: 1 s and up). */
  slowestConnectMs: number;
  /** This process's CPU time (user + system) over the connect phase, µs. */
  connectCpuUs: number;
  /** The user part of it (the rest is the kernel's: sockets, TCP handshakes on loopback), µs. */
  connectUserUs: number;
  /** ms from the first close call to the last one settled. */
  closeMs: number;
  /** This process's CPU time over the close phase, µs. */
  closeCpuUs: number;
  errors: number;
  snapshots?: string[];
  /** mosquitto's CPU time over the whole child run, ms (set by the parent, Linux only). */
  brokerCpuMs?: number;
}

/** One library's way to open and close an idle session. */
interface Driver {
  open(clientId: string): Promise<unknown>;
  close(handle: unknown): Promise<void>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('sessions-child: run with --expose-gc');

// the parent is gone when stdin ends: do not linger holding 10,000 sockets
process.stdin.on('end', () => process.exit(3));
process.stdin.resume();

let errors = 0;
/** One listener shared by every session of either library: no closure per session. */
const onError = (): void => {
  errors++;
};

async function mqttkitDriver(): Promise<Driver> {
  const { Session } = await import('../src/index.js');
  return {
    async open(clientId) {
      const s = new Session({
        url: config.url,
        clientId,
        keepalive: 60,
        clean: true,
        protocolVersion: config.version,
      });
      s.on('error', onError);
      await s.connect();
      return s;
    },
    close: (s) => (s as InstanceType<typeof Session>).close(),
  };
}

async function mqttjsDriver(): Promise<Driver> {
  const { default: mqtt } = await import('mqtt');
  type Client = ReturnType<typeof mqtt.connect>;
  return {
    open(clientId) {
      const c = mqtt.connect(config.url, {
        clientId,
        keepalive: 60,
        clean: true,
        protocolVersion: config.version,
      });
      c.on('error', onError);
      return new Promise((resolve, reject) => {
        const ok = (): void => {
          c.off('close', lost);
          resolve(c);
        };
        const lost = (): void => {
          c.off('connect', ok);
          reject(new Error(`MQTT.js: ${clientId} closed before CONNACK`));
        };
        c.once('connect', ok);
        c.once('close', lost);
      });
    },
    close: async (c) => {
      await (c as Client).endAsync();
    },
  };
}

async function settle(): Promise<Memory> {
  // a few rounds: finalizers and weak callbacks free more on the next one
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

function deadline<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${config.lib}: ${what} not done after ${config.phaseTimeoutMs} ms`)),
      config.phaseTimeoutMs,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Opens `count` sessions with at most `concurrency` connects in flight. */
async function openAll(
  driver: Driver,
  prefix: string,
  count: number,
  onDone?: (done: number, ms: number) => void,
): Promise<unknown[]> {
  const handles = new Array<unknown>(count);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const t = performance.now();
      handles[i] = await driver.open(`${prefix}-${i}`);
      done++;
      onDone?.(done, performance.now() - t);
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(config.concurrency, count); w++) workers.push(worker());
  await Promise.all(workers);
  return handles;
}

async function closeAll(driver: Driver, handles: unknown[]): Promise<void> {
  await Promise.all(handles.map((h) => driver.close(h)));
}

async function main(): Promise<ChildResult> {
  const driver = config.lib === 'mqttkit' ? await mqttkitDriver() : await mqttjsDriver();
  const prefix = `bench-${config.lib}-v${config.version}-${process.pid}`;

  // warm-up: lazy modules loaded, hot paths compiled, before the baseline
  const warm = await deadline('warm-up', openAll(driver, `${prefix}-warm`, config.warmup));
  await deadline('warm-up close', closeAll(driver, warm));
  warm.length = 0;

  const baseline = await settle();
  const snapshots: string[] = [];
  if (config.snapshotPrefix !== undefined) {
    snapshots.push(writeHeapSnapshot(`${config.snapshotPrefix}-base.heapsnapshot`));
    await settle();
  }

  process.stderr.write(`  [${config.lib} v${config.version}] connecting ${config.sessions}...\n`);
  let midpointMs = Number.NaN;
  let slowestConnectMs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const handles = await deadline(
    'connect',
    openAll(driver, prefix, config.sessions, (done, ms) => {
      if (ms > slowestConnectMs) slowestConnectMs = ms;
      if (done % 500 === 0) process.stdout.write(`${JSON.stringify({ progress: done })}\n`);
      if (done === config.midpoint) midpointMs = performance.now() - t0;
    }),
  );
  const connectMs = performance.now() - t0;
  const cpu1 = process.cpuUsage(cpu0);

  const loaded = await settle();
  if (config.snapshotPrefix !== undefined) {
    snapshots.push(writeHeapSnapshot(`${config.snapshotPrefix}-full.heapsnapshot`));
  }

  process.stderr.write(`  [${config.lib} v${config.version}] closing...\n`);
  const cpu2 = process.cpuUsage();
  const t1 = performance.now();
  await deadline('close', closeAll(driver, handles));
  const closeMs = performance.now() - t1;
  const cpu3 = process.cpuUsage(cpu2);
  handles.length = 0;
  const afterClose = await settle();

  return {
    lib: config.lib,
    version: config.version,
    sessions: config.sessions,
    baseline,
    loaded,
    afterClose,
    connectMs,
    midpointMs,
    slowestConnectMs,
    connectCpuUs: cpu1.user + cpu1.system,
    connectUserUs: cpu1.user,
    closeMs,
    closeCpuUs: cpu3.user + cpu3.system,
    errors,
    ...(snapshots.length > 0 && { snapshots }),
  };
}

main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)),
  (err: unknown) => {
    process.stderr.write(
      `sessions-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
