/**
 * A QoS 2 publish whose PUBREC cannot be recorded, end to end: a publisher
 * process (crash-child.ts) sends one QoS 2 message through mosquitto, its
 * store breaks right after the PUBLISH left (a full disk; a killed Redis),
 * the process is killed with SIGKILL while the session retries, the store
 * is repaired and a second process resumes the session. An MQTT.js
 * subscriber at QoS 2 counts the copies: exactly one.
 *
 * The full disk is a real one where this process may mount (root, as on
 * these machines and in CI): a 1 MiB tmpfs that the child fills the moment
 * the message's stage 1 is durable, so the next record (the message is
 * larger than a page) gets ENOSPC. Elsewhere the child limits the size of
 * the files it writes to what they hold (prlimit, RLIMIT_FSIZE), a real
 * write failure too (EFBIG). A read-only directory would not do: root
 * ignores permissions.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import { child } from './crash-rig.js';

/** Mounts a 1 MiB tmpfs on `dir`; false when this process may not. */
function mountTmpfs(dir: string): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function canLimitFileSize(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return process.platform === 'linux';
  } catch {
    return false;
  }
}

type Child = ReturnType<typeof child>;

async function killed(c: Child | undefined): Promise<void> {
  if (c === undefined || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise((resolve) => c.proc.once('exit', resolve));
  c.proc.kill('SIGKILL');
  await exited;
}

/**
 * Runs the two processes against `store` (`file:<dir>` or `redis:<url>`); `breakWith` is how the
 * first breaks its store, `repair` what the test does before the second starts.
 */
async function publishBreakKillResume(
  url: string,
  clientId: string,
  store: string,
  breakWith: string,
  repair: () => Promise<void>,
): Promise<void> {
  const sub = await mqtt.connectAsync(url, { clientId: `${clientId}-sub`, reconnectPeriod: 0 });
  const copies = new Map<string, number>();
  let ended!: () => void;
  const end = new Promise<void>((resolve) => {
    ended = resolve;
  });
  sub.on('message', (_topic, payload) => {
    const key = payload.subarray(0, 8).toString('latin1').split(':')[0];
    copies.set(key, (copies.get(key) ?? 0) + 1);
    if (key === 'end') ended();
  });
  await sub.subscribeAsync('crash/q2', { qos: 2 });
  let first: Child | undefined;
  let second: Child | undefined;
  try {
    first = child([url, clientId, store, '1', breakWith]);
    const packetId = Number((await first.line(/^sent \d+$/)).split(' ')[1]);
    // the PUBREC's record failed; the session retries (each failure reported), or, as it once
    // did, sends PUBREL anyway and resolves the publish
    await first.line(/^(published$|store-error 3 )/);
    await killed(first);
    const said = [...first.lines];

    await repair();
    second = child([url, clientId, store, '0', 'marker']);
    await second.line(/^drained$/);
    // `end` left after the replay: every copy of the message reached the subscriber before it
    await end;
    expect(copies.get('0'), 'copies of the message at the subscriber').toBe(1);
    // the second process went on with the same exchange, which mosquitto knew: not a new message
    expect(second.lines).toContain(`restored-message ${packetId} 1`);
    expect(said, 'publish() resolved although its PUBREC was never recorded').not.toContain('published');
    expect(said.filter((l) => /^store-error \d+ ERR_MQTT_STORE$/.test(l)).length).toBeGreaterThanOrEqual(3);
  } finally {
    await killed(first);
    await killed(second);
    await sub.endAsync();
  }
}

describe.skipIf(!hasMosquitto())('a QoS 2 publish whose PUBREC cannot be recorded, then SIGKILL', () => {
  it('FileStore on a full disk: no PUBREL until the disk has room, and the message arrives once', async () => {
    const broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), 'mqttkit-full-'));
    const mounted = mountTmpfs(dir);
    try {
      if (!mounted && !canLimitFileSize()) {
        console.warn('neither a tmpfs mount nor prlimit is available: skipping the full-disk test');
        return;
      }
      const filler = join(dir, 'filler');
      await publishBreakKillResume(
        broker.url,
        'full-disk',
        `file:${dir}`,
        mounted ? `fill:${filler}` : 'fsize',
        async () => {
          if (mounted) rmSync(filler);
        },
      );
    } finally {
      if (mounted) execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
      await broker.stop();
    }
  }, 60_000);

  it.skipIf(!hasRedis())(
    'RedisStore with Redis killed: no PUBREL while it is down, and the message arrives once',
    async () => {
      const broker = await startMosquitto();
      // appendonly: what Redis confirmed (the message at stage 1) survives its crash
      const redis = await startRedis({ args: ['--appendonly', 'yes'] });
      try {
        await publishBreakKillResume(
          broker.url,
          'redis-killed',
          `redis:${redis.url}`,
          `kill:${redis.pid}`,
          () => redis.restart(),
        );
      } finally {
        await redis.stop();
        await broker.stop();
      }
    },
    60_000,
  );
});
