/**
 * The operations a session keeps for its callers: each holds its promise,
 * its timeout (an entry of the shared timer) and its abort signal in one
 * object, so a publish costs no closure of its own. A request that times
 * out or is aborted goes to its owner (the part of the session that carries
 * it), which takes it back from the engine and rejects it.
 *
 * Also here: the small helpers of operation promises (`handled`, `noop`,
 * `abortedBefore`) and how operations describe themselves in errors.
 */
import type {
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from '../codec/types.js';
import { AbortError, type MqttError, TimeoutError } from '../core/errors.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import type { ControlOp, PublishOp } from '../protocol/engine.js';
import type { StoredMessage } from '../store/types.js';
import type { PublishSpan } from '../tracing/hooks.js';
import type { ConnackInfo, PublishResult } from './types.js';

export interface Cancellable {
  readonly settled: boolean;
  fail(error: Error): void;
}

/** Who settles a request that timed out or was aborted: the part of the session that carries it. */
export interface RequestOwner {
  cancel(req: Cancellable, error: MqttError): void;
}

/** An operation's promise, timeout and abort, in one object (no closure per message). */
export abstract class Request<T> extends TimerEntry implements Cancellable {
  settled = false;
  resolve!: (value: T) => void;
  reject!: (error: Error) => void;
  private signal: AbortSignal | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;

  constructor(readonly owner: RequestOwner) {
    super();
  }

  /** Creates the promise and arms timeout and signal. */
  start(timeout: number, signal: AbortSignal | undefined): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (timeout > 0) {
      this.deadline = Date.now() + timeout;
      sharedTimer.add(this);
    }
    if (signal !== undefined) {
      this.signal = signal;
      this.onAbort = () => this.owner.cancel(this, new AbortError(`${this.describe()} was aborted`));
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    return promise;
  }

  succeed(value: T): void {
    if (this.settled) return;
    this.done();
    this.resolve(value);
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.done();
    this.reject(error);
  }

  private done(): void {
    this.settled = true;
    if (this.timerBucket !== undefined) sharedTimer.remove(this);
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }

  expire(): void {
    if (!this.settled) this.owner.cancel(this, new TimeoutError(`${this.describe()} timed out`));
  }

  abstract describe(): string;
}

export class PublishRequest extends Request<PublishResult> implements PublishOp, StoredMessage {
  packetId = 0;
  stage: 0 | 1 | 2 = 0;
  seq = 0;
  expiresAt = 0;
  attempts = 0;
  sentOn = 0;
  /** `performance.now()` when a QoS 1/2 publish was made (0: restored, nobody timed it). */
  startedAt = 0;
  /** The broker's answer, kept while the store makes the completion durable. */
  result: PublishResult | undefined = undefined;
  /** The producer span, when traced: it ends as the publish settles. */
  span: PublishSpan | undefined = undefined;
  constructor(
    owner: RequestOwner,
    readonly packet: PublishPacket,
  ) {
    super(owner);
  }

  override succeed(value: PublishResult): void {
    if (this.span !== undefined && !this.settled) this.span.end(this.packetId, value.reasonCode, undefined);
    super.succeed(value);
  }

  override fail(error: Error): void {
    if (this.span !== undefined && !this.settled) this.span.end(this.packetId, undefined, error);
    super.fail(error);
  }

  /** The stored form of a request: its message and state, none of its promise. */
  static snapshot(req: PublishRequest): StoredMessage {
    return {
      seq: req.seq,
      packet: req.packet,
      packetId: req.packetId,
      stage: req.stage,
      expiresAt: req.expiresAt,
    };
  }

  /** A message a previous session left in the store: nobody waits on it. */
  static restored(owner: RequestOwner, m: StoredMessage): PublishRequest {
    const req = new PublishRequest(owner, m.packet);
    req.seq = m.seq;
    req.packetId = m.packetId;
    req.stage = m.stage;
    req.expiresAt = m.expiresAt;
    req.resolve = noop;
    req.reject = noop;
    return req;
  }
  describe(): string {
    return `publish to '${this.packet.topic}' (QoS ${this.packet.qos})`;
  }
}

export class ControlRequest extends Request<SubackPacket | UnsubackPacket> implements ControlOp {
  packetId = 0;
  stage = 0;
  constructor(
    owner: RequestOwner,
    readonly packet: SubscribePacket | UnsubscribePacket,
  ) {
    super(owner);
  }
  describe(): string {
    const p = this.packet;
    const filters = p.type === 'subscribe' ? p.subscriptions.map((s) => s.topicFilter) : p.topicFilters;
    return `${p.type} ${quoted(filters)}`;
  }
}

export class ConnectRequest extends Request<ConnackInfo> {
  constructor(
    owner: RequestOwner,
    /** Where the session connects, without credentials. */
    readonly url: string,
  ) {
    super(owner);
  }
  describe(): string {
    return `connect to ${this.url}`;
  }
}

export function noop(): void {}

/** A rejected promise that never counts as an unhandled rejection (callers of fire-and-forget publishes). */
export function handled<T>(error: Error): Promise<T> {
  const p = Promise.reject(error);
  p.catch(noop);
  return p;
}

/** An operation whose signal was aborted before it started: nothing is sent. */
export function abortedBefore(what: string, signal: AbortSignal): Promise<never> {
  return Promise.reject(new AbortError(`${what} was aborted before it was sent`, { cause: signal.reason }));
}

/** Filters as they appear in messages: `'a/#', 'b/+'`. */
export function quoted(filters: readonly string[]): string {
  return filters.map((f) => `'${f}'`).join(', ');
}
