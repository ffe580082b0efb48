/**
 * End-to-end throughput through a private mosquitto: a publisher and a
 * subscriber of the same library, mqttkit against MQTT.js and against the
 * raw limit (`bench/e2e-raw.ts`: pre-encoded publishes from a raw socket to
 * a raw reader that counts and acks, i.e. what the broker allows on this
 * machine). Targets: mqttkit >= 0.9x the raw limit's msgs/s, and client CPU
 * per message (publisher + subscriber) <= 1/3 of MQTT.js's, at QoS 0 and 1.
 *
 * One mosquitto for the whole benchmark, with `max_inflight_messages 0` (no
 * limit: no Receive Maximum caps the publisher, and QoS 1 messages are not
 * held back from the subscriber) and `max_queued_messages 0` (no limit; at
 * the default, 1,000, mosquitto 2.0 drops QoS 0 messages to a client once
 * that many packets wait in its output, and queues no more QoS 1 messages
 * than that beyond those in flight), Nagle's algorithm at mosquitto's
 * default. Every run a subscriber connects and
 * subscribes (at the run's QoS) to a topic of its own, so nothing from an
 * earlier run can arrive, then the publisher connects; measured is from the
 * first publish to the subscriber's N-th message, wall time and
 * `process.cpuUsage()` (user + system) of this process, which holds both
 * clients: "client CPU" is publisher and subscriber together, kernel time
 * in their system calls included (the progress lines, and the CPU rows'
 * `values`, also give user time alone). mosquitto's CPU comes from /proc
 * (10 ms ticks), for information. Connecting and disconnecting are not
 * measured.
 *
 * Where the rate comes from: at QoS 0 mosquitto is the bottleneck (about
 * one core), at QoS 1 the machine's cores are (mosquitto writes every packet
 * with its own system call, and the clients' kernel time per message is of
 * the same order as mosquitto's). The raw side writes after every socket
 * read, which at QoS 1 means small reads and writes on both ends of each
 * connection, so a library that batches per event-loop turn can pass it:
 * read a share above 100% as "at the limit".
 *
 * 16-byte payloads, topics of the same length for every side. Publisher flow
 * control is the same for the three sides:
 * - QoS 0: 1,000 publishes per event-loop turn, and the next 1,000 only
 *   once the socket took them (mqttkit: await the 1,000th publish, which
 *   resolves after the write or, with a full socket, on 'drain', as in
 *   publish.bench.ts; MQTT.js: a loop that goes on while MQTT.js calls back
 *   at once and waits for the callback, i.e. 'drain', when it does not, as
 *   in mqttjs-side.ts; raw: one write of 1,000 pre-encoded publishes per
 *   turn, 'drain' when `write()` returns false).
 * - QoS 1: a window of `WINDOW` (1,000) messages in flight, each
 *   acknowledgement sending the next. mosquitto acknowledges a publish as
 *   soon as it has queued it for the subscriber, so the window only bounds
 *   publisher → broker; the subscriber's and the broker's pace decide the
 *   rate. 1,000 is enough for every socket write and read to carry what has
 *   accumulated, and keeps the backlog in mosquitto small; in trial runs
 *   (100,000-150,000 MQTT 5 messages) 10,000 changed no side's throughput
 *   beyond the runs' noise (±15%). MQTT.js's packet id allocator needs it
 *   well under 65,535 anyway.
 * MQTT.js's subscriber counts 'message' events (it acks QoS 1 after the
 * handler), mqttkit's a subscription handler (acks are its own), the raw one
 * PUBLISH frames (acks all of one read in one write).
 *
 * Per QoS and MQTT version: one warm-up run per side (a quarter of the
 * count), then `ROUNDS` rounds with the three sides in a rotating order;
 * every number is the median of the rounds. A run that stops making progress
 * for `STALL_MS` fails with how many messages arrived.
 *
 * Environment: `ROUNDS` (3), `COUNT_QOS0` (400000), `COUNT_QOS1` (200000),
 * `WINDOW` (1000), `QOS` (`0,1`), `VERSIONS` (`5,4`), `SIDES`
 * (`raw,mqttkit,mqttjs`: e.g. `SIDES=mqttkit` to profile one side),
 * `STALL_MS` (5000). Results are saved to bench/results/e2e.json only for a
 * full default run.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Session } from '../src/session/index.js';
import { type Broker, startMosquitto } from '../test/helpers/mosquitto.js';
import { rawPublisher, rawSubscriber } from './e2e-raw.js';
import { fmt, median, type SuiteRow, save } from './harness.js';
import { kitPublishLoop } from './kit-side.js';
import { mqttjsQos0Loop } from './mqttjs-side.js';
import { processCpuMs } from './sessions-spawn.js';

type SideName = 'raw' | 'mqttkit' | 'mqttjs';
type QoS = 0 | 1;
type Version = 4 | 5;

function envList<T>(name: string, fallback: T[], parse: (s: string) => T): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  return raw.split(',').map((s) => parse(s.trim()));
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

function oneOf<T extends string | number>(name: string, allowed: readonly T[]): (s: string) => T {
  return (s) => {
    const v = allowed.find((a) => String(a) === s);
    if (v === undefined) throw new Error(`${name}: one of ${allowed.join(', ')}, got ${s}`);
    return v;
  };
}

const ALL_SIDES: SideName[] = ['raw', 'mqttkit', 'mqttjs'];
const SIDES = envList('SIDES', ALL_SIDES, oneOf('SIDES', ALL_SIDES));
const QOS = envList<QoS>('QOS', [0, 1], oneOf('QOS', [0, 1] as const));
const VERSIONS = envList<Version>('VERSIONS', [5, 4], oneOf('VERSIONS', [5, 4] as const));
const ROUNDS = envInt('ROUNDS', 3);
const DEFAULT_COUNTS = { 0: 400_000, 1: 200_000 } as const;
const COUNTS = { 0: envInt('COUNT_QOS0', DEFAULT_COUNTS[0]), 1: envInt('COUNT_QOS1', DEFAULT_COUNTS[1]) };
const WINDOW = envInt('WINDOW', 1000);
const STALL_MS = envInt('STALL_MS', 5000);
const FULL =
  SIDES.length === ALL_SIDES.length &&
  QOS.length === 2 &&
  VERSIONS.length === 2 &&
  ROUNDS >= 3 &&
  COUNTS[0] === DEFAULT_COUNTS[0] &&
  COUNTS[1] === DEFAULT_COUNTS[1];

const SIZE = 16;
const payload = Buffer.alloc(SIZE, 0x61);
const BROKER_CONFIG = ['connection_messages false', 'max_queued_messages 0'].join('\n');
const NAMES: Record<SideName, string> = { raw: 'raw', mqttkit: 'mqttkit', mqttjs: 'MQTT.js' };

/** The subscriber's half of a run: connected and subscribed. */
interface Subscriber {
  received(): number;
  close(): Promise<void>;
}

interface SubscriberOptions {
  url: string;
  topic: string;
  qos: QoS;
  version: Version;
  count: number;
  /** Called once, synchronously, with the `count`-th message. */
  onAll: () => void;
  onError: (err: Error) => void;
}

/** The publisher's half: connected. */
interface Publisher {
  publish(topic: string, qos: QoS, count: number): Promise<void>;
  close(): Promise<void>;
}

interface Side {
  subscriber(o: SubscriberOptions): Promise<Subscriber>;
  publisher(url: string, version: Version): Promise<Publisher>;
}

let clientSeq = 0;
const clientId = (what: string): string => `e2e-${what}-${process.pid}-${++clientSeq}`;

// ---------------------------------------------------------------------------
// raw

const raw: Side = {
  async subscriber(o) {
    return rawSubscriber({ ...o, clientId: clientId('raw-sub') });
  },
  async publisher(url, version) {
    const p = await rawPublisher(url, clientId('raw-pub'), version);
    return {
      publish: (topic, qos, count) => p.publish(topic, payload, qos, count, WINDOW),
      close: () => p.close(),
    };
  },
};

// ---------------------------------------------------------------------------
// mqttkit

const mqttkit: Side = {
  async subscriber(o) {
    const s = new Session({ url: o.url, protocolVersion: o.version, keepalive: 0, reconnect: false });
    await s.connect();
    let received = 0;
    let closing = false;
    s.on('disconnect', (err) => {
      if (!closing) o.onError(err ?? new Error('mqttkit subscriber: disconnected'));
    });
    try {
      await s.subscribe(o.topic, { qos: o.qos }, () => {
        if (++received === o.count) o.onAll();
      });
    } catch (err) {
      await s.close();
      throw err;
    }
    return {
      received: () => received,
      async close() {
        closing = true;
        await s.close();
      },
    };
  },
  async publisher(url, version) {
    const s = new Session({ url, protocolVersion: version, keepalive: 0, reconnect: false });
    await s.connect();
    return {
      publish: (topic, qos, count) => kitPublishLoop(s, topic, payload, qos, count, WINDOW),
      close: () => s.close(),
    };
  },
};

// ---------------------------------------------------------------------------
// MQTT.js, driven as in mqttjs-side.ts

function mqttjsOptions(version: Version): IClientOptions {
  return { protocolVersion: version, clean: true, keepalive: 0, reconnectPeriod: 0, connectTimeout: 10_000 };
}

function mqttjsWindowed(client: MqttClient, topic: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const opts = { qos: 1 as const };
    let sent = 0;
    let done = 0;
    const onDone = (err?: Error): void => {
      if (err) return reject(err);
      if (++done === count) return resolve();
      if (sent < count) {
        sent++;
        client.publish(topic, payload, opts, onDone);
      }
    };
    for (const n = Math.min(WINDOW, count); sent < n; ) {
      sent++;
      client.publish(topic, payload, opts, onDone);
    }
  });
}

const mqttjs: Side = {
  async subscriber(o) {
    const client = await mqtt.connectAsync(o.url, mqttjsOptions(o.version));
    let received = 0;
    let closing = false;
    client.on('message', () => {
      if (++received === o.count) o.onAll();
    });
    client.on('error', (err) => o.onError(err));
    client.on('close', () => {
      if (!closing) o.onError(new Error('MQTT.js subscriber: the connection closed'));
    });
    try {
      const granted = await client.subscribeAsync(o.topic, { qos: o.qos });
      if (granted[0]?.qos !== o.qos)
        throw new Error(`MQTT.js subscriber: granted ${JSON.stringify(granted)}`);
    } catch (err) {
      closing = true;
      await client.endAsync(true);
      throw err;
    }
    return {
      received: () => received,
      async close() {
        closing = true;
        await client.endAsync(true);
      },
    };
  },
  async publisher(url, version) {
    const client = await mqtt.connectAsync(url, mqttjsOptions(version));
    let closing = false;
    const failed = new Promise<never>((_, reject) => {
      client.once('error', reject);
      client.once('close', () => {
        if (!closing) reject(new Error('MQTT.js publisher: the connection closed'));
      });
    });
    failed.catch(() => {});
    return {
      publish: (topic, qos, count) =>
        Promise.race([
          qos === 0 ? mqttjsQos0Loop(client, topic, payload, count) : mqttjsWindowed(client, topic, count),
          failed,
        ]),
      async close() {
        closing = true;
        await client.endAsync(true);
      },
    };
  },
};

const SIDE_IMPL: Record<SideName, Side> = { raw, mqttkit, mqttjs };

// ---------------------------------------------------------------------------
// runs

interface Run {
  side: SideName;
  version: Version;
  qos: QoS;
  /** 0 for the warm-up. */
  round: number;
  msgs: number;
  ms: number;
  msgsPerSec: number;
  /** Client CPU (publisher + subscriber) per message, µs: user + system, and user alone. */
  cpuUs: number;
  cpuUserUs: number;
  /** mosquitto's CPU per message, µs (10 ms ticks), if /proc had it. */
  brokerUs: number | undefined;
}

let topicSeq = 0;
/** A topic of the same length every run. */
const freshTopic = (): string => `bench/e2e/${String(++topicSeq).padStart(5, '0')}`;

async function runOnce(
  broker: Broker,
  name: SideName,
  version: Version,
  qos: QoS,
  count: number,
  round: number,
): Promise<Run> {
  const side = SIDE_IMPL[name];
  const topic = freshTopic();
  const what = `${NAMES[name]} QoS ${qos} MQTT ${version === 5 ? '5' : '3.1.1'}`;
  let cpu0 = process.cpuUsage();
  let t0 = 0;
  let end: { ms: number; cpu: NodeJS.CpuUsage } | undefined;
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const all = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  all.catch(() => {}); // awaited below; a failure before that is not unhandled
  const sub = await side.subscriber({
    url: broker.url,
    topic,
    qos,
    version,
    count,
    onAll: () => {
      end = { ms: performance.now() - t0, cpu: process.cpuUsage(cpu0) };
      finish();
    },
    onError: (err) => fail(err),
  });
  let pub: Publisher | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    pub = await side.publisher(broker.url, version);
    const b0 = processCpuMs(broker.pid);
    let seen = 0;
    let lastProgress = performance.now();
    watchdog = setInterval(() => {
      const n = sub.received();
      const now = performance.now();
      if (n !== seen) {
        seen = n;
        lastProgress = now;
      } else if (now - lastProgress >= STALL_MS) {
        fail(new Error(`${what}: received ${n} of ${count} messages, none for ${STALL_MS} ms`));
      }
    }, 250);
    cpu0 = process.cpuUsage();
    t0 = performance.now();
    const published = pub.publish(topic, qos, count);
    published.catch((err: Error) => fail(new Error(`${what}: the publisher failed: ${err.message}`)));
    await all;
    const b1 = processCpuMs(broker.pid);
    // the publisher's last acknowledgements may come after the subscriber's last message (not measured)
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      published,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: the publisher is not done`)), STALL_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (end === undefined) throw new Error(`${what}: no end time`);
    const run: Run = {
      side: name,
      version,
      qos,
      round,
      msgs: count,
      ms: end.ms,
      msgsPerSec: (count * 1000) / end.ms,
      cpuUs: (end.cpu.user + end.cpu.system) / count,
      cpuUserUs: end.cpu.user / count,
      brokerUs: b0 === undefined || b1 === undefined ? undefined : ((b1 - b0) * 1000) / count,
    };
    process.stderr.write(
      `  ${round === 0 ? 'warm-up' : `round ${round}`} ${what.padEnd(24)} ${fmt(run.msgsPerSec).padStart(5)} msgs/s, ` +
        `client CPU ${run.cpuUs.toFixed(2)} µs/msg (user ${run.cpuUserUs.toFixed(2)}), mosquitto ${run.brokerUs?.toFixed(2) ?? '?'} µs/msg ` +
        `(${count} msgs in ${(run.ms / 1000).toFixed(2)} s)\n`,
    );
    return run;
  } finally {
    clearInterval(watchdog);
    await pub?.close();
    await sub.close();
  }
}

function buildRows(runs: Run[]): SuiteRow[] {
  const rows: SuiteRow[] = [];
  const pick = (side: SideName, version: Version, qos: QoS, f: (r: Run) => number | undefined) => {
    const xs = runs
      .filter((r) => r.round > 0 && r.side === side && r.version === version && r.qos === qos)
      .map(f)
      .filter((x): x is number => x !== undefined);
    return xs.length === 0 ? undefined : median(xs);
  };
  const show = (v: number | undefined, f: (n: number) => string): string => (v === undefined ? '—' : f(v));
  const rate = (n: number) => `${fmt(n)} msgs/s`;
  const micros = (n: number) => `${n.toFixed(2)} µs`;
  const percent = (n: number) => `${(100 * n).toFixed(0)}%`;
  for (const version of VERSIONS) {
    for (const qos of QOS) {
      const v = version === 5 ? '5' : '3.1.1';
      const base = `end-to-end QoS ${qos} ${SIZE} B through mosquitto, MQTT ${v}`;
      const get = (side: SideName, f: (r: Run) => number | undefined) => pick(side, version, qos, f);
      const kit = get('mqttkit', (r) => r.msgsPerSec);
      const js = get('mqttjs', (r) => r.msgsPerSec);
      const limit = get('raw', (r) => r.msgsPerSec);
      const kitCpu = get('mqttkit', (r) => r.cpuUs);
      const jsCpu = get('mqttjs', (r) => r.cpuUs);
      const rawCpu = get('raw', (r) => r.cpuUs);
      const div = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? undefined : a / b;
      rows.push({
        scenario: `${base}, msgs/s`,
        mqttkit: show(kit, rate),
        peer: show(js, rate),
        peerName: 'MQTT.js',
        ratio: div(kit, js),
        cpuUs: { mqttkit: kitCpu, peer: jsCpu },
        values: { mqttkit: kit, peer: js, raw: limit },
      });
      const kitShare = div(kit, limit);
      rows.push({
        scenario: `${base}, share of the raw limit (${show(limit, rate)})`,
        mqttkit: show(kitShare, percent),
        peer: show(div(js, limit), percent),
        peerName: 'MQTT.js',
        ratio: kitShare,
        target: '>= 0.9x raw limit',
        met: kitShare !== undefined && kitShare >= 0.9,
        values: { mqttkit: kit, peer: js, raw: limit },
      });
      const cpuRatio = div(jsCpu, kitCpu);
      rows.push({
        scenario: `client CPU per message (publisher + subscriber), QoS ${qos}, MQTT ${v} (raw limit: ${show(rawCpu, micros)})`,
        mqttkit: show(kitCpu, micros),
        peer: show(jsCpu, micros),
        peerName: 'MQTT.js',
        ratio: cpuRatio,
        target: '<= 1/3',
        met: cpuRatio !== undefined && cpuRatio >= 3,
        cpuUs: { mqttkit: kitCpu, peer: jsCpu },
        values: {
          mqttkit: kitCpu,
          peer: jsCpu,
          raw: rawCpu,
          mqttkitUser: get('mqttkit', (r) => r.cpuUserUs),
          peerUser: get('mqttjs', (r) => r.cpuUserUs),
          rawUser: get('raw', (r) => r.cpuUserUs),
        },
      });
      const broker = (side: SideName) => get(side, (r) => r.brokerUs);
      rows.push({
        scenario: `mosquitto CPU per message (for information), QoS ${qos}, MQTT ${v} (raw limit: ${show(broker('raw'), micros)})`,
        mqttkit: show(broker('mqttkit'), micros),
        peer: show(broker('mqttjs'), micros),
        peerName: 'MQTT.js',
        values: { mqttkit: broker('mqttkit'), peer: broker('mqttjs'), raw: broker('raw') },
      });
    }
  }
  return rows;
}

function table(rows: SuiteRow[]): string {
  const lines = [
    '| scenario | mqttkit | peer | ratio | target | client CPU µs/msg, mqttkit / peer |',
    '|---|---:|---:|---:|---|---:|',
  ];
  const f = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(2));
  for (const r of rows) {
    const target = r.target === undefined ? '' : `${r.target} ${r.met ? 'met' : 'MISSED'}`;
    const cpu = r.cpuUs === undefined ? '' : `${f(r.cpuUs.mqttkit)} / ${f(r.cpuUs.peer)}`;
    lines.push(
      `| ${r.scenario} | ${r.mqttkit} | ${r.peer} (${r.peerName}) | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} | ${target} | ${cpu} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const broker = await startMosquitto({ maxInflight: 0, config: BROKER_CONFIG });
  const runs: Run[] = [];
  try {
    for (const version of VERSIONS) {
      for (const qos of QOS) {
        const count = COUNTS[qos];
        for (const side of SIDES)
          await runOnce(broker, side, version, qos, Math.max(1, Math.floor(count / 4)), 0);
        for (let round = 1; round <= ROUNDS; round++) {
          const k = (round - 1) % SIDES.length;
          const order = [...SIDES.slice(k), ...SIDES.slice(0, k)];
          for (const side of order) runs.push(await runOnce(broker, side, version, qos, count, round));
        }
      }
    }
  } catch (err) {
    process.stderr.write(`mosquitto's log:\n${broker.log().split('\n').slice(-20).join('\n')}\n`);
    throw err;
  } finally {
    await broker.stop();
  }
  const rows = buildRows(runs);
  console.log(
    `End-to-end through mosquitto (max_inflight_messages 0, max_queued_messages 0), publisher and subscriber ` +
      `of the same library in this process, ${SIZE}-byte payloads, ${COUNTS[0]} msgs at QoS 0 and ` +
      `${COUNTS[1]} at QoS 1 per run, QoS 1 window ${WINDOW}; medians of ${ROUNDS} round(s)\n`,
  );
  console.log(table(rows));
  if (FULL) {
    save('e2e', rows, {
      config: { rounds: ROUNDS, counts: COUNTS, window: WINDOW, size: SIZE, broker: BROKER_CONFIG },
      runs,
    });
  } else {
    console.log('\n(a partial run: bench/results/e2e.json left as it was)');
  }
}

await main();
