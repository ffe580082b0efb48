/**
 * The fake broker, driven by MQTT.js (3.1.1 and 5.0) and by raw sockets.
 */
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import mqtt, {
  type IClientOptions,
  type IConnackPacket,
  type MqttClient,
  type Packet as MqttJsPacket,
} from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/codec/index.js';
import { type FakeBroker, type FakeBrokerOptions, startFakeBroker } from './fake-broker.js';

let broker: FakeBroker | undefined;
let client: MqttClient | undefined;
let raw: Socket | undefined;

afterEach(async () => {
  raw?.destroy();
  await client?.endAsync(true);
  await broker?.close();
  broker = client = raw = undefined;
});

async function start(options?: FakeBrokerOptions): Promise<FakeBroker> {
  broker = await startFakeBroker(options);
  return broker;
}

function clientOptions(version: 4 | 5): IClientOptions {
  return { protocolVersion: version, clientId: `fake-v${version}`, reconnectPeriod: 0, connectTimeout: 5000 };
}

/** The next packet MQTT.js receives that satisfies `accept`. */
function received(c: MqttClient, accept: (p: MqttJsPacket) => boolean): Promise<MqttJsPacket> {
  return new Promise((resolve) => {
    const on = (p: MqttJsPacket) => {
      if (!accept(p)) return;
      c.off('packetreceive', on);
      resolve(p);
    };
    c.on('packetreceive', on);
  });
}

describe.each([4, 5] as const)('fake broker with MQTT.js, protocol version %i', (version) => {
  it('records the CONNECT; autoConnack lets MQTT.js connect', async () => {
    const b = await start({ autoConnack: true });
    client = await mqtt.connectAsync(b.url, { ...clientOptions(version), keepalive: 30 });
    expect(client.connected).toBe(true);
    const conn = await b.nextConnection();
    const connect = await conn.nextPacket('connect');
    expect(connect).toMatchObject({
      type: 'connect',
      protocolVersion: version,
      clientId: `fake-v${version}`,
      keepalive: 30,
      clean: true,
    });
    expect(conn.packets[0]).toBe(connect);
    expect(conn.protocolVersion).toBe(version);
    expect(b.connections).toEqual([conn]);
  });

  it('answers nothing by default: the test scripts the CONNACK', async () => {
    const b = await start();
    client = mqtt.connect(b.url, clientOptions(version));
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    expect(client.connected).toBe(false);
    const connected = new Promise<IConnackPacket>((resolve) => client!.once('connect', resolve));
    conn.send({
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0,
      properties: version === 5 ? { receiveMaximum: 7 } : undefined,
    });
    const connack = await connected;
    expect(client.connected).toBe(true);
    if (version === 5) expect(connack.properties?.receiveMaximum).toBe(7);
  });

  it('a scripted CONNACK refusal reaches MQTT.js', async () => {
    const b = await start();
    client = mqtt.connect(b.url, clientOptions(version));
    const errored = new Promise<Error>((resolve) => client!.once('error', resolve));
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    // 3.1.1 return code 5 / MQTT 5 0x87: not authorized
    conn.send({ type: 'connack', sessionPresent: false, reasonCode: version === 5 ? 0x87 : 5 });
    const err = await errored;
    expect((err as { code?: number }).code).toBe(version === 5 ? 0x87 : 5);
    expect(client.connected).toBe(false);
  });

  it('a scripted SUBACK decides what MQTT.js is granted', async () => {
    const b = await start({ autoConnack: true });
    client = await mqtt.connectAsync(b.url, clientOptions(version));
    const conn = await b.nextConnection();
    const granted = client.subscribeAsync('sensors/+/temp', { qos: 2 });
    const subscribe = await conn.nextPacket('subscribe');
    expect(subscribe.subscriptions).toMatchObject([{ topicFilter: 'sensors/+/temp', qos: 2 }]);
    conn.send({ type: 'suback', packetId: subscribe.packetId, reasonCodes: [1] });
    expect(await granted).toMatchObject([{ topic: 'sensors/+/temp', qos: 1 }]);
    expect(conn.packets.map((p) => p.type)).toEqual(['connect', 'subscribe']);
  });

  it('autoAck answers PINGREQ, publishes of each QoS, SUBSCRIBE and UNSUBSCRIBE', async () => {
    const b = await start({ autoConnack: true, autoAck: true });
    client = await mqtt.connectAsync(b.url, clientOptions(version));
    const conn = await b.nextConnection();

    const pong = received(client, (p) => p.cmd === 'pingresp');
    client.sendPing();
    await conn.nextPacket('pingreq');
    await pong;

    expect(await client.subscribeAsync({ 'a/#': { qos: 1 }, 'b/+': { qos: 2 } })).toMatchObject([
      { topic: 'a/#', qos: 1 },
      { topic: 'b/+', qos: 2 },
    ]);
    await client.publishAsync('t/1', 'one', { qos: 1 });
    await client.publishAsync('t/2', 'two', { qos: 2 });
    await client.publishAsync('t/0', 'zero', { qos: 0 });
    await client.unsubscribeAsync('a/#');

    const publish = await conn.nextPacket('publish');
    expect(publish).toMatchObject({ type: 'publish', topic: 't/1', qos: 1 });
    expect(Buffer.from(publish.payload).toString()).toBe('one');
    await conn.nextPacket('unsubscribe');
    expect(conn.packets.map((p) => p.type)).toEqual([
      'connect',
      'pingreq',
      'subscribe',
      'publish',
      'publish',
      'pubrel',
      'publish',
      'unsubscribe',
    ]);
  });

  it('sendRaw delivers bytes as they are: garbage makes MQTT.js fail', async () => {
    const b = await start({ autoConnack: true });
    client = await mqtt.connectAsync(b.url, clientOptions(version));
    const conn = await b.nextConnection();
    const errored = new Promise<Error>((resolve) => client!.once('error', resolve));
    // A PINGRESP in two pieces is still a PINGRESP ...
    const pong = received(client, (p) => p.cmd === 'pingresp');
    conn.sendRaw([0xd0]);
    conn.sendRaw(new Uint8Array([0x00]));
    await pong;
    // ... but packet type 0 is reserved.
    conn.sendRaw([0x00, 0x00]);
    const err = await errored;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/not supported/i); // mqtt-packet's word for type 0
  });

  it('close() ends every connection and frees the port', async () => {
    const b = await start({ autoConnack: true });
    client = await mqtt.connectAsync(b.url, clientOptions(version));
    const conn = await b.nextConnection();
    const clientClosed = new Promise<void>((resolve) => client!.once('close', resolve));
    await b.close();
    await clientClosed;
    expect(conn.isClosed).toBe(true);
    await expect(conn.nextPacket('publish')).rejects.toThrow(/closed/);
    await expect(b.nextConnection()).rejects.toThrow(/closed/);
    const probe = netConnect(b.port, '127.0.0.1');
    const [err] = await once(probe, 'error');
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });
});

describe('fake broker, raw sockets', () => {
  async function rawClient(b: FakeBroker): Promise<Socket> {
    raw = netConnect(b.port, '127.0.0.1');
    await once(raw, 'connect');
    return raw;
  }

  it('records a decode error and drops the connection', async () => {
    const b = await start({ autoConnack: true });
    const s = await rawClient(b);
    const conn = await b.nextConnection();
    const socketClosed = once(s, 'close');
    const waiting = expect(conn.nextPacket()).rejects.toThrow(/decode error/);
    s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff])); // remaining length of 5 bytes
    await conn.closed;
    await socketClosed;
    expect(conn.error).toBeInstanceOf(DecodeError);
    expect(conn.error?.reasonCode).toBe(0x81);
    expect(conn.packets).toEqual([]);
    await waiting;
  });

  it('hands out packets once each, whether they arrived before or after the call', async () => {
    const b = await start({ protocolVersion: 4 });
    const s = await rawClient(b);
    const conn = await b.nextConnection();
    s.write(Buffer.from([0xc0, 0x00, 0xe0, 0x00])); // PINGREQ, DISCONNECT
    expect(await conn.nextPacket('disconnect')).toEqual({ type: 'disconnect' });
    expect(await conn.nextPacket()).toEqual({ type: 'pingreq' });
    const later = conn.nextPacket('pingreq');
    s.write(Buffer.from([0xc0, 0x00]));
    expect(await later).toEqual({ type: 'pingreq' });
    expect(conn.packets.map((p) => p.type)).toEqual(['pingreq', 'disconnect', 'pingreq']);
  });

  it('nextPacket times out with what was received', async () => {
    const b = await start();
    await rawClient(b);
    const conn = await b.nextConnection();
    await expect(conn.nextPacket('subscribe', 50)).rejects.toThrow(
      /no subscribe .*nothing.*timed out after 50 ms/,
    );
  });

  it('encodes with the version of the CONNECT received', async () => {
    const b = await start({ protocolVersion: 5, autoConnack: true });
    const s = await rawClient(b);
    const conn = await b.nextConnection();
    // CONNECT 3.1.1, clean session, keepalive 60, client id "a"
    s.write(
      Buffer.from([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x61]),
    );
    await conn.nextPacket('connect');
    expect(conn.protocolVersion).toBe(4);
    const [connack] = await once(s, 'data');
    expect([...(connack as Buffer)]).toEqual([0x20, 0x02, 0x00, 0x00]); // 3.1.1 form: no properties
  });
});
