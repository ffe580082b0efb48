/**
 * Receive 16-byte messages from a source server (its own process: sends
 * pre-encoded publishes as fast as the socket takes them), mqttkit and
 * MQTT.js side by side. Target: >= 3x MQTT.js.
 */
import { compareRuns, fromRun, type RunRow, runTable, save } from './harness.js';
import { kitReceive } from './kit-side.js';
import { mqttjsReceive } from './mqttjs-side.js';
import { startSource } from './servers/spawn.js';

const TOPIC = 'bench/t';
const COUNTS = { 0: 400_000, 1: 200_000 } as const;

const source = await startSource();
const rows: RunRow[] = [];
try {
  for (const version of [5, 4] as const) {
    for (const qos of [0, 1] as const) {
      const count = COUNTS[qos];
      rows.push(
        await compareRuns(
          `receive QoS ${qos} 16 B from source, MQTT ${version === 5 ? '5' : '3.1.1'}`,
          () => kitReceive(source, TOPIC, qos, count, { protocolVersion: version }),
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
