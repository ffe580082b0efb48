/**
 * Publish to a sink server (its own process: reads, acks, counts), mqttkit
 * and MQTT.js side by side. Targets: 16-byte messages >= 5x MQTT.js at QoS
 * 0, 1 and 2; 1 KiB and 64 KiB messages at QoS 1 >= 3x. Both sides keep the
 * same window of QoS 1/2 messages in flight (10,000 for 16 B, fewer for the
 * large payloads so that the window is a few MiB, as a real publisher's
 * would be); QoS 0 runs end with a QoS 1 publish (mqttkit) or a PINGREQ
 * (MQTT.js) answered by the sink after everything before it. For the large
 * payloads the sink's own limit is measured too (a raw socket writing
 * pre-encoded packets, the payload never copied): at 64 KiB the loopback
 * copy into the sink is what bounds both libraries.
 */
import { Session } from '../src/session/index.js';
import { rawPublisher } from './e2e-raw.js';
import {
  compareRuns,
  fmt,
  fromRun,
  median,
  type RunResult,
  type RunRow,
  runTable,
  type SuiteRow,
  save,
  timed,
} from './harness.js';
import { kitPublishLoop } from './kit-side.js';
import { DEFAULT_WINDOW, mqttjsPublish } from './mqttjs-side.js';
import { startSink } from './servers/spawn.js';

const TOPIC = 'bench/t';
const SMALL = Buffer.alloc(16, 0x61);
const COUNTS = { 0: 300_000, 1: 150_000, 2: 80_000 } as const;
const TARGETS = { 0: 5, 1: 5, 2: 5 } as const;
/** Large payloads at QoS 1, MQTT 5: bytes, messages per run, window. */
const LARGE = [
  { size: 1024, count: 100_000, window: 1000, label: '1 KiB' },
  { size: 64 * 1024, count: 4000, window: 64, label: '64 KiB' },
] as const;

async function kitPublish(
  url: string,
  qos: 0 | 1 | 2,
  count: number,
  version: 4 | 5,
  payload = SMALL,
  window: number = DEFAULT_WINDOW,
): Promise<RunResult> {
  const s = new Session({ url, protocolVersion: version, keepalive: 0 });
  await s.connect();
  try {
    return await timed(count, async () => {
      await kitPublishLoop(s, TOPIC, payload, qos, count, window);
      // QoS 0: the sink answers in order, so this PUBACK says everything before it arrived
      if (qos === 0) await s.publish(TOPIC, payload, { qos: 1 });
    });
  } finally {
    await s.close();
  }
}

/**
 * What the sink takes at most: pre-encoded publishes from a raw socket
 * (bench/e2e-raw.ts; a large payload leaves as one shared buffer after each
 * packet's head), with the same window; the median of 3 runs, msgs/s.
 */
async function rawLimit(url: string, payload: Buffer, count: number, window: number): Promise<number> {
  const p = await rawPublisher(url, `raw-${process.pid}`, 5);
  try {
    await p.publish(TOPIC, payload, 1, Math.ceil(count / 4), window);
    const rates: number[] = [];
    for (let r = 0; r < 3; r++) {
      const run = await timed(count, () => p.publish(TOPIC, payload, 1, count, window));
      rates.push((run.msgs * 1000) / run.ms);
    }
    return median(rates);
  } finally {
    await p.close();
  }
}

const sink = await startSink();
const rows: RunRow[] = [];
const limits: { row: RunRow; limit: number }[] = [];
try {
  for (const version of [5, 4] as const) {
    for (const qos of [0, 1, 2] as const) {
      const count = COUNTS[qos];
      rows.push(
        await compareRuns(
          `publish QoS ${qos} 16 B to sink, MQTT ${version === 5 ? '5' : '3.1.1'}`,
          () => kitPublish(sink.url, qos, count, version),
          'MQTT.js',
          () => mqttjsPublish({ url: sink.url, qos, count, version, topic: TOPIC }),
          { target: TARGETS[qos] },
        ),
      );
    }
  }
  for (const { size, count, window, label } of LARGE) {
    const payload = Buffer.alloc(size, 0x62);
    const row = await compareRuns(
      `publish QoS 1 ${label} to sink, MQTT 5`,
      () => kitPublish(sink.url, 1, count, 5, payload, window),
      'MQTT.js',
      () => mqttjsPublish({ url: sink.url, qos: 1, count, size, version: 5, topic: TOPIC, window }),
      { target: 3 },
    );
    rows.push(row);
    limits.push({ row, limit: await rawLimit(sink.url, payload, count, window) });
  }
} finally {
  await sink.stop();
}
const share = (n: number, limit: number) => `${((100 * n) / limit).toFixed(0)}% of it`;
const limitRows: SuiteRow[] = limits.map(({ row, limit }) => ({
  scenario: `raw limit of the sink: ${fmt(limit)} msgs/s, ${row.scenario.replace('publish ', '')}`,
  mqttkit: share(row.mqttkit, limit),
  peer: share(row.peer, limit),
  peerName: 'MQTT.js',
  values: { mqttkit: row.mqttkit, peer: row.peer, raw: limit },
}));
console.log(runTable(rows));
for (const r of limitRows) console.log(`${r.scenario}: mqttkit ${r.mqttkit}, MQTT.js ${r.peer}`);
save('publish', [...rows.map(fromRun), ...limitRows]);
