/** Free TCP ports on the loopback interface, for servers the tests start. */
import { connect, createServer } from 'node:net';

/**
 * A port that was free on 127.0.0.1 a moment ago: listen on port 0, read the
 * port the kernel chose, close. Another process may still take it before it
 * is used; helpers that spawn servers retry with fresh ports when that happens.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from listen(0)'))));
    });
  });
}

/** Whether a connection to the loopback port (or Unix socket) succeeds now; it is closed again at once. */
export function accepts(target: { port: number } | { path: string }): Promise<boolean> {
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
