/**
 * `openTransport`: URL -> connected {@link Transport}, with timeout and abort.
 * The connect timeout is an entry on the shared coarse timer
 * (`core/timer.ts`), not a `setTimeout` per attempt: it fires once
 * `connectTimeout` has passed, up to 100 ms later.
 */
import { isIP } from 'node:net';
import { AbortError, ConnectionError, InvalidArgumentError, TimeoutError } from '../core/errors.js';
import { sharedTimer, type Timed } from '../core/timer.js';
import { parseBrokerUrl } from '../core/url.js';
import { connectSocket } from './socket.js';
import type { Transport, TransportOptions } from './types.js';

/** Reports the outcome of a connection attempt; later calls are ignored. */
export type AttemptCallback = (error: Error | undefined, transport?: Transport) => void;

/** A connection attempt in progress. */
export interface Attempt {
  /** Give up: close whatever was opened. The callback may still fire; it is ignored. */
  cancel(): void;
}

const DEFAULT_CONNECT_TIMEOUT = 30_000;

/**
 * Opens a byte stream to the broker at `url`:
 * `mqtt://` `tcp://` (port 1883), `mqtts://` `tls://` `ssl://` (8883),
 * `ws://` (80) and `wss://` (443) with the URL's path (`/` when it has none),
 * `unix:///path.sock` and `mqtt+unix:///path.sock`.
 *
 * Resolves once the connection is usable (TCP connected, TLS handshake done,
 * WebSocket upgraded); no MQTT has been sent. Rejects with
 * {@link InvalidArgumentError} for a bad URL or option, {@link ConnectionError}
 * (the cause as `cause`) when the connection fails, {@link TimeoutError} after
 * `connectTimeout` ms and {@link AbortError} when `signal` aborts. After a
 * rejection nothing is left open. Messages name the URL without userinfo or
 * query and never contain keys or passphrases.
 */
export async function openTransport(url: string | URL, options: TransportOptions = {}): Promise<Transport> {
  const ep = parseBrokerUrl(url);
  const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0) {
    throw new InvalidArgumentError('options.connectTimeout', 'must be a positive number of milliseconds');
  }
  const local = options.localAddress;
  if (local !== undefined && (typeof local !== 'string' || isIP(local) === 0)) {
    throw new InvalidArgumentError('options.localAddress', 'must be an IPv4 or IPv6 address');
  }
  // the WebSocket layer (and `ws`) loads at the first ws:// or wss:// connect: TCP users never pay for it
  const websocket = ep.kind === 'ws' || ep.kind === 'wss' ? await import('./websocket.js') : undefined;
  websocket?.validateWebSocketOptions(options.ws);
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError(`connect to ${ep.display} aborted`, { cause: signal.reason });

  return new Promise<Transport>((resolve, reject) => {
    let settled = false;
    let attempt: Attempt | undefined;
    const deadline: Timed = {
      deadline: Date.now() + timeout,
      expire: () => fail(new TimeoutError(`connect to ${ep.display} timed out after ${timeout} ms`)),
      timerBucket: undefined,
      timerPrev: undefined,
      timerNext: undefined,
    };

    const onAbort = (): void => {
      fail(new AbortError(`connect to ${ep.display} aborted`, { cause: signal?.reason }));
    };
    const cleanup = (): void => {
      settled = true;
      sharedTimer.remove(deadline);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      if (settled) return;
      cleanup();
      attempt?.cancel();
      reject(error);
    };
    const done: AttemptCallback = (error, transport) => {
      if (settled) {
        // Lost the race against a timeout or an abort.
        transport?.destroy();
        return;
      }
      if (error !== undefined || transport === undefined) {
        fail(error ?? new ConnectionError(`cannot connect to ${ep.display}`));
        return;
      }
      cleanup();
      resolve(transport);
    };

    try {
      attempt =
        websocket !== undefined
          ? websocket.connectWebSocket(ep, options, done)
          : connectSocket(ep, options, done);
    } catch (err) {
      // Options the TLS or WebSocket layer refuses at once (a key that does
      // not decrypt, a malformed certificate). Nothing was opened.
      const error = err as Error;
      fail(
        new ConnectionError(`cannot connect to ${ep.display}: ${error.message}`, undefined, { cause: error }),
      );
      return;
    }
    if (settled) return;
    // Infinity: no deadline
    if (Number.isFinite(timeout)) sharedTimer.add(deadline);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
