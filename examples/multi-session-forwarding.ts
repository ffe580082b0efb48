/**
 * Two brokers (or two tenants of one), a forwarder from one to the other
 * with a topic mapping and metadata, and the fleet's metrics on a
 * Prometheus endpoint.
 *
 *   npx tsx examples/multi-session-forwarding.ts
 *   # EDGE_URL and CLOUD_URL, both default mqtt://127.0.0.1:1883
 */
import { Session, SessionManager } from '../src/index.js';

const edgeUrl = process.env.EDGE_URL ?? 'mqtt://127.0.0.1:1883';
const cloudUrl = process.env.CLOUD_URL ?? 'mqtt://127.0.0.1:1883';

const m = new SessionManager();
m.add({ name: 'edge', url: edgeUrl });
m.add({ name: 'cloud', url: cloudUrl });
m.on('session_ready', ({ name }) => console.log(`${name} ready`));
await m.connectAll();

const forwarder = m.forward({
  name: 'edge-to-cloud',
  from: 'edge',
  topics: ['sensors/+/temperature'],
  to: 'cloud',
  map: [['sensors/+/temperature', 'plants/a/{1}/temp']],
  metadata: (msg) => ({ site: 'plant-a', via: msg.source }),
  qos: 1,
});
await forwarder.start();

const seen = new Promise<void>((resolve) => {
  let n = 0;
  m.handleTo('cloud', 'plants/a/#', (msg) => {
    const site = msg.properties?.userProperties?.find(([k]) => k === 'site')?.[1];
    console.log(`cloud got ${msg.topic} = ${msg.payload.toString()} (site ${site})`);
    if (++n === 3) resolve();
  });
});
await m.waitReady();

// a sensor on the edge broker
const sensor = new Session({ url: edgeUrl });
await sensor.connect();
for (const [id, t] of [
  ['k1', 21.5],
  ['k2', 19.0],
  ['k1', 21.7],
] as const) {
  await sensor.publish(`sensors/${id}/temperature`, String(t), { qos: 1 });
}
await seen;

const server = await m.serveMetrics({ port: 0 });
const text = await (await fetch(server.url)).text();
console.log(
  text
    .split('\n')
    .filter((l) => l.startsWith('mqttkit_messages_received_total'))
    .join('\n'),
);
console.log(`forwarder: ${JSON.stringify(forwarder.metrics())}`);

await sensor.close();
await m.close(); // stops the forwarder and the metrics endpoint too
