/**
 * The basics: one session, subscribe with a handler, publish at QoS 0, 1
 * and 2, a retained message, async iteration, and the typed error a bad
 * topic gets.
 *
 *   npx tsx examples/pubsub.ts     # an embedded broker, or MQTT_URL (MQTT 5)
 */
import { InvalidArgumentError, Session } from 'mqttkit';
import { exampleBroker } from './broker.js';

const broker = await exampleBroker();
const session = new Session({
  url: broker.url,
  protocolVersion: broker.protocolVersion,
  clientId: `pubsub-${process.pid}`,
  keepalive: 30,
});
session.on('disconnect', (err) => console.log(`disconnected: ${err?.message ?? 'closed'}`));

const connack = await session.connect(); // resolves on CONNACK
console.log(`connected to ${session.url}, MQTT ${session.protocolVersion === 5 ? '5' : '3.1.1'}`);
console.log(`session present: ${connack.sessionPresent}`);

// A handler for one filter; `+` matches one level, `#` the rest.
let gotAll!: () => void;
const allThree = new Promise<void>((resolve) => {
  gotAll = resolve;
});
let count = 0;
const sub = await session.subscribe('example/sensors/+/temp', { qos: 2 }, (msg) => {
  console.log(`got ${msg.topic} = ${msg.payload.toString()} (QoS ${msg.qos})`);
  if (++count === 3) gotAll();
});
console.log(`subscribed, granted QoS ${sub.reasonCodes[0]}`);

// QoS 0 resolves once written; QoS 1 on PUBACK; QoS 2 on PUBCOMP.
await session.publish('example/sensors/a/temp', '21.5');
await session.publish('example/sensors/b/temp', '19.0', { qos: 1 });
await session.publish('example/sensors/c/temp', '23.25', { qos: 2 });

// A retained message stays with the broker for every later subscriber.
await session.publish('example/status', 'online', { qos: 1, retain: true });
// messages() iterates what arrives; it does not subscribe, so subscribe first.
const status = session.messages('example/status');
const statusSub = await session.subscribe('example/status', { qos: 1 });
for await (const msg of status) {
  console.log(`retained ${msg.topic} = ${msg.payload.toString()} (retain flag ${msg.retain})`);
  break; // leaving the loop ends the iterator
}
await statusSub.unsubscribe();
await session.publish('example/status', '', { qos: 1, retain: true }); // an empty retained message clears it

// Bad input is refused before anything is sent, with an error that names the problem.
try {
  await session.publish('example/sensors/+/temp', 'x');
} catch (err) {
  if (!(err instanceof InvalidArgumentError)) throw err;
  console.log(`refused: ${err.code}: ${err.message}`);
}

// The QoS 0 message may still be on its way to the handler: wait for all three.
await allThree;
await sub.unsubscribe();
const m = session.metrics();
console.log(`done: ${m.messagesOut} published, ${m.messagesIn} received`);
await session.close(); // waits for what is in flight, sends DISCONNECT, always resolves
await broker.close();
