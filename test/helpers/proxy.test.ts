import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Proxy as FaultProxy, startProxy } from './proxy.js';

/**
 * An echo server that also hands the test its side of each connection, so a
 * test can tell which way bytes went: what it received, and a socket to
 * write to the client from.
 */
interface Echo {
  server: Server;
  port: number;
  /** Server-side sockets, in accept order. */
  sockets: Socket[];
  /** Everything each server-side socket received, as text. */
  received: string[];
  echo: boolean;
  /** Resolves with the next server-side socket. */
  nextSocket(): Promise<Socket>;
}

async function startEcho(): Promise<Echo> {
  const waiting: Array<(s: Socket) => void> = [];
  const echo: Echo = {
    server: createServer((socket) => {
      const index = echo.sockets.push(socket) - 1;
      echo.received[index] = '';
      socket.on('data', (chunk: Buffer) => {
        echo.received[index] += chunk.toString();
        if (echo.echo) socket.write(chunk);
      });
      socket.on('error', () => {});
      waiting.shift()?.(socket);
    }),
    port: 0,
    sockets: [],
    received: [],
    echo: true,
    nextSocket: () => new Promise((resolve) => waiting.push(resolve)),
  };
  echo.server.listen(0, '127.0.0.1');
  await once(echo.server, 'listening');
  const address = echo.server.address();
  echo.port = typeof address === 'object' && address !== null ? address.port : 0;
  return echo;
}

/** A client connection through the proxy that collects what it receives. */
interface Client {
  socket: Socket;
  text(): string;
  /** Resolves once the received text contains `s`. */
  receives(s: string): Promise<void>;
  closed: Promise<void>;
}

async function open(port: number): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  const waiters = new Set<{ s: string; resolve: () => void }>();
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiters) {
      if (text.includes(w.s)) {
        waiters.delete(w);
        w.resolve();
      }
    }
  });
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => {});
  await once(socket, 'connect');
  return {
    socket,
    text: () => text,
    receives: (s) =>
      text.includes(s) ? Promise.resolve() : new Promise<void>((resolve) => waiters.add({ s, resolve })),
    closed,
  };
}

/** Resolves once `socket` is closed (at once if it already is). */
function closedOf(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : once(socket, 'close').then(() => {});
}

/** How many connections `server` has open. */
function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

// every wait here is on loopback: a few ms when it works, so fail fast when it does not
describe('startProxy', { timeout: 5_000 }, () => {
  let echo: Echo;
  let proxy: FaultProxy;
  const clients: Client[] = [];
  /** What the proxy read and dropped (blackholed), by direction, as text. */
  const dropped = { up: '', down: '' };
  const dropWaiters = new Set<() => void>();

  beforeEach(async () => {
    echo = await startEcho();
    dropped.up = dropped.down = '';
    proxy = await startProxy(
      { port: echo.port },
      {
        tap(_connection, direction, chunk, wasDropped) {
          if (!wasDropped) return;
          dropped[direction] += chunk.toString();
          for (const wake of dropWaiters) wake();
        },
      },
    );
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await proxy.close();
    for (const s of echo.sockets) s.destroy();
    await new Promise((resolve) => echo.server.close(resolve));
  });

  /** Resolves once the proxy has read `text` going `direction` and dropped it. */
  const drops = (direction: 'up' | 'down', text: string): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!dropped[direction].includes(text)) return;
        dropWaiters.delete(check);
        resolve();
      };
      dropWaiters.add(check);
      check();
    });

  const client = async (): Promise<Client> => {
    const c = await open(proxy.port);
    clients.push(c);
    return c;
  };

  it('relays bytes both ways and counts connections', async () => {
    expect(proxy.url).toBe(`mqtt://127.0.0.1:${proxy.port}`);
    expect(proxy.connections).toBe(0);
    const serverSide = echo.nextSocket();
    const c = await client();
    c.socket.write('hello');
    await c.receives('hello');
    expect(echo.received[0]).toBe('hello');
    (await serverSide).write('from the server');
    await c.receives('from the server');
    expect(proxy.connections).toBe(1);

    // a FIN is passed on as a FIN: the server ends in turn, and the pair is gone
    c.socket.end();
    await c.closed;
    await closedOf(echo.sockets[0]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(proxy.connections).toBe(0);
  });

  it('drops bytes both ways while blackholed, keeps the sockets open, and lets later bytes through after restore', async () => {
    const serverSide = echo.nextSocket();
    const c = await client();
    const server = await serverSide;
    c.socket.write('before;');
    await c.receives('before;');

    proxy.blackhole();
    // read by the proxy and dropped, both ways
    c.socket.write('lost-up;');
    await drops('up', 'lost-up;');
    server.write('lost-down;');
    await drops('down', 'lost-down;');
    expect(c.socket.destroyed).toBe(false);
    expect(server.destroyed).toBe(false);
    expect(proxy.connections).toBe(1);

    proxy.restore();
    c.socket.write('after;');
    await c.receives('after;'); // up to the server and echoed back down
    // 'after;' travelled behind the dropped bytes on the same streams: neither side got them
    expect(echo.received[0]).toBe('before;after;');
    expect(c.text()).toBe('before;after;');
  });

  it('passes on a close held back while blackholed once restored', async () => {
    const serverSide = echo.nextSocket();
    const c = await client();
    const server = await serverSide;
    proxy.blackhole();
    c.socket.destroy();
    await c.closed;
    const serverClosed = closedOf(server);
    // the proxy has seen the close and not passed it on: its socket to the server is neither ended nor destroyed
    await expect.poll(() => proxy.held, { timeout: 4_000, interval: 5 }).toBe(1);
    expect(server.destroyed).toBe(false);
    proxy.restore();
    await serverClosed;
    expect(proxy.held).toBe(0);
  });

  it('cut() closes both sides of every connection', async () => {
    const serverSides = [echo.nextSocket(), echo.nextSocket()];
    const a = await client();
    const b = await client();
    const servers = await Promise.all(serverSides);
    expect(proxy.connections).toBe(2);
    proxy.cut();
    await Promise.all([a.closed, b.closed, ...servers.map(closedOf)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(proxy.connections).toBe(0);

    // the proxy itself still works
    const c = await client();
    c.socket.write('again');
    await c.receives('again');
  });

  it('refuse(true) closes new connections at once, without reaching the target; refuse(false) ends it', async () => {
    const existing = await client();
    proxy.refuse(true);
    const refused = await client();
    await refused.closed;
    expect(refused.text()).toBe('');
    expect(echo.sockets).toHaveLength(1); // only `existing` reached the server
    expect(proxy.connections).toBe(1);
    // connections made before are untouched
    existing.socket.write('still here');
    await existing.receives('still here');

    proxy.refuse(false);
    const c = await client();
    c.socket.write('welcome back');
    await c.receives('welcome back');
    expect(echo.sockets).toHaveLength(2);
  });

  it('close() destroys every socket and stops listening', async () => {
    const serverSide = echo.nextSocket();
    const c = await client();
    const server = await serverSide;
    proxy.refuse(true);
    const refusedSocket = connect(proxy.port, '127.0.0.1').on('error', () => {});
    await proxy.close();
    await c.closed;
    await closedOf(server);
    expect(proxy.connections).toBe(0);
    expect(await connectionCount(echo.server)).toBe(0);
    await closedOf(refusedSocket);
    // nothing listens on the port any more
    const late = connect(proxy.port, '127.0.0.1');
    const [error] = (await once(late, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    await proxy.close(); // a second close is harmless
  });
});
