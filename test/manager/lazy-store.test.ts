/**
 * `LazyStore` (a fleet file's Redis store): the store is made by the first
 * call that needs one, every call is passed on to it, and a store never made
 * is flushed and closed without being made.
 */
import { describe, expect, it } from 'vitest';
import { ClosedError } from '../../src/core/errors.js';
import { LazyStore } from '../../src/manager/lazy-store.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoredMessage } from '../../src/store/types.js';

const message = (seq: number): StoredMessage => ({
  seq,
  packet: { type: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, dup: false },
  packetId: 0,
  stage: 0,
  expiresAt: 0,
});

function lazy(): { store: LazyStore; made: () => number } {
  let made = 0;
  const store = new LazyStore(
    () => {
      made++;
      return new MemoryStore();
    },
    { durable: true, what: 'TestStore' },
  );
  return { store, made: () => made };
}

describe('LazyStore', () => {
  it('makes the store at the first call that needs it, once, and passes every call on', async () => {
    const { store, made } = lazy();
    expect(store.durable).toBe(true);
    await store.flush();
    expect(made()).toBe(0);
    store.putMessage('a', message(1));
    store.putMessage('a', message(2));
    store.deleteMessage('a', 1);
    store.addIncomingQoS2('a', 7);
    store.addIncomingQoS2('a', 8);
    store.deleteIncomingQoS2('a', 7);
    store.putSubscription('a', { topicFilter: 'x/#', qos: 1 });
    store.putSubscription('a', { topicFilter: 'y', qos: 0 });
    store.deleteSubscription('a', 'y');
    expect(made()).toBe(1);
    const saved = await store.load('a');
    expect(saved.messages.map((m) => m.seq)).toEqual([2]);
    expect(saved.incomingQoS2).toEqual([8]);
    expect(saved.subscriptions.map((s) => s.topicFilter)).toEqual(['x/#']);
    await store.clear('a');
    expect((await store.load('a')).messages).toEqual([]);
    await store.close();
    expect(made()).toBe(1);
  });

  it('closes without making the store; after that writes throw and reads reject with ClosedError', async () => {
    const { store, made } = lazy();
    await store.close();
    expect(() => store.putMessage('a', message(1))).toThrow(ClosedError);
    expect(() => store.deleteSubscription('a', 'x')).toThrow(/The TestStore is closed/);
    await expect(store.load('a')).rejects.toThrow(ClosedError);
    await expect(store.clear('a')).rejects.toThrow(ClosedError);
    await store.flush();
    expect(made()).toBe(0);
  });
});
