/**
 * The program of the ES module consumer apps (test/package/consumer.test.ts):
 * a QoS 1 round trip through the broker at MQTT_URL, the codec, and what the
 * features whose optional packages the app did not install say.
 */
import { type Message, MissingPeerError, RedisStore, Session } from 'mqttkit';
import { startEmbeddedBroker } from 'mqttkit/broker';
import { encode } from 'mqttkit/codec';

const url = process.env.MQTT_URL;
if (url === undefined) throw new Error('MQTT_URL is not set');

function missing(err: unknown): string {
  return err instanceof MissingPeerError
    ? `missing ${err.packageName}: ${err.message}`
    : `other: ${String(err)}`;
}

try {
  new RedisStore();
  console.log('RedisStore: made');
} catch (err) {
  console.log(`RedisStore: ${missing(err)}`);
}
await startEmbeddedBroker().then(
  (broker) => broker.close().then(() => console.log('broker: started')),
  (err: unknown) => console.log(`broker: ${missing(err)}`),
);

console.log(`codec: ${encode({ type: 'pingreq' }, 5).length} bytes`);

const session = new Session({ url, clientId: `consumer-${process.pid}` });
await session.connect();
const topic = `consumer/${process.pid}`;
let deliver: (message: Message) => void = () => {};
const received = new Promise<Message>((resolve) => {
  deliver = resolve;
});
await session.subscribe(topic, { qos: 1 }, (message) => deliver(message));
await session.publish(topic, 'hello', { qos: 1 });
const message = await received;
console.log(`round trip: ${message.payload.toString()} at QoS ${message.qos}`);
await session.close();
