/**
 * The MQTT.js half of the session benchmarks (publish.bench.ts,
 * receive.bench.ts): the same work mqttkit's side does, done with MQTT.js
 * as fast as it honestly goes, against the benchmark servers in
 * bench/servers (sink for publishing, source for receiving).
 *
 * Each function connects first (not measured), then measures wall time and
 * `process.cpuUsage()` (user + system, this process only: the servers run
 * in their own processes) from the first publish / the SUBSCRIBE to the
 * last message, then disconnects (not measured).
 *
 * How MQTT.js is driven, and why:
 * - QoS 0 publish: a tight loop of `publish(..., cb)`. MQTT.js calls `cb`
 *   synchronously while the socket accepts writes and only on 'drain' once
 *   `write()` returned false, so the loop goes on while `cb` has run and
 *   awaits it otherwise: MQTT.js gets all the buffering it asks for, and no
 *   more (firing all messages at once would only measure a queue growing
 *   in memory). The run ends with a PINGREQ/PINGRESP round trip: the sink
 *   answers in order, so the PINGRESP proves every message reached it
 *   (keepalive is off, so no other PINGRESP can be mistaken for it).
 * - QoS 1/2 publish: a window of messages in flight; each completion
 *   callback publishes the next, and the run ends with the last
 *   completion. MQTT.js does not limit what it has in flight, and its
 *   default packet identifier allocator hands out identifiers in turn
 *   without checking which are in use, so the window must stay well under
 *   65,535. A window of 10,000 gave MQTT.js its best throughput on the
 *   development machine, by a little: medians of 5 runs of 200,000 16-byte
 *   v5 messages to the sink were, for windows of 1,000 / 10,000 / 50,000,
 *   QoS 1 106k / 113k / 109k msgs/s and QoS 2 62k / 65k / 62k (100 was no
 *   better than 1,000). Compare again with `bench/mqttjs-side.smoke.ts
 *   --windows`; pass `window` to change it.
 * - Receive: subscribe, count 'message' events until `count`; the source
 *   sends as fast as the socket takes it (QoS 1: MQTT.js acks each message
 *   after the handler). Ends at the last message event.
 */
import mqtt, { type IClientOptions, type MqttClient, type Packet as MqttJsPacket } from 'mqtt';
import type { SourceConfig } from './servers/wire.js';

export interface PeerResult {
  /** Messages published (acknowledged, for QoS 1/2) or received. */
  msgs: number;
  /** Wall time of the measured part, milliseconds. */
  ms: number;
  /** CPU time of this process in the measured part (user + system), microseconds. */
  cpuUs: number;
}

export interface MqttjsPublishOptions {
  url: string;
  qos: 0 | 1 | 2;
  count: number;
  /** Payload bytes. @default 16 */
  size?: number;
  version: 4 | 5;
  /** @default 'bench/t' */
  topic?: string;
  /** QoS 1/2: messages in flight at once. @default 10000 */
  window?: number;
  /** Rejects if the run takes longer. @default 120000 */
  timeoutMs?: number;
}

export interface MqttjsReceiveOptions {
  url: string;
  qos: 0 | 1 | 2;
  count: number;
  /** Payload bytes. @default 16 */
  size?: number;
  version: 4 | 5;
  /** @default 'bench/t' */
  topic?: string;
  /**
   * Configures the source for the run before the client subscribes, e.g.
   * `(config) => source.control(config)` with a server from
   * bench/servers/spawn.ts.
   */
  sourceControl: (config: Partial<SourceConfig>) => Promise<unknown>;
  /** Rejects if the run takes longer. @default 120000 */
  timeoutMs?: number;
}

export const DEFAULT_WINDOW = 10_000;

function clientOptions(version: 4 | 5): IClientOptions {
  return {
    protocolVersion: version,
    clean: true,
    keepalive: 0,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  };
}

/** Runs `body` between two readings of the clock and of the CPU usage. */
async function measured(msgs: number, body: () => Promise<void>): Promise<PeerResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { msgs, ms, cpuUs: cpu.user + cpu.system };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`MQTT.js ${what}: not done after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Rejects when the client reports an error or loses the connection. */
function failure(client: MqttClient): Promise<never> {
  return new Promise((_, reject) => {
    client.once('error', reject);
    client.once('close', () => reject(new Error('MQTT.js: connection closed during the run')));
  });
}

function pingRoundTrip(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const on = (p: MqttJsPacket) => {
      if (p.cmd !== 'pingresp') return;
      client.off('packetreceive', on);
      resolve();
    };
    client.on('packetreceive', on);
    client.sendPing();
  });
}

async function publishQos0(client: MqttClient, topic: string, payload: Buffer, count: number): Promise<void> {
  await mqttjsQos0Loop(client, topic, payload, count);
  await pingRoundTrip(client);
}

/**
 * QoS 0 publishes as fast as MQTT.js honestly goes: on while it calls back
 * at once, and waiting for the callback ('drain') when it does not.
 */
export async function mqttjsQos0Loop(
  client: MqttClient,
  topic: string,
  payload: Buffer,
  count: number,
): Promise<void> {
  let drained: (() => void) | undefined;
  let calledBack = false;
  let error: Error | undefined;
  const cb = (err?: Error) => {
    error ??= err;
    calledBack = true;
    drained?.();
  };
  const opts = { qos: 0 as const };
  for (let i = 0; i < count; i++) {
    calledBack = false;
    client.publish(topic, payload, opts, cb);
    if (!calledBack) {
      // write() returned false: MQTT.js calls back on 'drain'
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
      drained = undefined;
    }
    if (error) throw error;
  }
}

function publishWindowed(
  client: MqttClient,
  topic: string,
  payload: Buffer,
  qos: 1 | 2,
  count: number,
  window: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (count === 0) return resolve();
    const opts = { qos };
    let sent = 0;
    let done = 0;
    const onDone = (err?: Error) => {
      if (err) return reject(err);
      if (++done === count) return resolve();
      if (sent < count) {
        sent++;
        client.publish(topic, payload, opts, onDone);
      }
    };
    const first = Math.min(window, count);
    while (sent < first) {
      sent++;
      client.publish(topic, payload, opts, onDone);
    }
  });
}

/** Publishes `count` messages with MQTT.js as fast as it goes; see the module comment. */
export async function mqttjsPublish(o: MqttjsPublishOptions): Promise<PeerResult> {
  const window = o.window ?? DEFAULT_WINDOW;
  if (!Number.isInteger(window) || window < 1 || window > 60_000)
    throw new RangeError('window must be an integer in 1..60000');
  const topic = o.topic ?? 'bench/t';
  const payload = Buffer.alloc(o.size ?? 16, 0x61);
  const client = await mqtt.connectAsync(o.url, clientOptions(o.version));
  try {
    const failed = failure(client);
    failed.catch(() => {});
    return await measured(o.count, () =>
      withTimeout(
        Promise.race([
          o.qos === 0
            ? publishQos0(client, topic, payload, o.count)
            : publishWindowed(client, topic, payload, o.qos, o.count, window),
          failed,
        ]),
        o.timeoutMs ?? 120_000,
        `publish of ${o.count} QoS ${o.qos}`,
      ),
    );
  } finally {
    await client.endAsync(true);
  }
}

/** Subscribes with MQTT.js and counts messages until `count` arrived; see the module comment. */
export async function mqttjsReceive(o: MqttjsReceiveOptions): Promise<PeerResult> {
  const topic = o.topic ?? 'bench/t';
  await o.sourceControl({ topic, qos: o.qos, size: o.size ?? 16, count: o.count });
  const client = await mqtt.connectAsync(o.url, clientOptions(o.version));
  try {
    const failed = failure(client);
    failed.catch(() => {});
    let received = 0;
    let resolveAll: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      resolveAll = resolve;
    });
    client.on('message', () => {
      if (++received === o.count) resolveAll();
    });
    if (o.count === 0) resolveAll();
    return await measured(o.count, () => {
      client.subscribe(topic, { qos: o.qos });
      return withTimeout(
        Promise.race([all, failed]),
        o.timeoutMs ?? 120_000,
        `receive of ${o.count} QoS ${o.qos}`,
      );
    });
  } finally {
    await client.endAsync(true);
  }
}
