/**
 * A publisher process SIGKILLed mid-stream and started again on the same
 * store: every message the store had confirmed before the kill reaches the
 * subscriber, QoS 1 at least once, QoS 2 exactly once. Once with FileStore,
 * once with RedisStore. Counted, not timed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/session/index.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import { child } from './crash-rig.js';

async function crashAndResume(url: string, where: string, clientId: string): Promise<void> {
  const sub = new Session({ url, clientId: `${clientId}-sub`, clean: false, sessionExpiry: 3600 });
  const got = new Map<number, number>();
  try {
    await sub.connect();
    await sub.subscribe('crash/#', { qos: 2 }, (m) => {
      const n = Number(m.payload.toString());
      got.set(n, (got.get(n) ?? 0) + 1);
    });
    // kill the publisher at a random point after it confirmed at least 500 messages
    const first = child([url, clientId, where, '20000']);
    const killAfter = 500 + Math.floor(Math.random() * 1500);
    await first.line(/^persisted (\d{4,}|[5-9]\d\d)$/);
    let confirmed = 0;
    await new Promise<void>((resolve) => {
      const check = () => {
        const last = first.lines.filter((l) => l.startsWith('persisted ')).at(-1);
        confirmed = last === undefined ? 0 : Number(last.split(' ')[1]);
        if (confirmed >= killAfter || first.proc.exitCode !== null) resolve();
        else first.proc.stdout?.once('data', check);
      };
      check();
    });
    first.proc.kill('SIGKILL');
    await new Promise((resolve) => first.proc.once('exit', resolve));
    const last = first.lines.filter((l) => l.startsWith('persisted ')).at(-1);
    confirmed = Number(last?.split(' ')[1] ?? 0);
    expect(confirmed).toBeGreaterThanOrEqual(500);

    const second = child([url, clientId, where, '0']);
    const restored = Number((await second.line(/^restored \d+$/)).split(' ')[1]);
    expect(restored, 'messages the killed process left unacknowledged in its store').toBeGreaterThan(0);
    await second.line(/^drained$/);
    // everything confirmed must arrive; wait for it through the subscriber's own stream
    const it = sub.messages('crash/#');
    while ([...Array(confirmed).keys()].some((n) => !got.has(n))) await it.next();
    for (let n = 0; n < confirmed; n++) {
      expect(got.get(n), `message ${n}`).toBeGreaterThanOrEqual(1);
      if (n % 2 === 1) expect(got.get(n), `QoS 2 message ${n}`).toBe(1);
    }
  } finally {
    await sub.close({ timeout: 0 });
  }
}

describe.skipIf(!hasMosquitto())('a publisher killed with SIGKILL and started again on its store', () => {
  it('FileStore: every confirmed message is delivered, QoS 2 once', async () => {
    const broker = await startMosquitto({ config: 'max_queued_messages 1000000' });
    const dir = mkdtempSync(join(tmpdir(), 'mqttkit-crash-'));
    try {
      await crashAndResume(broker.url, `file:${dir}`, 'crash-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await broker.stop();
    }
  }, 120_000);

  it.skipIf(!hasRedis())(
    'RedisStore: every confirmed message is delivered, QoS 2 once',
    async () => {
      const broker = await startMosquitto({ config: 'max_queued_messages 1000000' });
      const redis = await startRedis();
      try {
        await crashAndResume(broker.url, `redis:${redis.url}`, 'crash-redis');
      } finally {
        await redis.stop();
        await broker.stop();
      }
    },
    120_000,
  );
});
