/**
 * The test helpers start real brokers that a real client (MQTT.js) can use:
 * mosquitto on every listener kind, restarted and killed, aedes, nats-server
 * with MQTT and JetStream, and find the machine's RabbitMQ MQTT listener.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAedes } from './aedes.js';
import { hasOpenssl } from './certs.js';
import { onCleanup } from './cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from './mosquitto.js';
import { hasNats, type NatsServer, startNats } from './nats.js';
import { freePort } from './ports.js';
import { RABBITMQ_MQTT_PORT, rabbitMq } from './rabbitmq.js';
import type { ServerControls } from './server-process.js';

async function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(
    url,
    {
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      clientId: `helpers-${Math.random().toString(36).slice(2)}`,
      ...options,
    },
    false,
  );
  onCleanup(() => client.endAsync(true));
  return client;
}

/** Subscribes, publishes to itself and resolves with the payload that came back. */
async function roundTrip(client: MqttClient, topic = 'helpers/echo'): Promise<string> {
  await client.subscribeAsync(topic, { qos: 1 });
  const received = new Promise<string>((resolve) => {
    client.once('message', (_topic, payload) => resolve(payload.toString()));
  });
  await client.publishAsync(topic, 'ping', { qos: 1 });
  return received;
}

/** Whether a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    // Binding succeeds only if nothing listens there any more.
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Stops `server` and checks that its process, directory and port are gone, and that a second stop() is harmless. */
async function expectStopCleansUp(server: ServerControls & { dir: string; port: number }): Promise<void> {
  const pid = server.pid!;
  await server.stop();
  expect(existsSync(server.dir)).toBe(false);
  expect(() => process.kill(pid, 0)).toThrow();
  expect(await refused(server.port)).toBe(true);
  await server.stop();
}

describe('freePort', () => {
  it('returns a port that can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await refused(port)).toBe(true);
  });
});

describe.skipIf(!hasMosquitto())('startMosquitto', () => {
  describe('plain and unix listeners', () => {
    let broker: Broker;
    beforeAll(async () => {
      broker = await startMosquitto({ unix: true, persistence: true, maxInflight: 5, maxPacketSize: 65_536 });
    });
    afterAll(() => broker?.stop());

    it('serves MQTT.js on 127.0.0.1 and writes a log', async () => {
      expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
      const client = await connect(broker.url);
      expect(await roundTrip(client)).toBe('ping');
      expect(broker.log()).toMatch(/mosquitto version 2\.\d+\.\d+ running/);
      expect(broker.log()).toMatch(/New client connected from 127\.0\.0\.1/);
    });

    it('serves MQTT.js on the unix socket', async () => {
      expect(broker.unixPath && existsSync(broker.unixPath)).toBe(true);
      const client = await connect(`mqtt+unix://${broker.unixPath}`);
      expect(await roundTrip(client, 'helpers/unix')).toBe('ping');
    });

    it('applies max_packet_size', async () => {
      const client = await connect(broker.url, { protocolVersion: 5 });
      expect(await roundTrip(client, 'helpers/small')).toBe('ping');
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      // The broker drops a client whose packet is over the limit.
      client.publish('helpers/big', Buffer.alloc(70_000), { qos: 0 });
      await closed;
    });

    it('restarts on the same ports with a new process', async () => {
      const pid = broker.pid;
      const client = await connect(broker.url);
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      await broker.restart();
      await closed;
      expect(broker.pid).toBeDefined();
      expect(broker.pid).not.toBe(pid);
      expect(await roundTrip(await connect(broker.url))).toBe('ping');
      expect(await roundTrip(await connect(`mqtt+unix://${broker.unixPath}`), 'helpers/unix2')).toBe('ping');
    });

    it('with persistence, keeps a persistent session and its queued message across restart()', async () => {
      const session = { clientId: 'helpers-persistent', clean: false };
      const subscriber = await connect(broker.url, session);
      await subscriber.subscribeAsync('helpers/queued', { qos: 1 });
      await subscriber.endAsync();
      await (await connect(broker.url)).publishAsync('helpers/queued', 'kept', { qos: 1 });
      await broker.restart();
      const received = new Promise<string>((resolve) => {
        // Registered before the session resumes: the queued message comes right after CONNACK.
        const client = mqtt.connect(broker.url, { ...session, reconnectPeriod: 0 });
        onCleanup(() => client.endAsync(true));
        client.once('message', (_topic, payload) => resolve(payload.toString()));
      });
      expect(await received).toBe('kept');
    });

    it('is killed with SIGKILL and comes back with restart()', async () => {
      await broker.kill();
      expect(broker.pid).toBeUndefined();
      expect(await refused(broker.port)).toBe(true);
      await expect(connect(broker.url)).rejects.toThrow();
      await broker.restart();
      expect(await roundTrip(await connect(broker.url))).toBe('ping');
    });
  });

  describe.skipIf(!hasOpenssl())('TLS, mutual TLS and websockets', () => {
    let broker: Broker;
    let mtls: Broker;
    beforeAll(async () => {
      broker = await startMosquitto({ tls: true, websockets: true });
      mtls = await startMosquitto({
        tls: { requireCertificate: true },
        websockets: true,
        certs: broker.certs,
      });
    });
    afterAll(async () => {
      await broker?.stop();
      await mtls?.stop();
    });

    it('serves TLS to a client that trusts the generated CA', async () => {
      const certs = broker.certs!;
      expect(broker.tlsUrl).toBe(`mqtts://localhost:${broker.tlsPort}`);
      const client = await connect(broker.tlsUrl!, { ca: certs.ca.cert, rejectUnauthorized: true });
      expect(await roundTrip(client)).toBe('ping');
    });

    it('is refused by a client that trusts another CA', async () => {
      await expect(
        connect(broker.tlsUrl!, { ca: broker.certs!.otherCa.cert, rejectUnauthorized: true }),
      ).rejects.toThrow(/certificate/);
    });

    it('serves websockets and secure websockets', async () => {
      expect(broker.wsUrl).toBe(`ws://127.0.0.1:${broker.wsPort}/mqtt`);
      expect(await roundTrip(await connect(broker.wsUrl!), 'helpers/ws')).toBe('ping');
      const wss = await connect(broker.wssUrl!, { ca: broker.certs!.ca.cert, rejectUnauthorized: true });
      expect(await roundTrip(wss, 'helpers/wss')).toBe('ping');
    });

    it('with requireCertificate, accepts a client certificate signed by the CA', async () => {
      const { ca, client } = mtls.certs!;
      const tlsClient = await connect(mtls.tlsUrl!, { ca: ca.cert, cert: client.cert, key: client.key });
      expect(await roundTrip(tlsClient)).toBe('ping');
      const wssClient = await connect(mtls.wssUrl!, { ca: ca.cert, cert: client.cert, key: client.key });
      expect(await roundTrip(wssClient, 'helpers/wss')).toBe('ping');
    });

    it('with requireCertificate, refuses a client without a certificate', async () => {
      await expect(connect(mtls.tlsUrl!, { ca: mtls.certs!.ca.cert })).rejects.toThrow();
    });
  });

  it('fails with the log when the configuration is bad, leaving nothing behind', async () => {
    const error = await startMosquitto({ config: 'no_such_option 1' }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/no_such_option/);
    const dir = /\(in ([^)]+)\)/.exec(message)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });

  it('stop() ends the process and removes its directory', async () => {
    await expectStopCleansUp(await startMosquitto());
  });
});

describe('startAedes', () => {
  it('serves MQTT.js in process and stops', async () => {
    const aedes = await startAedes();
    try {
      expect(aedes.url).toBe(`mqtt://127.0.0.1:${aedes.port}`);
      const client = await connect(aedes.url);
      expect(aedes.clients).toBe(1);
      expect(await roundTrip(client)).toBe('ping');
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      await aedes.stop();
      await closed;
      expect(await refused(aedes.port)).toBe(true);
    } finally {
      await aedes.stop();
    }
  });
});

describe.skipIf(!hasNats())('startNats', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(() => nats?.stop());

  it('serves MQTT 3.1.1 on 127.0.0.1 with JetStream in its directory', async () => {
    expect(nats.url).toBe(`mqtt://127.0.0.1:${nats.port}`);
    expect(await roundTrip(await connect(nats.url, { protocolVersion: 4 }))).toBe('ping');
    expect(nats.log()).toMatch(/Version:\s+2\.\d+\.\d+/);
    expect(nats.log()).toContain(`Store Directory: "${nats.dir}/jetstream`);
    expect(nats.log()).toContain(`Listening for MQTT clients on mqtt://127.0.0.1:${nats.port}`);
  });

  it('keeps a persistent session and its queued message across restart() and kill()', async () => {
    const session = { clientId: 'helpers-nats-persistent', clean: false, protocolVersion: 4 as const };
    const subscriber = await connect(nats.url, session);
    await subscriber.subscribeAsync('helpers/queued', { qos: 1 });
    await subscriber.endAsync();
    await (await connect(nats.url, { protocolVersion: 4 })).publishAsync('helpers/queued', 'kept', {
      qos: 1,
    });
    const pid = nats.pid;
    await nats.restart();
    expect(nats.pid).toBeDefined();
    expect(nats.pid).not.toBe(pid);
    const received = new Promise<string>((resolve) => {
      const client = mqtt.connect(nats.url, { ...session, reconnectPeriod: 0 });
      onCleanup(() => client.endAsync(true));
      client.once('message', (_topic, payload) => resolve(payload.toString()));
    });
    expect(await received).toBe('kept');

    await nats.kill();
    expect(nats.pid).toBeUndefined();
    expect(await refused(nats.port)).toBe(true);
    await nats.restart();
    expect(await roundTrip(await connect(nats.url, { protocolVersion: 4 }), 'helpers/after-kill')).toBe(
      'ping',
    );
  });

  it('stop() ends the process and removes its directory', async () => {
    await expectStopCleansUp(await startNats());
  });
});

describe('rabbitMq', () => {
  it(`finds the MQTT listener on ${RABBITMQ_MQTT_PORT} and makes names no other test uses`, async () => {
    const rabbit = await rabbitMq();
    expect(rabbit.url).toBe(`mqtt://127.0.0.1:${RABBITMQ_MQTT_PORT}`);
    const topic = rabbit.unique('helpers');
    expect(rabbit.unique('helpers')).not.toBe(topic);
    expect(await roundTrip(await connect(rabbit.url, { protocolVersion: 4 }), topic)).toBe('ping');
  });

  it('says to run .ci/run when nothing answers on the port', async () => {
    const saved = process.env.RABBITMQ_MQTT_PORT;
    process.env.RABBITMQ_MQTT_PORT = String(await freePort());
    try {
      await expect(rabbitMq()).rejects.toThrow(/not reachable on 127\.0\.0\.1:\d+ .*bash \.ci\/run/);
    } finally {
      if (saved === undefined) delete process.env.RABBITMQ_MQTT_PORT;
      else process.env.RABBITMQ_MQTT_PORT = saved;
    }
  });
});
