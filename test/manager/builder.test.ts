import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { SessionBuilder } from '../../src/manager/builder.js';
import type { FleetHandler, ManagedSessionOptions } from '../../src/manager/types.js';
import { Session } from '../../src/session/session.js';
import { MemoryStore } from '../../src/store/memory.js';

/** The error `fn` throws, which must be an InvalidArgumentError. */
function argumentError(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

/** A Session from managed options, as the manager makes it. */
function construct(options: ManagedSessionOptions): Session {
  const { name: _name, subscriptions: _subscriptions, ...rest } = options;
  return new Session(rest);
}

describe('SessionBuilder', () => {
  it('builds the options the chain set', () => {
    const store = new MemoryStore();
    const credentials = () => ({ username: 'jwt', password: 'token' });
    const handler: FleetHandler = () => {};
    const options = new SessionBuilder('plant-a')
      .url(['mqtts://a.example:8883', 'mqtts://b.example:8883'])
      .clientId('gw-a')
      .auth('gw', 'pw')
      .credentials(credentials)
      .tls({ ca: 'PEM', servername: 'broker' })
      .ws({ headers: { 'x-site': 'a' } })
      .keepAlive(45)
      .reconnect({ initialDelay: 500, maxDelay: 30_000 })
      .store(store)
      .offlineQueue({ maxMessages: 100, overflow: 'drop-oldest' })
      .version('3.1.1')
      .clean(false)
      .will({ topic: 'plant/a/status', payload: 'offline', qos: 1, retain: true })
      .subscribe('plant/a/#', 1, handler)
      .subscribe('cmd/a')
      .options({ connectTimeout: 5000, messageBuffer: 10 })
      .build();
    expect(options).toEqual({
      name: 'plant-a',
      url: ['mqtts://a.example:8883', 'mqtts://b.example:8883'],
      clientId: 'gw-a',
      username: 'gw',
      password: 'pw',
      credentials,
      tls: { ca: 'PEM', servername: 'broker' },
      ws: { headers: { 'x-site': 'a' } },
      keepalive: 45,
      reconnect: { initialDelay: 500, maxDelay: 30_000 },
      store,
      offlineQueue: { maxMessages: 100, overflow: 'drop-oldest' },
      protocolVersion: 4,
      clean: false,
      will: { topic: 'plant/a/status', payload: 'offline', qos: 1, retain: true },
      subscriptions: [{ filter: 'plant/a/#', qos: 1, handler }, { filter: 'cmd/a' }],
      connectTimeout: 5000,
      messageBuffer: 10,
    });
    expect(options.store).toBe(store);
    expect(construct(options).protocolVersion).toBe(4);
  });

  it('is a SessionOptionsBuilder made by new SessionBuilder()', () => {
    const b = new SessionBuilder('a');
    expect(b).toBeInstanceOf(SessionBuilder);
    expect(b.url('mqtt://h').build()).toEqual({ name: 'a', url: 'mqtt://h' });
  });

  it('maps every spelling of the protocol version and refuses others at once', () => {
    for (const [given, version] of [
      [5, 5],
      ['5', 5],
      ['5.0', 5],
      [4, 4],
      ['4', 4],
      ['3.1.1', 4],
    ] as const) {
      expect(new SessionBuilder('a').url('mqtt://h').version(given).build().protocolVersion).toBe(version);
    }
    const err = argumentError(() => new SessionBuilder('a').version('3.1' as unknown as 4));
    expect(err.field).toBe('protocolVersion');
  });

  it('builds a fresh object each time, with copied arrays and plain objects', () => {
    const urls = ['mqtt://a', 'mqtt://b'];
    const b = new SessionBuilder('a').url(urls).subscribe('x/#', 1).tls({ servername: 'broker' });
    const first = b.build();
    const second = b.build();
    expect(first).toEqual(second);
    expect(first).not.toBe(second);
    expect(first.url).not.toBe(second.url);
    expect(first.url).not.toBe(urls);
    expect(first.subscriptions).not.toBe(second.subscriptions);
    expect(first.subscriptions?.[0]).not.toBe(second.subscriptions?.[0]);
    expect(first.tls).not.toBe(second.tls);
    (first.url as string[]).push('mqtt://c');
    (first.tls as { servername?: string }).servername = 'changed';
    urls.push('mqtt://d');
    b.subscribe('y/#').keepAlive(5);
    const third = b.build();
    expect(third.url).toEqual(['mqtt://a', 'mqtt://b']);
    expect(third.tls).toEqual({ servername: 'broker' });
    expect(third.subscriptions).toHaveLength(2);
    expect(first.subscriptions).toHaveLength(1);
    expect(first.keepalive).toBeUndefined();
  });

  it('merges object settings over earlier calls and replaces scalars', () => {
    const o = new SessionBuilder('a')
      .url('mqtt://h')
      .tls({ ca: 'A', servername: 's' })
      .tls({ ca: 'B' })
      .offlineQueue({ maxMessages: 1 })
      .offlineQueue({ qos0: true })
      .reconnect({ initialDelay: 1 })
      .reconnect({ maxDelay: 2 })
      .keepAlive(1)
      .keepAlive(2)
      .build();
    expect(o.tls).toEqual({ ca: 'B', servername: 's' });
    expect(o.offlineQueue).toEqual({ maxMessages: 1, qos0: true });
    expect(o.reconnect).toEqual({ initialDelay: 1, maxDelay: 2 });
    expect(o.keepalive).toBe(2);
    expect(
      new SessionBuilder('a').url('mqtt://h').reconnect({ initialDelay: 1 }).reconnect(false).build()
        .reconnect,
    ).toBe(false);
    // options() replaces whole fields
    expect(
      new SessionBuilder('a')
        .url('mqtt://h')
        .tls({ ca: 'A' })
        .options({ tls: { servername: 's' } })
        .build().tls,
    ).toEqual({ servername: 's' });
  });

  it('auth() without a password removes one set before', () => {
    const o = new SessionBuilder('a').url('mqtt://h').auth('u', 'p').auth('v').build();
    expect(o.username).toBe('v');
    expect('password' in o).toBe(false);
  });

  it('build() names the missing or bad field', () => {
    expect(argumentError(() => new SessionBuilder('a').build()).field).toBe('url');
    expect(argumentError(() => new SessionBuilder('a').url([]).build()).field).toBe('url');
    expect(argumentError(() => new SessionBuilder('').url('mqtt://h').build()).field).toBe('name');
    expect(
      argumentError(() => new SessionBuilder(42 as unknown as string).url('mqtt://h').build()).field,
    ).toBe('name');
  });

  it('leaves the other checks to new Session()', () => {
    const o = new SessionBuilder('a').url('mqtt://h').keepAlive(-1).build();
    expect(o.keepalive).toBe(-1);
    expect(argumentError(() => construct(o)).field).toBe('keepalive');
  });
});

describe('SessionBuilder.quick()', () => {
  it('gives defaults for trying things, each of which can be changed', () => {
    const o = SessionBuilder.quick('try', 'mqtt://127.0.0.1:1883', 'dev-1').build();
    expect(o).toEqual({
      name: 'try',
      url: 'mqtt://127.0.0.1:1883',
      clientId: 'dev-1',
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnect: { initialDelay: 500, maxDelay: 10_000 },
    });
    expect(SessionBuilder.quick('try', 'mqtt://h').build().clientId).toBeUndefined();
    expect(SessionBuilder.quick('try', 'mqtt://h').keepAlive(5).clean(false).build()).toMatchObject({
      keepalive: 5,
      clean: false,
    });
    construct(o);
  });
});

describe('SessionBuilder.secure()', () => {
  it('verifies the server unless told otherwise', () => {
    const o = SessionBuilder.secure('s', 'mqtts://broker:8883', { ca: 'PEM' }).build();
    expect(o.tls).toEqual({ ca: 'PEM', rejectUnauthorized: true });
    expect(SessionBuilder.secure('s', 'wss://broker/mqtt').build().tls).toEqual({ rejectUnauthorized: true });
    expect(
      SessionBuilder.secure('s', 'tls://broker', { rejectUnauthorized: false }).build().tls
        ?.rejectUnauthorized,
    ).toBe(false);
    // later tls() calls keep what SessionBuilder.secure() set
    expect(
      SessionBuilder.secure('s', 'mqtts://broker', { ca: 'PEM' }).tls({ servername: 'b' }).build().tls,
    ).toEqual({
      ca: 'PEM',
      rejectUnauthorized: true,
      servername: 'b',
    });
    construct(o);
  });

  it('refuses a URL without TLS at build(), naming it without its secrets', () => {
    for (const url of ['mqtt://broker', 'ws://broker/mqtt', 'tcp://broker:1883', 'unix:///run/mqtt.sock']) {
      const err = argumentError(() => SessionBuilder.secure('s', url).build());
      expect(err.field).toBe('url');
      expect(err.message).toMatch(/must use TLS/);
    }
    const err = argumentError(() =>
      SessionBuilder.secure('s', ['mqtts://a', 'mqtt://user:hunter2@b']).build(),
    );
    expect(err.field).toBe('url[1]');
    expect(err.message).toContain('mqtt://');
    expect(err.message).not.toContain('hunter2');
    // a URL changed after SessionBuilder.secure() is checked too
    expect(argumentError(() => SessionBuilder.secure('s', 'mqtts://a').url('mqtt://a').build()).field).toBe(
      'url',
    );
    expect(SessionBuilder.secure('s', new URL('mqtts://a')).build().url).toEqual(new URL('mqtts://a'));
  });
});
