/**
 * Dead networks and fresh credentials: a proxy that blackholes traffic
 * between the session and mosquitto, and JWT device credentials checked by
 * the fake broker at every connect.
 */
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, importSPKI, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { type ConnectPacket, PacketDecoder } from '../../src/codec/index.js';
import { TimeoutError } from '../../src/core/errors.js';
import { sharedTimer } from '../../src/core/timer.js';
import { Session } from '../../src/session/index.js';
import { jwtCredentials } from '../../src/session/jwt.js';
import { startFakeBroker } from '../helpers/fake-broker.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { startProxy } from '../helpers/proxy.js';

describe.skipIf(!hasMosquitto())('a blackholed network', () => {
  it('is detected by keepalive (one PINGREQ unanswered), reconnects once traffic flows, and close() leaves nothing', async () => {
    const broker = await startMosquitto();
    // PINGREQs the session sent into the blackhole
    let lostPings = 0;
    const decoders = new Map<number, PacketDecoder>();
    const proxy = await startProxy(
      { port: broker.port },
      {
        tap(connection, direction, chunk, dropped) {
          if (direction !== 'up') return;
          let decoder = decoders.get(connection);
          if (decoder === undefined) decoders.set(connection, (decoder = new PacketDecoder()));
          for (const packet of decoder.push(chunk)) if (dropped && packet.type === 'pingreq') lostPings++;
        },
      },
    );
    const timersBefore = sharedTimer.size;
    const s = new Session({
      url: proxy.url,
      keepalive: 1,
      connectTimeout: 500,
      reconnect: { initialDelay: 100, maxDelay: 200, jitter: 0 },
    });
    try {
      await s.connect();
      await s.subscribe('bh/#', { qos: 1 });
      const dead = new Promise<unknown>((resolve) => s.once('disconnect', resolve));
      proxy.blackhole();
      const err = await dead;
      expect(err).toBeInstanceOf(TimeoutError);
      // found by keepalive: one PINGREQ went into the blackhole unanswered (that the connection is
      // declared dead 1.5 keepalives after the last packet is pinned on a fake clock in engine.test.ts)
      expect(lostPings).toBe(1);
      expect(s.state).toBe('reconnecting');
      const queued = s.publish('bh/t', 'while dead', { qos: 1 });
      const back = new Promise<void>((resolve) => s.once('connect', () => resolve()));
      proxy.restore();
      await back;
      await expect(queued).resolves.toMatchObject({ reasonCode: expect.any(Number) });
      expect(s.state).toBe('connected');
    } finally {
      await s.close({ timeout: 0 });
      expect(sharedTimer.size).toBe(timersBefore);
      await proxy.close();
      expect(proxy.connections).toBe(0);
      await broker.stop();
    }
  }, 30_000);
});

describe('JWT credentials', () => {
  it('presents a fresh, valid token at every connect', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const b = await startFakeBroker({ autoAck: true });
    const s = new Session({
      url: b.url,
      clientId: 'device-7',
      credentials: jwtCredentials({ algorithm: 'ES256', privateKey, audience: 'my-project', ttl: 600 }),
      reconnect: { initialDelay: 10, jitter: 0 },
    });
    try {
      const tokens: string[] = [];
      for (let i = 0; i < 2; i++) {
        const c = i === 0 ? s.connect() : new Promise((resolve) => s.once('connect', resolve));
        const conn = await b.nextConnection();
        const connect = (await conn.nextPacket('connect')) as ConnectPacket;
        tokens.push(Buffer.from(connect.password ?? []).toString());
        conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
        await c;
        if (i === 0) conn.destroy();
      }
      expect(tokens[0]).not.toBe(tokens[1]);
      const key = await importSPKI(publicKey, 'ES256');
      for (const token of tokens) {
        const { payload } = await jwtVerify(token, key, { audience: 'my-project' });
        expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
      }
      expect(decodeJwt(tokens[0]).jti).not.toBe(decodeJwt(tokens[1]).jti);
    } finally {
      await s.close({ timeout: 0 });
      await b.close();
    }
  });
});
