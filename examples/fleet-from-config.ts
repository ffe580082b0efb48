/**
 * A fleet from a YAML file (examples/fleet.yaml): five sessions, one
 * forwarder, routes across the sessions, the manager's events, and the
 * fleet's metrics. The devices send telemetry for a few seconds, the gateway
 * sends one of them a command, the archive receives the forwarded copies.
 *
 *   npx tsx examples/fleet-from-config.ts    # an embedded broker, or MQTT_URL (MQTT 5)
 *   EXAMPLE_SECONDS=10 npx tsx examples/fleet-from-config.ts
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, readForwarded, SessionManager } from 'mqttkit';
import { exampleBroker } from './broker.js';

const broker = await exampleBroker();
const seconds = Number(process.env.EXAMPLE_SECONDS ?? 2);

let m: SessionManager;
try {
  m = await SessionManager.fromConfig(fileURLToPath(new URL('fleet.yaml', import.meta.url)), {
    // the ${NAME} references of the file; a real deployment would take them from its environment
    env: {
      ...process.env,
      MQTT_URL: broker.url,
      MQTT_VERSION: String(broker.protocolVersion),
    },
  });
} catch (err) {
  // every problem of the file at once, each with its line and the path of the field
  if (err instanceof ConfigError) console.error(err.message);
  await broker.close();
  throw err;
}
console.log(`loaded ${m.size} sessions: ${m.list().join(', ')}`);

m.on('session_ready', ({ name }) => console.log(`${name} ready`));
m.on('session_disconnected', ({ name, error }) => {
  if (error !== undefined) console.log(`${name} lost its connection: ${error.message}`);
});
m.on('session_error', ({ name, error }) => console.error(`${name}: ${error.message}`));

// Each device takes commands on its own topic.
const devices = m.list().filter((name) => name.startsWith('device-'));
let commanded!: () => void;
const commandDone = new Promise<void>((resolve) => {
  commanded = resolve;
});
for (const name of devices) {
  m.handleTo(
    name,
    `fleet/${name}/cmd`,
    (msg) => {
      console.log(`${msg.session} got command '${msg.payload.toString()}'`);
      commanded();
    },
    { qos: 1 },
  );
}

// The archive prints what the forwarder brings it.
let archived = 0;
let expected = Number.POSITIVE_INFINITY;
let archivedAll!: () => void;
const allArchived = new Promise<void>((resolve) => {
  archivedAll = resolve;
});
m.handleTo(
  'archive',
  'archive/+/telemetry',
  (msg) => {
    archived++;
    // the payload and metadata, from MQTT 5 user properties or the 3.1.1 envelope
    const f = readForwarded(msg);
    if (archived <= devices.length)
      console.log(`archive: ${msg.topic} ${f?.payload} (site ${f?.metadata.site})`);
    if (archived >= expected) archivedAll();
  },
  { qos: 1 },
);

await m.connectAll(); // rejects with FleetConnectError naming every session that failed
await m.waitReady(undefined, 10_000); // connected, and every subscription and route in place
// the forwarder starts by itself once its source is connected
await Promise.all(m.forwarders().map((f) => f.start()));

let sent = 0;
const started = Date.now();
while (Date.now() - started < seconds * 1000) {
  for (const name of devices) {
    const reading = { t: Date.now(), temperature: +(20 + Math.random() * 5).toFixed(2) };
    await m.publishTo(name, `fleet/${name}/telemetry`, JSON.stringify(reading), { qos: 1 });
    sent++;
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}
await m.publishTo('gateway', 'fleet/device-2/cmd', 'reboot', { qos: 1 });
await commandDone;

// Everything the devices sent goes through the gateway and the forwarder to the archive.
expected = sent;
if (archived >= expected) archivedAll();
await allArchived;
const forwarder = m.forwarders()[0];
const total = m.metrics().total;
console.log(
  `fleet: ${total.sessions} sessions, ${total.ready} ready, ${total.messagesOut} messages out, ${total.messagesIn} in`,
);
console.log(`forwarder: ${JSON.stringify({ ...forwarder.metrics(), latency: undefined })}`);
console.log(`archive: ${archived} of ${sent} readings`);
await m.close(); // stops routes and forwarder, closes every session and the file's stores
await broker.close();
