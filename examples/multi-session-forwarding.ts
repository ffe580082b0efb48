/**
 * Two brokers (or two tenants of one), a forwarder from one to the other
 * with a topic mapping and metadata, and the fleet's metrics on a
 * Prometheus endpoint.
 *
 *   npx tsx examples/multi-session-forwarding.ts                    # two embedded brokers
 *   MQTT_URL=mqtt://127.0.0.1:1883 npx tsx examples/multi-session-forwarding.ts   # both on one (MQTT 5)
 *   EDGE_URL=mqtt://edge:1883 CLOUD_URL=mqtt://cloud:1883 npx tsx examples/multi-session-forwarding.ts
 *
 * EDGE_URL and CLOUD_URL name the two brokers; MQTT_URL stands for either
 * one not set (two tenants of one broker work: the topics differ).
 *
 * With an MQTT 3.1.1 cloud (the embedded broker) the metadata cannot travel
 * as user properties: the forwarder wraps each message in a JSON envelope
 * (`envelope: true`). `readForwarded` reads either form on the cloud side.
 */
import { readForwarded, Session, SessionManager } from 'mqttkit';
import { exampleBroker } from './broker.js';

const edge = await exampleBroker('EDGE_URL');
const cloud = await exampleBroker('CLOUD_URL');

const m = new SessionManager();
m.add({ name: 'edge', url: edge.url, protocolVersion: edge.protocolVersion });
m.add({ name: 'cloud', url: cloud.url, protocolVersion: cloud.protocolVersion });
m.on('session_ready', ({ name }) => console.log(`${name} ready`));
await m.connectAll();

const forwarder = m.forward({
  name: 'edge-to-cloud',
  from: 'edge',
  topics: ['sensors/+/temperature'],
  to: 'cloud',
  map: [['sensors/+/temperature', 'plants/a/{1}/temp']],
  metadata: (msg) => ({ site: 'plant-a', via: msg.source }),
  envelope: cloud.protocolVersion === 4,
  qos: 1,
});
await forwarder.start();

const seen = new Promise<void>((resolve) => {
  let n = 0;
  m.handleTo('cloud', 'plants/a/#', (msg) => {
    // the metadata: MQTT 5 user properties, or the envelope's (3.1.1)
    const forwarded = readForwarded(msg);
    console.log(`cloud got ${msg.topic} = ${forwarded?.payload} (site ${forwarded?.metadata.site})`);
    if (++n === 3) resolve();
  });
});
await m.waitReady();

// a sensor on the edge broker
const sensor = new Session({ url: edge.url, protocolVersion: edge.protocolVersion });
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
await Promise.all([edge.close(), cloud.close()]);
