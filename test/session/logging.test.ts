/**
 * The `logger` option: what a session logs of its life, against real
 * brokers (a private mosquitto killed and restarted, aedes for MQTT 3.1.1),
 * and what it never logs: anything per message at `info`. Drops are logged
 * with counts, never one line each. pino itself as the logger: its JSON
 * lines carry the session's name.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/logger.js';
import { type Message, Session, type SessionOptions } from '../../src/session/index.js';
import { resolveOptions } from '../../src/session/options.js';
import { FileStore } from '../../src/store/file.js';
import { startAedes } from '../helpers/aedes.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { startFakeBroker } from '../helpers/fake-broker.js';
import { capture, type LogLine } from '../helpers/log-capture.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { message } from '../store/contract.js';
import { removeTempDirs, tempDir } from '../store/file-helpers.js';

afterAll(removeTempDirs);

const loud = (lines: LogLine[]) => lines.filter((l) => l.level !== 'debug');

describe.skipIf(!hasMosquitto())('a session logs its life through the logger option', () => {
  it('connects and closes with one line each, and nothing per message at info (1000 in, 1000 out)', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const log = capture();
    const s = closeAfter(new Session({ url: broker.url, clientId: 'log-quiet', logger: log }));
    await s.connect();
    let received = 0;
    const all = new Promise<void>((resolve) => {
      void s.subscribe('quiet/#', { qos: 1 }, () => {
        if (++received === 1000) resolve();
      });
    });
    await s.subscribe('quiet/none', { qos: 0 }); // and the subscription is in place before publishing
    await Promise.all(Array.from({ length: 1000 }, (_, i) => s.publish(`quiet/${i}`, 'x', { qos: 1 })));
    await all;
    await s.close();
    expect(loud(log.lines).map((l) => l.msg)).toEqual(['connected', 'closed']);
    expect(log.lines.length).toBeLessThan(10); // debug too: nothing per message
    const connected = log.lines.find((l) => l.msg === 'connected');
    expect(connected?.fields).toMatchObject({
      url: broker.url,
      clientId: 'log-quiet',
      protocolVersion: 5,
      sessionPresent: false,
      reconnect: false,
    });
    expect(log.lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'closed',
      fields: { reasonCode: 0, dropped: 0 },
    });
  });

  it('a handler that throws on every message: one line, and how many like it were left out at close', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const log = capture();
    const s = closeAfter(new Session({ url: broker.url, logger: log }));
    s.on('error', () => {}); // every failure is still an event
    await s.connect();
    let calls = 0;
    const all = new Promise<void>((resolve) => {
      void s.subscribe('bad/#', { qos: 1 }, () => {
        if (++calls === 500) resolve();
        throw new Error('handler bug');
      });
    });
    await Promise.all(Array.from({ length: 500 }, (_, i) => s.publish(`bad/${i}`, 'x', { qos: 1 })));
    await all;
    await s.close();
    const failures = log.lines.filter((l) => l.msg === "the handler for 'bad/#' threw");
    expect(failures.map((l) => [l.level, l.fields.error, l.fields.repeated])).toEqual([
      ['error', 'handler bug', undefined],
      ['error', undefined, 499],
    ]);
    expect(s.metrics().errors).toBe(500);
  });

  it('a lost connection (warn), the reconnect schedule (info), attempts that fail, and the reconnect', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const log = capture();
    const s = closeAfter(
      new Session({
        url: broker.url,
        clientId: 'log-lost',
        logger: log,
        reconnect: { initialDelay: 50, maxDelay: 200 },
      }),
    );
    await s.connect();
    await broker.kill();
    const lost = await log.next('connection lost');
    expect(lost.level).toBe('warn');
    expect(lost.fields).toMatchObject({ url: broker.url, code: 'ERR_MQTT_CONNECTION' });
    expect(lost.fields.error).toEqual(expect.any(String));
    const reconnecting = await log.next('reconnecting');
    expect(reconnecting).toMatchObject({ level: 'info', fields: { attempt: 1 } });
    expect(reconnecting.fields.delay).toEqual(expect.any(Number));
    // an attempt while the broker is down fails, and the next one is scheduled
    const failed = await log.next('connection attempt failed');
    expect(failed).toMatchObject({ level: 'warn', fields: { next: 'reconnect' } });
    const from = log.lines.length;
    await broker.restart();
    const back = await log.next('connected', from);
    expect(back.fields).toMatchObject({ reconnect: true, protocolVersion: 5 });
  });

  it('drops are logged with counts, not one line each: offline QoS 0, queue overflow, a slow messages() consumer', async () => {
    const silent = await startFakeBroker({}); // never answers CONNECT: the session stays connecting
    onCleanup(() => silent.close());
    const log = capture();
    const s = new Session({
      url: silent.url,
      logger: log,
      connectTimeout: 60_000,
      offlineQueue: { maxMessages: 10, overflow: 'drop-oldest' },
    });
    const connecting = s.connect().catch(() => undefined);
    const settled: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) settled.push(s.publish('t', 'x', { qos: 0 }).catch(() => undefined));
    for (let i = 0; i < 40; i++) settled.push(s.publish('t', 'x', { qos: 1 }).catch(() => undefined));
    await s.close({ timeout: 0 });
    await Promise.all([connecting, ...settled]);
    const drops = log.lines.filter((l) => l.msg === 'messages dropped');
    const sum = (reason: string) =>
      drops.filter((l) => l.fields.reason === reason).reduce((n, l) => n + (l.fields.count as number), 0);
    expect(sum('offline')).toBe(50);
    expect(sum('overflow')).toBe(30);
    // the first drop at once, the rest summed at close: one line per reason
    expect(drops.length).toBeLessThanOrEqual(3);
    expect(drops.every((l) => l.level === 'warn')).toBe(true);
    expect(drops.at(-1)?.fields.total).toBe(drops.at(-1)?.fields.reason === 'offline' ? 50 : 30);
    expect(log.lines.at(-1)).toMatchObject({ msg: 'closed', fields: { dropped: 80 } });

    // a messages() iterator nobody reads, with room for 5
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const reader = capture();
    const r = closeAfter(new Session({ url: broker.url, logger: reader, messageBuffer: 5 }));
    await r.connect();
    const stream = r.messages('slow/#');
    let seen = 0;
    const all = new Promise<void>((resolve) =>
      r.on('message', () => {
        if (++seen === 200) resolve();
      }),
    );
    await r.subscribe('slow/#', { qos: 0 });
    for (let i = 0; i < 200; i++) void r.publish('slow/x', String(i), { qos: 0 });
    await all;
    await r.close();
    const streamDrops = reader.lines.filter((l) => l.msg === 'messages dropped');
    expect(stream.dropped).toBe(195);
    expect(streamDrops.reduce((n, l) => n + (l.fields.count as number), 0)).toBe(195);
    expect(streamDrops.length).toBeLessThanOrEqual(2);
  });

  it('what a FileStore restored, and the damaged records it skipped', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const dir = tempDir('log-damage');
    const id = 'log-damage';
    const first = new FileStore(dir, { fsync: 'never' });
    const sizes: number[] = [];
    for (let seq = 1; seq <= 4; seq++) {
      first.putMessage(
        id,
        message(seq, { stage: 0, packetId: 0 }, { topic: 'restored/x', payload: Buffer.alloc(40, seq) }),
      );
      await first.flush();
      sizes.push(readFileSync(first.pathOf(id)).length);
    }
    first.putSubscription(id, { topicFilter: 'restored/#', qos: 1 });
    await first.flush();
    await first.close();
    // one changed byte in the middle of the second record
    const file = first.pathOf(id);
    const bytes = readFileSync(file);
    bytes[sizes[0] + ((sizes[1] - sizes[0]) >> 1)] ^= 0x20;
    writeFileSync(file, bytes);

    const log = capture();
    const store = new FileStore(dir, { fsync: 'never' });
    onCleanup(() => store.close());
    const s = closeAfter(new Session({ url: broker.url, clientId: id, clean: false, store, logger: log }));
    await s.connect();
    const skipped = await log.next('store skipped damaged records');
    expect(skipped).toMatchObject({
      level: 'warn',
      fields: { path: file, skipped: 1, headerDamaged: false },
    });
    expect(skipped.fields.savedTo).toEqual(expect.stringContaining('.damaged-'));
    const restored = await log.next('restored from the store');
    expect(restored).toMatchObject({ level: 'info', fields: { messages: 3, subscriptions: 1 } });
  });

  it('falls back to MQTT 3.1.1 with a warning (aedes speaks 3.1.1 only)', async () => {
    const aedes = await startAedes();
    onCleanup(() => aedes.stop());
    const log = capture();
    const s = closeAfter(new Session({ url: aedes.url, protocolVersion: 'auto', logger: log }));
    await s.connect();
    const fallback = log.lines.find((l) => l.msg === 'falling back to MQTT 3.1.1');
    expect(fallback).toMatchObject({ level: 'warn', fields: { url: aedes.url } });
    expect(fallback?.fields.reason).toMatch(/Unsupported Protocol Version/);
    expect(log.lines.find((l) => l.msg === 'connected')?.fields.protocolVersion).toBe(4);
  });

  it('pino as the logger: JSON lines with the session name bound, errors at error', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const out: Record<string, unknown>[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => out.push(JSON.parse(line)) });
    const options: SessionOptions = { url: broker.url, clientId: 'log-pino', name: 'pinned', logger };
    const s = closeAfter(new Session(options));
    await s.connect();
    const got = new Promise<Message>((resolve) => {
      void s.subscribe('pino/t', { qos: 1 }, (m) => {
        resolve(m);
        throw new Error('handler bug');
      });
    });
    s.on('error', () => {}); // the session reports the handler; the logger gets it too
    await s.publish('pino/t', 'x', { qos: 1 });
    await got;
    await s.close();
    expect(out.find((l) => l.msg === 'connected')).toMatchObject({
      level: 30,
      session: 'pinned',
      clientId: 'log-pino',
      url: broker.url,
    });
    expect(out.find((l) => l.level === 50)).toMatchObject({
      session: 'pinned',
      msg: "the handler for 'pino/t' threw",
      error: 'handler bug',
    });
    expect(out.every((l) => l.session === 'pinned')).toBe(true);
  });

  it('resolved options show [Logger], never the logger object; a logger without its methods is refused', () => {
    const log = capture();
    log.info({ secret: 'kept-in-the-logger' }, 'x');
    const shown = JSON.stringify(resolveOptions({ url: 'mqtt://127.0.0.1:1', logger: log }));
    expect(shown).toContain('"logger":"[Logger]"');
    expect(shown).not.toContain('kept-in-the-logger');
    expect(() => new Session({ url: 'mqtt://h', logger: {} as Logger })).toThrow(/logger: must be a logger/);
  });
});
