/**
 * The operations a Session keeps for its callers: each holds its promise,
 * its timeout (an entry of the shared timer) and its abort signal in one
 * object, so a publish costs no closure of its own.
 */
import type {
  AckProperties,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from '../codec/types.js';
import { AbortError, TimeoutError } from '../core/errors.js';
import { sharedTimer, type Timed } from '../core/timer.js';
import { redact } from '../core/url.js';
import type { ControlOp, PublishOp } from '../protocol/engine.js';
import type { StoredMessage } from '../store/types.js';
import type { Session } from './session.js';
import type { ConnackInfo, MessageHandler, OperationOptions, PublishResult, Subscription } from './types.js';
import { noop, quoted } from './util.js';

export interface Cancellable {
  readonly settled: boolean;
  fail(error: Error): void;
}

/** An operation's promise, timeout and abort, in one object (no closure per message). */
export abstract class Request<T> implements Timed, Cancellable {
  deadline = 0;
  timerBucket: Timed['timerBucket'] = undefined;
  timerPrev: Timed | undefined = undefined;
  timerNext: Timed | undefined = undefined;
  settled = false;
  resolve!: (value: T) => void;
  reject!: (error: Error) => void;
  private signal: AbortSignal | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;

  constructor(readonly session: Session) {}

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
      this.onAbort = () => this.session._cancel(this, new AbortError(`${this.describe()} was aborted`));
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
    if (!this.settled) this.session._cancel(this, new TimeoutError(`${this.describe()} timed out`));
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
  constructor(
    session: Session,
    readonly packet: PublishPacket,
  ) {
    super(session);
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
  static restored(session: Session, m: StoredMessage): PublishRequest {
    const req = new PublishRequest(session, m.packet);
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
    session: Session,
    readonly packet: SubscribePacket | UnsubscribePacket,
  ) {
    super(session);
  }
  describe(): string {
    const p = this.packet;
    const filters = p.type === 'subscribe' ? p.subscriptions.map((s) => s.topicFilter) : p.topicFilters;
    return `${p.type} ${quoted(filters)}`;
  }
}

export class ConnectRequest extends Request<ConnackInfo> {
  describe(): string {
    return `connect to ${this.session.url}`;
  }
}

/** One connection attempt: its deadline covers transport, credentials and CONNACK. */
export class Attempt implements Timed {
  deadline = 0;
  done = false;
  /** The network connection is open and CONNECT went out: a close now is the broker's answer. */
  opened = false;
  timerBucket: Timed['timerBucket'] = undefined;
  timerPrev: Timed | undefined = undefined;
  timerNext: Timed | undefined = undefined;
  constructor(
    readonly session: Session,
    readonly url: string,
  ) {}
  expire(): void {
    if (this.done) return;
    const answer = this.session._unansweredConnect;
    this.session._attemptFailed(
      this,
      new TimeoutError(
        `connect to ${redact(this.url)} timed out` +
          (answer === undefined ? '' : ` waiting for CONNACK: ${answer}`),
      ),
    );
  }
}

/** A handler bound to a filter by one `subscribe()` call. */
export interface Route {
  readonly filter: string;
  readonly handler: MessageHandler | undefined;
  /** Its subscribe() call's handle, once the SUBACK came (the route is in place from the SUBSCRIBE on). */
  owner: SubscriptionHandle | undefined;
  /** The subscription identifier it was made with (MQTT 5), 0 for none. */
  readonly id: number;
  /** Its handler acknowledges each message itself (`message.ack()`). */
  readonly manual: boolean;
}

export class SubscriptionHandle implements Subscription {
  active = true;
  constructor(
    private readonly session: Session,
    readonly filters: readonly string[],
    readonly reasonCodes: readonly number[],
    readonly properties: AckProperties | undefined,
  ) {}
  unsubscribe(options?: OperationOptions): Promise<void> {
    return this.session._unsubscribeHandle(this, options);
  }
}
