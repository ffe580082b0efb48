/**
 * A TCP proxy that breaks the network on demand, for tests of how a session
 * lives through a dead link: put it between a client and a broker and
 *
 * - `blackhole()`: the sockets stay open but no byte gets through, either
 *   way (a cable pulled out, a NAT entry gone): only keepalive notices.
 *   Bytes sent meanwhile are dropped, not delayed. A FIN or close from one
 *   side is held back too, and passed on at `restore()` (like the reset a
 *   peer gets when its next packet reaches a closed socket).
 * - `restore()`: bytes sent from now on flow again.
 * - `cut()`: every current connection is closed, both sides (a broker or
 *   router restart).
 * - `refuse(true)`: new connections are accepted and closed at once, until
 *   `refuse(false)`.
 *
 * ```ts
 * const proxy = await startProxy({ port: broker.port });
 * const session = new Session({ url: proxy.url, ... });
 * proxy.blackhole();
 * ```
 *
 * `tap` sees every chunk the proxy reads, tagged with the connection's
 * number (1, 2, ... in accept order), its direction ('up' from the client to
 * the target, 'down' back) and whether it was dropped (blackholed, or the
 * other side already closed). A test can decode the traffic there,
 * independently of the client under test: what a client sent is seen even
 * when the broker it was meant for had gone.
 *
 * Plain `node:net`, no timers. `close()` stops listening and destroys every
 * socket.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Proxy {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Connections now open through the proxy (a pair counts until both its sockets are closed). */
  readonly connections: number;
  /** Connections with a FIN or close from one side that the proxy holds back from the other (while blackholed). */
  readonly held: number;
  /** Keep the sockets open, drop every byte both ways (and hold back FIN and close) until `restore()`. */
  blackhole(): void;
  /** Let bytes through again; pass on a FIN or close held back while blackholed. */
  restore(): void;
  /** Destroy every current connection, both the client's socket and the one to the target. */
  cut(): void;
  /** While on, a new connection is closed as soon as it is accepted (no connection is made to the target). */
  refuse(on: boolean): void;
  /** Stop listening and destroy every socket; resolves once all are closed. */
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Called with each chunk read, before it is written to the other side (`dropped`: it is not). */
  tap?: (connection: number, direction: 'up' | 'down', chunk: Buffer, dropped: boolean) => void;
}

/** One side of a pair: its socket and what it has told us so far. */
interface Side {
  socket: Socket;
  ended: boolean;
  closed: boolean;
}

class Pair {
  readonly client: Side;
  readonly upstream: Side;
  readonly closed: Promise<void>;

  constructor(
    client: Socket,
    upstream: Socket,
    readonly state: { blackholed: boolean },
    readonly id = 0,
    readonly tap?: ProxyOptions['tap'],
  ) {
    this.client = { socket: client, ended: false, closed: false };
    this.upstream = { socket: upstream, ended: false, closed: false };
    this.closed = Promise.all([
      this.#link(this.client, this.upstream),
      this.#link(this.upstream, this.client),
    ]).then(() => {});
  }

  /** Relays `from` to `to`; resolves when `from` is closed. */
  #link(from: Side, to: Side): Promise<void> {
    const socket = from.socket;
    const direction = from === this.client ? 'up' : 'down';
    socket.on('data', (chunk: Buffer) => {
      const dropped = this.state.blackholed || to.socket.destroyed;
      this.tap?.(this.id, direction, chunk, dropped);
      if (dropped) return;
      if (!to.socket.write(chunk)) {
        socket.pause();
        to.socket.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => {
      from.ended = true;
      this.sync();
    });
    socket.on('error', () => {
      // 'close' follows; the other side is told in sync()
    });
    return new Promise((resolve) => {
      socket.once('close', () => {
        from.closed = true;
        this.sync();
        resolve();
      });
    });
  }

  /** Passes on FINs and closes, unless blackholed (then `restore()` calls this again). */
  sync(): void {
    if (this.state.blackholed) return;
    for (const [from, to] of [
      [this.client, this.upstream],
      [this.upstream, this.client],
    ] as const) {
      if (to.closed || to.socket.destroyed) continue;
      // after what was relayed has been written: destroySoon ends the socket, then destroys it
      if (from.closed) to.socket.destroySoon();
      else if (from.ended && !to.socket.writableEnded) to.socket.end();
    }
  }

  /** A FIN or close from one side has not been passed on to the other. */
  get holding(): boolean {
    return this.#holds(this.client, this.upstream) || this.#holds(this.upstream, this.client);
  }

  #holds(from: Side, to: Side): boolean {
    return (from.ended || from.closed) && !to.socket.writableEnded && !to.socket.destroyed;
  }

  destroy(): void {
    this.client.socket.destroy();
    this.upstream.socket.destroy();
  }
}

/** Starts a proxy on a free loopback port, forwarding to `target` (host defaults to 127.0.0.1). */
export function startProxy(
  target: { host?: string; port: number },
  options: ProxyOptions = {},
): Promise<Proxy> {
  const host = target.host ?? '127.0.0.1';
  let accepted = 0;
  const state = { blackholed: false };
  const pairs = new Set<Pair>();
  const refused = new Set<Socket>();
  let refusing = false;

  // allowHalfOpen: a FIN from one side is passed on as a FIN, not turned into a close.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    if (refusing) {
      refused.add(client);
      client.on('error', () => {});
      client.once('close', () => refused.delete(client));
      client.destroy();
      return;
    }
    const upstream = connect({ host, port: target.port, allowHalfOpen: true });
    const pair = new Pair(client, upstream, state, ++accepted, options.tap);
    pairs.add(pair);
    void pair.closed.then(() => pairs.delete(pair));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({
        url: `mqtt://127.0.0.1:${port}`,
        port,
        get connections() {
          return pairs.size;
        },
        get held() {
          let n = 0;
          for (const pair of pairs) if (pair.holding) n++;
          return n;
        },
        blackhole() {
          state.blackholed = true;
        },
        restore() {
          state.blackholed = false;
          for (const pair of pairs) pair.sync();
        },
        cut() {
          for (const pair of pairs) pair.destroy();
        },
        refuse(on: boolean) {
          refusing = on;
        },
        async close() {
          const stopped = new Promise<void>((done) => server.close(() => done()));
          const open = [...pairs].map((pair) => pair.closed);
          for (const pair of pairs) pair.destroy();
          for (const socket of refused) socket.destroy();
          await Promise.all([stopped, ...open]);
        },
      });
    });
  });
}
