/**
 * A plain TCP server on 127.0.0.1 for what no broker does on purpose: accept
 * and never answer, reset a connection, stop reading. It reads (and drops)
 * what arrives, so it sees a client's close, unless `onConnection` pauses
 * the socket; `nextConnection()` hands out the accepted sockets in accept
 * order, each once, whether they arrived before or after the call.
 *
 * ```ts
 * const server = closeAfter(await startTcpServer());
 * const attempt = openTransport(`mqtts://127.0.0.1:${server.port}`, { connectTimeout: 100 });
 * const peer = await server.nextConnection();
 * ```
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

export interface TcpServer {
  readonly port: number;
  readonly server: Server;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** The oldest accepted socket not handed out yet; waits for one if there is none. */
  nextConnection(): Promise<Socket>;
  /** Destroys every open socket and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts a server on a free loopback port; `onConnection` sees each socket as it is accepted. */
export async function startTcpServer(onConnection: (socket: Socket) => void = () => {}): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  const queued: Socket[] = [];
  const waiting: Array<(s: Socket) => void> = [];
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    socket.resume();
    onConnection(socket);
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else queued.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    server,
    get accepted() {
      return accepted;
    },
    nextConnection(): Promise<Socket> {
      const socket = queued.shift();
      return socket ? Promise.resolve(socket) : new Promise((resolve) => waiting.push(resolve));
    },
    close(): Promise<void> {
      for (const s of sockets) s.destroy();
      if (!server.listening) return Promise.resolve();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
