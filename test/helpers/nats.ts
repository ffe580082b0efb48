/**
 * A private nats-server with its MQTT support for interop tests, spawned with
 * a generated configuration in a temporary directory: `server_name`, a client
 * port and an `mqtt` listener on free loopback ports, JetStream (which NATS's
 * MQTT needs for sessions, retained messages and QoS 1) storing in the
 * directory.
 *
 * ```ts
 * describe.skipIf(!hasNats())('with NATS', () => {
 *   let nats: NatsServer;
 *   beforeAll(async () => { nats = await startNats(); });
 *   afterAll(() => nats.stop());
 * });
 * ```
 *
 * What NATS 2.9's MQTT does: 3.1.1 only, QoS 0 and 1 (a QoS 2 PUBLISH makes
 * it close the connection; a QoS 2 subscription is granted QoS 1), retained
 * messages, wills, persistent sessions kept in JetStream.
 *
 * `stop()` ends the server (SIGTERM) and removes its directory; `kill()`
 * (SIGKILL) and `restart()` keep the directory, the ports and JetStream's
 * files. A process-exit hook SIGKILLs whatever a test forgot.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findBinary, hasBinary } from './binaries.js';
import { accepts, freePort } from './ports.js';
import { inTempDir, retryOnPortClash, type ServerControls, ServerInstance } from './server-process.js';

/** A running nats-server; `restart()` keeps its JetStream store. */
export interface NatsServer extends ServerControls {
  /** `mqtt://127.0.0.1:<port>`: the MQTT listener. */
  url: string;
  /** The MQTT listener's port. */
  port: number;
  /** `nats://127.0.0.1:<natsPort>`: the NATS client listener. */
  natsUrl: string;
  natsPort: number;
  /** The server's temporary directory (configuration, JetStream store). */
  dir: string;
}

const NATS_PATHS = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'];

/** Path of the nats-server binary: /usr/sbin/nats-server or on PATH. */
export function natsServerPath(): string | undefined {
  return findBinary('nats-server', NATS_PATHS);
}

/** Whether nats-server is installed; for `describe.skipIf(!hasNats())`. Prints why when it is not. */
export function hasNats(): boolean {
  return hasBinary('nats-server', NATS_PATHS);
}

/** Starts a nats-server. Rejects, with its log, if the MQTT port does not accept connections within 10 s. */
export async function startNats(): Promise<NatsServer> {
  const bin = natsServerPath();
  if (bin === undefined) throw new Error('startNats: nats-server is not installed');
  return inTempDir('mqttkit-nats-', (dir) =>
    retryOnPortClash(async () => {
      const instance = new Instance(bin, dir, await freePort(), await freePort());
      await instance.launch();
      return instance.server();
    }),
  );
}

class Instance extends ServerInstance {
  readonly #configPath: string;

  constructor(
    bin: string,
    dir: string,
    readonly natsPort: number,
    readonly mqttPort: number,
  ) {
    super('nats-server', bin, dir);
    this.#configPath = join(dir, 'nats.conf');
  }

  #config(): string {
    return `${[
      // MQTT needs JetStream, and JetStream a server name.
      'server_name: mqttkit_test',
      `listen: "127.0.0.1:${this.natsPort}"`,
      `jetstream { store_dir: ${JSON.stringify(join(this.dir, 'jetstream'))}, max_mem: 64MB, max_file: 1GB }`,
      `mqtt { listen: "127.0.0.1:${this.mqttPort}" }`,
    ].join('\n')}\n`;
  }

  async start(): Promise<void> {
    await writeFile(this.#configPath, this.#config());
    const proc = this.spawn(['-c', this.#configPath]);
    await proc.waitUntil(
      () => accepts({ port: this.mqttPort }),
      `accept MQTT connections on 127.0.0.1:${this.mqttPort}`,
      () => this.log(),
    );
  }

  server(): NatsServer {
    return this.handle({
      url: `mqtt://127.0.0.1:${this.mqttPort}`,
      port: this.mqttPort,
      natsUrl: `nats://127.0.0.1:${this.natsPort}`,
      natsPort: this.natsPort,
      dir: this.dir,
    });
  }
}
