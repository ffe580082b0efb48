/**
 * RedisStore's fenced writes (issue 19, point 2): with a fencing token set
 * for a client id, its writes apply only while the client's `:fence` key in
 * Redis holds that token, checked atomically by a Lua script; a stale token's
 * writes are refused with FencedError and never sent again.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, FencedError, InvalidArgumentError, StoreError } from '../../src/core/errors.js';
import { RedisStore } from '../../src/store/redis.js';
import { FENCED_WRITE_SHA } from '../../src/store/redis-writes.js';
import type { StoredSubscription } from '../../src/store/types.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { startProxy } from '../helpers/proxy.js';
import {
  hasRedis,
  type RedisServer,
  redisForBlock,
  startRedis,
  startRedisClusterNode,
} from '../helpers/redis.js';
import { message } from './contract.js';

/** A prefix no other suite or test uses. */
const uniquePrefix = (): string => `mqttkit-test:${randomUUID()}:`;

/** The keys of one client id under `prefix`, as RedisStore names them. */
function keysOf(prefix: string, clientId: string) {
  const base = `${prefix}{id:${Buffer.from(clientId, 'utf8').toString('base64url')}}:`;
  return { m: `${base}m`, q2: `${base}q2`, s: `${base}s`, fence: `${base}fence` };
}

/** Everything Redis holds for one client id, raw: the records as bytes. */
async function raw(admin: Redis, prefix: string, clientId: string) {
  const k = keysOf(prefix, clientId);
  const m = await admin.hgetallBuffer(k.m);
  return {
    m: Object.fromEntries(Object.entries(m).map(([f, v]) => [f, v.toString('hex')])),
    q2: (await admin.smembers(k.q2)).sort(),
    s: await admin.hgetall(k.s),
  };
}

/** Script calls (EVAL and EVALSHA) the server has run so far (INFO commandstats). */
async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let n = 0;
  for (const name of ['eval', 'evalsha']) {
    const m = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info);
    if (m !== null) n += Number(m[1]);
  }
  return n;
}

/** NOSCRIPT errors the server has answered so far (INFO errorstats). */
async function noScriptErrors(admin: Redis): Promise<number> {
  const m = /^errorstat_NOSCRIPT:count=(\d+)/m.exec(await admin.info('errorstats'));
  return m === null ? 0 : Number(m[1]);
}

/** What `promise` rejected with (it must reject). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error) => err,
  );
}

/** Flushes until a flush succeeds: the client reconnects on its own schedule. */
async function flushOnceBack(store: RedisStore): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (
    !(await store.flush().then(
      () => true,
      (err: Error) => {
        if (err instanceof FencedError) throw err;
        return false;
      },
    ))
  ) {
    if (Date.now() > deadline) throw new Error('the store did not recover within 10 s');
  }
}

describe.skipIf(!hasRedis())('RedisStore fencing', () => {
  let redis: RedisServer;
  let admin: Redis;

  redisForBlock((server, client) => {
    redis = server;
    admin = client;
  });

  /** A store on the shared server, closed after the test. */
  const storeOn = (prefix: string): RedisStore => closeAfter(new RedisStore({ url: redis.url, prefix }));

  it("applies a fenced client's changes while :fence holds its token, as one script call in one round trip", async () => {
    const prefix = uniquePrefix();
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    onCleanup(() => client.disconnect());
    const store = closeAfter(new RedisStore({ client, prefix }));
    expect(await admin.incr(keysOf(prefix, 'a').fence)).toBe(1);
    store.fence('a', 1);

    const writes = vi.spyOn(client.stream, 'write');
    const before = await scriptCalls(admin);
    for (let seq = 1; seq <= 1000; seq++) store.putMessage('a', message(seq));
    store.deleteMessage('a', 1000);
    store.addIncomingQoS2('a', 7);
    store.addIncomingQoS2('a', 8);
    store.deleteIncomingQoS2('a', 8);
    store.putSubscription('a', { topicFilter: 'cmd/#', qos: 1 });
    store.putSubscription('a', { topicFilter: 'gone', qos: 0 });
    store.deleteSubscription('a', 'gone');
    expect(writes).not.toHaveBeenCalled();
    await store.flush();
    expect(writes).toHaveBeenCalledTimes(1);
    expect((await scriptCalls(admin)) - before).toBe(1);

    const loaded = await store.load('a');
    expect(loaded.messages.map((m) => m.seq)).toEqual(Array.from({ length: 999 }, (_, i) => i + 1));
    expect(loaded.incomingQoS2).toEqual([7]);
    expect(loaded.subscriptions).toEqual([{ topicFilter: 'cmd/#', qos: 1 }]);
    // the fence key is the owner's business: writes never touch it
    expect(await admin.get(keysOf(prefix, 'a').fence)).toBe('1');

    // clear() goes through the script too
    await store.clear('a');
    expect(await raw(admin, prefix, 'a')).toEqual({ m: {}, q2: [], s: {} });
  });

  it("refuses a stale token's writes, leaves the new owner's state as it was, and drops them", async () => {
    const prefix = uniquePrefix();
    const k = keysOf(prefix, 'a');
    const old = storeOn(prefix);
    await admin.incr(k.fence);
    old.fence('a', 1);
    old.putMessage('a', message(1));
    old.addIncomingQoS2('a', 1);
    await old.flush();

    // a new owner takes the session over: token 2, and writes its own state
    const owner = storeOn(prefix);
    expect(await admin.incr(k.fence)).toBe(2);
    owner.fence('a', 2);
    owner.deleteMessage('a', 1);
    owner.putMessage('a', message(2));
    owner.putSubscription('a', { topicFilter: 'new/#', qos: 2 });
    await owner.flush();
    const ownersState = await raw(admin, prefix, 'a');

    // the old owner wakes up late
    old.putMessage('a', message(1, { packetId: 1, stage: 1 }));
    old.deleteMessage('a', 2);
    old.deleteIncomingQoS2('a', 1);
    old.putSubscription('a', { topicFilter: 'old/#', qos: 0 });
    const error = await rejection(old.flush());
    expect(error).toBeInstanceOf(FencedError);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: ErrorCode.Fenced, clientId: 'a', token: 1, current: 2 });
    expect(error.message).toBe(
      "RedisStore: client 'a' has a newer owner (fencing token 2, ours 1): write refused",
    );
    expect(await raw(admin, prefix, 'a')).toEqual(ownersState);

    // every later flush with changes under token 1 rejects at once: nothing is sent for them
    const calls = await scriptCalls(admin);
    old.putMessage('a', message(3));
    await expect(old.flush()).rejects.toBe(error);
    await expect(old.clear('a')).rejects.toBe(error);
    expect(await scriptCalls(admin)).toBe(calls);
    expect(await raw(admin, prefix, 'a')).toEqual(ownersState);

    // the refused changes are not kept for a retry: a flush without changes for 'a' resolves
    await expect(old.flush()).resolves.toBeUndefined();
    // load() is a plain read: what the owner wrote
    expect((await old.load('a')).messages.map((m) => m.seq)).toEqual([2]);

    // the new owner is not disturbed
    owner.putMessage('a', message(4));
    await owner.flush();
    expect((await owner.load('a')).messages.map((m) => m.seq)).toEqual([2, 4]);

    // a new token (the old node acquires the session again) lets its writes through again
    expect(await admin.incr(k.fence)).toBe(3);
    old.fence('a', 3);
    old.putMessage('a', message(5));
    await old.flush();
    expect((await old.load('a')).messages.map((m) => m.seq)).toEqual([2, 4, 5]);
    // ... and now the other store is the stale one
    owner.putMessage('a', message(6));
    await expect(owner.flush()).rejects.toMatchObject({ code: ErrorCode.Fenced, token: 2, current: 3 });
  });

  it('leaves other client ids on the same store alone', async () => {
    const prefix = uniquePrefix();
    const store = storeOn(prefix);
    await admin.incr(keysOf(prefix, 'a').fence);
    await admin.incr(keysOf(prefix, 'b').fence);
    store.fence('a', 1);
    store.fence('b', 1);
    store.putMessage('a', message(1));
    store.putMessage('b', message(1));
    await store.flush();

    await admin.incr(keysOf(prefix, 'a').fence); // 'a' moves elsewhere
    store.putMessage('a', message(2));
    await expect(store.flush()).rejects.toBeInstanceOf(FencedError);

    // 'b' (fenced) and 'c' (not fenced) flush, load and clear as before
    store.putMessage('b', message(2));
    store.putMessage('c', message(1));
    await store.flush();
    expect((await store.load('b')).messages.map((m) => m.seq)).toEqual([1, 2]);
    expect((await store.load('c')).messages.map((m) => m.seq)).toEqual([1]);
    await store.clear('c');
    expect((await store.load('c')).messages).toEqual([]);

    // a session's flush names its client: with a refused change for 'a' in it, 'b''s flush
    // resolves (its changes applied), and 'a''s rejects
    store.putMessage('a', message(3));
    store.putMessage('b', message(3));
    await expect(store.flush('b')).resolves.toBeUndefined();
    expect((await store.load('b')).messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    await expect(store.flush('a')).rejects.toMatchObject({ clientId: 'a' });
    // a flush without a client id is for the whole store: it rejects with any client's refusal
    store.putMessage('a', message(3));
    store.putMessage('b', message(4));
    await expect(store.flush()).rejects.toMatchObject({ clientId: 'a' });
    expect((await store.load('b')).messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    // clear() of another client is not failed by it
    store.putMessage('a', message(4));
    await store.clear('b');
    expect(await raw(admin, prefix, 'b')).toEqual({ m: {}, q2: [], s: {} });
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([1]);
  });

  it("reports a refusal only to its own client's flush(clientId), whichever flush carried it", async () => {
    const prefix = uniquePrefix();
    const store = storeOn(prefix);
    for (const id of ['a', 'b']) {
      await admin.incr(keysOf(prefix, id).fence);
      store.fence(id, 1);
    }
    store.putMessage('a', message(1));
    store.putMessage('b', message(1));
    await store.flush('b');
    await expect(store.flush('a')).resolves.toBeUndefined();

    // 'a' moves elsewhere; 'b''s flush carries 'a''s change, which Redis refuses
    await admin.incr(keysOf(prefix, 'a').fence);
    store.putMessage('a', message(2));
    store.putMessage('b', message(2));
    store.putMessage('c', message(1)); // not fenced
    await expect(store.flush('b')).resolves.toBeUndefined();
    await expect(store.flush('c')).resolves.toBeUndefined();
    expect((await store.load('b')).messages.map((m) => m.seq)).toEqual([1, 2]);
    expect((await store.load('c')).messages.map((m) => m.seq)).toEqual([1]);
    expect((await raw(admin, prefix, 'a')).m).not.toHaveProperty('2');
    // 'a''s own flush, with nothing left to send, reports it: every time while its token is refused
    const error = await rejection(store.flush('a'));
    expect(error).toBeInstanceOf(FencedError);
    expect(error).toMatchObject({ code: ErrorCode.Fenced, clientId: 'a', token: 1, current: 2 });
    await expect(store.flush('a')).rejects.toBe(error);

    // two flushes out at once: the one for 'b' resolves, the one for 'a' rejects
    store.putMessage('a', message(3));
    store.putMessage('b', message(3));
    const forB = store.flush('b');
    store.putMessage('b', message(4));
    const forA = store.flush('a');
    await expect(forB).resolves.toBeUndefined();
    await expect(forA).rejects.toBe(error);
    expect((await store.load('b')).messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);

    // an ordinary failure still fails every client's flush
    await admin.del(keysOf(prefix, 'c').m);
    await admin.set(keysOf(prefix, 'c').m, 'not a hash');
    store.putMessage('c', message(2));
    await expect(store.flush('b')).rejects.toThrow(/^RedisStore: HSET .*:m 2 failed: .*WRONGTYPE/);
    await admin.del(keysOf(prefix, 'c').m);
    await expect(store.flush('b')).resolves.toBeUndefined();

    // 'a' acquired again with a new token: its flushes go through again
    expect(await admin.incr(keysOf(prefix, 'a').fence)).toBe(3);
    store.fence('a', 3);
    store.putMessage('a', message(5));
    await expect(store.flush('a')).resolves.toBeUndefined();
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([1, 5]);
  });

  it("reports an earlier token's refusal to the client's next flush(clientId) once", async () => {
    const prefix = uniquePrefix();
    const store = storeOn(prefix);
    const fenceKey = keysOf(prefix, 'a').fence;
    await admin.incr(fenceKey);
    await admin.incr(keysOf(prefix, 'b').fence);
    store.fence('a', 1);
    store.fence('b', 1);
    store.putMessage('a', message(1)); // made under token 1, not flushed
    await admin.incr(fenceKey);
    store.fence('a', 2);
    store.putMessage('a', message(2));
    store.putMessage('b', message(1));
    // 'b''s flush carries both of 'a''s changes: token 1's is refused, token 2's applies
    await expect(store.flush('b')).resolves.toBeUndefined();
    await expect(store.flush('a')).rejects.toMatchObject({ clientId: 'a', token: 1, current: 2 });
    // reported: token 2 holds, so the next flush of 'a' resolves
    await expect(store.flush('a')).resolves.toBeUndefined();
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([2]);
  });

  it('refuses writes when Redis holds no token for the client (released, or lost)', async () => {
    const prefix = uniquePrefix();
    const store = storeOn(prefix);
    store.fence('a', 4);
    store.putMessage('a', message(1));
    const error = await rejection(store.flush());
    expect(error).toMatchObject({ code: ErrorCode.Fenced, token: 4, current: undefined });
    expect(error.message).toMatch(/^RedisStore: client 'a' has no fencing token in Redis \(ours 4;/);
    expect(await raw(admin, prefix, 'a')).toEqual({ m: {}, q2: [], s: {} });
  });

  it('keeps a change under the token it was made under', async () => {
    const prefix = uniquePrefix();
    const store = storeOn(prefix);
    const fenceKey = keysOf(prefix, 'a').fence;
    await admin.incr(fenceKey);
    store.fence('a', 1);
    store.putMessage('a', message(1)); // made under token 1, not flushed
    // the session is lost and acquired again before the change went out
    await admin.incr(fenceKey);
    store.fence('a', 2);
    store.putMessage('a', message(2));
    await expect(store.flush()).rejects.toMatchObject({ token: 1, current: 2 });
    // a load made now does not fail for the old token's refusal
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([2]);

    // and a plain change after fenced ones of the same client (fence cleared) stays after them
    store.putMessage('a', message(3));
    store.fence('a', undefined);
    store.deleteMessage('a', 3);
    store.putMessage('a', message(4));
    await store.flush();
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([2, 4]);
  });

  it('passes binary records through the script unchanged (bytes 0x00 and 0xff included)', async () => {
    const prefix = uniquePrefix();
    const plain = storeOn(prefix);
    const fenced = storeOn(prefix);
    await admin.incr(keysOf(prefix, 'f').fence);
    fenced.fence('f', 1);
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const payloads = [
      every,
      Buffer.from([0x00]),
      Buffer.from([0xff, 0x00, 0xff]),
      Buffer.alloc(0),
      Buffer.from([0x0d, 0x0a, 0x24, 0x2a]),
    ];
    const sub: StoredSubscription = {
      topicFilter: 'caf\u00e9/\u{1f600}/#',
      qos: 1,
      userProperties: [['k', '\u00ff\u{1f600}']],
    };
    for (const [id, store] of [
      ['p', plain],
      ['f', fenced],
    ] as const) {
      payloads.forEach((payload, i) => {
        store.putMessage(
          id,
          message(i + 1, { packetId: 0xff00 + i, stage: 1 }, { payload, topic: 't/\u00ff' }),
        );
      });
      store.putSubscription(id, sub);
      await store.flush();
    }
    // byte for byte what the plain commands write
    expect(await raw(admin, prefix, 'f')).toEqual(await raw(admin, prefix, 'p'));
    const loaded = await fenced.load('f');
    expect(loaded.messages.map((m) => Buffer.from(m.packet.payload))).toEqual(payloads);
    expect(loaded.messages.map((m) => m.packetId)).toEqual(payloads.map((_, i) => 0xff00 + i));
    expect(loaded.subscriptions).toEqual([sub]);
  });

  it('sends a fenced write again when Redis stops answering, and applies it once back while the token holds', async () => {
    const prefix = uniquePrefix();
    const k = keysOf(prefix, 'a');
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    const store = closeAfter(new RedisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix }));
    await admin.incr(k.fence);
    store.fence('a', 1);
    store.putMessage('a', message(1));
    await store.flush();

    proxy.blackhole();
    store.putMessage('a', message(2));
    store.deleteMessage('a', 1);
    // an ordinary failure: the changes are kept, not dropped
    await expect(store.flush()).rejects.toThrow(
      /^RedisStore: fenced write \(token 1\) of HSET .*:m 2 and 1 more failed: .*no answer from Redis/,
    );
    proxy.restore();
    proxy.cut();
    await flushOnceBack(store);
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([2]);

    // down again, and meanwhile a new owner takes over: the resend is refused, not applied
    proxy.blackhole();
    store.putMessage('a', message(3));
    await expect(store.flush()).rejects.toThrow(/no answer from Redis/);
    await admin.incr(k.fence);
    proxy.restore();
    proxy.cut();
    await expect(flushOnceBack(store)).rejects.toMatchObject({
      code: ErrorCode.Fenced,
      token: 1,
      current: 2,
    });
    expect((await raw(admin, prefix, 'a')).m).not.toHaveProperty('3');
  });

  it('applies a fenced write after a Redis restart (its script cache empty), once back', async () => {
    const doomed = await startRedis({ args: ['--appendonly', 'yes'] });
    onCleanup(() => doomed.stop());
    const prefix = uniquePrefix();
    const store = closeAfter(new RedisStore({ url: doomed.url, prefix }));
    const direct = new Redis(doomed.url, { lazyConnect: true });
    direct.on('error', () => {});
    onCleanup(() => direct.disconnect());
    await direct.connect();
    await direct.incr(keysOf(prefix, 'a').fence);
    store.fence('a', 1);
    store.putMessage('a', message(1, { packetId: 1, stage: 1 }));
    await store.flush();

    await doomed.kill();
    store.putMessage('a', message(1, { packetId: 1, stage: 2 }));
    const first = store.flush();
    store.putMessage('a', message(2));
    const second = store.flush();
    await expect(first).rejects.toThrow(/^RedisStore: fenced write \(token 1\) of HSET .*:m 1 failed/);
    await expect(second).rejects.toThrow(/RedisStore: .* failed/);
    await doomed.restart();
    await flushOnceBack(store);
    // the first script call on the new connection went as EVAL: the new server never said NOSCRIPT
    expect(await noScriptErrors(direct)).toBe(0);
    const loaded = await store.load('a');
    expect(loaded.messages.map((m) => [m.seq, m.stage])).toEqual([
      [1, 2],
      [2, 0],
    ]);
  });

  it('loads the script again when the server lost it (NOSCRIPT), keeping the order of concurrent flushes', async () => {
    const prefix = uniquePrefix();
    const store = storeOn(prefix);
    await admin.incr(keysOf(prefix, 'a').fence);
    store.fence('a', 1);
    store.putMessage('a', message(1));
    await store.flush();
    await admin.script('FLUSH');
    expect(await admin.script('EXISTS', FENCED_WRITE_SHA)).toEqual([0]);

    const noScript = await noScriptErrors(admin);
    store.putMessage('a', message(7, { packetId: 7, stage: 1 }));
    const first = store.flush();
    // a second flush out at once: deletes what the first puts
    store.deleteMessage('a', 7);
    store.putMessage('a', message(8));
    const second = store.flush();
    await Promise.all([first, second]);
    expect(await noScriptErrors(admin)).toBeGreaterThan(noScript);
    expect((await store.load('a')).messages.map((m) => m.seq)).toEqual([1, 8]);
    expect(await admin.script('EXISTS', FENCED_WRITE_SHA)).toEqual([1]);

    // and from then on EVALSHA works again
    const again = await noScriptErrors(admin);
    store.putMessage('a', message(9));
    await store.flush();
    expect(await noScriptErrors(admin)).toBe(again);
  });

  it('runs on a Redis Cluster node: the four keys of a client share one slot', async () => {
    // one node that owns every slot: it still refuses a script whose keys span slots (CROSSSLOT)
    const node = await startRedisClusterNode();
    onCleanup(() => node.stop());
    const nodeAdmin = new Redis(node.url, { lazyConnect: true });
    onCleanup(() => nodeAdmin.disconnect());
    await nodeAdmin.connect();
    const prefix = uniquePrefix();
    const store = closeAfter(new RedisStore({ url: node.url, prefix }));
    for (const id of ['', '{x}', 'a}b{c', 'caf\u00e9 \u{1f600}']) {
      await nodeAdmin.incr(keysOf(prefix, id).fence);
      store.fence(id, 1);
      store.putMessage(id, message(1));
      store.addIncomingQoS2(id, 3);
      store.putSubscription(id, { topicFilter: 'a/#', qos: 1 });
      await store.flush();
      expect(await store.load(id)).toMatchObject({
        incomingQoS2: [3],
        subscriptions: [{ topicFilter: 'a/#' }],
      });
      await store.clear(id);
      expect(await nodeAdmin.keys(`${prefix}*`)).toEqual([keysOf(prefix, id).fence]);
      await nodeAdmin.del(keysOf(prefix, id).fence);
    }
  });

  it('checks the token', () => {
    const store = storeOn(uniquePrefix());
    for (const token of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => store.fence('a', token)).toThrow(InvalidArgumentError);
    }
    expect(() => store.fence('\uD800', 1)).toThrow(InvalidArgumentError);
  });
});
