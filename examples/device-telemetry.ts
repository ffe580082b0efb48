/**
 * A device talking to a cloud broker: state batched once a second, sensor
 * data queued at a bounded rate, credentials fetched before every connect
 * (a JWT in real life), reconnect with backoff. Runs for a few seconds.
 *
 *   npx tsx examples/device-telemetry.ts     # MQTT_URL, default mqtt://127.0.0.1:1883
 */
import { Session } from '../src/index.js';

const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const seconds = Number(process.env.SECONDS ?? 3);

const device = new Session({
  url,
  clientId: 'device-42',
  keepalive: 30,
  reconnect: { initialDelay: 500, maxDelay: 30_000 },
  // called before every connection attempt; with jwtCredentials() this signs a fresh token
  credentials: async () => ({ username: 'device-42', password: `token-${Date.now()}` }),
  offlineQueue: { maxMessages: 10_000, overflow: 'drop-oldest' },
});
device.on('reconnecting', (attempt, delay) =>
  console.log(`reconnecting (attempt ${attempt}) in ${delay} ms`),
);
await device.connect();

// a listener on the cloud side, to show what arrives
const cloud = new Session({ url });
await cloud.connect();
let states = 0;
let readings = 0;
await cloud.subscribe('devices/42/#', { qos: 1 }, (msg) => {
  if (msg.topic.endsWith('/state')) {
    states++;
    console.log(`cloud: state batch of ${JSON.parse(msg.payload.toString()).length} snapshots`);
  } else readings++;
});

const state = device.batch('devices/42/state', { interval: 1000, maxBytes: 65_536 });
const data = device.queue('devices/42/data', { rate: 100, maxMessageBytes: 4096, capacity: 100_000 });

const started = Date.now();
let tick = 0;
while (Date.now() - started < seconds * 1000) {
  tick++;
  void state.push({ t: Date.now(), temperature: 20 + Math.sin(tick / 10), battery: 97 });
  for (let i = 0; i < 5; i++) {
    data.push(JSON.stringify({ t: Date.now(), vibration: Math.random() })).catch((err: Error) => {
      console.error('a reading was not sent:', err.message);
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}

await device.close(); // flushes the last state batch
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(`device: state ${JSON.stringify(state.metrics())}`);
console.log(`device: data ${JSON.stringify(data.metrics())}`);
console.log(`cloud: ${states} state messages, ${readings} readings`);
await cloud.close();
