/**
 * Runs the MQTT.js side of the session benchmarks once, with small counts,
 * against the benchmark servers (each in its own process), and prints what
 * it measured. Not a test and not the benchmark: a check that the pieces
 * work together, with numbers for orientation.
 *
 *   node --import tsx bench/mqttjs-side.smoke.ts [--count N] [--windows]
 *
 * `--windows` also compares in-flight windows for QoS 1/2 publishing (how
 * DEFAULT_WINDOW in mqttjs-side.ts was chosen).
 */
import { parseArgs } from 'node:util';
import { fmt } from './harness.js';
import { mqttjsPublish, mqttjsReceive, type PeerResult } from './mqttjs-side.js';
import { type SinkStats, type SourceDone, startSink, startSource } from './servers/spawn.js';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '50000' }, windows: { type: 'boolean', default: false } },
});
const count = Number(values.count);

function show(label: string, r: PeerResult, check: string): void {
  const rate = (r.msgs * 1000) / r.ms;
  const cpu = r.cpuUs / 1000;
  console.log(
    `${label.padEnd(34)} ${String(r.msgs).padStart(8)} msgs ${r.ms.toFixed(0).padStart(6)} ms  ${fmt(rate).padStart(6)} msgs/s  cpu ${cpu.toFixed(0)} ms (${((cpu / r.ms) * 100).toFixed(0)}%)  ${check}`,
  );
}

const sink = await startSink();
const source = await startSource();
let failed = false;
try {
  // warm-up (JIT), not shown
  await mqttjsPublish({ url: sink.url, qos: 1, count: 5000, version: 5 });
  await mqttjsReceive({
    url: source.url,
    qos: 1,
    count: 5000,
    version: 5,
    sourceControl: (c) => source.control(c),
  });
  await source.nextDone();

  for (const version of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      await sink.control('reset');
      const r = await mqttjsPublish({ url: sink.url, qos, count, version });
      const stats = await sink.control<SinkStats>('stats');
      const ok = stats.publishes === count;
      failed ||= !ok;
      show(
        `publish QoS ${qos} v${version} -> sink`,
        r,
        ok ? 'sink counted all' : `SINK COUNTED ${stats.publishes}`,
      );
    }
    for (const qos of [0, 1] as const) {
      const r = await mqttjsReceive({
        url: source.url,
        qos,
        count,
        version,
        sourceControl: (c) => source.control(c),
      });
      const done: SourceDone = await source.nextDone();
      const ok = done.done && done.sent === count;
      failed ||= !ok;
      show(
        `receive QoS ${qos} v${version} <- source`,
        r,
        ok ? `source done in ${done.ms.toFixed(0)} ms` : JSON.stringify(done),
      );
    }
  }

  if (values.windows) {
    console.log('\nQoS 1/2 publish, v5, by in-flight window:');
    for (const qos of [1, 2] as const) {
      for (const window of [100, 1000, 10_000, 50_000]) {
        const r = await mqttjsPublish({ url: sink.url, qos, count, version: 5, window });
        show(`publish QoS ${qos} window ${window}`, r, '');
      }
    }
  }
} finally {
  await Promise.all([sink.stop(), source.stop()]);
}
process.exit(failed ? 1 : 0);
