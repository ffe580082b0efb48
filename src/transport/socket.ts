/** TCP, TLS and Unix-socket transports over `node:net` / `node:tls`. */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ConnectionError } from '../core/errors.js';
import type { Endpoint } from '../core/url.js';
import { BaseTransport } from './base.js';
import type { Attempt, AttemptCallback } from './connect.js';
import { LOCAL_PORT_TRIES, nextLocalPort } from './local-port.js';
import { tlsConnectOptions } from './tls.js';
import type { TransportOptions } from './types.js';

/** The transport a socket belongs to, for the shared listeners below. */
const OWNER = Symbol('mqttkit.transport');
type OwnedSocket = net.Socket & { [OWNER]: SocketTransport };

// One set of listener functions for every socket: no closures per connection.
function onSocketDrain(this: OwnedSocket): void {
  this[OWNER]._drain();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[OWNER]._error(err);
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER]._close();
}
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER]._data(chunk);
}

export class SocketTransport extends BaseTransport {
  readonly kind: string;
  readonly #socket: net.Socket;
  readonly #display: string;
  #error: Error | undefined;

  constructor(socket: net.Socket, kind: string, display: string) {
    super();
    this.kind = kind;
    this.#socket = socket;
    this.#display = display;
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** @internal */
  _drain(): void {
    this.emitDrain();
  }

  /** @internal */
  _error(err: Error): void {
    this.#error ??= new ConnectionError(`connection to ${this.#display} failed: ${err.message}`, undefined, {
      cause: err,
    });
  }

  /** @internal */
  _close(): void {
    this.emitClose(this.#error);
  }

  /** @internal */
  _data(chunk: Buffer): void {
    this.emitData(chunk);
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  protected startReading(): void {
    this.#socket.on('data', onSocketData);
  }

  write(chunks: Uint8Array | readonly Uint8Array[]): boolean {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return false;
    if (chunks instanceof Uint8Array) {
      socket.write(chunks);
    } else if (chunks.length === 1) {
      socket.write(chunks[0]);
    } else if (chunks.length > 1) {
      // Corked writes leave through one writev() on uncork, without copying.
      socket.cork();
      for (let i = 0; i < chunks.length; i++) socket.write(chunks[i]);
      socket.uncork();
    }
    // Node's own return value is false for any write over the high-water mark,
    // even one the kernel took at once; what is still queued is what counts.
    // Queued >= high-water mark implies the stream owes a 'drain'.
    return socket.writableLength < socket.writableHighWaterMark;
  }

  end(): void {
    if (this.#socket.destroyed) return;
    this.ensureReading();
    this.#socket.end();
  }

  destroy(error?: Error): void {
    if (error !== undefined && !this.#socket.destroyed) this.#error ??= error;
    this.#socket.destroy();
  }
}

/** Starts a TCP, TLS or Unix-socket connection attempt. */
export function connectSocket(ep: Endpoint, options: TransportOptions, done: AttemptCallback): Attempt {
  const localAddress = options.localAddress;
  // bound to a local address: a port of ours (local-port.ts), the next one when it is in use
  let tries = 0;
  let attempt: Attempt;
  const open = (): Attempt => {
    const port = localAddress === undefined ? undefined : nextLocalPort(localAddress);
    let answered = false; // an attempt's 'close' follows its 'error': only the first counts
    return connectOnce(ep, options, port, (err, t) => {
      if (answered) return;
      answered = true;
      const code = (err?.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'EADDRINUSE' && localAddress !== undefined && ++tries < LOCAL_PORT_TRIES) attempt = open();
      else done(err, t);
    });
  };
  attempt = open();
  return { cancel: () => attempt.cancel() };
}

/** One connection attempt (from `localPort`, when given). */
function connectOnce(
  ep: Endpoint,
  options: TransportOptions,
  localPort: number | undefined,
  done: AttemptCallback,
): Attempt {
  const noDelay = options.noDelay ?? true;
  let socket: net.Socket;
  let ready: string;
  const local = options.localAddress === undefined ? {} : { localAddress: options.localAddress, localPort };
  if (ep.kind === 'tls') {
    // tls.connect passes socket.connect()'s options (localAddress) on; its type does not list them
    const o: tls.ConnectionOptions & net.TcpSocketConnectOpts = {
      host: ep.host,
      port: ep.port,
      ...local,
      ...tlsConnectOptions(options.tls, ep.host),
    };
    socket = tls.connect(o);
    ready = 'secureConnect';
  } else if (ep.kind === 'unix') {
    socket = net.connect({ path: ep.path });
    ready = 'connect';
  } else {
    socket = net.connect({ host: ep.host, port: ep.port, ...local });
    ready = 'connect';
  }
  if (ep.kind !== 'unix') socket.setNoDelay(noDelay);

  const onReady = (): void => {
    socket.off('error', onError);
    socket.off('close', onClose);
    done(undefined, new SocketTransport(socket, ep.kind, ep.display));
  };
  // TCP came up: a TLS handshake that fails now may have reached a port without TLS
  let tcpUp = false;
  if (ep.kind === 'tls') socket.once('connect', () => (tcpUp = true));
  const onError = (err: Error): void => {
    const hint = tcpUp ? plainPortHint(err) : '';
    done(
      new ConnectionError(`cannot connect to ${ep.display}: ${err.message}${hint}`, undefined, {
        cause: err,
      }),
    );
  };
  const onClose = (): void => {
    done(new ConnectionError(`cannot connect to ${ep.display}: closed while connecting`));
  };
  socket.once(ready, onReady);
  socket.on('error', onError);
  socket.once('close', onClose);
  return {
    cancel: () => {
      socket.off(ready, onReady);
      socket.destroy();
    },
  };
}

/**
 * A TLS handshake on an open TCP connection that failed the way a port
 * without TLS makes it fail: an answer that is not a TLS record (an HTTP
 * server, an MQTT broker writing back), or a close (a plain MQTT broker
 * drops a connection whose first packet, a ClientHello, is not CONNECT).
 */
function plainPortHint(err: Error): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return ' (the server answered without TLS: for a plain port use mqtt://)';
  }
  if (code === 'ECONNRESET')
    return ' (closed during the TLS handshake: if this is a plain MQTT port, use mqtt://)';
  return '';
}
