/**
 * `localAddress` (emqtt-bench's `--ifaddr`): a session connects from the
 * address given, over TCP and WebSocket, and the broker sees it (mosquitto
 * logs the peer of every new connection); a bad address is a typed error
 * naming the field; in a fleet file, a list in `defaults` is spread over the
 * sessions round-robin.
 */
import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { ConfigError, parseFleetConfig } from '../../src/manager/config.js';
import { Session } from '../../src/session/index.js';
import { openTransport } from '../../src/transport/index.js';
import { setNextLocalPorts } from '../../src/transport/local-port.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

describe.skipIf(!hasMosquitto())('localAddress against mosquitto', () => {
  let broker: Broker;

  beforeAll(async () => {
    broker = await startMosquitto({ websockets: true });
  });
  afterAll(() => broker?.stop());

  it.each([
    ['tcp', () => broker.url, '127.0.0.2'],
    ['ws', () => broker.wsUrl as string, '127.0.0.3'],
  ])('connects over %s from the address given, as the broker sees it', async (_kind, url, address) => {
    const clientId = `local-${randomUUID()}`;
    const s = closeAfter(new Session({ url: url(), clientId, localAddress: address }));
    await s.connect();
    // mosquitto: "New connection from 127.0.0.2:54321 on port 1883." then "New client connected from 127.0.0.2:54321 as <id> ..."
    await vi.waitFor(
      () =>
        expect(broker.log()).toMatch(
          new RegExp(`from (::ffff:)?${address.replace(/\./g, '\\.')}:\\d+ as ${clientId}`),
        ),
      {
        timeout: 10_000,
      },
    );
  });

  it('binds a port of its own, and the next one when that is in use', async () => {
    // a listener holds 127.0.0.4:<port>: the session's first bind there fails (EADDRINUSE)
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.4', resolve));
    onCleanup(() => new Promise((resolve) => holder.close(resolve)));
    const port = (holder.address() as net.AddressInfo).port;
    setNextLocalPorts('127.0.0.4', [port, port + 1]);
    const clientId = `local-${randomUUID()}`;
    const s = closeAfter(new Session({ url: broker.url, clientId, localAddress: '127.0.0.4' }));
    await s.connect();
    await vi.waitFor(() => expect(broker.log()).toContain(`from 127.0.0.4:${port + 1} as ${clientId}`), {
      timeout: 10_000,
    });
  });

  it('refuses an address that is not an IP address, naming the field', () => {
    const make = () => new Session({ url: broker.url, localAddress: 'localhost' });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(/localAddress/);
    expect(() => new Session({ url: broker.url, localAddress: 7 as unknown as string })).toThrow(
      /localAddress: must be an IPv4 or IPv6 address, got 7/,
    );
  });

  it('openTransport refuses one too, before connecting', async () => {
    const err = await openTransport(broker.url, { localAddress: '1.2.3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('options.localAddress');
  });
});

describe('localAddress in a fleet file', () => {
  const fleet = (defaults: string, sessions = 5) =>
    [
      'defaults:',
      '  url: mqtt://127.0.0.1:1883',
      defaults,
      'sessions:',
      ...Array.from({ length: sessions }, (_, i) =>
        i === 3 ? `  - { name: s${i}, localAddress: 127.0.0.9 }` : `  - { name: s${i} }`,
      ),
    ].join('\n');

  it('a list in defaults goes round-robin by the session index; a session of its own keeps its own', async () => {
    const config = await parseFleetConfig(fleet('  localAddress: [127.0.0.2, 127.0.0.3]'), 'yaml');
    expect(config.sessions.map((s) => s.localAddress)).toEqual([
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.2',
      '127.0.0.9',
      '127.0.0.2',
    ]);
  });

  it('one address in defaults goes to every session', async () => {
    const config = await parseFleetConfig(fleet('  localAddress: "::1"', 2), 'yaml');
    expect(config.sessions.map((s) => s.localAddress)).toEqual(['::1', '::1']);
  });

  it('a bad address is a ConfigError naming the field', async () => {
    const err = await parseFleetConfig(fleet('  localAddress: [127.0.0.2, my-host]'), 'yaml').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.path)).toContain('defaults.localAddress[1]');
    const own = await parseFleetConfig(
      'sessions:\n  - { name: a, url: "mqtt://127.0.0.1", localAddress: 300.1.1.1 }',
      'yaml',
    ).catch((e: unknown) => e);
    expect((own as ConfigError).issues[0]?.path).toBe('sessions[0].localAddress');
    expect((own as ConfigError).message).toMatch(
      /sessions\[0\]\.localAddress: must be an IPv4 or IPv6 address/,
    );
  });
});
