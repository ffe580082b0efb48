/**
 * `startEmbeddedBroker({ wsPort })` from mqttkit/broker: MQTT over WebSocket
 * beside TCP, a Session on one side and MQTT.js on the other; close() ends
 * the WebSocket clients too.
 */
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../src/broker/index.js';
import { Session } from '../../src/session/session.js';
import type { Message } from '../../src/session/types.js';

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
