import { describe, expect, it } from 'vitest';
import {
  encode,
  isValidReasonCode,
  MAX_VBI,
  PacketDecoder,
  type PublishPacket,
  ReasonCode,
  reasonCodeName,
} from '../../src/codec/index.js';

function publishOfRemainingLength(rem: number): PublishPacket {
  // topic 'a' (2 + 1 bytes) at QoS 0 leaves rem - 3 bytes of payload (v3.1.1)
  return {
    type: 'publish',
    topic: 'a',
    payload: Buffer.alloc(rem - 3, 7),
    qos: 0,
    retain: false,
    dup: false,
  };
}

describe('remaining length (variable byte integer)', () => {
  it.each([
    [3, [0x03]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2_097_151, [0xff, 0xff, 0x7f]],
    [2_097_152, [0x80, 0x80, 0x80, 0x01]],
  ])('encodes and decodes %i at the boundaries of its byte count', (rem, header) => {
    const bytes = encode(publishOfRemainingLength(rem), 4);
    expect(bytes.length).toBe(1 + header.length + rem);
    expect([...bytes.subarray(1, 1 + header.length)]).toEqual(header);
    const [packet] = new PacketDecoder({ protocolVersion: 4 }).push(bytes) as PublishPacket[];
    expect(packet.payload.length).toBe(rem - 3);
  });

  it('knows the largest value', () => {
    expect(MAX_VBI).toBe(0xfffffff);
  });
});

describe('reason codes', () => {
  it('names codes as the spec does, by packet', () => {
    expect(reasonCodeName(ReasonCode.QuotaExceeded)).toBe('Quota exceeded');
    expect(reasonCodeName(0, 'disconnect')).toBe('Normal disconnection');
    expect(reasonCodeName(0, 'suback')).toBe('Granted QoS 0');
    expect(reasonCodeName(0, 'puback')).toBe('Success');
    expect(reasonCodeName(5, 'connack', 4)).toBe('Connection Refused, not authorized');
    expect(reasonCodeName(0x42)).toBe('Unknown reason code 0x42');
  });

  it('knows which packet may carry which code', () => {
    expect(isValidReasonCode('puback', ReasonCode.NoMatchingSubscribers, 5)).toBe(true);
    expect(isValidReasonCode('pubrel', ReasonCode.NoMatchingSubscribers, 5)).toBe(false);
    expect(isValidReasonCode('disconnect', ReasonCode.DisconnectWithWillMessage, 5)).toBe(true);
    expect(isValidReasonCode('connack', ReasonCode.DisconnectWithWillMessage, 5)).toBe(false);
    expect(isValidReasonCode('auth', ReasonCode.ContinueAuthentication, 5)).toBe(true);
    expect(isValidReasonCode('connack', 5, 4)).toBe(true);
    expect(isValidReasonCode('connack', 6, 4)).toBe(false);
    expect(isValidReasonCode('suback', 0x80, 4)).toBe(true);
    expect(isValidReasonCode('suback', 0x87, 4)).toBe(false);
    expect(isValidReasonCode('suback', 0.5, 5)).toBe(false);
  });
});

describe('CONNACK from a 3.1.1 broker to an MQTT 5 client', () => {
  it.each([
    [1, 0x84],
    [2, 0x85],
    [3, 0x88],
    [4, 0x86],
    [5, 0x87],
  ])('reads return code %i as reason code %i', (rc, v5) => {
    const [packet] = new PacketDecoder({ protocolVersion: 5 }).push(Buffer.from([0x20, 0x02, 0x00, rc]));
    expect(packet).toEqual({ type: 'connack', sessionPresent: false, reasonCode: v5 });
  });
});
