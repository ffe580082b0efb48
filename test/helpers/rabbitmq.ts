/**
 * The machine's RabbitMQ, through its MQTT plugin, for interop tests. It is
 * not spawned per test file: RabbitMQ runs as a service, and `.ci/run` (its
 * step `.ci/rabbitmq-mqtt`) enables `rabbitmq_mqtt` on 127.0.0.1:1884 (1883
 * is mosquitto's). `RABBITMQ_MQTT_PORT` names another port.
 *
 * ```ts
 * let rabbit: RabbitMq;
 * beforeAll(async () => { rabbit = await rabbitMq(); }); // throws, saying what to run, when it is not there
 * const clientId = rabbit.unique('sub'); // client ids and topics no other test or run uses
 * ```
 *
 * One broker is shared by every test and every run, so a test names its
 * client ids and topics with `unique()`, and ends persistent sessions and
 * clears retained messages it made.
 *
 * What RabbitMQ 3.10's MQTT does: 3.1.1 only (an MQTT 5 CONNECT gets the
 * socket closed), QoS 0 and 1 (a QoS 2 PUBLISH is answered with PUBACK, a QoS
 * 2 subscription granted QoS 1), `$share/...` taken as a plain topic filter,
 * retained messages per vhost, wills, persistent sessions (queues).
 */
import { randomBytes } from 'node:crypto';
import { exchange } from './ports.js';

/** The MQTT port `.ci/rabbitmq-mqtt` sets up. */
export const RABBITMQ_MQTT_PORT = 1884;

export interface RabbitMq {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** `label` made unique to this process and call: `mqttkit-<random>-<label>-<n>`, for client ids and topics. */
  unique(label: string): string;
}

let counter = 0;
const RUN = randomBytes(4).toString('hex');

/**
 * The RabbitMQ MQTT listener, once it answers an MQTT 3.1.1 CONNECT with a
 * CONNACK. Throws an error saying to run `.ci/run` when nothing answers.
 */
export async function rabbitMq(): Promise<RabbitMq> {
  const fromEnv = process.env.RABBITMQ_MQTT_PORT;
  const port = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : RABBITMQ_MQTT_PORT;
  const problem = await answersConnect(port);
  if (problem !== undefined) {
    throw new Error(
      `RabbitMQ's MQTT plugin is not reachable on 127.0.0.1:${port} (${problem}). ` +
        'Run `bash .ci/run` (or just its step `bash .ci/rabbitmq-mqtt`, as root or with sudo): ' +
        `it starts RabbitMQ and enables rabbitmq_mqtt on port ${RABBITMQ_MQTT_PORT}.`,
    );
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    unique: (label) => `mqttkit-${RUN}-${label}-${++counter}`,
  };
}

/** CONNECT, MQTT 3.1.1, clean session, keepalive 10 s, client id `mqttkit-probe-<random>`. */
function probeConnect(): Buffer {
  const id = Buffer.from(`mqttkit-probe-${randomBytes(4).toString('hex')}`);
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 10]),
    Buffer.from([id.length >> 8, id.length & 0xff]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Undefined when the port answers an MQTT 3.1.1 CONNECT with an accepting CONNACK; else what went wrong. */
async function answersConnect(port: number): Promise<string | undefined> {
  const { problem } = await exchange<{ problem?: string }>(
    { port },
    probeConnect(),
    (reply) => {
      if (reply.length < 4) return undefined;
      if (reply[0] === 0x20 && reply[1] === 2 && reply[3] === 0) return {};
      return { problem: `answered ${reply.subarray(0, 8).toString('hex')} instead of a CONNACK` };
    },
    (why) => ({ problem: why }),
    { timeoutMs: 5_000, farewell: Buffer.from([0xe0, 0]) }, // DISCONNECT
  );
  return problem;
}
