/**
 * `mqttkit/broker`: an MQTT 3.1.1 broker (aedes) inside your process, for
 * examples, tests and trying things out with nothing installed. It is what
 * `mqttkit broker` runs, and what `mqttkit demo` and `mqttkit bench` start
 * when no broker is given. Not a production broker: no persistence, no
 * MQTT 5, no authentication.
 *
 * ```ts
 * import { startEmbeddedBroker } from 'mqttkit/broker';
 * import { Session } from 'mqttkit';
 *
 * const broker = await startEmbeddedBroker(); // 127.0.0.1, a free port
 * const s = new Session({ url: broker.url, protocolVersion: 4 });
 * await s.connect();
 * await s.close();
 * await broker.close();
 * ```
 *
 * @module mqttkit/broker
 */
export {
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
  startLoopbackBroker,
} from './embedded.js';
