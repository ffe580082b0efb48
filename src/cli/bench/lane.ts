/**
 * One connection's operations in flight (`--inflight`): a fixed set of
 * slots, each with its own payload buffer and its settle handlers made once,
 * so an operation costs no closure and no buffer of its own. A slot (and its
 * buffer) is reused only once its operation has settled, when the session
 * no longer holds the payload.
 */
import { makePayload } from './payload.js';

export interface LaneHandlers<T> {
  succeeded(slot: Slot<T>, value: T): void;
  failed(slot: Slot<T>, error: unknown): void;
}

export class Slot<T> {
  /** When the operation started (the payload's timestamp). */
  sentAt = 0;
  readonly payload: Buffer;
  readonly ok: (value: T) => void;
  readonly fail: (error: unknown) => void;

  constructor(lane: Lane<T>, size: number) {
    this.payload = makePayload(size);
    this.ok = (value) => lane.settle(this, value, undefined, false);
    this.fail = (error) => lane.settle(this, undefined, error, true);
  }
}

export class Lane<T> {
  private readonly free: Slot<T>[] = [];
  private readonly refill: number;
  private wake: (() => void) | undefined = undefined;
  inflight = 0;

  constructor(
    readonly depth: number,
    size: number,
    private readonly handlers: LaneHandlers<T>,
  ) {
    for (let i = 0; i < depth; i++) this.free.push(new Slot(this, size));
    // a full lane wakes its sender once a quarter of the slots are free, not at every completion
    this.refill = Math.max(1, depth >> 2);
  }

  /** A free slot, or undefined when all are in flight (then `room()`). */
  take(): Slot<T> | undefined {
    const slot = this.free.pop();
    if (slot !== undefined) this.inflight++;
    return slot;
  }

  /** Gives back a slot taken and not used. */
  untake(slot: Slot<T>): void {
    this.inflight--;
    this.free.push(slot);
  }

  /** Resolves when slots are free again (a quarter of them, or all that are in flight). */
  room(): Promise<void> {
    if (this.free.length > 0) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }

  /** Resolves when nothing is in flight. */
  async drain(): Promise<void> {
    while (this.inflight > 0) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** @internal */
  settle(slot: Slot<T>, value: T | undefined, error: unknown, failed: boolean): void {
    if (failed) this.handlers.failed(slot, error);
    else this.handlers.succeeded(slot, value as T);
    this.free.push(slot);
    this.inflight--;
    const wake = this.wake;
    if (wake !== undefined && (this.free.length >= this.refill || this.inflight === 0)) {
      this.wake = undefined;
      wake();
    }
  }
}
