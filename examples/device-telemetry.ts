/**
 * A device talking to a cloud broker: state batched once a second, sensor
 * data queued at a bounded rate, credentials fetched before every connect
 * (a JWT in real life), reconnect with backoff. Runs for a few seconds.
 *
 *   npx tsx examples/device-telemetry.ts     # an embedded broker, or MQTT_URL (MQTT 5)
 *   EXAMPLE_SECONDS=10 npx tsx examples/device-telemetry.ts
 */
import { BatchChannel, QueueChannel, Session } from 'mqttkit';
import { exampleBroker } from './broker.js';

const broker = await exampleBroker();
const { url, protocolVersion } = broker;
const seconds = Number(process.env.EXAMPLE_SECONDS ?? 3);

const device = new Session({
  url,
  protocolVersion,
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
const cloud = new Session({ url, protocolVersion });
await cloud.connect();
let states = 0;
let readings = 0;
let caughtUp: (() => void) | undefined;
let want = { states: Number.POSITIVE_INFINITY, readings: Number.POSITIVE_INFINITY };
await cloud.subscribe('devices/42/#', { qos: 1 }, (msg) => {
  if (msg.topic.endsWith('/state')) {
    states++;
    console.log(`cloud: state batch of ${JSON.parse(msg.payload.toString()).length} snapshots`);
  } else readings++;
  if (states >= want.states && readings >= want.readings) caughtUp?.();
});

const state = new BatchChannel(device, 'devices/42/state', { interval: 1000, maxBytes: 65_536 });
const data = new QueueChannel(device, 'devices/42/data', {
  rate: 100,
  maxMessageBytes: 4096,
  capacity: 100_000,
});

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
// the cloud may still be reading the last messages: wait until it has all the device published
await new Promise<void>((resolve) => {
  caughtUp = resolve;
  want = { states: state.metrics().published, readings: data.metrics().published };
  if (states >= want.states && readings >= want.readings) resolve();
});
console.log(`device: state ${JSON.stringify(state.metrics())}`);
console.log(`device: data ${JSON.stringify(data.metrics())}`);
console.log(`cloud: ${states} state messages, ${readings} readings`);
await cloud.close();
await broker.close();
