/**
 * Where the examples connect (not an example itself).
 *
 * - With `MQTT_URL` set, to that broker, with MQTT 5 (`MQTT_VERSION=4` for
 *   3.1.1). An example with two brokers names a variable for each (such as
 *   `EDGE_URL`), and uses `MQTT_URL` for the one not set.
 * - Without it, to an embedded broker (aedes, MQTT 3.1.1) started in this
 *   process on a free port, so an example runs with nothing installed.
 */
import type { ProtocolVersion } from 'mqttkit';
import { startEmbeddedBroker } from 'mqttkit/broker';

export interface ExampleBroker {
  url: string;
  protocolVersion: ProtocolVersion;
  /** Stops the embedded broker; nothing for a broker given by URL. */
  close(): Promise<void>;
}

export async function exampleBroker(variable = 'MQTT_URL'): Promise<ExampleBroker> {
  const url = process.env[variable] || process.env.MQTT_URL;
  if (url !== undefined && url !== '') {
    const protocolVersion = process.env.MQTT_VERSION === '4' ? 4 : 5;
    return { url, protocolVersion, close: async () => {} };
  }
  const broker = await startEmbeddedBroker();
  const unset = variable === 'MQTT_URL' ? variable : `${variable} and MQTT_URL`;
  console.log(`(${unset} not set: an embedded MQTT 3.1.1 broker at ${broker.url})`);
  return { url: broker.url, protocolVersion: 4, close: () => broker.close() };
}
