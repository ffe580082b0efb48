/**
 * Bad input is refused before anything is armed or sent: signals that are
 * not AbortSignals, timeouts that are not a number of ms, options of the
 * wrong type and misspelt option names (named with the closest known one),
 * for `new Session()` and every call that takes options. Nothing is left
 * behind: no timer, no route, no entry in flight, and `close()` still works.
 */
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../src/core/errors.js';
import { sharedTimer } from '../../src/core/timer.js';
import { Session, type SessionOptions } from '../../src/session/index.js';
import { resolveOptions } from '../../src/session/options.js';
import { onCleanup } from '../helpers/cleanup.js';
import type { FakeBroker } from '../helpers/fake-broker.js';
import { expectRefused, outcome } from '../helpers/outcome.js';
import { fake, publishPacket, session } from './fake-session.js';

async function connected(): Promise<{ s: Session; b: FakeBroker }> {
  // CONNACK and SUBACK, but no PUBACK: a publish that is not refused stays in flight
  const b = await fake({
    autoConnack: true,
    onPacket: (p, conn) => {
      if (p.type === 'subscribe') {
        conn.send({ type: 'suback', packetId: p.packetId, reasonCodes: p.subscriptions.map((s) => s.qos) });
      } else if (p.type === 'unsubscribe') {
        conn.send({ type: 'unsuback', packetId: p.packetId, reasonCodes: p.topicFilters.map(() => 0) });
      }
    },
  });
  const s = session({ url: b.url, keepalive: 0 });
  await s.connect();
  return { s, b };
}

function thrown(options: unknown): unknown {
  try {
    new Session(options as SessionOptions);
  } catch (err) {
    return err;
  }
  return undefined;
}

const NOT_SIGNALS: unknown[] = [{}, 'abort', { aborted: false }, 42];
const BAD_TIMEOUTS: unknown[] = [Number.NaN, -1, 'x', Number.POSITIVE_INFINITY, 2 ** 31];

describe('signal that is not an AbortSignal', () => {
  it('is refused by publish, subscribe, unsubscribe and connect before anything is armed or sent', async () => {
    const { s, b } = await connected();
    const conn = await b.nextConnection();
    const timers = sharedTimer.size;
    for (const signal of NOT_SIGNALS) {
      const o = { signal } as unknown as { signal: AbortSignal };
      for (const qos of [0, 1, 2] as const) {
        expectRefused(await outcome(() => s.publish('t', 'x', { qos, ...o })), 'options.signal');
      }
      expectRefused(await outcome(() => s.subscribe('f/#', o, () => {})), 'options.signal');
      expectRefused(await outcome(() => s.unsubscribe('f/#', o)), 'options.signal');
      expectRefused(await outcome(() => s.connect(o)), 'options.signal');
    }
    expect(sharedTimer.size).toBe(timers);
    expect(s.inflight).toBe(0);
    expect(s.metrics().messagesOut).toBe(0);
    // nothing went on the wire: the first packet the broker gets is the next good one
    await s.publish('after', 'x', { qos: 0 });
    expect((await conn.nextPacket('publish')).topic).toBe('after');
    expect(conn.packets.filter((p) => p.type !== 'connect').map((p) => p.type)).toEqual(['publish']);
    expect(s.state).toBe('connected');
    await s.close();
    expect(s.state).toBe('closed');
  });

  it('leaves a subscription in place when its unsubscribe is refused', async () => {
    const { s, b } = await connected();
    const conn = await b.nextConnection();
    const seen: string[] = [];
    const sub = await s.subscribe('keep/#', { qos: 0 }, (m) => seen.push(m.topic));
    const bad = { signal: {} } as unknown as { signal: AbortSignal };
    expectRefused(await outcome(() => sub.unsubscribe(bad)), 'options.signal');
    expectRefused(await outcome(() => s.unsubscribe('keep/#', bad)), 'options.signal');
    const got = new Promise<void>((resolve) => s.once('message', () => resolve()));
    conn.send(publishPacket('keep/a'));
    await got;
    expect(seen).toEqual(['keep/a']);
  });

  it('is refused by connect() of a new session, which stays new', async () => {
    const s = new Session({ url: 'mqtt://127.0.0.1:1' });
    onCleanup(() => s.close());
    expectRefused(
      await outcome(() => s.connect({ signal: 'x' as unknown as AbortSignal })),
      'options.signal',
    );
    expect(s.state).toBe('new');
  });
});

describe('timeout that is not a number of ms', () => {
  it('is refused by publish, subscribe and unsubscribe instead of waiting for ever', async () => {
    const { s, b } = await connected();
    const conn = await b.nextConnection();
    const timers = sharedTimer.size;
    for (const timeout of BAD_TIMEOUTS) {
      const o = { timeout } as { timeout: number };
      for (const qos of [0, 1, 2] as const) {
        expectRefused(await outcome(() => s.publish('t', 'x', { qos, ...o })), 'options.timeout');
      }
      expectRefused(await outcome(() => s.subscribe('f/#', o)), 'options.timeout');
      expectRefused(await outcome(() => s.unsubscribe('f/#', o)), 'options.timeout');
    }
    expect(sharedTimer.size).toBe(timers);
    expect(s.inflight).toBe(0);
    await s.publish('after', 'x');
    expect((await conn.nextPacket('publish')).topic).toBe('after');
    expect(conn.packets.filter((p) => p.type !== 'connect')).toHaveLength(1);
  });

  it('keeps 0 as "no timeout"', async () => {
    const { s } = await connected();
    const p = s.publish('t', 'x', { qos: 1, timeout: 0 });
    // one with a 1 ms timeout, published after it, times out: a deadline for p would have passed as well
    await expect(s.publish('t', 'y', { qos: 1, timeout: 1 })).rejects.toBeInstanceOf(TimeoutError);
    expect(await outcome(() => p)).toBe('pending');
    await s.close({ timeout: 0 });
    await expect(p).rejects.toThrow(/closed/);
  });

  it('is refused by close(), which closes nothing until called right', async () => {
    const { s } = await connected();
    for (const timeout of BAD_TIMEOUTS) {
      expectRefused(await outcome(() => s.close({ timeout: timeout as number })), 'options.timeout');
      expect(s.state).toBe('connected');
    }
    expectRefused(await outcome(() => s.close({ reasonCode: 256 })), 'options.reasonCode');
    await s.close({ timeout: 0 });
    expect(s.state).toBe('closed');
  });

  it('is refused as operationTimeout and connectTimeout', () => {
    for (const t of BAD_TIMEOUTS) {
      expectRefused(thrown({ url: 'mqtt://h', operationTimeout: t }), 'operationTimeout');
      expectRefused(thrown({ url: 'mqtt://h', connectTimeout: t }), 'connectTimeout');
    }
  });
});

describe('options of the wrong type', () => {
  it('are refused by new Session(), naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ topicAliases: 'yes' }, 'topicAliases'],
      [{ offlineQueue: { qos0: 'no' } }, 'offlineQueue.qos0'],
      [{ offlineQueue: 'big' }, 'offlineQueue'],
      [{ tls: 'x' }, 'tls'],
      [{ tls: { rejectUnauthorized: 'no' } }, 'tls.rejectUnauthorized'],
      [{ tls: { ca: 5 } }, 'tls.ca'],
      [{ ws: 5 }, 'ws'],
      [{ ws: { headers: { a: 1 } } }, 'ws.headers'],
      [{ clean: 'false' }, 'clean'],
      [{ requestResponseInformation: 1 }, 'requestResponseInformation'],
      [{ reconnect: true }, 'reconnect'],
      [{ reconnect: { factor: '2' } }, 'reconnect.factor'],
      [{ will: { topic: 'w', payload: 'x', retain: 'yes' } }, 'will.retain'],
      [{ will: { topic: 'w' } }, 'will.payload'],
      [{ credentials: 'user:pass' }, 'credentials'],
      [{ userProperties: [['a', 1]] }, 'userProperties[0]'],
      [{ url: ['mqtt://a', 5] }, 'url[1]'],
      [{ url: [] }, 'url'],
    ];
    for (const [options, field] of cases) expectRefused(thrown({ url: 'mqtt://h', ...options }), field);
    expectRefused(thrown({ clientId: 'a' }), 'url');
    expectRefused(thrown(null), 'options');
  });

  it('never quotes the value of a string option in the message', () => {
    const err = thrown({ url: 'mqtt://h', tls: '-----BEGIN PRIVATE KEY----- s3cr3t' }) as Error;
    expect(err.message).toBe('tls: must be an object, got a string');
    const pw = thrown({ url: 'mqtt://h', password: { secret: 'hunter2' } }) as Error;
    expect(pw.message).not.toMatch(/hunter2/);
  });

  it('are refused by publish and subscribe, naming the field', async () => {
    const { s, b } = await connected();
    const conn = await b.nextConnection();
    expectRefused(
      await outcome(() => s.publish('t', 'x', { retain: 'yes' as unknown as boolean })),
      'options.retain',
    );
    expectRefused(
      await outcome(() => s.publish('t', 'x', { properties: 'p' as never })),
      'options.properties',
    );
    expectRefused(await outcome(() => s.publish('t', 'x', 'qos1' as never)), 'options');
    const sub = (o: unknown) => outcome(() => s.subscribe('f/#', o as never, () => {}));
    expectRefused(await sub({ manualAck: 'yes' }), 'options.manualAck');
    expectRefused(await sub({ noLocal: 1 }), 'options.noLocal');
    expectRefused(await sub({ retainHandling: 3 }), 'options.retainHandling');
    expectRefused(await sub({ subscriptionIdentifier: 0 }), 'options.subscriptionIdentifier');
    expectRefused(await sub({ userProperties: 'a=b' }), 'options.userProperties');
    expectRefused(await sub(null), 'options');
    await s.publish('after', 'x');
    await conn.nextPacket('publish');
    expect(conn.packets.filter((p) => p.type !== 'connect')).toHaveLength(1);
  });
});

describe('unknown option names', () => {
  it('are refused, naming the closest known option', () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ keepAlive: 5 }, 'keepAlive', 'keepalive'],
      [{ reconect: {} }, 'reconect', 'reconnect'],
      [{ clientID: 'a' }, 'clientID', 'clientId'],
      [{ reconnect: { initalDelay: 5 } }, 'reconnect.initalDelay', 'initialDelay'],
      [{ offlineQueue: { maxMesages: 5 } }, 'offlineQueue.maxMesages', 'maxMessages'],
      [{ tls: { rejectUnauthorised: false } }, 'tls.rejectUnauthorised', 'rejectUnauthorized'],
      [{ will: { topic: 'w', payload: 'x', retained: true } }, 'will.retained', 'retain'],
    ];
    for (const [options, field, near] of cases) {
      const err = thrown({ url: 'mqtt://h', ...options });
      expectRefused(err, field);
      const key = field.split('.').pop();
      expect((err as Error).message).toBe(`${field}: unknown option '${key}'; did you mean '${near}'?`);
    }
    const far = thrown({ url: 'mqtt://h', zzzzzzzz: 1 }) as Error;
    expect(far.message).toMatch(/^zzzzzzzz: unknown option 'zzzzzzzz'; known options: url, reconnect, /);
  });

  it('are refused by publish, subscribe, unsubscribe, connect and close', async () => {
    const { s } = await connected();
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => s.publish('t', 'x', { qso: 1 } as never), 'options.qso', 'qos'],
      [() => s.publish('t', 'x', { timeOut: 5 } as never), 'options.timeOut', 'timeout'],
      [() => s.subscribe('f', { manualack: true } as never), 'options.manualack', 'manualAck'],
      [() => s.unsubscribe('f', { signl: undefined } as never), 'options.signl', 'signal'],
      [() => s.connect({ signa: 1 } as never), 'options.signa', 'signal'],
      [() => s.close({ timout: 5 } as never), 'options.timout', 'timeout'],
    ];
    for (const [call, field, near] of cases) {
      const err = await outcome(call);
      expectRefused(err, field);
      expect((err as Error).message).toMatch(`did you mean '${near}'?`);
    }
    expect(s.state).toBe('connected');
  });
});

describe("MQTT.js's option names", () => {
  it('are refused with what they are called here', async () => {
    const hints: [Record<string, unknown>, string, RegExp][] = [
      [
        { properties: { sessionExpiryInterval: 60 } },
        'properties',
        /options of their own here: sessionExpiry, /,
      ],
      [{ reconnectPeriod: 0 }, 'reconnectPeriod', /MQTT\.js's reconnectPeriod is reconnect here/],
      [{ port: 1883 }, 'port', /the broker is given by url/],
      [
        { rejectUnauthorized: false },
        'rejectUnauthorized',
        /TLS settings go under tls: \{ rejectUnauthorized/,
      ],
      [{ queueQoSZero: true }, 'queueQoSZero', /is offlineQueue\.qos0 here/],
    ];
    for (const [options, field, hint] of hints) {
      const err = thrown({ url: 'mqtt://h', ...options });
      expectRefused(err, field);
      expect((err as Error).message).toMatch(hint);
    }
    const { s } = await connected();
    const calls: [() => Promise<unknown>, string, RegExp][] = [
      [() => s.subscribe('f', { nl: true } as never), 'options.nl', /MQTT\.js's nl is noLocal here$/],
      [() => s.subscribe('f', { rap: true } as never), 'options.rap', /is retainAsPublished here$/],
      [() => s.subscribe('f', { rh: 1 } as never), 'options.rh', /is retainHandling here$/],
      [
        () => s.subscribe('f', { properties: { subscriptionIdentifier: 1 } } as never),
        'options.properties',
        /subscriptionIdentifier and userProperties are options of their own here$/,
      ],
      [() => s.publish('t', 'x', { dup: true } as never), 'options.dup', /sets dup itself/],
    ];
    for (const [call, field, hint] of calls) {
      const err = await outcome(call);
      expectRefused(err, field);
      expect((err as Error).message).toMatch(hint);
    }
  });
});

describe('new options', () => {
  const base = { url: 'mqtt://h' };

  it('resolves protocolVersion auto, maxInflight, maximumQoS, maxDeliveryAttempts and reconnect.resetAfter', () => {
    const d = resolveOptions(base);
    expect(d.protocolVersion).toBe(5);
    expect(d.autoVersion).toBe(false);
    expect(d.maxInflight).toBeUndefined();
    expect(d.maximumQoS).toBe(2);
    expect(d.maxDeliveryAttempts).toBe(5);
    expect(d.reconnect ? d.reconnect.resetAfter : undefined).toBe(10_000);

    const o = resolveOptions({
      ...base,
      protocolVersion: 'auto',
      maxInflight: 100,
      maximumQoS: 1,
      maxDeliveryAttempts: 0,
      reconnect: { resetAfter: 0 },
      // MQTT 5 options are allowed under 'auto': they apply while 5 is in use
      sessionExpiry: 60,
      userProperties: [['a', 'b']],
    });
    expect(o.protocolVersion).toBe(5);
    expect(o.autoVersion).toBe(true);
    expect(o.connectProperties?.sessionExpiryInterval).toBe(60);
    expect(o.maxInflight).toBe(100);
    expect(o.maximumQoS).toBe(1);
    expect(o.maxDeliveryAttempts).toBe(0);
    expect(o.reconnect ? o.reconnect.resetAfter : undefined).toBe(0);
    expect(resolveOptions({ ...base, protocolVersion: 4 }).autoVersion).toBe(false);
  });

  it('refuses values out of range', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ protocolVersion: 3 }, 'protocolVersion'],
      [{ protocolVersion: 'AUTO' }, 'protocolVersion'],
      [{ maxInflight: 0 }, 'maxInflight'],
      [{ maxInflight: 65_536 }, 'maxInflight'],
      [{ maxInflight: 1.5 }, 'maxInflight'],
      [{ maximumQoS: 3 }, 'maximumQoS'],
      [{ maximumQoS: '1' }, 'maximumQoS'],
      [{ maxDeliveryAttempts: -1 }, 'maxDeliveryAttempts'],
      [{ maxDeliveryAttempts: Number.POSITIVE_INFINITY }, 'maxDeliveryAttempts'],
      [{ reconnect: { resetAfter: -1 } }, 'reconnect.resetAfter'],
      [{ reconnect: { resetAfter: Number.NaN } }, 'reconnect.resetAfter'],
      [{ protocolVersion: 4, sessionExpiry: 60 }, 'sessionExpiry'],
    ];
    for (const [options, field] of cases) expectRefused(thrown({ ...base, ...options }), field);
  });
});

describe("user properties in MQTT.js's object shape", () => {
  const base = { url: 'mqtt://h' };

  it('are taken by new Session() for CONNECT and the will, as pairs in order', () => {
    const o = resolveOptions({
      ...base,
      userProperties: { site: 'a', tag: ['x', 'y'] },
      will: { topic: 'w', payload: 'x', properties: { contentType: 'c', userProperties: { gone: 'yes' } } },
    });
    expect(o.connectProperties?.userProperties).toEqual([
      ['site', 'a'],
      ['tag', 'x'],
      ['tag', 'y'],
    ]);
    expect(o.will?.properties).toEqual({ contentType: 'c', userProperties: [['gone', 'yes']] });
  });

  it('are refused by new Session() when a value is not a string, naming its path', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ userProperties: { n: 3 } }, 'userProperties.n'],
      [{ userProperties: { n: { deep: 'x' } } }, 'userProperties.n'],
      [{ userProperties: { n: ['a', 3] } }, 'userProperties.n[1]'],
      [{ userProperties: 'n=3' }, 'userProperties'],
      [
        { will: { topic: 'w', payload: 'x', properties: { userProperties: { n: 3 } } } },
        'will.properties.userProperties.n',
      ],
      [
        { will: { topic: 'w', payload: 'x', properties: { userProperties: { n: [null] } } } },
        'will.properties.userProperties.n[0]',
      ],
    ];
    for (const [options, field] of cases) expectRefused(thrown({ ...base, ...options }), field);
  });

  it('are sent by subscribe() as pairs, and refused naming the path', async () => {
    const { s, b } = await connected();
    const conn = await b.nextConnection();
    await s.subscribe('f/#', { qos: 1, userProperties: { k: ['1', '2'], j: '3' } });
    const sub = await conn.nextPacket('subscribe');
    expect(sub.properties?.userProperties).toEqual([
      ['k', '1'],
      ['k', '2'],
      ['j', '3'],
    ]);
    expectRefused(
      await outcome(() => s.subscribe('g', { userProperties: { k: 1 } } as never)),
      'options.userProperties.k',
    );
    expectRefused(
      await outcome(() => s.subscribe('g', { userProperties: { k: ['a', {}] } } as never)),
      'options.userProperties.k[1]',
    );
  });

  it('are refused by publish(), naming the path, with nothing sent', async () => {
    const { s, b } = await connected();
    const conn = await b.nextConnection();
    const pub = (userProperties: unknown) =>
      outcome(() => s.publish('t', 'x', { qos: 1, properties: { userProperties } } as never));
    expectRefused(await pub({ n: 3 }), 'options.properties.userProperties.n');
    expectRefused(await pub({ n: { deep: 'x' } }), 'options.properties.userProperties.n');
    expectRefused(await pub({ n: ['a', 2] }), 'options.properties.userProperties.n[1]');
    expectRefused(await pub(42), 'options.properties.userProperties');
    // pairs are checked by the encoder, under the same name
    expectRefused(await pub([['a', 2]]), 'options.properties.userProperties[0][1]');
    await s.publish('after', 'x');
    await conn.nextPacket('publish');
    expect(conn.packets.filter((p) => p.type === 'publish')).toHaveLength(1);
  });
});
