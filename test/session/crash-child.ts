/**
 * A publisher process for the crash tests, killed with SIGKILL by its parent.
 *
 *   node --import tsx crash-child.ts <url> <clientId> file:<dir> | redis:<url> <count>
 *
 * Publishes `count` messages (odd at QoS 2, even at QoS 1) as fast as it can
 * and prints `persisted <n>` once the store confirms the first n are durable.
 * With count 0 it only resumes: connects, lets the session replay what the
 * store holds, waits for every acknowledgement and prints `drained`.
 */
import { Session } from '../../src/session/index.js';
import { FileStore } from '../../src/store/file.js';
import { RedisStore } from '../../src/store/redis.js';
import type { SessionStore } from '../../src/store/types.js';

const [url, clientId, where, countText] = process.argv.slice(2);
const count = Number(countText);
const store: SessionStore = where.startsWith('file:')
  ? new FileStore(where.slice(5), { fsync: 'batch' })
  : new RedisStore({ url: where.slice(6) });

if (count === 0) {
  const saved = await store.load(clientId);
  process.stdout.write(`restored ${saved.messages.length}\n`);
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
await s.connect();
if (count === 0) {
  await s.close({ timeout: 20_000 });
  await store.close();
  process.stdout.write('drained\n');
  process.exit(0);
}
for (let i = 0; i < count; i++) {
  s.publish(`crash/q${i % 2 === 1 ? 2 : 1}`, String(i), { qos: i % 2 === 1 ? 2 : 1 }).catch(() => undefined);
  if (i % 100 === 99) {
    await store.flush();
    process.stdout.write(`persisted ${i + 1}\n`);
  }
}
await store.flush();
process.stdout.write(`persisted ${count}\n`);
