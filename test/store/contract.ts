/**
 * The behaviour every SessionStore must have, as a reusable suite:
 * `storeContract('FileStore', () => new FileStore(dir))`.
 */
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/types.js';
import type { SessionStore, StoredMessage } from '../../src/store/types.js';

export function message(
  seq: number,
  overrides: Partial<StoredMessage> = {},
  packet: Partial<PublishPacket> = {},
): StoredMessage {
  return {
    seq,
    packetId: 0,
    stage: 0,
    expiresAt: 0,
    ...overrides,
    packet: {
      type: 'publish',
      topic: `t/${seq}`,
      payload: Buffer.from(`payload ${seq}`),
      qos: 1,
      retain: false,
      dup: false,
      ...packet,
    },
  };
}

/** `make` returns a fresh store over the same backing data each call (a restart). */
export function storeContract(name: string, make: () => Promise<SessionStore> | SessionStore): void {
  describe(`${name} (store contract)`, () => {
    it('loads nothing for an unknown client', async () => {
      const s = await make();
      expect(await s.load('nobody')).toEqual({ messages: [], incomingQoS2: [], subscriptions: [] });
      await s.close();
    });

    it('keeps messages in seq order with their stage, packet id, expiry and every property', async () => {
      const s = await make();
      const props = {
        userProperties: [
          ['a', '1'],
          ['a', '2'],
        ] as [string, string][],
        correlationData: Buffer.from([0, 1, 2]),
        contentType: 'text/plain',
        messageExpiryInterval: 30,
      };
      s.putMessage('c1', message(3, { stage: 1, packetId: 7 }, { qos: 2, properties: props }));
      s.putMessage('c1', message(1));
      s.putMessage('c1', message(2, { expiresAt: 1_900_000_000_000 }, { qos: 0, retain: true }));
      s.putMessage('c1', message(1, { stage: 1, packetId: 9 }));
      s.deleteMessage('c1', 2);
      s.putMessage('c2', message(1));
      await s.flush();
      const loaded = await s.load('c1');
      expect(loaded.messages.map((m) => [m.seq, m.stage, m.packetId])).toEqual([
        [1, 1, 9],
        [3, 1, 7],
      ]);
      const m3 = loaded.messages[1];
      expect(m3.packet.topic).toBe('t/3');
      expect(m3.packet.qos).toBe(2);
      expect(Buffer.from(m3.packet.payload).toString()).toBe('payload 3');
      expect(m3.packet.properties?.userProperties).toEqual(props.userProperties);
      expect(Buffer.from(m3.packet.properties?.correlationData ?? []).toString('hex')).toBe('000102');
      expect(m3.packet.properties?.contentType).toBe('text/plain');
      expect((await s.load('c2')).messages).toHaveLength(1);
      await s.close();
    });

    it('keeps incoming QoS 2 ids and subscriptions', async () => {
      const s = await make();
      s.addIncomingQoS2('c3', 5);
      s.addIncomingQoS2('c3', 65535);
      s.addIncomingQoS2('c3', 6);
      s.deleteIncomingQoS2('c3', 6);
      s.putSubscription('c3', { topicFilter: 'a/+', qos: 1 });
      s.putSubscription('c3', { topicFilter: 'b/#', qos: 2, noLocal: true, subscriptionIdentifier: 4 });
      s.putSubscription('c3', { topicFilter: 'a/+', qos: 0 });
      s.deleteSubscription('c3', 'b/#');
      await s.flush();
      const loaded = await s.load('c3');
      expect(loaded.incomingQoS2.sort((a, b) => a - b)).toEqual([5, 65535]);
      expect(loaded.subscriptions).toEqual([{ topicFilter: 'a/+', qos: 0 }]);
      await s.close();
    });

    it('forgets a client on clear', async () => {
      const s = await make();
      s.putMessage('c4', message(1));
      s.addIncomingQoS2('c4', 1);
      s.putSubscription('c4', { topicFilter: 'x', qos: 0 });
      await s.flush();
      await s.clear('c4');
      expect(await s.load('c4')).toEqual({ messages: [], incomingQoS2: [], subscriptions: [] });
      await s.close();
    });

    it('keeps client ids apart, whatever characters they hold', async () => {
      const s = await make();
      const ids = ['../../etc/passwd', 'a/b', 'a:b', '{x}', 'caf\u00e9 \u{1f600}', ''];
      for (const [i, id] of ids.entries()) s.putMessage(id, message(i + 1));
      await s.flush();
      for (const [i, id] of ids.entries()) {
        expect((await s.load(id)).messages.map((m) => m.seq)).toEqual([i + 1]);
      }
      await s.close();
    });
  });
}
