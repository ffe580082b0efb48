/** readForwarded: what a receiver reads back of what a forwarder added. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelope, FORWARDED_PROPERTY, readForwarded } from '../../src/forward/envelope.js';

describe('readForwarded', () => {
  it('reads back any envelope: source topic, metadata and payload bytes', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__')), fc.string()),
        fc.uint8Array({ maxLength: 300 }),
        (topic, metadata, payload) => {
          const got = readForwarded({ payload: envelope(topic, metadata, payload) });
          expect(got).toEqual({
            sourceTopic: topic,
            metadata: { ...metadata },
            payload: Buffer.from(payload),
          });
        },
      ),
    );
  });

  it('reads MQTT 5 user properties without the loop marker; the payload is the message itself', () => {
    const payload = Buffer.from('21.5');
    const got = readForwarded({
      payload,
      properties: {
        userProperties: [
          ['unit', 'C'],
          [FORWARDED_PROPERTY, 'manager-1'],
          ['site', 'north'],
        ],
      },
    });
    expect(got).toEqual({ payload, metadata: { unit: 'C', site: 'north' }, sourceTopic: undefined });
    const odd = readForwarded({
      payload,
      properties: {
        userProperties: [
          [FORWARDED_PROPERTY, 'm'],
          ['__proto__', 'x'],
        ],
      },
    });
    expect(Object.entries(odd?.metadata ?? {})).toEqual([['__proto__', 'x']]);
    expect(got?.payload).toBe(payload); // not copied
  });

  it('returns undefined for a message no forwarder published, whatever its payload', () => {
    const not = [
      { payload: Buffer.from('21.5') },
      {
        payload: Buffer.from('21.5'),
        properties: { userProperties: [['site', 'north']] as [string, string][] },
      },
      { payload: Buffer.from('{"topic":"t"') }, // cut short
      { payload: Buffer.from('{"topic":"t","metadata":{},"payload":7}') },
      { payload: Buffer.from('{"topic":"t","metadata":[],"payload":""}') },
      { payload: Buffer.from('{"topic":"t","metadata":{"a":1},"payload":""}') },
      { payload: Buffer.from('null') },
      { payload: new Uint8Array(0) },
    ];
    for (const m of not) expect(readForwarded(m), m.payload.toString()).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        readForwarded({ payload: bytes }); // never throws
      }),
    );
  });
});
