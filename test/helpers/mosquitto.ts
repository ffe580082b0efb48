/**
 * A real mosquitto broker for integration tests, spawned with a generated
 * configuration in a temporary directory: listeners on free loopback ports,
 * anonymous access, a log file the test can read.
 *
 * ```ts
 * describe.skipIf(!hasMosquitto())('with mosquitto', () => {
 *   let broker: Broker;
 *   beforeAll(async () => { broker = await startMosquitto({ tls: true, websockets: true }); });
 *   afterAll(() => broker.stop());
 * });
 * ```
 *
 * `stop()` ends the broker (SIGTERM) and removes its directory; `kill()`
 * (SIGKILL) and `restart()` keep the directory, the ports and the persistence
 * file, so a test can crash the broker and bring it back. A process-exit hook
 * SIGKILLs whatever a test forgot.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { findBinary, hasBinary } from './binaries.js';
import { type Certs, makeCerts } from './certs.js';
import { accepts, freePort } from './ports.js';
import { inTempDir, retryOnPortClash, type ServerControls, ServerInstance } from './server-process.js';

export interface MosquittoOptions {
  /** A TLS listener (`tlsUrl`); `requireCertificate` demands a client certificate signed by `certs.ca`. */
  tls?: boolean | { requireCertificate?: boolean };
  /** A WebSocket listener (`wsUrl`), and with `tls` a secure one too (`wssUrl`). */
  websockets?: boolean;
  /** A Unix-socket listener (`unixPath`, `unixUrl`). */
  unix?: boolean;
  /** Extra configuration lines, appended as given. */
  config?: string;
  /** Keep sessions and messages in a file in the broker's directory (saved on SIGTERM and on restart). */
  persistence?: boolean;
  /** `max_inflight_messages`: QoS 1/2 messages in flight per client. */
  maxInflight?: number;
  /** `max_packet_size` in bytes. */
  maxPacketSize?: number;
  /** Certificates to use instead of making new ones. */
  certs?: Certs;
}

/** A running mosquitto; `restart()` keeps its persistence file. */
export interface Broker extends ServerControls {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** `mqtts://localhost:<tlsPort>` (the server certificate is for localhost and 127.0.0.1). */
  tlsUrl?: string;
  tlsPort?: number;
  /** `ws://127.0.0.1:<wsPort>/mqtt` */
  wsUrl?: string;
  wsPort?: number;
  /** `wss://localhost:<wssPort>/mqtt`, with `tls` and `websockets`. */
  wssUrl?: string;
  wssPort?: number;
  /** `unix://<path>`, with `unix`. */
  unixUrl?: string;
  unixPath?: string;
  certs?: Certs;
  /** The broker's temporary directory (configuration, log, persistence, certificates). */
  dir: string;
  /** The broker's log file and anything it printed. */
  log(): string;
}

const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'];

/** Path of the mosquitto binary: /usr/sbin/mosquitto or on PATH. */
export function mosquittoPath(): string | undefined {
  return findBinary('mosquitto', MOSQUITTO_PATHS);
}

/** Whether mosquitto is installed; for `describe.skipIf(!hasMosquitto())`. Prints why when it is not. */
export function hasMosquitto(): boolean {
  return hasBinary('mosquitto', MOSQUITTO_PATHS);
}

interface Ports {
  port: number;
  tlsPort?: number;
  wsPort?: number;
  wssPort?: number;
}

/** Starts a mosquitto broker. Rejects, with the broker's log, if it is not accepting connections within 10 s. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Broker> {
  const bin = mosquittoPath();
  if (bin === undefined) throw new Error('startMosquitto: mosquitto is not installed');
  return inTempDir('mqttkit-mosq-', async (dir) => {
    const certs = options.tls ? (options.certs ?? (await makeCerts(dir))) : undefined;
    if (options.persistence) await mkdir(join(dir, 'data'));
    return retryOnPortClash(async () => {
      const ports: Ports = { port: await freePort() };
      if (options.tls) ports.tlsPort = await freePort();
      if (options.websockets) ports.wsPort = await freePort();
      if (options.websockets && options.tls) ports.wssPort = await freePort();
      const instance = new Instance(bin, dir, options, ports, certs);
      await instance.launch();
      return instance.broker();
    });
  });
}

class Instance extends ServerInstance {
  readonly #configPath: string;
  readonly #logPath: string;
  readonly #unixPath: string | undefined;

  constructor(
    bin: string,
    dir: string,
    readonly options: MosquittoOptions,
    readonly ports: Ports,
    readonly certs: Certs | undefined,
  ) {
    super('mosquitto', bin, dir);
    this.#configPath = join(dir, 'mosquitto.conf');
    this.#logPath = join(dir, 'mosquitto.log');
    this.#unixPath = options.unix ? join(dir, 'mosquitto.sock') : undefined;
  }

  #config(): string {
    const { options, ports, certs, dir } = this;
    // libwebsockets 4.1 with IPv6 turns a bind address of 127.0.0.1 into
    // "all interfaces"; naming the loopback interface keeps it on 127.0.0.1.
    const wsBind = process.platform === 'linux' ? 'lo' : '127.0.0.1';
    const requireCert =
      typeof options.tls === 'object' && options.tls.requireCertificate === true ? 'true' : 'false';
    const tlsLines = certs
      ? [
          `cafile ${certs.ca.certPath}`,
          `certfile ${certs.server.certPath}`,
          `keyfile ${certs.server.keyPath}`,
          `require_certificate ${requireCert}`,
        ]
      : [];
    const lines = [
      // Only acted on when started as root: stay this user rather than switch to "mosquitto".
      ...userLine(),
      'per_listener_settings false',
      'allow_anonymous true',
      `log_dest file ${this.#logPath}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
      'log_timestamp true',
      `persistence ${options.persistence ? 'true' : 'false'}`,
    ];
    if (options.persistence) lines.push(`persistence_location ${join(dir, 'data')}/`);
    if (options.maxInflight !== undefined) lines.push(`max_inflight_messages ${options.maxInflight}`);
    if (options.maxPacketSize !== undefined) lines.push(`max_packet_size ${options.maxPacketSize}`);
    // mosquitto 2.0.11 refuses to start with websockets listeners only; the plain listener is always first.
    lines.push('', `listener ${ports.port} 127.0.0.1`);
    if (ports.tlsPort !== undefined) lines.push('', `listener ${ports.tlsPort} 127.0.0.1`, ...tlsLines);
    if (ports.wsPort !== undefined)
      lines.push('', `listener ${ports.wsPort} ${wsBind}`, 'protocol websockets');
    if (ports.wssPort !== undefined) {
      lines.push('', `listener ${ports.wssPort} ${wsBind}`, 'protocol websockets', ...tlsLines);
    }
    if (this.#unixPath !== undefined) lines.push('', `listener 0 ${this.#unixPath}`);
    if (options.config) lines.push('', options.config);
    return `${lines.join('\n')}\n`;
  }

  async start(): Promise<void> {
    await writeFile(this.#configPath, this.#config());
    if (this.#unixPath !== undefined) await rm(this.#unixPath, { force: true });
    const proc = this.spawn(['-c', this.#configPath]);
    const targets: Array<{ port: number } | { path: string }> = [{ port: this.ports.port }];
    for (const port of [this.ports.tlsPort, this.ports.wsPort, this.ports.wssPort]) {
      if (port !== undefined) targets.push({ port });
    }
    if (this.#unixPath !== undefined) targets.push({ path: this.#unixPath });
    for (const target of targets) {
      await proc.waitUntil(
        () => accepts(target),
        `accept connections on ${JSON.stringify(target)}`,
        () => this.log(),
      );
    }
  }

  override log(): string {
    let file = '';
    try {
      file = readFileSync(this.#logPath, 'utf8');
    } catch {
      // not written yet, or removed by stop()
    }
    const { output } = this;
    return output === '' ? file : `${file}${file === '' ? '' : '\n'}[output]\n${output}`;
  }

  broker(): Broker {
    const { ports } = this;
    return this.handle({
      url: `mqtt://127.0.0.1:${ports.port}`,
      port: ports.port,
      ...(ports.tlsPort !== undefined && {
        tlsUrl: `mqtts://localhost:${ports.tlsPort}`,
        tlsPort: ports.tlsPort,
      }),
      ...(ports.wsPort !== undefined && {
        wsUrl: `ws://127.0.0.1:${ports.wsPort}/mqtt`,
        wsPort: ports.wsPort,
      }),
      ...(ports.wssPort !== undefined && {
        wssUrl: `wss://localhost:${ports.wssPort}/mqtt`,
        wssPort: ports.wssPort,
      }),
      ...(this.#unixPath !== undefined && { unixUrl: `unix://${this.#unixPath}`, unixPath: this.#unixPath }),
      ...(this.certs !== undefined && { certs: this.certs }),
      dir: this.dir,
    });
  }
}

function userLine(): string[] {
  try {
    return [`user ${userInfo().username}`];
  } catch {
    return []; // no passwd entry for this uid
  }
}
