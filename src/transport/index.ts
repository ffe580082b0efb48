/**
 * Transports: a broker URL in, a connected byte stream out. The only place,
 * besides sessions, that touches sockets.
 *
 * ```ts
 * const t = await openTransport('mqtts://broker:8883', { tls: { ca }, connectTimeout: 5000 });
 * t.onData = (chunk) => decoder.push(chunk);
 * t.onDrain = () => flush();
 * t.onClose = (error) => reconnectLater(error);
 * t.write([header, payload]);
 * ```
 */
export { openTransport } from './connect.js';
export type {
  TlsMaterial,
  TlsOptions,
  Transport,
  TransportOptions,
  WebSocketOptions,
} from './types.js';
