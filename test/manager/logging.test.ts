/**
 * The manager's `logger` option: every session without a logger of its own
 * logs there with its name bound (pino's child loggers), fleet files' too;
 * the manager logs what only it sees (sessions added and removed, route
 * handlers that threw).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Session, SessionManager } from '../../src/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { capture } from '../helpers/log-capture.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { removeTempDirs, tempDir } from '../store/file-helpers.js';

afterAll(removeTempDirs);

function pinoLines(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe.skipIf(!hasMosquitto())('SessionManager logger', () => {
  it("gives each session pino's child logger bound to its name; a session's own logger wins", async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const { logger, lines } = pinoLines();
    const own = capture();
    const m = new SessionManager({ logger });
    onCleanup(() => m.close());
    m.add({ name: 'a', url: broker.url, clientId: 'mgr-log-a' });
    m.add({ name: 'b', url: broker.url, clientId: 'mgr-log-b' });
    m.add({ name: 'mine', url: broker.url, logger: own });
    m.handleTo('a', 'boom/#', () => {
      throw new Error('route bug');
    });
    await m.connectAll();
    await m.waitReady();
    // the manager logs a failure as it emits it: once the event came, so did the line
    const failed = new Promise<void>((resolve) => m.on('session_error', () => resolve()));
    await m.publishTo('a', 'boom/1', 'x', { qos: 1 });
    await failed;
    await m.remove('b');
    await m.close();

    const connected = lines.filter((l) => l.msg === 'connected');
    expect(connected.map((l) => l.session).sort()).toEqual(['a', 'b']);
    expect(connected.find((l) => l.session === 'a')).toMatchObject({ level: 30, clientId: 'mgr-log-a' });
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'session added', session: 'a' }));
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 20, msg: 'session removed', session: 'b' }),
    );
    // the route handler's failure: the manager's line (no session logged it)
    const routeError = lines.find((l) => l.msg === 'session error');
    expect(routeError).toMatchObject({ level: 50, session: 'a' });
    expect(String(routeError?.error)).toContain('route bug');
    // its own logger has its lines, with the name bound too; the manager's has none of them
    expect(own.lines.find((l) => l.msg === 'connected')?.fields.session).toBe('mine');
    // (the manager's own lines about it stay in the manager's: its addition)
    const about = lines.filter((l) => l.session === 'mine').map((l) => l.msg);
    expect(new Set(about)).toEqual(new Set(['session added']));
    expect(lines.filter((l) => l.msg === 'session error')).toHaveLength(1);
  });

  it('a route that throws on every message: one line, and how many like it were left out at close', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const log = capture();
    const m = new SessionManager({ logger: log });
    onCleanup(() => m.close());
    m.add({ name: 'a', url: broker.url });
    let calls = 0;
    let all!: () => void;
    const done = new Promise<void>((resolve) => {
      all = resolve;
    });
    m.handle('again/#', () => {
      if (++calls === 200) all();
      throw new Error('route bug');
    });
    m.on('session_error', () => {}); // each failure is still an event
    await m.connectAll();
    await m.waitReady();
    await Promise.all(Array.from({ length: 200 }, (_, i) => m.publishTo('a', `again/${i}`, 'x', { qos: 1 })));
    await done;
    await m.close();
    const failures = log.lines.filter((l) => l.msg === 'session error');
    expect(failures.map((l) => [l.fields.session, l.fields.error, l.fields.repeated])).toEqual([
      ['a', "the route for 'again/#' threw: route bug", undefined],
      ['a', "the route for 'again/#' threw: route bug", 199],
    ]);
  });

  it("a listen() stream's drops and a forwarder's give-ups: counted into a few lines, never one per message", async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const log = capture();
    const m = new SessionManager({ logger: log });
    onCleanup(() => m.close());
    m.add({ name: 'src', url: broker.url });
    m.add({ name: 'dst', url: broker.url }); // never connected: what is forwarded to it waits
    const stream = m.listenTo('src', 'drop/#', { qos: 1, buffer: 5 });
    let seen = 0;
    let all!: () => void;
    const done = new Promise<void>((resolve) => {
      all = resolve;
    });
    m.handleTo('src', 'drop/#', () => {
      if (++seen === 15) all();
    });
    await m.get('src')?.connect();
    await m.waitReady(['src']);
    const f = m.forward({ name: 'to-dst', from: 'src', topics: 'drop/#', to: 'dst', qos: 1 });
    await f.start();
    const pub = new Session({ url: broker.url });
    onCleanup(() => pub.close());
    await pub.connect();
    await Promise.all(Array.from({ length: 15 }, (_, i) => pub.publish(`drop/${i}`, 'x', { qos: 1 })));
    // 15: fewer than mosquitto's 20 in flight, which the forwarder's unacknowledged messages hold
    await done; // every message reached the stream (nobody reads it) and the forwarder (its target is offline)
    expect(stream.dropped).toBe(10);
    await f.stop(); // what waited for the target is given up
    await m.close();
    const lines = log.lines.filter((l) => l.msg === 'messages dropped');
    const listen = lines.filter((l) => l.fields.reason === 'listen');
    const forwarder = lines.filter((l) => l.fields.reason === 'forwarder');
    expect(listen.length).toBeLessThanOrEqual(2);
    expect(listen.reduce((n, l) => n + (l.fields.count as number), 0)).toBe(10);
    expect(listen.at(-1)?.fields).toMatchObject({ filter: 'drop/#', session: 'src', total: 10 });
    expect(forwarder.length).toBeLessThanOrEqual(2);
    expect(forwarder.reduce((n, l) => n + (l.fields.count as number), 0)).toBe(15);
    expect(forwarder.at(-1)?.fields).toMatchObject({ forwarder: 'to-dst', why: 'stopped', total: 15 });
    expect(f.metrics().dropped).toBe(15);
  });

  it("a fleet file's sessions log through fromConfig's logger, each bound to its name", async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const dir = tempDir('manager-log');
    const file = join(dir, 'fleet.yaml');
    writeFileSync(
      file,
      [
        'sessions:',
        `  - { name: north, url: "${broker.url}" }`,
        `  - { name: south, url: "${broker.url}" }`,
      ].join('\n'),
    );
    const { logger, lines } = pinoLines();
    const m = await SessionManager.fromConfig(file, { logger });
    onCleanup(() => m.close());
    await m.connectAll();
    await m.close();
    expect(
      lines
        .filter((l) => l.msg === 'connected')
        .map((l) => l.session)
        .sort(),
    ).toEqual(['north', 'south']);
    expect(
      lines
        .filter((l) => l.msg === 'closed')
        .map((l) => l.session)
        .sort(),
    ).toEqual(['north', 'south']);
  });

  it('refuses a logger option that is not one', () => {
    expect(() => new SessionManager({ logger: { info() {} } as never })).toThrow(/logger: must be a logger/);
  });
});
