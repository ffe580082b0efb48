/**
 * Local ports for connections bound to a local address (`localAddress`).
 *
 * Binding to an address with port 0 makes Linux search for a free port at
 * every bind (`inet_csk_find_open_port`), a search that grows with the
 * sockets already bound there: connecting tens of thousands of sessions
 * from one address took three to four times as long as without the bind.
 * A connection without `localAddress`
 * gets its port at connect time, per destination, with no such search. So
 * each bind names a port drawn at random from the kernel's ephemeral range
 * (`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 when it cannot be
 * read): a bind of a given port is a lookup. A port in use (by this
 * process, another worker, a TIME_WAIT) fails the bind with EADDRINUSE,
 * and the caller draws again. Random rather than a cursor: processes that
 * bind the same address (a fleet's workers) would otherwise walk the same
 * ports one behind the other, each finding only ports the other took.
 */
import { readFileSync } from 'node:fs';

/** How many ports one connect tries before it reports the address as full. */
export const LOCAL_PORT_TRIES = 64;

let range: readonly [number, number] | undefined;
function ephemeralRange(): readonly [number, number] {
  if (range !== undefined) return range;
  range = [32768, 60999];
  try {
    const text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const [low, high] = text.trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0 && high <= 65535 && low < high)
      range = [low, high];
  } catch {
    // not Linux, or no /proc: the default range
  }
  return range;
}

/** Ports to give next, per address, in order (set by tests). */
const given = new Map<string, number[]>();

/** Makes `nextLocalPort(address)` give these ports first, in order (for tests). */
export function setNextLocalPorts(address: string, ports: readonly number[]): void {
  given.set(address, [...ports]);
}

/** A port to bind at `address`: one of the ephemeral range, at random. */
export function nextLocalPort(address: string): number {
  const port = given.get(address)?.shift();
  if (port !== undefined) return port;
  const [low, high] = ephemeralRange();
  return low + Math.floor(Math.random() * (high - low + 1));
}
