import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/index.js';
import { decodeMessage, encodeMessage } from '../../src/store/record.js';
import { message, storeContract } from './contract.js';

const shared = new MemoryStore();
storeContract('MemoryStore', () => shared);

describe('message records', () => {
  it('round-trip a message, its header and its properties', () => {
    const m = message(
      42.5e6,
      { stage: 2, packetId: 65535, expiresAt: 1_800_000_000_123 },
      {
        qos: 2,
        retain: true,
        properties: { responseTopic: 'r/1', userProperties: [['k', 'v']] },
      },
    );
    const back = decodeMessage(encodeMessage(m));
    expect(back.seq).toBe(m.seq);
    expect(back.stage).toBe(2);
    expect(back.packetId).toBe(65535);
    expect(back.expiresAt).toBe(m.expiresAt);
    expect(back.packet).toMatchObject({ topic: m.packet.topic, qos: 2, retain: true, packetId: 65535 });
    expect(back.packet.properties).toMatchObject({ responseTopic: 'r/1', userProperties: [['k', 'v']] });
  });

  it('refuses what is not a record', () => {
    expect(() => decodeMessage(Buffer.alloc(5))).toThrow(/too short/);
    const bad = encodeMessage(message(1));
    bad[18] = 7;
    expect(() => decodeMessage(bad)).toThrow(/stage 7/);
  });
});
