/**
 * Keepalive (MQTT 3.1.2.10) and the round-trip time, as arithmetic on the
 * times the engine passes in; this file reads no clock and sends nothing.
 *
 * Theory of operation: with an interval of k ms in force on the connection
 * (`ServerLimits.keepalive`, where Server Keep Alive overrides ours; 0 turns
 * all of this off), PINGREQ is due when nothing was sent for k, or nothing
 * was received for k: the second so that a client busy publishing QoS 0
 * still notices a server that went silent. While a PINGREQ is out no other
 * is sent, and the server is taken for dead once nothing at all arrived for
 * 1.5 k.
 *
 *   quiet --nothing sent or received for k: PINGREQ--> ping out --PINGRESP--> quiet
 *                                                          \--nothing received for 1.5 k--> dead
 *
 * The time from PINGREQ to PINGRESP is the round trip the session shows.
 */

import { encode } from '../codec/encode.js';

/** The same bytes for both versions, encoded once. */
export const PINGREQ = encode({ type: 'pingreq' }, 4);

export class Keepalive {
  /** When output was last taken to be written. */
  private lastSent = 0;
  /** When bytes last arrived. */
  private lastReceived = 0;
  /** When the PINGREQ that is out was sent; 0 while none is. */
  private pingSentAt = 0;
  /** ms from the latest answered PINGREQ to its PINGRESP; -1 before the first. */
  private rtt = -1;

  /** ms the latest PINGREQ took to be answered, or undefined before the first. */
  get roundTrip(): number | undefined {
    return this.rtt < 0 ? undefined : this.rtt;
  }

  /** A new connection: nothing is out, and it counts as heard from at `now`. */
  open(now: number): void {
    this.pingSentAt = 0;
    this.lastReceived = now;
  }

  /** The connection is gone: a PINGREQ on it waits for nothing any more. */
  lost(): void {
    this.pingSentAt = 0;
  }

  sent(now: number): void {
    this.lastSent = now;
  }

  received(now: number): void {
    this.lastReceived = now;
  }

  /** PINGRESP arrived at `now`. */
  pong(now: number): void {
    if (this.pingSentAt !== 0) this.rtt = now - this.pingSentAt;
    this.pingSentAt = 0;
  }

  /** When `due` must be asked next for an interval of `k` ms (not 0). */
  deadline(k: number): number {
    if (this.pingSentAt !== 0) return this.lastReceived + k * 1.5;
    return Math.min(this.lastSent, this.lastReceived) + k;
  }

  /** The server is taken for dead at `now`: a PINGREQ is out and nothing arrived for 1.5 `k`. */
  dead(now: number, k: number): boolean {
    return this.pingSentAt !== 0 && now - this.lastReceived >= k * 1.5;
  }

  /**
   * A PINGREQ is due at `now` for an interval of `k` ms (not 0): none is
   * out, and nothing was sent or nothing was received for `k`. When true,
   * it counts as sent at `now`.
   */
  due(now: number, k: number): boolean {
    if (this.pingSentAt !== 0) return false;
    if (now - this.lastSent < k && now - this.lastReceived < k) return false;
    this.pingSentAt = now;
    return true;
  }

  /** ms since bytes last arrived. */
  silence(now: number): number {
    return now - this.lastReceived;
  }
}
