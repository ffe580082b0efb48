/**
 * A Session over every transport to a private mosquitto (tcp, tls with
 * mutual TLS, ws, wss, unix), over aedes (3.1.1), and the wire details a
 * real broker does not show: topic aliases and enhanced authentication.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/index.js';
import { ConnectionError } from '../../src/core/errors.js';
import { Session, type SessionOptions } from '../../src/session/index.js';
import { startAedes } from '../helpers/aedes.js';
import { startFakeBroker } from '../helpers/fake-broker.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

/** Connects, subscribes, publishes to itself at QoS 1 and closes. */
async function roundTrip(options: SessionOptions): Promise<string> {
  const s = new Session(options);
  try {
    await s.connect();
    const it = s.messages('rt/#');
    await s.subscribe('rt/#', { qos: 1 });
    await s.publish('rt/x', `via ${options.url}`, { qos: 1 });
    const { value } = await it.next();
    return value?.payload.toString() ?? '';
  } finally {
    await s.close();
  }
}

describe.skipIf(!hasMosquitto())('transports', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto({ tls: { requireCertificate: true }, websockets: true, unix: true });
  });
  afterAll(async () => {
    await broker.stop();
  });

  const tls = () => {
    const c = broker.certs!;
    return { ca: c.ca.cert, cert: c.client.cert, key: c.client.key };
  };

  it('mqtt://', async () => {
    expect(await roundTrip({ url: broker.url })).toBe(`via ${broker.url}`);
  });

  it('mqtts:// with mutual TLS', async () => {
    expect(await roundTrip({ url: broker.tlsUrl!, tls: tls() })).toMatch(/^via mqtts:/);
  });

  it('ws://', async () => {
    expect(await roundTrip({ url: broker.wsUrl! })).toMatch(/^via ws:/);
  });

  it('wss:// with mutual TLS', async () => {
    expect(await roundTrip({ url: broker.wssUrl!, tls: tls() })).toMatch(/^via wss:/);
  });

  it('unix sockets', async () => {
    expect(await roundTrip({ url: broker.unixUrl! })).toMatch(/^via unix:/);
  });

  it('refuses a broker whose certificate another CA signed', async () => {
    const c = broker.certs!;
    const s = new Session({
      url: broker.tlsUrl!,
      tls: { ca: c.otherCa.cert, cert: c.client.cert, key: c.client.key },
    });
    await expect(s.connect()).rejects.toBeInstanceOf(ConnectionError);
    expect(s.state).toBe('disconnected');
    await s.close();
  });

  it('is refused by a broker that requires a client certificate, with one clear message', async () => {
    const s = new Session({ url: broker.tlsUrl!, tls: { ca: broker.certs!.ca.cert }, reconnect: false });
    const err = (await s.connect().catch((e: unknown) => e)) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(new RegExp(`^connection to ${broker.tlsUrl} (failed|closed)`));
    expect(err.message.split('connection to').length).toBe(2); // said once, not once per layer
    await s.close();
  });
});

describe('aedes (MQTT 3.1.1)', () => {
  it('connects, subscribes and publishes at QoS 0, 1 and 2', async () => {
    const aedes = await startAedes();
    try {
      const s = new Session({ url: aedes.url, protocolVersion: 4 });
      await s.connect();
      const it = s.messages();
      await s.subscribe('a/#', { qos: 2 });
      for (const qos of [0, 1, 2] as const) await s.publish(`a/${qos}`, `q${qos}`, { qos });
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push(((await it.next()).value as { topic: string }).topic);
      expect(got.sort()).toEqual(['a/0', 'a/1', 'a/2']);
      await s.close();
    } finally {
      await aedes.stop();
    }
  });
});

describe('on the wire', () => {
  it('replaces a repeated topic by its alias once the broker allows aliases', async () => {
    const b = await startFakeBroker({ autoAck: true });
    try {
      const s = new Session({ url: b.url });
      const connecting = s.connect();
      const conn = await b.nextConnection();
      await conn.nextPacket('connect');
      conn.send({
        type: 'connack',
        sessionPresent: false,
        reasonCode: 0,
        properties: { topicAliasMaximum: 1 },
      });
      await connecting;
      for (const t of ['dev/1/temp', 'dev/1/temp', 'dev/2/temp', 'dev/1/temp'])
        await s.publish(t, 'x', { qos: 1 });
      const wire: [string, number | undefined][] = [];
      for (let i = 0; i < 4; i++) {
        const p = (await conn.nextPacket('publish')) as PublishPacket;
        wire.push([p.topic, p.properties?.topicAlias]);
      }
      expect(wire).toEqual([
        ['dev/1/temp', 1],
        ['', 1],
        ['dev/2/temp', undefined],
        ['', 1],
      ]);
      await s.close();
    } finally {
      await b.close();
    }
  });

  it('answers the broker’s AUTH challenges with the authenticate hook', async () => {
    const b = await startFakeBroker();
    try {
      const challenges: string[] = [];
      const s = new Session({
        url: b.url,
        authenticationMethod: 'TOKEN-CHALLENGE',
        authenticationData: Buffer.from('hello'),
        authenticate: ({ data }) => {
          challenges.push(Buffer.from(data ?? []).toString());
          return Buffer.from('response');
        },
      });
      const connecting = s.connect();
      const conn = await b.nextConnection();
      expect(await conn.nextPacket('connect')).toMatchObject({
        properties: { authenticationMethod: 'TOKEN-CHALLENGE' },
      });
      conn.send({
        type: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: 'TOKEN-CHALLENGE', authenticationData: Buffer.from('nonce-1') },
      });
      const answer = await conn.nextPacket('auth');
      expect(answer).toMatchObject({
        reasonCode: 0x18,
        properties: { authenticationMethod: 'TOKEN-CHALLENGE' },
      });
      expect(
        Buffer.from(
          (answer as { properties: { authenticationData: Uint8Array } }).properties.authenticationData,
        ).toString(),
      ).toBe('response');
      conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
      await connecting;
      expect(challenges).toEqual(['nonce-1']);
      await s.close();
    } finally {
      await b.close();
    }
  });
});
