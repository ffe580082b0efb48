/**
 * `startEmbeddedBroker({ wsPort })` from mqttkit/broker: MQTT over WebSocket
 * beside TCP, a Session on one side and MQTT.js on the other; close() ends
 * the WebSocket clients too, and connections that never finished their
 * upgrade. A client's bad bytes are reported to `log`, not thrown.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import {
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
  startLoopbackBroker,
} from '../../src/broker/index.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { Session } from '../../src/session/session.js';
import type { Message } from '../../src/session/types.js';

describe.concurrent('bad options: InvalidArgumentError naming the option, nothing started', () => {
  it.each([
    [{ wsPort: 'x' }, 'options.wsPort: must be an integer from 0 to 65535, got a string'],
    [{ wsPort: -1 }, 'options.wsPort: must be an integer from 0 to 65535, got -1'],
    [{ wsPort: 70_000 }, 'options.wsPort: must be an integer from 0 to 65535, got 70000'],
    [{ wsPort: 1.5 }, 'options.wsPort: must be an integer from 0 to 65535, got 1.5'],
    [{ port: 70_000 }, 'options.port: must be an integer from 0 to 65535, got 70000'],
    [{ port: '1883' }, 'options.port: must be an integer from 0 to 65535, got a string'],
    [{ hosts: [] }, 'options.hosts: must have at least 1 element'],
    [{ hosts: 'localhost' }, 'options.hosts: must be an array, got a string'],
    [{ hosts: ['127.0.0.1', ''] }, 'options.hosts[1]: must be a non-empty string, got an empty string'],
    [{ log: true }, 'options.log: must be a function, got true'],
    [{ wsport: 0 }, "options.wsport: unknown option 'wsport'; did you mean 'wsPort'?"],
  ])('startEmbeddedBroker(%j)', async (options, message) => {
    const started = startEmbeddedBroker(options as EmbeddedBrokerOptions);
    await expect(started).rejects.toThrow(InvalidArgumentError);
    await expect(started).rejects.toThrow(message);
  });

  it('startLoopbackBroker checks them too', async () => {
    const started = startLoopbackBroker({ wsPort: 'x' as unknown as number });
    await expect(started).rejects.toMatchObject({ name: 'InvalidArgumentError', field: 'options.wsPort' });
  });
});

describe('the embedded broker over WebSocket', () => {
  it('no WebSocket listener unless wsPort is given', async () => {
    const broker = await startEmbeddedBroker();
    try {
      expect(broker).toMatchObject({ wsUrl: undefined, wsPort: undefined });
    } finally {
      await broker.close();
    }
  });

  it('a Session over ws:// and MQTT.js over WebSocket and TCP exchange QoS 1 messages; close() ends them', async () => {
    const broker = await startEmbeddedBroker({ wsPort: 0 });
    expect(broker.wsUrl).toBe(`ws://127.0.0.1:${broker.wsPort}/mqtt`);
    const session = new Session({ url: broker.wsUrl as string, protocolVersion: 4, reconnect: false });
    const overWs = await mqtt.connectAsync(broker.wsUrl as string, {
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const overTcp = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    try {
      await session.connect();
      let received!: (m: Message) => void;
      const first = new Promise<Message>((resolve) => (received = resolve));
      await session.subscribe('ws/in', { qos: 1 }, (m) => received(m));
      await overTcp.publishAsync('ws/in', 'from tcp', { qos: 1 });
      expect((await first).payload.toString()).toBe('from tcp');

      await overWs.subscribeAsync('ws/out', { qos: 1 });
      const got = new Promise<string>((resolve) => overWs.once('message', (_t, p) => resolve(String(p))));
      await session.publish('ws/out', 'from a session', { qos: 1 });
      expect(await got).toBe('from a session');
      expect(broker.clients).toBe(3);

      const lost = new Promise<void>((resolve) => session.once('disconnect', () => resolve()));
      const wsClosed = new Promise<void>((resolve) => overWs.once('close', () => resolve()));
      await broker.close();
      await Promise.all([lost, wsClosed]);
    } finally {
      await session.close();
      await Promise.all([overWs.endAsync(true), overTcp.endAsync(true)]);
      await broker.close();
    }
  });
});

/** A raw TCP connection to `port` on 127.0.0.1, open. */
async function rawSocket(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // reset by the broker's close
  await once(socket, 'connect');
  return socket;
}

describe('the embedded broker and clients that misbehave', () => {
  it('close() ends connections to the WebSocket port that never finished the upgrade', async () => {
    const broker = await startEmbeddedBroker({ wsPort: 0 });
    const sockets: Socket[] = [];
    try {
      const port = broker.wsPort as number;
      sockets.push(await rawSocket(port)); // sent nothing
      const partial = await rawSocket(port);
      sockets.push(partial);
      partial.write('GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // half the headers
      // not once(s, 'close'): the reset comes as an 'error' first, which once() rejects on
      const ended = sockets.map((s) => new Promise((resolve) => s.once('close', resolve)));
      await broker.close();
      await Promise.all(ended);
    } finally {
      for (const s of sockets) s.destroy();
      await broker.close();
    }
  });

  it('bad bytes before and after CONNECT are reported to log, not thrown', async () => {
    const lines: string[] = [];
    let logged!: () => void;
    const log = (line: string): void => {
      lines.push(line);
      if (/error/.test(line)) logged();
    };
    const broker = await startEmbeddedBroker({ log });
    const sockets: Socket[] = [];
    const nextError = (): Promise<void> => new Promise((resolve) => (logged = resolve));
    try {
      // not an MQTT CONNECT at all
      const before = await rawSocket(broker.port);
      sockets.push(before);
      let reported = nextError();
      before.write(Buffer.from([0xff, 0xff]));
      await reported;
      expect(lines).toEqual([expect.stringMatching(/^connection error: /)]);

      // an MQTT 3.1.1 CONNECT (client id assigned), its CONNACK, then a packet type that does not exist here
      const after = await rawSocket(broker.port);
      sockets.push(after);
      const connack = once(after, 'data');
      after.write(Buffer.from('100c00044d5154540402003c0000', 'hex'));
      expect((await connack)[0]).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      reported = nextError();
      after.write(Buffer.from([0xff, 0xff]));
      await reported;
      expect(lines).toContainEqual(expect.stringMatching(/^client error: \S+: /));
    } finally {
      for (const s of sockets) s.destroy();
      await broker.close();
    }
  });
});
