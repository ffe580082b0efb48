/**
 * One member of a shared RPC group, for `share.test.ts`, which SIGKILLs it.
 *
 *   node --import tsx responder-child.ts <url> <id> <group>
 *
 * A clean Session (Clean Start, Session Expiry 0: the broker drops its
 * session, subscriptions and undelivered messages the moment the connection
 * goes) and an `RpcServer` in `group` with one route, `work/:n`, whose
 * handler waits 20-50 ms and answers `{ worker: id, n }`.
 *
 * stdout, one line each, written with `writeSync` so a line is in the pipe
 * before anything that follows it happens (the parent still reads it after a
 * SIGKILL):
 *   ready         the route is subscribed (`server.start()` resolved)
 *   got <n>       the handler started on request n
 *   answer <n>    the handler returns; the response is published after this
 *
 * The child exits when its stdin closes, so it never outlives the test
 * process, whatever killed that.
 */
import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RpcServer } from '../../src/rpc/index.js';
import { Session } from '../../src/session/index.js';

const [url, id, group] = process.argv.slice(2);
if (url === undefined || id === undefined || group === undefined) {
  process.stderr.write('usage: responder-child.ts <url> <id> <group>\n');
  process.exit(2);
}

const say = (line: string): void => {
  writeSync(1, `${line}\n`);
};

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

const session = new Session({ url, clientId: `share-${id}`, clean: true, sessionExpiry: 0 });
await session.connect();
const server = new RpcServer(session, { group });
server.on('error', (err) => process.stderr.write(`responder ${id}: ${err.message}\n`));
await server.route('work/:n', async (req) => {
  const n = Number(req.params.n);
  say(`got ${n}`);
  await sleep(20 + Math.floor(Math.random() * 31));
  say(`answer ${n}`);
  return { worker: id, n };
});
await server.start();
say('ready');
