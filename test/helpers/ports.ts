/** Loopback ports for the servers tests start: a free one to listen on, and whether something there accepts or answers. */
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/**
 * The ports the kernel hands out as the local ports of outgoing connections
 * (`ip_local_port_range`). A server port taken from this range can be in use
 * as the local port of some test's client connection by the time its server
 * restarts on it; ports below it never are.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // not Linux: the usual default
  }
  return [32768, 60999];
}

const [EPHEMERAL_LOW] = ephemeralRange();
/** Where server ports are picked from: below the ephemeral range, when there is room there. */
const PICK_LOW = 10_000;
const PICK_SPAN = EPHEMERAL_LOW - PICK_LOW;

/** Listens on `port` (0: the kernel picks) on 127.0.0.1 and closes again: the port, or the listen error. */
function tryPort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const got = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (got > 0 ? resolve(got) : reject(new Error('no port from listen'))));
    });
  });
}

/**
 * A port that was free on 127.0.0.1 a moment ago, picked at random below the
 * kernel's ephemeral range (see {@link ephemeralRange}), so that a server
 * restarted on it cannot find it taken by a client connection; the kernel's
 * choice when that range leaves no room below it. Another process may still
 * take it before it is used; helpers that spawn servers retry with fresh
 * ports when that happens.
 */
export async function freePort(): Promise<number> {
  if (PICK_SPAN >= 1_000) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = PICK_LOW + Math.floor(Math.random() * PICK_SPAN);
      try {
        return await tryPort(port);
      } catch {
        // taken: another one
      }
    }
  }
  return tryPort(0);
}

/** A loopback port, or a Unix socket. */
export type Target = { port: number } | { path: string };

/**
 * One exchange with whatever listens at `target`: connects, writes `request`,
 * and resolves with what `read` makes of the reply so far as soon as it
 * returns something other than undefined; with `fail(why)` when the
 * connection fails or closes first, or after `timeoutMs`. The connection is
 * closed again (`farewell`, when given, is written before the close after a
 * successful read).
 */
export function exchange<T>(
  target: Target,
  request: Uint8Array | string,
  read: (reply: Buffer) => T | undefined,
  fail: (why: string) => T,
  options: { timeoutMs?: number; farewell?: Uint8Array } = {},
): Promise<T> {
  return new Promise((resolve) => {
    const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.path);
    let reply = Buffer.alloc(0);
    let done = false;
    const timeoutMs = options.timeoutMs ?? 500;
    const timer = setTimeout(() => finish(fail(`no answer within ${timeoutMs} ms`), false), timeoutMs);
    const finish = (result: T, answered: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (answered && options.farewell !== undefined) socket.end(options.farewell);
      else socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const result = read(reply);
      if (result !== undefined) finish(result, true);
    });
    socket.once('error', (err) => finish(fail(err.message), false));
    socket.once('close', () => finish(fail('connection closed before an answer'), false));
  });
}

/** Whether a connection to the loopback port (or Unix socket) succeeds now; it is closed again at once. */
export function accepts(target: Target): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.path);
    const timer = setTimeout(() => finish(false), 500);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
