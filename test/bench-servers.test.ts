/**
 * Smoke tests of the benchmark servers (bench/servers), each started in its
 * own process through bench/servers/spawn.ts and driven by MQTT.js and by
 * raw sockets.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient, type Packet as MqttJsPacket } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SinkStats, type SourceConfig, startSink, startSource } from '../bench/servers/spawn.js';
import { encode, type Packet, PacketDecoder } from '../src/codec/index.js';

type BenchServer = Awaited<ReturnType<typeof startSink>>;

let client: MqttClient | undefined;
let raw: Socket | undefined;

afterEach(async () => {
  raw?.destroy();
  await client?.endAsync(true);
  client = raw = undefined;
});

function options(version: 4 | 5, extra: IClientOptions = {}): IClientOptions {
  return { protocolVersion: version, reconnectPeriod: 0, connectTimeout: 10_000, ...extra };
}

/** Resolves once everything the server sent before answering a PINGREQ has been handled by MQTT.js. */
function pingRoundTrip(c: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const on = (p: MqttJsPacket) => {
      if (p.cmd !== 'pingresp') return;
      c.off('packetreceive', on);
      resolve();
    };
    c.on('packetreceive', on);
    c.sendPing();
  });
}

describe('bench sink', () => {
  let sink: BenchServer;
  beforeAll(async () => {
    sink = await startSink();
  });
  afterAll(async () => {
    await sink?.stop();
  });

  it.each([4, 5] as const)('acks and counts 1,000 QoS 1 publishes from MQTT.js v%i', async (version) => {
    await sink.control('reset');
    client = await mqtt.connectAsync(sink.url, options(version));
    const payload = Buffer.alloc(16, 1);
    const acks = await Promise.all(
      Array.from({ length: 1000 }, () => client!.publishAsync('bench/t', payload, { qos: 1 })),
    );
    expect(acks).toHaveLength(1000);
    const stats = await sink.control<SinkStats>('stats');
    expect(stats.publishes).toBe(1000);
    expect(stats.bytes).toBeGreaterThan(1000 * (2 + 2 + 7 + 2 + 16));
  });

  it.each([4, 5] as const)(
    'QoS 0 and 2, SUBSCRIBE, UNSUBSCRIBE and PINGREQ with MQTT.js v%i',
    async (version) => {
      await sink.control('reset');
      client = await mqtt.connectAsync(sink.url, options(version));
      for (let i = 0; i < 200; i++) client.publish('bench/t', 'zero', { qos: 0 });
      await Promise.all(
        Array.from({ length: 100 }, () => client!.publishAsync('bench/t', 'two', { qos: 2 })),
      );
      expect(await client.subscribeAsync({ 'a/#': { qos: 2 }, 'b/+': { qos: 0 } })).toMatchObject([
        { topic: 'a/#', qos: 2 },
        { topic: 'b/+', qos: 0 },
      ]);
      await client.unsubscribeAsync(['a/#', 'b/+']);
      await pingRoundTrip(client);
      expect((await sink.control<SinkStats>('stats')).publishes).toBe(300);
    },
  );

  it('answers packets split anywhere, and a payload spread over many reads', async () => {
    await sink.control('reset');
    raw = netConnect(sink.port, '127.0.0.1');
    raw.setNoDelay(true);
    await once(raw, 'connect');
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    const replies: Packet[] = [];
    let wanted = 0;
    let resolveAll: () => void = () => {};
    raw.on('data', (chunk: Buffer) => {
      replies.push(...decoder.push(chunk));
      if (replies.length >= wanted) resolveAll();
    });
    const big = Buffer.alloc(1_000_000, 7);
    const packets: Packet[] = [
      { type: 'connect', clientId: 'raw', clean: true, keepalive: 0 },
      {
        type: 'publish',
        topic: 'x/y',
        payload: Buffer.from('a'),
        qos: 1,
        packetId: 513,
        retain: false,
        dup: false,
      },
      { type: 'publish', topic: 'x/y', payload: big, qos: 2, packetId: 7, retain: false, dup: false },
      { type: 'pubrel', packetId: 7 },
      { type: 'publish', topic: 'x/y', payload: big, qos: 0, retain: false, dup: false },
      {
        type: 'subscribe',
        packetId: 9,
        properties: { subscriptionIdentifier: 300 },
        subscriptions: [
          { topicFilter: 'a/+', qos: 1 },
          { topicFilter: 'b/#', qos: 2, noLocal: true },
        ],
      },
      { type: 'unsubscribe', packetId: 10, topicFilters: ['a/+', 'b/#', 'c'] },
      { type: 'pingreq' },
    ];
    const bytes = Buffer.concat(packets.map((p) => encode(p, 5)));
    wanted = 7;
    const all = new Promise<void>((resolve) => (resolveAll = resolve));
    // small pieces up to the big payloads, then large ones
    let at = 0;
    for (const size of [1, 2, 3, 5, 1, 1, 7, 11, 13]) {
      const piece = bytes.subarray(at, at + size);
      await new Promise((resolve) => raw!.write(piece, resolve)); // each piece goes out on its own
      at += size;
    }
    while (at < bytes.length) {
      raw.write(bytes.subarray(at, at + 65_521));
      at += 65_521;
    }
    await all;
    expect(replies).toEqual([
      { type: 'connack', sessionPresent: false, reasonCode: 0 },
      { type: 'puback', packetId: 513, reasonCode: 0 },
      { type: 'pubrec', packetId: 7, reasonCode: 0 },
      { type: 'pubcomp', packetId: 7, reasonCode: 0 },
      { type: 'suback', packetId: 9, reasonCodes: [1, 2] },
      { type: 'unsuback', packetId: 10, reasonCodes: [0, 0, 0] },
      { type: 'pingresp' },
    ]);
    const stats = await sink.control<SinkStats>('stats');
    expect(stats.publishes).toBe(3);
    expect(stats.bytes).toBe(bytes.length);
  });

  it('rejects unknown control lines', async () => {
    await expect(sink.control('frobnicate')).rejects.toThrow(/unknown command/);
  });
});

describe('bench source', () => {
  let source: BenchServer;
  beforeAll(async () => {
    source = await startSource();
  });
  afterAll(async () => {
    await source?.stop();
  });

  async function receive(version: 4 | 5, config: Partial<SourceConfig>, extra?: IClientOptions) {
    const c = await source.control<SourceConfig>({ topic: 'bench/t', size: 16, ...config });
    client = await mqtt.connectAsync(source.url, options(version, extra));
    let received = 0;
    let wrong = 0;
    const all = new Promise<void>((resolve, reject) => {
      client!.on('error', reject);
      client!.on('message', (topic, payload, packet) => {
        if (topic !== c.topic || payload.length !== c.size || packet.qos !== c.qos) wrong++;
        if (++received === c.count) resolve();
      });
    });
    await client.subscribeAsync(c.topic, { qos: c.qos });
    await all;
    const done = await source.nextDone();
    await pingRoundTrip(client); // nothing more on its way
    return { received, wrong, done, config: c };
  }

  it.each([
    [4, 0],
    [5, 0],
    [4, 1],
    [5, 1],
  ] as const)('MQTT.js v%i receives exactly count messages of QoS %i', async (version, qos) => {
    const count = qos === 0 ? 20_000 : 10_000;
    const r = await receive(version, { qos, count });
    expect(r.received).toBe(count);
    expect(r.wrong).toBe(0);
    expect(r.done).toMatchObject({ done: true, qos, sent: count, acked: qos === 0 ? 0 : count });
  });

  it('QoS 2 stays within the Receive Maximum of an MQTT 5 client', async () => {
    // MQTT.js fails the connection if more QoS 2 messages than it allows are unreleased.
    const r = await receive(5, { qos: 2, count: 3000 }, { properties: { receiveMaximum: 10 } });
    expect(r.received).toBe(3000);
    expect(r.done).toMatchObject({ done: true, qos: 2, sent: 3000, acked: 3000 });
  });

  it('lowers the QoS to the one subscribed with; a small inflight window still completes', async () => {
    await source.control({ inflight: 3 });
    try {
      const r = await receive(4, { qos: 1, count: 500 });
      expect(r.done).toMatchObject({ done: true, qos: 1, acked: 500 });
      const c = await source.control<SourceConfig>({ qos: 1, count: 100 });
      client!.removeAllListeners('message');
      await client!.endAsync();
      client = await mqtt.connectAsync(source.url, options(5));
      let received = 0;
      const qosSeen = new Set<number>();
      const all = new Promise<void>((resolve) => {
        client!.on('message', (_t, _p, packet) => {
          qosSeen.add(packet.qos);
          if (++received === c.count) resolve();
        });
      });
      await client.subscribeAsync(c.topic, { qos: 0 });
      await all;
      expect([...qosSeen]).toEqual([0]);
      expect(await source.nextDone()).toMatchObject({ done: true, qos: 0, sent: 100 });
    } finally {
      await source.control({ inflight: 65535 });
    }
  });

  it('rejects a bad configuration and keeps the old one', async () => {
    const before = await source.control<SourceConfig>('config');
    await expect(source.control({ qos: 3 })).rejects.toThrow(/bad qos/);
    expect(await source.control('config')).toEqual(before);
  });
});

describe('bench server processes', () => {
  it('stop() ends the process', async () => {
    const sink = await startSink();
    const exited = once(sink.child, 'exit');
    await sink.stop();
    const [code] = await exited;
    expect(code).toBe(0);
    await expect(sink.control('stats')).rejects.toThrow(/exited/);
  });

  it('a server dies with its parent, even a SIGKILLed one', async () => {
    // A parent process that starts a sink, prints its port and waits.
    const script = `
      import { startSink } from './bench/servers/spawn.ts';
      const sink = await startSink();
      console.log(JSON.stringify({ port: sink.port }));
      setInterval(() => {}, 1 << 30);
    `;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = await once(createInterface({ input: parent.stdout! }), 'line');
      const { port } = JSON.parse(line as string) as { port: number };
      raw = netConnect(port, '127.0.0.1');
      await once(raw, 'connect');
      const sinkGone = once(raw, 'close');
      parent.kill('SIGKILL');
      await sinkGone; // the sink closes connections only when its process ends
      // Refused, or reset if the listening socket was still being torn down.
      const probe = netConnect(port, '127.0.0.1');
      const [err] = await once(probe, 'error');
      expect((err as NodeJS.ErrnoException).code).toMatch(/^ECONNREFUSED$|^ECONNRESET$/);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
