/** MQTT over WebSocket (`ws://`, `wss://`) with the `ws` package: one binary message per write. */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { MAX_PACKET_SIZE } from '../codec/decode.js';
import { ConnectionError, InvalidArgumentError } from '../core/errors.js';
import type { Endpoint } from '../core/url.js';
import { BaseTransport } from './base.js';
import type { Attempt, AttemptCallback } from './connect.js';
import { tlsConnectOptions } from './tls.js';
import type { TransportOptions, WebSocketOptions } from './types.js';

const SEND_OPTIONS = { binary: true } as const;
/** Close codes that end a connection without a failure. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005, 1006]);
/** RFC 6455 token characters, for the subprotocol. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class WebSocketTransport extends BaseTransport {
  readonly kind: string;
  readonly #ws: WebSocket;
  readonly #socket: Socket;
  #error: Error | undefined;
  /** Messages that arrived before the owner set onData; null once flowing. */
  #queue: Buffer[] | null = [];
  #wantDrain = false;

  constructor(ws: WebSocket, socket: Socket, kind: string, display: string) {
    super();
    this.kind = kind;
    this.#ws = ws;
    this.#socket = socket;
    // No reading until onData is set (a few messages already parsed may still come: queued).
    ws.pause();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        // MQTT-6.0.0-1: a text frame closes the connection.
        this.destroy(new ConnectionError(`${display} sent a text WebSocket frame; MQTT uses binary frames`));
        return;
      }
      if (this.#queue !== null) this.#queue.push(data);
      else this.emitData(data);
    });
    ws.on('error', (err: Error) => {
      const tooLarge = (err as { code?: unknown }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
      this.#error ??= new ConnectionError(
        `connection to ${display} failed: ${err.message}${tooLarge ? ' (the WebSocket message limit follows maximumPacketSize)' : ''}`,
        tooLarge ? 0x95 : undefined,
        { cause: err },
      );
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.#error === undefined && !CLEAN_CLOSE_CODES.has(code)) {
        const text = reason.length > 0 ? ` (${reason.toString('utf8')})` : '';
        this.#error = new ConnectionError(`${display} closed the WebSocket with code ${code}${text}`);
      }
      this.emitClose(this.#error);
    });
    socket.on('drain', () => {
      if (this.#wantDrain && ws.bufferedAmount === 0) {
        this.#wantDrain = false;
        this.emitDrain();
      }
    });
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  protected startReading(): void {
    process.nextTick(() => {
      const queue = this.#queue;
      if (queue !== null) {
        for (let i = 0; i < queue.length; i++) this.emitData(queue[i]);
        this.#queue = null;
      }
      this.#ws.resume();
    });
  }

  write(chunks: Uint8Array | readonly Uint8Array[]): boolean {
    const ws = this.#ws;
    if (ws.readyState !== WebSocket.OPEN) return false;
    let data: Uint8Array;
    if (chunks instanceof Uint8Array) data = chunks;
    else if (chunks.length === 1) data = chunks[0];
    else if (chunks.length === 0) return !this.#wantDrain;
    // One MQTT-over-WebSocket write is one binary message.
    else data = Buffer.concat(chunks);
    ws.send(data, SEND_OPTIONS);
    // As for sockets: what is still queued counts, not Node's return value.
    if (ws.bufferedAmount >= this.#socket.writableHighWaterMark) {
      this.#wantDrain = true;
      return false;
    }
    return true;
  }

  end(): void {
    const ws = this.#ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    // The close handshake needs the server's close frame read.
    this.ensureReading();
    ws.close(1000);
  }

  destroy(error?: Error): void {
    if (error !== undefined && this.#ws.readyState !== WebSocket.CLOSED) this.#error ??= error;
    this.#ws.terminate();
  }
}

/** Throws {@link InvalidArgumentError} for headers or a subprotocol `ws` would refuse. */
export function validateWebSocketOptions(options: WebSocketOptions | undefined): void {
  if (options === undefined) return;
  if (options.protocol !== undefined && !TOKEN.test(options.protocol)) {
    throw new InvalidArgumentError('options.ws.protocol', 'not a valid WebSocket subprotocol token');
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    try {
      validateHeaderName(name);
    } catch {
      throw new InvalidArgumentError('options.ws.headers', 'a header name is not a valid HTTP token');
    }
    try {
      validateHeaderValue(name, value);
    } catch {
      // The value is not echoed: it may be a credential.
      throw new InvalidArgumentError(`options.ws.headers.${name}`, 'invalid characters in the header value');
    }
  }
}

/** Starts a WebSocket connection attempt. */
export function connectWebSocket(ep: Endpoint, options: TransportOptions, done: AttemptCallback): Attempt {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  const url = `${ep.kind}://${host}:${ep.port}${ep.path}`;
  const wsOptions: WebSocket.ClientOptions = {
    headers: options.ws?.headers,
    perMessageDeflate: false,
    // ws buffers a whole message before it is read: this bounds what one message can make it hold
    maxPayload: options.maxMessage ?? MAX_PACKET_SIZE,
  };
  // ws hands it to http.request, which binds the socket to it
  if (options.localAddress !== undefined) wsOptions.localAddress = options.localAddress;
  if (ep.kind === 'wss') Object.assign(wsOptions, tlsConnectOptions(options.tls, ep.host));
  const ws = new WebSocket(url, options.ws?.protocol ?? 'mqtt', wsOptions);
  ws.binaryType = 'nodebuffer';

  let socket: Socket | undefined;
  let finished = false;
  const onUpgrade = (response: { socket: Socket }): void => {
    socket = response.socket;
    if (options.noDelay === false) socket.setNoDelay(false);
  };
  const onOpen = (): void => {
    finished = true;
    ws.off('error', onError);
    ws.off('close', onClose);
    done(undefined, new WebSocketTransport(ws, socket!, ep.kind, ep.display));
  };
  const onError = (err: Error): void => {
    finished = true;
    done(new ConnectionError(`cannot connect to ${ep.display}: ${err.message}`, undefined, { cause: err }));
  };
  const onClose = (): void => {
    if (!finished) done(new ConnectionError(`cannot connect to ${ep.display}: closed while connecting`));
  };
  ws.once('upgrade', onUpgrade);
  ws.once('open', onOpen);
  // Stays after a failure or cancel: ws reports the aborted handshake as an error.
  ws.on('error', onError);
  ws.once('close', onClose);
  return {
    cancel: () => {
      finished = true;
      ws.off('open', onOpen);
      ws.terminate();
    },
  };
}
