/**
 * The transport layer: a URL in, a byte stream out. Sessions own one
 * {@link Transport} per connection and never see sockets, TLS or WebSocket
 * framing.
 */

/**
 * A connected byte stream to a broker. The owner sets the hooks right after
 * `openTransport` resolves; reading from the network starts when `onData` is
 * set, so no bytes are lost in between.
 */
export interface Transport {
  /** Queue bytes; several chunks given together go out in one write (writev/cork). Returns false when the kernel buffer is full (wait for onDrain). */
  write(chunks: Uint8Array | readonly Uint8Array[]): boolean;
  /** Half-close after queued data is flushed (graceful). */
  end(): void;
  /** Close now; onClose follows once. */
  destroy(error?: Error): void;
  /** Hooks set by the owner; called with `this` unbound, set them right after open. No EventEmitter on the hot path. */
  onData: (chunk: Buffer) => void;
  onDrain: () => void;
  /** Called exactly once, with the error if the connection failed (undefined on a clean close). */
  onClose: (error?: Error) => void;
  /** Bytes queued but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** e.g. 'tcp' | 'tls' | 'ws' | 'wss' | 'unix' */
  readonly kind: string;
}

/** PEM text or DER/PEM bytes, one or several. */
export type TlsMaterial = string | Buffer | (string | Buffer)[];

/** TLS settings for `mqtts://` (and its aliases) and `wss://`. */
export interface TlsOptions {
  /** Trusted CA certificates; the system's list when absent. */
  ca?: TlsMaterial;
  /** Client certificate chain, for mutual TLS. */
  cert?: TlsMaterial;
  /** Client private key, for mutual TLS. */
  key?: TlsMaterial;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** SNI name and the name the certificate must match; the URL's host when absent (no SNI for IP literals). */
  servername?: string;
  /** Refuse a server whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** ALPN protocols to offer, e.g. `['mqtt']` (AWS IoT on port 443 wants `x-amzn-mqtt-ca`). */
  ALPNProtocols?: string[];
}

/** Settings for `ws://` and `wss://`. The path and query come from the URL. */
export interface WebSocketOptions {
  /** Extra HTTP headers sent with the upgrade request (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** WebSocket subprotocol. Default `'mqtt'`. */
  protocol?: string;
}

export interface TransportOptions {
  tls?: TlsOptions;
  ws?: WebSocketOptions;
  /** ms, default 30000; covers DNS, TCP, TLS and the WebSocket upgrade. */
  connectTimeout?: number;
  /** Aborts the connection attempt (not an open transport). */
  signal?: AbortSignal;
  /** TCP_NODELAY, default true */
  noDelay?: boolean;
  /**
   * The local IP address the connection is made from (bound before connecting), for TCP, TLS and
   * WebSocket; not for Unix sockets. The default: the one the system picks for the route.
   */
  localAddress?: string;
  /**
   * WebSocket: the largest message accepted, in bytes, refused from its frame header before it is
   * buffered. @default 268435460 (the largest MQTT packet)
   */
  maxMessage?: number;
}
