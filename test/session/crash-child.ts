/**
 * A publisher process for the crash tests, killed with SIGKILL by its parent.
 *
 *   node --import tsx crash-child.ts <url> <clientId> file:<dir> | redis:<url> <count> [<extra>]
 *
 * Publishes `count` messages (odd at QoS 2, even at QoS 1) as fast as it can
 * and prints `persisted <n>` once the store confirms the first n are durable.
 * With count 0 it only resumes: connects, lets the session replay what the
 * store holds, waits for every acknowledgement and prints `drained`.
 *
 * `<extra>`, for the store-failure tests (store-failure-crash.test.ts):
 *
 * - with count 1, how to break the store once it has recorded that the one
 *   message, a QoS 2 publish of {@link BIG} bytes, was sent (its PUBLISH
 *   leaves right after): `fill:<file>` writes `<file>` until its file system
 *   is full, `fsize` limits the size of the files this process writes to
 *   what they hold (prlimit), `kill:<pid>` SIGKILLs that process (the Redis
 *   server). It prints `sent <packet id>` then, `store-error <n>` for each
 *   error the session reports and `published` if the publish resolves.
 * - with count 0, `marker`: prints `restored-message <packet id> <stage>`
 *   for each message restored, and publishes `end` at QoS 2 to `crash/q2`
 *   after connecting (after the replay, so a subscriber that has `end` has
 *   every copy of the replayed message).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { Session } from '../../src/session/index.js';
import { FileStore } from '../../src/store/file.js';
import { RedisStore } from '../../src/store/redis.js';
import type {
  PersistedSession,
  SessionStore,
  StoredMessage,
  StoredSubscription,
} from '../../src/store/types.js';

/** Bytes of the payload the store-failure tests publish: more than a page, so its next record needs a new one. */
const BIG = 6000;

const [url, clientId, where, countText, extra] = process.argv.slice(2);
const count = Number(countText);
const inner: SessionStore = where.startsWith('file:')
  ? new FileStore(where.slice(5), { fsync: 'batch' })
  : new RedisStore({ url: where.slice(6) });

/** Delegates to `inner`, and breaks it with `how` once a flush has recorded a message at stage 1. */
class BreakingStore implements SessionStore {
  readonly durable = true;
  private armed = false;
  private broken = false;
  constructor(
    private readonly inner: SessionStore,
    private readonly how: string,
  ) {}
  load(id: string): Promise<PersistedSession> {
    return this.inner.load(id);
  }
  putMessage(id: string, m: StoredMessage): void {
    this.inner.putMessage(id, m);
    if (m.stage === 1 && !this.broken) {
      this.armed = true;
      process.stdout.write(`sent ${m.packetId}\n`);
    }
  }
  deleteMessage(id: string, seq: number): void {
    this.inner.deleteMessage(id, seq);
  }
  addIncomingQoS2(id: string, packetId: number): void {
    this.inner.addIncomingQoS2(id, packetId);
  }
  deleteIncomingQoS2(id: string, packetId: number): void {
    this.inner.deleteIncomingQoS2(id, packetId);
  }
  putSubscription(id: string, s: StoredSubscription): void {
    this.inner.putSubscription(id, s);
  }
  deleteSubscription(id: string, filter: string): void {
    this.inner.deleteSubscription(id, filter);
  }
  async flush(): Promise<void> {
    const armed = this.armed;
    await this.inner.flush();
    // before the session's continuation writes the PUBLISH: the PUBREC will find the store broken
    if (armed && !this.broken) {
      this.broken = true;
      breakStore(this.how);
    }
  }
  clear(id: string): Promise<void> {
    return this.inner.clear(id);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function breakStore(how: string): void {
  if (how.startsWith('fill:')) {
    const fd = openSync(how.slice(5), 'w');
    const chunk = Buffer.alloc(64 * 1024);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
  } else if (how === 'fsize') {
    // files may not grow past what they hold: the next append fails with EFBIG (Node ignores SIGXFSZ)
    const log = (inner as FileStore).pathOf(clientId);
    const size = Number(execFileSync('stat', ['-c', '%s', log]).toString());
    execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${size}`]);
  } else if (how.startsWith('kill:')) {
    process.kill(Number(how.slice(5)), 'SIGKILL');
  } else throw new Error(`crash-child: unknown way to break the store: ${how}`);
}

const breaking = count > 0 && extra !== undefined;
const store = breaking ? new BreakingStore(inner, extra) : inner;

if (count === 0) {
  const saved = await store.load(clientId);
  process.stdout.write(`restored ${saved.messages.length}\n`);
  if (extra === 'marker')
    for (const m of saved.messages) process.stdout.write(`restored-message ${m.packetId} ${m.stage}\n`);
}
const s = new Session({
  url,
  clientId,
  clean: false,
  sessionExpiry: 3600,
  store,
  reconnect: { initialDelay: 50, maxDelay: 200 },
  offlineQueue: { maxMessages: 1_000_000 },
});
let errors = 0;
if (breaking) s.on('error', (e) => process.stdout.write(`store-error ${++errors} ${e.code}\n`));
await s.connect();
if (count === 0) {
  if (extra === 'marker') await s.publish('crash/q2', 'end', { qos: 2 });
  await s.close({ timeout: 20_000 });
  await store.close();
  process.stdout.write('drained\n');
  process.exit(0);
}
if (breaking) {
  const payload = Buffer.alloc(BIG, 'x');
  payload.write('0:');
  await s.publish('crash/q2', payload, { qos: 2 });
  process.stdout.write('published\n');
  // stays alive (reporting) until its parent kills it
} else {
  for (let i = 0; i < count; i++) {
    s.publish(`crash/q${i % 2 === 1 ? 2 : 1}`, String(i), { qos: i % 2 === 1 ? 2 : 1 }).catch(
      () => undefined,
    );
    if (i % 100 === 99) {
      await store.flush();
      process.stdout.write(`persisted ${i + 1}\n`);
    }
  }
  await store.flush();
  process.stdout.write(`persisted ${count}\n`);
}
