/**
 * The brokers of the broker matrix (`brokers.test.ts`) and what each is
 * known to do, and the clients a test uses on them: mqttkit sessions,
 * MQTT.js peers, and a proxy that decodes what passes through it. Everything
 * a test opens is closed after the test (helpers/cleanup.ts).
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import { type Packet, PacketDecoder } from '../../src/codec/index.js';
import { Session, type SessionOptions } from '../../src/index.js';
import { startAedes } from '../helpers/aedes.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasNats, startNats } from '../helpers/nats.js';
import { startProxy, type Proxy as TcpProxy } from '../helpers/proxy.js';
import { rabbitMq } from '../helpers/rabbitmq.js';

/** A running broker as the tests see it. */
export interface Target {
  url: string;
  port: number;
  /** A client id or topic level no other test (or run, on a shared broker) uses. */
  unique(label: string): string;
  stop(): Promise<void>;
}

export interface BrokerCase {
  name: string;
  /** The protocol the session and the peer speak. */
  version: 4 | 5;
  /** The highest QoS the broker delivers and grants. */
  maximumQoS: 1 | 2;
  /** What `$share/{group}/{filter}` is: a shared subscription, or a plain topic filter. */
  share: 'shared' | 'plain';
  /** What a QoS 2 PUBLISH gets from a broker without QoS 2: a PUBACK, or the connection closed. */
  qos2Publish?: 'puback' | 'close';
  /** A new subscription with a wildcard filter gets the retained messages it matches. */
  retainedForWildcards: boolean;
  /** How an MQTT 5 CONNECT is refused by a 3.1.1-only broker: CONNACK 0x01 (0x84), or the socket closed. */
  refusesMqtt5?: 'connack' | 'close';
  /** False when the broker is not installed: the describe is skipped (RabbitMQ throws instead). */
  available(): boolean;
  start(): Promise<Target>;
}

let uniqueCount = 0;
/** `unique()` for a private broker. */
function local(label: string): string {
  return `${label}-${++uniqueCount}`;
}

/** `start()` of a broker this process spawns for itself: no other test or run uses it. */
function ownBroker(start: () => Promise<{ url: string; port: number; stop(): Promise<void> }>) {
  return async (): Promise<Target> => {
    const b = await start();
    return { url: b.url, port: b.port, unique: local, stop: () => b.stop() };
  };
}

const mosquitto = (version: 4 | 5): BrokerCase => ({
  name: `mosquitto 2.0 MQTT ${version === 5 ? '5' : '3.1.1'}`,
  version,
  maximumQoS: 2,
  share: 'shared',
  retainedForWildcards: true,
  available: hasMosquitto,
  start: ownBroker(() => startMosquitto()),
});

export const CASES: BrokerCase[] = [
  mosquitto(5),
  mosquitto(4),
  {
    name: 'aedes 1.2 MQTT 3.1.1',
    version: 4,
    maximumQoS: 2,
    share: 'plain',
    retainedForWildcards: true,
    refusesMqtt5: 'connack',
    available: () => true,
    start: ownBroker(() => startAedes()),
  },
  {
    name: 'NATS 2.9 MQTT 3.1.1',
    version: 4,
    maximumQoS: 1,
    qos2Publish: 'close',
    share: 'plain',
    retainedForWildcards: true,
    refusesMqtt5: 'connack',
    available: hasNats,
    start: ownBroker(startNats),
  },
  {
    name: 'RabbitMQ 3.10 MQTT 3.1.1',
    version: 4,
    maximumQoS: 1,
    qos2Publish: 'puback',
    share: 'plain',
    retainedForWildcards: false,
    refusesMqtt5: 'close',
    available: () => true,
    async start() {
      const b = await rabbitMq();
      return { ...b, stop: async () => {} };
    },
  },
];

/** Resolves when `s` emits `event` for the `n`th time from now. */
export function nth(s: Session, event: 'ready' | 'connect' | 'disconnect', n = 1): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    s.on(event, () => {
      if (++seen === n) resolve();
    });
  });
}

/** `topic=payload`, to compare messages from either client. */
export const text = (m: { topic: string; payload: string | Uint8Array }): string =>
  `${m.topic}=${typeof m.payload === 'string' ? m.payload : Buffer.from(m.payload).toString()}`;

/** The PUBLISH packets among `packets`, as `topic@qos`. */
export const publishes = (packets: Packet[] = []): string[] =>
  packets.flatMap((p) => (p.type === 'publish' ? [`${p.topic}@${p.qos}`] : []));

/**
 * One broker for the tests of a describe, started before them and stopped
 * after them (`t`, filled in by then), and the clients a test opens on it:
 * sessions, MQTT.js peers and proxies, all closed after the test.
 */
export function rig(b: BrokerCase) {
  const t = {} as Target;
  beforeAll(async () => {
    Object.assign(t, await b.start());
  });
  afterAll(async () => {
    await t.stop?.(); // undefined when start() failed
  });
  const session = (options: Partial<SessionOptions> = {}): Session => {
    return closeAfter(
      new Session({
        url: t.url,
        protocolVersion: b.version,
        clientId: t.unique('s'),
        reconnect: false,
        ...options,
      }),
    );
  };
  return {
    t,
    session,
    async connected(options: Partial<SessionOptions> = {}): Promise<Session> {
      const s = session(options);
      await s.connect();
      return s;
    },
    async peer(options: IClientOptions = {}, url = t.url): Promise<MqttClient> {
      const c = await mqtt.connectAsync(url, {
        protocolVersion: b.version,
        reconnectPeriod: 0,
        clientId: t.unique('peer'),
        ...options,
      });
      onCleanup(() => c.endAsync(true));
      return c;
    },
    /**
     * A proxy to the broker; `sent` and `got` hold the packets clients sent
     * through it and the broker's answers, by connection (1, 2, ...).
     */
    async proxied(): Promise<TcpProxy & Record<'sent' | 'got', Map<number, Packet[]>>> {
      const seen = { up: new Map<number, Packet[]>(), down: new Map<number, Packet[]>() };
      const decoders = { up: new Map<number, PacketDecoder>(), down: new Map<number, PacketDecoder>() };
      const proxy = await startProxy(
        { port: t.port },
        {
          tap(connection, direction, chunk) {
            let decoder = decoders[direction].get(connection);
            if (decoder === undefined) {
              // CONNECT tells the client side's decoder the version; the broker's side is told here
              decoder = new PacketDecoder({ protocolVersion: b.version });
              decoders[direction].set(connection, decoder);
              seen[direction].set(connection, []);
            }
            seen[direction].get(connection)?.push(...decoder.push(chunk));
          },
        },
      );
      closeAfter(proxy);
      return Object.assign(proxy, { sent: seen.up, got: seen.down });
    },
  };
}
