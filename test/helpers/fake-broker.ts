/**
 * A scripted MQTT server for tests of what real brokers will not do: answer
 * late, answer wrongly, never answer, send garbage, cut the connection at a
 * chosen moment.
 *
 * Built on `node:net` and mqttkit's codec. By default it answers nothing:
 * the test scripts every reply.
 *
 * ```ts
 * const broker = await startFakeBroker();
 * const client = connectSomehow(broker.url);
 * const conn = await broker.nextConnection();
 * const connect = await conn.nextPacket('connect');
 * conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
 * const sub = await conn.nextPacket('subscribe');
 * conn.sendRaw([0x90, 0x03, 0x00]); // a SUBACK cut short
 * await conn.closed;
 * await broker.close();
 * ```
 *
 * `autoConnack` / `autoAck` answer the routine packets (CONNACK success;
 * PUBACK, PUBREC, PUBCOMP, SUBACK granting the requested QoS, UNSUBACK,
 * PINGRESP) for tests that only care about some of the conversation.
 *
 * `nextPacket` and `nextConnection` are mailboxes: each packet (connection)
 * is handed out at most once, in arrival order, whether it arrived before
 * or after the call, so a test never races the network. `nextPacket('x')`
 * takes the oldest packet of type x not taken yet and leaves the others for
 * later calls. `packets` and `connections` keep everything regardless.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  DecodeError,
  encode,
  type Packet,
  PacketDecoder,
  type PacketType,
  type ProtocolVersion,
} from '../../src/codec/index.js';

export interface FakeBrokerOptions {
  /**
   * Protocol version of a connection until its CONNECT arrives (after that,
   * the version the CONNECT declares).
   * @default 5
   */
  protocolVersion?: ProtocolVersion;
  /** Answer every CONNECT with a successful CONNACK. @default false */
  autoConnack?: boolean;
  /**
   * Answer PUBLISH QoS 1 with PUBACK, QoS 2 with PUBREC, PUBREL with
   * PUBCOMP, SUBSCRIBE with a SUBACK granting each requested QoS,
   * UNSUBSCRIBE with UNSUBACK and PINGREQ with PINGRESP. @default false
   */
  autoAck?: boolean;
  /** Called for every packet received, after it is recorded and auto-answered. */
  onPacket?: (packet: Packet, conn: FakeConnection) => void;
  /** Port to listen on (127.0.0.1). @default 0 (any free port) */
  port?: number;
}

export interface FakeConnection {
  /** Index of the connection in `broker.connections`. */
  readonly id: number;
  readonly socket: Socket;
  /** Every packet received, decoded, in order. */
  readonly packets: Packet[];
  /** Protocol version packets are decoded and encoded with (follows the CONNECT received). */
  readonly protocolVersion: ProtocolVersion;
  /** The decode error that made the broker drop the connection, if any. */
  readonly error: DecodeError | undefined;
  /** True once the socket has closed. */
  readonly isClosed: boolean;
  /**
   * The oldest received packet (of `type`, if given) not taken by an
   * earlier call; waits for it if there is none yet. Rejects when the
   * connection closes first or after `timeoutMs` (default 5000).
   */
  nextPacket<T extends PacketType>(type: T, timeoutMs?: number): Promise<Extract<Packet, { type: T }>>;
  nextPacket(type?: undefined, timeoutMs?: number): Promise<Packet>;
  /** Encodes `packet` with the connection's protocol version and writes it. */
  send(packet: Packet): void;
  /** Writes bytes as they are (malformed input, packets split at will). */
  sendRaw(bytes: Uint8Array | number[]): void;
  /** Resolves when the socket has closed (never rejects). */
  readonly closed: Promise<void>;
  /** Destroys the socket at once (a dead network, a broker crash). */
  destroy(): void;
  /** Ends the socket gracefully (FIN) after pending writes. */
  end(): void;
}

export interface FakeBroker {
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Every connection accepted, in order. */
  readonly connections: FakeConnection[];
  /**
   * The oldest connection not handed out by an earlier call; waits for one
   * if there is none yet. Rejects after `timeoutMs` (default 5000).
   */
  nextConnection(timeoutMs?: number): Promise<FakeConnection>;
  /** Destroys every connection and closes the server. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT = 5000;

interface Waiter<T> {
  accept: (value: T) => boolean;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Items handed out once each, oldest first, to waiters with a filter;
 * an item no waiter wants stays queued for later calls.
 */
class Mailbox<T> {
  private readonly queue: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private failure: Error | undefined = undefined;

  put(item: T): void {
    const i = this.waiters.findIndex((w) => w.accept(item));
    if (i < 0) {
      this.queue.push(item);
      return;
    }
    const [w] = this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(item);
  }

  take(accept: (item: T) => boolean, timeoutMs: number, what: () => string): Promise<T> {
    const i = this.queue.findIndex(accept);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.failure !== undefined) return Promise.reject(new Error(`${what()}: ${this.failure.message}`));
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = {
        accept,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`${what()}: timed out after ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Rejects current and later waiters that nothing queued satisfies. */
  fail(err: Error, what: () => string): void {
    this.failure = err;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`${what()}: ${err.message}`));
    }
  }
}

class Connection implements FakeConnection {
  readonly packets: Packet[] = [];
  error: DecodeError | undefined = undefined;
  isClosed = false;
  readonly closed: Promise<void>;
  private readonly decoder: PacketDecoder;
  private readonly mailbox = new Mailbox<Packet>();

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly options: FakeBrokerOptions,
  ) {
    this.decoder = new PacketDecoder({ protocolVersion: options.protocolVersion ?? 5 });
    socket.setNoDelay(true);
    // Resets and writes after close are part of what tests do; they are not failures here.
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        const reason = this.error
          ? new Error(`connection dropped after a decode error: ${this.error.message}`)
          : new Error('connection closed');
        this.mailbox.fail(reason, () => `connection ${this.id}`);
        resolve();
      });
    });
  }

  get protocolVersion(): ProtocolVersion {
    return this.decoder.protocolVersion;
  }

  private onData(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      this.error = err instanceof DecodeError ? err : new DecodeError(`decoder failed: ${String(err)}`, 0x81);
      this.socket.destroy();
      return;
    }
    for (const packet of packets) {
      this.packets.push(packet);
      this.autoReply(packet);
      this.options.onPacket?.(packet, this);
      this.mailbox.put(packet);
    }
  }

  private autoReply(p: Packet): void {
    if (p.type === 'connect') {
      if (this.options.autoConnack) this.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
      return;
    }
    if (!this.options.autoAck) return;
    switch (p.type) {
      case 'publish':
        if (p.qos === 1) this.send({ type: 'puback', packetId: p.packetId! });
        else if (p.qos === 2) this.send({ type: 'pubrec', packetId: p.packetId! });
        break;
      case 'pubrel':
        this.send({ type: 'pubcomp', packetId: p.packetId });
        break;
      case 'subscribe':
        this.send({ type: 'suback', packetId: p.packetId, reasonCodes: p.subscriptions.map((s) => s.qos) });
        break;
      case 'unsubscribe':
        this.send({
          type: 'unsuback',
          packetId: p.packetId,
          reasonCodes: this.protocolVersion === 5 ? p.topicFilters.map(() => 0) : undefined,
        });
        break;
      case 'pingreq':
        this.send({ type: 'pingresp' });
        break;
    }
  }

  nextPacket<T extends PacketType>(type: T, timeoutMs?: number): Promise<Extract<Packet, { type: T }>>;
  nextPacket(type?: undefined, timeoutMs?: number): Promise<Packet>;
  nextPacket(type?: PacketType, timeoutMs = DEFAULT_TIMEOUT): Promise<Packet> {
    return this.mailbox.take(
      (p) => type === undefined || p.type === type,
      timeoutMs,
      () =>
        `connection ${this.id}: no ${type ?? 'packet'} (received so far: ${
          this.packets.map((p) => p.type).join(', ') || 'nothing'
        })`,
    );
  }

  send(packet: Packet): void {
    this.socket.write(encode(packet, this.decoder.protocolVersion));
  }

  sendRaw(bytes: Uint8Array | number[]): void {
    this.socket.write(Uint8Array.from(bytes));
  }

  destroy(): void {
    this.socket.destroy();
  }

  end(): void {
    this.socket.end();
  }
}

/** Starts a fake broker on 127.0.0.1 (a free port unless `options.port`). */
export async function startFakeBroker(options: FakeBrokerOptions = {}): Promise<FakeBroker> {
  const connections: Connection[] = [];
  const incoming = new Mailbox<Connection>();
  const server: Server = createServer((socket) => {
    const conn = new Connection(connections.length, socket, options);
    connections.push(conn);
    incoming.put(conn);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fake broker: no TCP address');
  const port = address.port;
  let closing: Promise<void> | undefined;

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    connections,
    nextConnection(timeoutMs = DEFAULT_TIMEOUT) {
      return incoming.take(
        () => true,
        timeoutMs,
        () => `fake broker :${port}: no new connection (${connections.length} so far)`,
      );
    },
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        incoming.fail(new Error('broker closed'), () => `fake broker :${port}`);
        for (const c of connections) c.destroy();
        await Promise.all([serverClosed, ...connections.map((c) => c.closed)]);
      })();
      return closing;
    },
  };
}
