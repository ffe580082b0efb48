/**
 * Keepalive of a session's connection, in the process-wide coarse timer:
 * one entry per connection, due at the engine's next deadline (a PINGREQ
 * to send, or a PINGRESP that did not come). When it is due the engine
 * pings or gives up (then the connection ends), and the entry is armed
 * again for the engine's next deadline. An entry from an earlier
 * connection finds itself replaced and does nothing.
 */
import { sharedTimer, TimerEntry } from '../core/timer.js';
import { EngineState } from '../protocol/engine.js';
import type { SessionContext } from './context.js';

/** The keepalive of one session's connections: armed at CONNACK, disarmed when the connection ends. */
export class KeepaliveTimer {
  private entry: KeepaliveEntry | undefined = undefined;

  constructor(private readonly ctx: SessionContext) {}

  /** Connected: the first deadline (none when keepalive is 0). */
  arm(): void {
    const deadline = this.ctx.engine.nextDeadline();
    if (deadline === Number.POSITIVE_INFINITY) return;
    const entry = new KeepaliveEntry(this);
    entry.deadline = deadline;
    this.entry = entry;
    sharedTimer.add(entry);
  }

  /** The connection is gone. */
  disarm(): void {
    const entry = this.entry;
    this.entry = undefined;
    if (entry !== undefined) sharedTimer.remove(entry);
  }

  /** The deadline passed: let the engine ping or give up, then re-arm. */
  due(entry: KeepaliveEntry, now: number): void {
    const engine = this.ctx.engine;
    if (this.entry !== entry || engine.state !== EngineState.Connected) return;
    engine.tick(now);
    if (this.entry !== entry) return; // the tick closed the connection
    entry.deadline = engine.nextDeadline();
    if (entry.deadline !== Number.POSITIVE_INFINITY) sharedTimer.add(entry);
  }
}

/** A connection's keepalive entry in the shared timer (a class: no closure per connection). */
class KeepaliveEntry extends TimerEntry {
  constructor(private readonly timer: KeepaliveTimer) {
    super();
  }
  expire(now: number): void {
    this.timer.due(this, now);
  }
}
