/**
 * The embedded broker: aedes (MQTT 3.1.1) in this process, on TCP and, when
 * asked, WebSocket. For trying things out (`mqttkit broker`) and for `demo`
 * and `bench` when no broker is given; not a production broker.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { importPeer } from '../core/peer.js';
import { arrayOf, checkOptions, func, int, kind, type Rule, table } from '../core/schema.js';

/** Where the embedded broker listens, and what it reports. */
export interface EmbeddedBrokerOptions {
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Addresses to listen on. @default ['127.0.0.1'] */
  hosts?: readonly string[];
  /**
   * Also take MQTT over WebSocket on this port, on the same addresses: any
   * path (clients, mqttkit's `--ws` among them, use `/mqtt`). 0 picks a free
   * port. No WebSocket listener unless given.
   */
  wsPort?: number;
  /**
   * Called with a line for each client connect and disconnect, a client's
   * bad packets, and a listener's error (for `broker --verbose`).
   */
  log?: (line: string) => void;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://<first host>:<port>` */
  readonly url: string;
  /** The port it listens on (the free one picked when `options.port` was 0). */
  readonly port: number;
  /** `ws://<first host>:<wsPort>/mqtt`, when `options.wsPort` was given. */
  readonly wsUrl: string | undefined;
  /** The WebSocket port (the free one picked when `options.wsPort` was 0), when `options.wsPort` was given. */
  readonly wsPort: number | undefined;
  /** Clients connected now. */
  readonly clients: number;
  /** Closes the listeners, every client connection and the broker. */
  close(): Promise<void>;
}

/** An address to listen on (a name or an IP address). */
const address: Rule = (v) =>
  typeof v === 'string' && v !== '' ? undefined : `must be a non-empty string, got ${kind(v)}`;

/** `EmbeddedBrokerOptions`, checked before aedes is loaded. */
const BROKER_OPTIONS = table({
  port: int(0, 65_535),
  hosts: arrayOf(address, 1),
  wsPort: int(0, 65_535),
  log: func,
});

/**
 * Starts an aedes broker (MQTT 3.1.1) listening on `options.hosts` (127.0.0.1
 * by default) on one port, a free one unless `options.port` is given, and on
 * a WebSocket port too when `options.wsPort` is given. Close it with
 * `close()`; clients still connected are disconnected. aedes is an optional
 * peer dependency (`npm install aedes`): without it, this rejects with
 * `MissingPeerError`. Bad options (a port that is not an integer from 0 to
 * 65535, `hosts` that is not a non-empty array of addresses) reject with
 * `InvalidArgumentError` naming the option (`options.wsPort`).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  checkOptions(options, BROKER_OPTIONS, 'options');
  // aedes is an optional peer dependency, loaded with the first broker (MissingPeerError without it)
  const { Aedes } = await importPeer<typeof import('aedes')>('aedes', 'The embedded broker (mqttkit/broker)');
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  const httpServers: HttpServer[] = [];
  const wsServers: { close(): void }[] = [];
  const webSockets = new Set<{ terminate(): void }>();
  const log = options.log;
  if (log !== undefined) {
    broker.on('client', (c) => log(`client connected: ${c.id}`));
    broker.on('clientDisconnect', (c) => log(`client disconnected: ${c.id}`));
  }
  // a client that goes away mid-packet is not the broker's failure: said with --verbose, never thrown
  broker.on('clientError', (c, err) => log?.(`client error: ${c.id}: ${err.message}`));
  broker.on('connectionError', (_c, err) => log?.(`connection error: ${err.message}`));
  // a listener's own failure once listening (EMFILE on accept): reported, not a crash
  const onListenerError = (err: Error): void => log?.(`listener error: ${err.message}`);

  const closeAll = async (): Promise<void> => {
    const closed = [...servers, ...httpServers].map(
      (s) => new Promise<void>((resolve) => s.close(() => resolve())),
    );
    // a connection that has not finished its HTTP upgrade (idle, or half a request) would hold close()
    for (const server of httpServers) server.closeAllConnections();
    for (const wss of wsServers) wss.close();
    for (const socket of sockets) socket.destroy();
    for (const ws of webSockets) ws.terminate();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await Promise.all(closed);
  };

  let port = options.port ?? 0;
  let wsPort = options.wsPort;
  const hosts = options.hosts ?? ['127.0.0.1'];
  try {
    for (const host of hosts) {
      const server = createServer((socket) => {
        socket.setNoDelay(true);
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        broker.handle(socket);
      });
      servers.push(server);
      server.listen(port, host);
      await once(server, 'listening');
      server.on('error', onListenerError);
      // every host on the same port: the first picks it when 0 was asked
      const address = server.address();
      if (typeof address === 'object' && address !== null) port = address.port;
    }
    if (options.wsPort !== undefined) {
      // loaded here: most users of the embedded broker never need it
      const { WebSocketServer, createWebSocketStream } = await import('ws');
      for (const host of hosts) {
        const server = createHttpServer((_req, res) => {
          res
            .writeHead(426, { Upgrade: 'websocket' })
            .end('MQTT over WebSocket: connect with a WebSocket client\n');
        });
        httpServers.push(server);
        const wss = new WebSocketServer({ server });
        wsServers.push(wss);
        wss.on('connection', (ws, req) => {
          webSockets.add(ws);
          ws.once('close', () => webSockets.delete(ws));
          const stream = createWebSocketStream(ws);
          stream.on('error', () => undefined); // a client gone mid-packet: aedes sees the close
          broker.handle(stream, req);
        });
        wss.on('error', () => undefined); // the HTTP server's own errors (a busy port) reject below
        server.listen(wsPort, host);
        await once(server, 'listening');
        server.on('error', onListenerError);
        const address = server.address();
        if (typeof address === 'object' && address !== null) wsPort = address.port;
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  const first = hosts[0];
  const host = first.includes(':') ? `[${first}]` : first;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    wsUrl: wsPort === undefined ? undefined : `ws://${host}:${wsPort}/mqtt`,
    wsPort,
    get clients() {
      return broker.connectedClients;
    },
    close: () => {
      closing ??= closeAll();
      return closing;
    },
  };
}

/**
 * The embedded broker on 127.0.0.1 and ::1 (so `localhost` finds it either
 * way), or on 127.0.0.1 alone where the IPv6 loopback is missing or taken.
 */
export async function startLoopbackBroker(
  options: Omit<EmbeddedBrokerOptions, 'hosts'> = {},
): Promise<EmbeddedBroker> {
  try {
    return await startEmbeddedBroker({ ...options, hosts: ['127.0.0.1', '::1'] });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRNOTAVAIL' && code !== 'EAFNOSUPPORT' && code !== 'EADDRINUSE') throw err;
    return startEmbeddedBroker({ ...options, hosts: ['127.0.0.1'] });
  }
}
