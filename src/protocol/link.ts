/**
 * What the parts of the engine share: the protocol level, the state of the
 * current network connection and the server's limits on it, the output, and
 * the handler. Each part (outgoing, acks, incoming, aliases, the publish
 * writer) holds this one object, not the engine, and the parts never call
 * each other except where one is built on another (acks on outgoing); the
 * engine (`engine.ts`) decides which part a packet or a call goes to.
 */

import { encode } from '../codec/encode.js';
import type { ProtocolVersion } from '../codec/types.js';
import { ProtocolError } from '../core/errors.js';
import type { EngineHandler } from './handler.js';
import { defaultLimits, type ServerLimits } from './limits.js';
import { Outbox } from './outbox.js';

export const EngineState = {
  Idle: 0,
  Connecting: 1,
  Connected: 2,
} as const;
export type EngineState = (typeof EngineState)[keyof typeof EngineState];

export class Link {
  readonly handler: EngineHandler;
  /** The bytes to write this turn; the owner takes them with `ClientEngine.takeOutput`. */
  readonly out = new Outbox();
  /** The protocol level of the next connection; changed only by `ClientEngine.useVersion`. */
  version: ProtocolVersion;
  state: EngineState = EngineState.Idle;
  /** The server's limits on this connection: the defaults until its CONNACK. */
  limits: ServerLimits;
  /** Highest QoS the server takes: the option, lowered for good when a server answers QoS 2 with PUBACK. */
  maxQoS: 0 | 1 | 2;
  /**
   * Counts connections (`open`): a publish records the one it was sent on,
   * and an acknowledgement deferred on one is void on the next.
   */
  seq = 0;
  /** The `now` of the latest call that passed one. */
  now = 0;

  constructor(handler: EngineHandler, version: ProtocolVersion, keepalive: number, maxQoS: 0 | 1 | 2) {
    this.handler = handler;
    this.version = version;
    this.maxQoS = maxQoS;
    this.limits = defaultLimits(keepalive, maxQoS);
  }

  /** A new network connection: no output left from the last one, the default limits, the next number. */
  open(now: number, keepalive: number): void {
    this.now = now;
    this.state = EngineState.Connecting;
    this.out.clear();
    this.limits = defaultLimits(keepalive, this.maxQoS);
    this.seq++;
  }

  /** Adds bytes to the output; the first bytes of a turn ask the owner to flush. */
  send(bytes: Uint8Array): void {
    const first = this.out.isEmpty;
    this.out.push(bytes);
    if (first) this.handler.wantsFlush();
  }

  /**
   * The server broke the protocol: DISCONNECT with the reason (MQTT 5) goes
   * into the output, and the owner hears `closing`.
   */
  fail(error: ProtocolError): void {
    if (this.version === 5 && error.reasonCode !== undefined) {
      this.send(encode({ type: 'disconnect', reasonCode: disconnectCode(error.reasonCode) }, 5));
    }
    this.state = EngineState.Idle;
    this.handler.closing(error);
  }

  protocolError(message: string, reasonCode = 0x82): void {
    this.fail(new ProtocolError(message, reasonCode));
  }
}

/** The DISCONNECT reason for a decode error (0x84 is a CONNACK-only code). */
function disconnectCode(rc: number): number {
  return rc === 0x84 ? 0x82 : rc;
}
