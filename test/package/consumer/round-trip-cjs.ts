/**
 * The program of the CommonJS consumer app (test/package/consumer.test.ts),
 * compiled to `require('mqttkit')` calls: a QoS 1 round trip through the
 * broker at MQTT_URL, and RedisStore without ioredis installed.
 */
import { type Message, MissingPeerError, RedisStore, Session } from 'mqttkit';

async function main(url: string): Promise<void> {
  try {
    new RedisStore();
    console.log('RedisStore: made');
  } catch (err) {
    console.log(
      `RedisStore: ${err instanceof MissingPeerError ? `missing ${err.packageName}` : String(err)}`,
    );
  }
  const session = new Session({ url, clientId: `consumer-cjs-${process.pid}` });
  await session.connect();
  const topic = `consumer-cjs/${process.pid}`;
  let deliver: (message: Message) => void = () => {};
  const received = new Promise<Message>((resolve) => {
    deliver = resolve;
  });
  await session.subscribe(topic, { qos: 1 }, (message) => deliver(message));
  await session.publish(topic, 'hello', { qos: 1 });
  const message = await received;
  console.log(`round trip: ${message.payload.toString()} at QoS ${message.qos}`);
  console.log(`module: ${typeof require === 'function' && typeof module === 'object' ? 'commonjs' : 'esm'}`);
  await session.close();
}

main(process.env.MQTT_URL ?? '').catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
