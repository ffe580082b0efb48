/**
 * The two libraries' sides of `bench/rpc.bench.ts`, written the way their
 * users write them, with each library's default session settings (MQTT 5,
 * clean start, keepalive 60, reconnect on):
 *
 * - mqttkit: `RpcClient.request()` on one Session; `RpcServer` with one
 *   route whose handler returns the request's payload.
 * - MQTT.js: the usual hand-made RPC. The requester subscribes once to its
 *   response topic, keeps a `Map` of pending requests keyed by the
 *   correlation data (a `crypto.randomUUID()` string per request), each with
 *   a `setTimeout` for its timeout (30 s, like `RpcClient`'s default), and
 *   publishes with `properties: { responseTopic, correlationData }`. The
 *   responder subscribes to the request topic and publishes the payload to
 *   each request's response topic with the same correlation data, at the
 *   QoS the request arrived with.
 *
 * MQTT.js leaves Nagle's algorithm on (Node's default; it sets no
 * `noDelay` and has no option for it), which users get; `noDelay: true`
 * is the same code with `client.stream.setNoDelay(true)` after connecting,
 * what a user who knows about it does.
 *
 * Both sides are callback-shaped for the load generator (`rpc-child.ts`):
 * `send(qos, done)` calls `done` when the response has arrived, as the
 * library hands it to its caller (a promise's resolution).
 */
import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import type { IPublishPacket } from 'mqtt';
import mqtt from 'mqtt';

export interface Requester {
  /** Sends one request; `done` runs once with its outcome. */
  send(qos: 0 | 1, done: (err?: Error) => void): void;
  close(): Promise<void>;
}

export interface Responder {
  /** Requests answered so far. */
  served(): number;
  close(): Promise<void>;
}

const TIMEOUT_MS = 30_000;

export async function mqttkitRequester(url: string, topic: string, payload: Buffer): Promise<Requester> {
  const { RpcClient, Session } = await import('../src/index.js');
  const session = new Session({ url, clientId: `kit-req-${process.pid}`, protocolVersion: 5 });
  await session.connect();
  const client = new RpcClient(session, { qos: 1 });
  await client.start();
  const options = [{ qos: 0 as const }, { qos: 1 as const }];
  return {
    send(qos, done) {
      client.request(topic, payload, options[qos]).then(() => done(), done);
    },
    async close() {
      await client.close();
      await session.close();
    },
  };
}

export async function mqttkitResponder(url: string, topic: string): Promise<Responder> {
  const { RpcServer, Session } = await import('../src/index.js');
  const session = new Session({ url, clientId: `kit-res-${process.pid}`, protocolVersion: 5 });
  await session.connect();
  const server = new RpcServer(session, { qos: 1 });
  let served = 0;
  server.route(topic, (req) => {
    served++;
    return req.payload;
  });
  await server.start();
  return {
    served: () => served,
    async close() {
      await server.stop();
      await session.close();
    },
  };
}

async function mqttjsConnect(url: string, clientId: string, noDelay: boolean): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { clientId, protocolVersion: 5 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  // MQTT.js leaves Nagle's algorithm on and has no option for it: the socket is at hand, though
  if (noDelay && client.stream instanceof Socket) client.stream.setNoDelay(true);
  return client;
}

interface PendingRequest {
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export async function mqttjsRequester(
  url: string,
  topic: string,
  payload: Buffer,
  noDelay = false,
): Promise<Requester> {
  const clientId = `js-req-${process.pid}`;
  const client = await mqttjsConnect(url, clientId, noDelay);
  const responseTopic = `${clientId}/rpc/res`;
  const pending = new Map<string, PendingRequest>();
  client.on('message', (_topic: string, body: Buffer, packet: IPublishPacket) => {
    const correlation = packet.properties?.correlationData;
    if (correlation === undefined) return;
    const id = correlation.toString();
    const p = pending.get(id);
    if (p === undefined) return;
    pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(body);
  });
  await client.subscribeAsync(responseTopic, { qos: 1 });

  function request(qos: 0 | 1, body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`request ${id} timed out`));
      }, TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      client.publish(
        topic,
        body,
        { qos, properties: { responseTopic, correlationData: Buffer.from(id) } },
        (err) => {
          if (err) {
            pending.delete(id);
            clearTimeout(timer);
            reject(err);
          }
        },
      );
    });
  }

  return {
    send(qos, done) {
      request(qos, payload).then(() => done(), done);
    },
    async close() {
      await client.endAsync();
    },
  };
}

export async function mqttjsResponder(url: string, topic: string, noDelay = false): Promise<Responder> {
  const client = await mqttjsConnect(url, `js-res-${process.pid}`, noDelay);
  let served = 0;
  client.on('message', (_topic: string, body: Buffer, packet: IPublishPacket) => {
    const responseTopic = packet.properties?.responseTopic;
    if (responseTopic === undefined) return;
    served++;
    client.publish(responseTopic, body, {
      qos: packet.qos,
      properties: { correlationData: packet.properties?.correlationData },
    });
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return {
    served: () => served,
    async close() {
      await client.endAsync();
    },
  };
}
