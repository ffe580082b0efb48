/**
 * Loop prevention without MQTT 5 properties: a manager's forwarders note
 * each message they publish to an MQTT 3.1.1 session (topic and a hash of
 * the payload), and a forwarder that receives such a message on that
 * session takes it for its own copy coming back and does not forward it.
 * Notes expire after `ttl` ms; each note matches one copy.
 */
import { createHash } from 'node:crypto';

const guards = new WeakMap<object, LoopGuard>();

/** The guard the forwarders of one host (a `SessionManager`) share, made with the first. */
export function loopGuardOf(host: object): LoopGuard {
  let guard = guards.get(host);
  if (guard === undefined) {
    guard = new LoopGuard();
    guards.set(host, guard);
  }
  return guard;
}

export class LoopGuard {
  private readonly notes = new Map<string, Map<string, { count: number; expires: number }>>();
  private sweepAt = 0;
  private size = 0;

  /** `max` notes at most: past it the oldest note of the session goes (a copy may then pass once). */
  constructor(
    private readonly ttl = 60_000,
    private readonly max = 100_000,
  ) {}

  /** A forwarder published `payload` to `topic` through `session`. */
  note(session: string, topic: string, payload: Uint8Array, now = Date.now()): void {
    let bySession = this.notes.get(session);
    if (bySession === undefined) {
      bySession = new Map();
      this.notes.set(session, bySession);
    }
    const key = fingerprint(topic, payload);
    const n = bySession.get(key);
    if (n === undefined) {
      if (this.size >= this.max) {
        const oldest = bySession.keys().next();
        if (!oldest.done) {
          bySession.delete(oldest.value);
          this.size--;
        }
      }
      bySession.set(key, { count: 1, expires: now + this.ttl });
      this.size++;
    } else {
      n.count++;
      n.expires = now + this.ttl;
    }
    if (now >= this.sweepAt) this.sweep(now);
  }

  /** True (and the note is used up) when `session` received a copy a forwarder published. */
  seen(session: string, topic: string, payload: Uint8Array, now = Date.now()): boolean {
    const bySession = this.notes.get(session);
    if (bySession === undefined || bySession.size === 0) return false;
    const key = fingerprint(topic, payload);
    const n = bySession.get(key);
    if (n === undefined || n.expires <= now) return false;
    if (--n.count === 0) {
      bySession.delete(key);
      this.size--;
    }
    return true;
  }

  private sweep(now: number): void {
    this.sweepAt = now + this.ttl;
    for (const bySession of this.notes.values()) {
      for (const [key, n] of bySession) {
        if (n.expires <= now) {
          bySession.delete(key);
          this.size--;
        }
      }
    }
  }
}

function fingerprint(topic: string, payload: Uint8Array): string {
  return `${topic}\u0000${createHash('sha1').update(payload).digest('base64')}`;
}
