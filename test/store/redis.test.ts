import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClosedError } from '../../src/core/errors.js';
import { RedisStore } from '../../src/store/redis.js';
import { startProxy } from '../helpers/proxy.js';
import {
  hasRedis,
  type RedisServer,
  redisForBlock,
  startRedis,
  startRedisClusterNode,
} from '../helpers/redis.js';
import { message, storeContract } from './contract.js';

/** A prefix no other suite or test uses, so tests sharing a server never see each other's keys. */
const uniquePrefix = (): string => `mqttkit-test:${randomUUID()}:`;

/** Calls of one command the server has run so far (INFO commandstats), read on `admin`. */
async function commandCalls(admin: Redis, command: string): Promise<number> {
  const info = await admin.info('commandstats');
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return m === null ? 0 : Number(m[1]);
}

describe.skipIf(!hasRedis())('RedisStore', () => {
  let redis: RedisServer;
  let admin: Redis;

  redisForBlock((server, client) => {
    redis = server;
    admin = client;
  });

  const contractPrefix = uniquePrefix();
  storeContract('RedisStore', () => new RedisStore({ url: redis.url, prefix: contractPrefix }));

  it('sends a flush of 1,000 puts as one pipeline in one socket write, and nothing before the flush', async () => {
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    try {
      const store = new RedisStore({ client, prefix: uniquePrefix() });
      const pipelines = vi.spyOn(client, 'pipeline');
      const writes = vi.spyOn(client.stream, 'write');
      const hsetBefore = await commandCalls(admin, 'hset');

      for (let seq = 1; seq <= 1000; seq++) store.putMessage('bulk', message(seq));
      // mutations only append to the pending pipeline: nothing has gone to the socket yet
      expect(writes).not.toHaveBeenCalled();
      await store.flush();

      expect(pipelines).toHaveBeenCalledTimes(1);
      // one write of all 1,000 commands, then only replies: one round trip
      expect(writes).toHaveBeenCalledTimes(1);
      expect((await commandCalls(admin, 'hset')) - hsetBefore).toBe(1000);

      const loaded = await store.load('bulk');
      expect(loaded.messages.map((m) => m.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      await store.clear('bulk');
      await store.close();
      // a client passed in is not the store's to close
      expect(await client.ping()).toBe('PONG');
      expect(() => store.putMessage('bulk', message(1))).toThrow(ClosedError);
    } finally {
      client.disconnect();
    }
  });

  it('settles concurrent flushes in call order; one called while a failing one is out rejects too', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ url: redis.url, prefix });
    try {
      const order: number[] = [];
      store.putMessage('order', message(1));
      const f1 = store.flush().then(() => order.push(1));
      store.putMessage('order', message(2));
      const f2 = store.flush().then(() => order.push(2));
      const f3 = store.flush().then(() => order.push(3)); // nothing pending of its own
      await Promise.all([f1, f2, f3]);
      expect(order).toEqual([1, 2, 3]);

      // a string where the store keeps its hash: HSET fails with WRONGTYPE
      const brokenKey = `${prefix}{id:${Buffer.from('broken').toString('base64url')}}:m`;
      await admin.set(brokenKey, 'not a hash');
      store.putMessage('broken', message(7, {}, { payload: Buffer.from('very secret payload') }));
      const failing = store.flush();
      store.putMessage('fine', message(1));
      const later = store.flush();
      const error = await failing.then(
        () => undefined,
        (err: Error) => err,
      );
      expect(error?.message).toMatch(/HSET mqttkit-test:.*\{id:YnJva2Vu\}:m 7 failed: .*WRONGTYPE/);
      expect(error?.message).not.toContain('secret');
      // the changes made before `later` was called are not all in Redis: it says so
      await expect(later).rejects.toBe(error);
      // the failed change is kept: every flush sends it again, and fails, until the key is fixed
      store.putMessage('fine', message(2));
      await expect(store.flush()).rejects.toThrow(/WRONGTYPE/);
      await admin.del(brokenKey);
      await expect(store.flush()).resolves.toBeUndefined();
      expect((await store.load('broken')).messages.map((m) => m.seq)).toEqual([7]);
      expect((await store.load('fine')).messages.map((m) => m.seq)).toEqual([1, 2]);
    } finally {
      await store.close();
    }
  });

  it('fails a flush against a killed redis instead of hanging', async () => {
    const doomed = await startRedis();
    const store = new RedisStore({ url: doomed.url, prefix: uniquePrefix() });
    try {
      store.putMessage('k', message(1));
      await store.flush();
      await doomed.kill();

      // ioredis gives the commands up (its reconnections are refused) or the store's bound does:
      // the same error either way
      store.putMessage('k', message(2));
      await expect(store.flush()).rejects.toThrow(/^RedisStore: HSET .*:m 2 failed: .*no answer from Redis/);
      await expect(store.load('k')).rejects.toThrow(
        /^RedisStore: HGETALL .* failed.*: .*no answer from Redis/,
      );
      // what it could not write is not given up quietly: close says so too
      await expect(store.close()).rejects.toThrow(/RedisStore: HSET .*:m 2 failed: /);
    } finally {
      await store.close().catch(() => {});
      await doomed.stop();
    }
  });

  it('sends the changes of failed flushes again, oldest first, once Redis is back', async () => {
    // appendonly: what Redis had confirmed survives its crash
    const doomed = await startRedis({ args: ['--appendonly', 'yes'] });
    const store = new RedisStore({ url: doomed.url, prefix: uniquePrefix() });
    try {
      store.putMessage('again', message(7, { packetId: 7, stage: 1 }));
      await store.flush();
      await doomed.kill();

      // two flushes out at once, both failing: the second deletes what the first changes
      store.putMessage('again', message(7, { packetId: 7, stage: 2 }));
      const first = store.flush();
      store.deleteMessage('again', 7);
      store.addIncomingQoS2('again', 3);
      const second = store.flush();
      await expect(first).rejects.toThrow(/RedisStore: HSET .*:m 7 failed/);
      await expect(second).rejects.toThrow(/RedisStore: .* failed/);

      await doomed.restart();
      store.putMessage('again', message(8));
      // the client reconnects on its own schedule: a flush before that may still fail
      const deadline = Date.now() + 10_000;
      while (
        !(await store.flush().then(
          () => true,
          () => false,
        ))
      ) {
        if (Date.now() > deadline) throw new Error('the store did not recover within 10 s');
      }
      // HSET 7, HDEL 7 and SADD 3 went again, in that order, before HSET 8
      const saved = await store.load('again');
      expect(saved.messages.map((m) => m.seq)).toEqual([8]);
      expect(saved.incomingQoS2).toEqual([3]);
    } finally {
      await store.close().catch(() => {});
      await doomed.stop();
    }
  });

  it('fails a flush when Redis stops answering but keeps accepting connections', async () => {
    // ioredis keeps commands that were out when a connection dropped, to resend once ready, and
    // only gives them up when reconnecting fails at TCP level: behind this proxy it never does
    const proxy = await startProxy({ port: redis.port });
    const store = new RedisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix: uniquePrefix() });
    try {
      store.putMessage('hung', message(1));
      await store.flush();
      proxy.blackhole();
      store.putMessage('hung', message(2));
      // the client's socketTimeout drops the connection, then the store's bound or ioredis's
      // maxRetriesPerRequest gives the commands up, whichever comes first: the same error either way
      await expect(store.flush()).rejects.toThrow(/^RedisStore: HSET .*:m 2 failed: .*no answer from Redis/);
      // and a load made while it is still unreachable (it sends the failed HSET again first)
      await expect(store.load('hung')).rejects.toThrow(
        /^RedisStore: HGETALL .* failed.*: .*no answer from Redis/,
      );

      // back: once its client has reconnected (a flush before that may still fail), the store works again
      proxy.restore();
      proxy.cut();
      const deadline = Date.now() + 10_000;
      while (
        !(await store.load('hung').then(
          () => true,
          () => false,
        ))
      ) {
        if (Date.now() > deadline) throw new Error('the store did not recover within 10 s');
      }
      store.putMessage('hung', message(3));
      await store.flush();
      expect((await store.load('hung')).messages.map((m) => m.seq)).toContain(3);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('bounds a flush on a client passed in, which ioredis would let wait for 20 reconnections', async () => {
    const doomed = await startRedis();
    const client = new Redis(doomed.url, { lazyConnect: true });
    client.on('error', () => {}); // the test's client: its connection errors are expected
    await client.connect();
    const store = new RedisStore({ client, prefix: uniquePrefix() });
    try {
      await doomed.kill();
      store.putMessage('k', message(1));
      // the store's bound: this client would wait for 20 reconnections
      await expect(store.flush()).rejects.toThrow(
        /^RedisStore: HSET .*:m 1 failed: Error: no answer from Redis after 2000 ms/,
      );
    } finally {
      await store.close().catch(() => {});
      client.disconnect();
      await doomed.stop();
    }
  });

  describe('on a Redis Cluster node', () => {
    let node: RedisServer;
    let nodeAdmin: Redis;

    beforeAll(async () => {
      // one node that owns every slot: it still refuses multi-key commands across slots (CROSSSLOT)
      node = await startRedisClusterNode();
      nodeAdmin = new Redis(node.url, { lazyConnect: true });
      await nodeAdmin.connect();
    });

    afterAll(async () => {
      nodeAdmin?.disconnect();
      await node?.stop();
    });

    it("keeps each client's keys in one slot, whatever its id, so clear() works", async () => {
      const prefix = uniquePrefix();
      const store = new RedisStore({ url: node.url, prefix });
      try {
        const ids = ['', '{x}', 'a}b{c', '../../etc/passwd', 'id:1', 'caf\u00e9 \u{1f600}'];
        for (const id of ids) {
          store.putMessage(id, message(1));
          store.addIncomingQoS2(id, 3);
          store.putSubscription(id, { topicFilter: 'a/#', qos: 1 });
        }
        await store.flush();

        const keys = await nodeAdmin.keys(`${prefix}*`);
        expect(keys).toHaveLength(ids.length * 3);
        const tags = new Set<string>();
        for (const id of ids) {
          const tag = `{id:${Buffer.from(id, 'utf8').toString('base64url')}}`;
          tags.add(tag);
          const mine = keys.filter((key) => key.startsWith(`${prefix}${tag}:`));
          expect(mine.sort()).toEqual([`${prefix}${tag}:m`, `${prefix}${tag}:q2`, `${prefix}${tag}:s`]);
          const slots = await Promise.all(mine.map((key) => nodeAdmin.call('CLUSTER', 'KEYSLOT', key)));
          expect(new Set(slots).size).toBe(1);
          expect(slots[0]).toBe(crc16(Buffer.from(tag.slice(1, -1))) % 16384);
          expect(await store.load(id)).toMatchObject({
            incomingQoS2: [3],
            subscriptions: [{ topicFilter: 'a/#' }],
          });
        }
        expect(tags.size).toBe(ids.length);

        // DEL of three keys: a CROSSSLOT error if they were in different slots
        for (const id of ids) await store.clear(id);
        expect(await nodeAdmin.keys(`${prefix}*`)).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
});

/** CRC16/XMODEM, the hash Redis Cluster takes of a key's hash tag (slot = crc16 % 16384). */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

describe('crc16 (the check above)', () => {
  it('matches the Redis Cluster specification', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
  });
});
