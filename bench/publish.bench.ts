/**
 * Publish 16-byte messages to a sink server (its own process: reads, acks,
 * counts), mqttkit and MQTT.js side by side. Targets: >= 5x MQTT.js at QoS 0
 * and QoS 1. Both sides keep the same window of QoS 1/2 messages in flight;
 * QoS 0 runs end with a QoS 1 publish (mqttkit) or a PINGREQ (MQTT.js)
 * answered by the sink after everything before it.
 */
import { Session } from '../src/session/index.js';
import { compareRuns, type RunResult, type RunRow, runTable, save, timed } from './harness.js';
import { DEFAULT_WINDOW, mqttjsPublish } from './mqttjs-side.js';
import { startSink } from './servers/spawn.js';

const TOPIC = 'bench/t';
const payload = Buffer.alloc(16, 0x61);
const COUNTS = { 0: 300_000, 1: 150_000, 2: 80_000 } as const;
const TARGETS = { 0: 5, 1: 5, 2: undefined } as const;

async function kitPublish(url: string, qos: 0 | 1 | 2, count: number, version: 4 | 5): Promise<RunResult> {
  const s = new Session({ url, protocolVersion: version, keepalive: 0 });
  await s.connect();
  try {
    return await timed(count, async () => {
      if (qos === 0) {
        // as a caller that respects backpressure would: a turn's worth, then wait for the write
        for (let i = 0; i < count; ) {
          let last: Promise<unknown> | undefined;
          for (const end = Math.min(count, i + 1000); i < end; i++) last = s.publish(TOPIC, payload);
          await last;
        }
        await s.publish(TOPIC, payload, { qos: 1 });
        return;
      }
      await new Promise<void>((resolve, reject) => {
        let sent = 0;
        let done = 0;
        const opts = { qos };
        const next = (): void => {
          done++;
          if (sent < count) {
            sent++;
            s.publish(TOPIC, payload, opts).then(next, reject);
          } else if (done === count) resolve();
        };
        for (const n = Math.min(DEFAULT_WINDOW, count); sent < n; ) {
          sent++;
          s.publish(TOPIC, payload, opts).then(next, reject);
        }
      });
    });
  } finally {
    await s.close();
  }
}

const sink = await startSink();
const rows: RunRow[] = [];
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
} finally {
  await sink.stop();
}
console.log(runTable(rows));
save('publish', rows);
