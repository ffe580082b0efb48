/**
 * An in-process aedes broker on a free loopback port: the CLI's embedded
 * broker (`src/cli/embedded-broker.ts`), under the name the tests use.
 */
import { startEmbeddedBroker } from '../../src/broker/index.js';

export interface AedesBroker {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Clients connected now. */
  readonly clients: number;
  /** Closes the listener, every client connection and the broker. */
  stop(): Promise<void>;
}

export async function startAedes(): Promise<AedesBroker> {
  const broker = await startEmbeddedBroker();
  return {
    url: broker.url,
    port: broker.port,
    get clients() {
      return broker.clients;
    },
    stop: () => broker.close(),
  };
}
