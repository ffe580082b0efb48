/** BatchChannel and QueueChannel options are checked against their tables: wrong types and misspelt names are refused. */
import { describe, expect, it } from 'vitest';
import { BatchChannel, QueueChannel } from '../../src/channels/index.js';
import { Session } from '../../src/session/index.js';
import { FakeSession } from './fake-session.js';

describe('channel options', () => {
  const s = new Session({ url: 'mqtt://127.0.0.1:1' });

  it('refuses wrong types and unknown names, naming the closest known one', () => {
    const batch = (o: unknown) => () => new BatchChannel(s, 't', o as never);
    const queue = (o: unknown) => () => new QueueChannel(s, 't', o as never);
    expect(batch({ retain: 'yes' })).toThrow(/^options\.retain: must be true or false/);
    expect(batch({ intervall: 5 })).toThrow(
      "options.intervall: unknown option 'intervall'; did you mean 'interval'?",
    );
    expect(batch({ properties: 'p' })).toThrow(/^options\.properties: /);
    expect(queue({ retain: 1 })).toThrow(/^options\.retain: /);
    expect(queue({ rate: Number.POSITIVE_INFINITY })).toThrow(/^options\.rate: must be a positive number/);
    expect(queue({ capcity: 5 })).toThrow(
      "options.capcity: unknown option 'capcity'; did you mean 'capacity'?",
    );
    expect(queue({ enqueueTimeout: -1 })).toThrow(/^options\.enqueueTimeout: /);
  });

  it("take user properties in MQTT.js's object shape, converted once for every message", async () => {
    const fake = new FakeSession();
    const b = new BatchChannel(fake.asSession(), 't', {
      combine: 'concat',
      properties: { contentType: 'text/plain', userProperties: { site: 'a', tag: ['x', 'y'] } },
    });
    await Promise.all([b.push('1'), b.flush()]);
    await Promise.all([b.push('2'), b.flush()]);
    const [first, second] = fake.published.map((p) => p.options?.properties);
    expect(first).toEqual({
      contentType: 'text/plain',
      userProperties: [
        ['site', 'a'],
        ['tag', 'x'],
        ['tag', 'y'],
      ],
    });
    expect(second).toBe(first);
    const queue = (o: unknown) => () => new QueueChannel(s, 't', o as never);
    expect(queue({ properties: { userProperties: { n: 1 } } })).toThrow(
      /^options\.properties\.userProperties\.n: must be a string or an array of strings, got 1$/,
    );
    expect(() => new BatchChannel(s, 't', { properties: { userProperties: { n: [{}] } } } as never)).toThrow(
      /^options\.properties\.userProperties\.n\[0\]: must be a string, got an object$/,
    );
  });
});
