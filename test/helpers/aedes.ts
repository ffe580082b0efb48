/** An in-process aedes broker (aedes v1) on a free loopback port. */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';

export interface AedesBroker {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  broker: Aedes;
  /** Closes the listener, every client connection and the broker. */
  stop(): Promise<void>;
}

export async function startAedes(): Promise<AedesBroker> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  server.listen(0, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  let stopped: Promise<void> | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    broker,
    stop: () => {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await closed;
      })();
      return stopped;
    },
  };
}
