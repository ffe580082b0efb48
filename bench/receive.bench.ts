/**
 * Receive 16-byte messages from a source server (its own process: sends
 * pre-encoded publishes as fast as the socket takes them), mqttkit and
 * MQTT.js side by side. Target: >= 3x MQTT.js.
 */
import { Session } from '../src/session/index.js';
import { compareRuns, fromRun, type RunResult, type RunRow, runTable, save, timed } from './harness.js';
import { mqttjsReceive } from './mqttjs-side.js';
import { type BenchServer, startSource } from './servers/spawn.js';

const TOPIC = 'bench/t';
const COUNTS = { 0: 400_000, 1: 200_000 } as const;

async function kitReceive(
  source: BenchServer,
  qos: 0 | 1,
  count: number,
  version: 4 | 5,
): Promise<RunResult> {
  await source.control({ topic: TOPIC, qos, size: 16, count });
  const s = new Session({ url: source.url, protocolVersion: version, keepalive: 0 });
  await s.connect();
  try {
    return await timed(count, async () => {
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        s.subscribe(TOPIC, { qos }, () => {
          if (++received === count) resolve();
        }).catch(reject);
      });
    });
  } finally {
    await s.close();
  }
}

const source = await startSource();
const rows: RunRow[] = [];
try {
  for (const version of [5, 4] as const) {
    for (const qos of [0, 1] as const) {
      const count = COUNTS[qos];
      rows.push(
        await compareRuns(
          `receive QoS ${qos} 16 B from source, MQTT ${version === 5 ? '5' : '3.1.1'}`,
          () => kitReceive(source, qos, count, version),
          'MQTT.js',
          () =>
            mqttjsReceive({
              url: source.url,
              qos,
              count,
              version,
              topic: TOPIC,
              sourceControl: (config) => source.control(config),
            }),
          { target: 3 },
        ),
      );
    }
  }
} finally {
  await source.stop();
}
console.log(runTable(rows));
save('receive', rows.map(fromRun));
