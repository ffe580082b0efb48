/**
 * Shared by the benchmark servers (sink.ts, source.ts) and their launcher
 * (spawn.ts): the control protocol's types, a reply buffer written once per
 * socket read, and the stdin/stdout plumbing of a server process.
 *
 * Control protocol: the parent writes one command per line on the server's
 * stdin; the server answers each command with exactly one JSON line on
 * stdout, in order. Besides replies the server prints `{"port":N}` once
 * when listening and, for the source, one `{"done":...}` line per run.
 * The server exits when its stdin ends (so it dies with its parent).
 */
import type { Server, Socket } from 'node:net';
import { createInterface } from 'node:readline';

/** What the source sends to each client that subscribes. */
export interface SourceConfig {
  /** Topic of the PUBLISH packets. @default 'bench/t' */
  topic: string;
  /** QoS of the PUBLISH packets (lowered to the QoS the subscription asked for). @default 0 */
  qos: 0 | 1 | 2;
  /** Payload size in bytes. @default 16 */
  size: number;
  /** Messages per subscription. @default 1000 */
  count: number;
  /**
   * Most QoS 1/2 messages unacknowledged at once; also capped by the
   * client's Receive Maximum (MQTT 5). @default 65535
   */
  inflight: number;
}

export const DEFAULT_SOURCE_CONFIG: SourceConfig = {
  topic: 'bench/t',
  qos: 0,
  size: 16,
  count: 1000,
  inflight: 65535,
};

/** Reply of the sink to `stats`. */
export interface SinkStats {
  /** PUBLISH packets received since start or the last `reset`. */
  publishes: number;
  /** Bytes received from clients (all packets), same period. */
  bytes: number;
  /** Connections accepted since start (not reset). */
  connections: number;
}

/** A `{"done":...}` line of the source: one per subscription's run. */
export interface SourceDone {
  /** True when every message was sent (QoS 0) or acknowledged (QoS 1: PUBACK, QoS 2: PUBCOMP). */
  done: boolean;
  qos: 0 | 1 | 2;
  sent: number;
  acked: number;
  /** From the SUBACK being written to the end of the run. */
  ms: number;
  /** Why the run stopped early (`done: false`). */
  error?: string;
}

/** Checks and completes a partial source configuration (throws on bad values). */
export function sourceConfig(partial: Partial<SourceConfig>, base = DEFAULT_SOURCE_CONFIG): SourceConfig {
  const c = { ...base, ...partial };
  const int = (v: number, min: number, max: number) => Number.isInteger(v) && v >= min && v <= max;
  if (
    typeof c.topic !== 'string' ||
    c.topic.length === 0 ||
    /[#+]/.test(c.topic) ||
    c.topic.includes('\u0000')
  )
    throw new Error(`bad topic ${JSON.stringify(c.topic)}`);
  if (c.qos !== 0 && c.qos !== 1 && c.qos !== 2) throw new Error(`bad qos ${String(c.qos)}`);
  if (!int(c.size, 0, 64 * 1024 * 1024)) throw new Error(`bad size ${String(c.size)}`);
  if (!int(c.count, 0, Number.MAX_SAFE_INTEGER)) throw new Error(`bad count ${String(c.count)}`);
  if (!int(c.inflight, 1, 65535)) throw new Error(`bad inflight ${String(c.inflight)}`);
  return c;
}

/** Prints one JSON line on stdout. */
export function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Listens on 127.0.0.1:port, prints `{"port":N}`, answers control lines
 * from stdin with `onCommand` (its return value is printed as the reply)
 * and exits when stdin ends or stdout breaks.
 */
export function runServer(server: Server, port: number, onCommand: (line: string) => unknown): void {
  process.stdout.on('error', () => process.exit(0));
  server.on('error', (err) => {
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    printLine({ port: typeof address === 'object' && address !== null ? address.port : port });
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      const text = line.trim();
      if (text === '') return;
      let reply: unknown;
      try {
        reply = onCommand(text);
      } catch (err) {
        reply = { error: (err as Error).message };
      }
      printLine(reply);
    });
    rl.on('close', () => process.exit(0));
  });
}

/** Port from argv[2], else 0. */
export function portArg(arg: string | undefined): number {
  if (arg === undefined || arg === '') return 0;
  const port = Number(arg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${arg}`);
  return port;
}

/** Sizes a reply buffer starts at and grows to (one read that needs more gets what it needs). */
const MIN_REPLY_BUFFER = 4 * 1024;
const MAX_REPLY_BUFFER = 256 * 1024;

/**
 * Replies to one socket read, gathered in a preallocated buffer and written
 * with one `write()`. `begin(n)` makes room for n bytes, reusing the buffer
 * from the start only once the socket holds no earlier write (a written
 * slice must not change until the socket is done with it); otherwise a new
 * buffer is taken, twice the size of the last up to 256 KiB, so an idle or
 * quiet connection holds 4 KiB and a busy one a few hundred. Code then
 * writes `buf[pos++]` directly and calls `flush()`.
 */
export class ReplyBuffer {
  buf: Buffer = Buffer.allocUnsafe(MIN_REPLY_BUFFER);
  pos = 0;
  private start = 0;

  constructor(private readonly socket: Socket) {}

  begin(need: number): void {
    if (this.pos + need > this.buf.length) {
      if (need <= this.buf.length && this.socket.writableLength === 0) this.pos = 0;
      else {
        const size = Math.max(need, Math.min(2 * this.buf.length, MAX_REPLY_BUFFER));
        this.buf = Buffer.allocUnsafe(size);
        this.pos = 0;
      }
    }
    this.start = this.pos;
  }

  /** Copies bytes in (room must have been made by `begin`). */
  put(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  flush(): void {
    if (this.pos > this.start && !this.socket.destroyed)
      this.socket.write(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
  }
}

/**
 * Writes the variable byte integer `n` at `buf[pos]`; returns the new position.
 */
export function writeVbi(buf: Buffer, pos: number, n: number): number {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n > 0) b |= 0x80;
    buf[pos++] = b;
  } while (n > 0);
  return pos;
}
