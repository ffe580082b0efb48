/**
 * `Forwarder`: messages from one or more source sessions, republished
 * through a target session (which may be on another broker). What it
 * guarantees is in the class doc; how it works:
 *
 * Each source is subscribed with `manualAck`, and a message is acknowledged
 * to its source once the target's `publish()` resolves. A message the
 * target cannot take yet waits, in arrival order, in `waiting`, and goes
 * again at the target's `ready` event or at the next retry round (one entry
 * on the shared coarse timer per forwarder, never a timer per message).
 * Loops are cut with the `mqttkit-forwarded` user property on MQTT 5
 * (`envelope.ts`) and with the manager's `LoopGuard` on 3.1.1 (`loops.ts`).
 *
 * It uses only the public Session API, `core/` and the codec's types.
 */
import type { PublishProperties, QoS, UserProperty } from '../codec/types.js';
import { InvalidArgumentError, type MqttError } from '../core/errors.js';
import { DropTally, type Logger } from '../core/logger.js';
import {
  anyObject,
  boolean,
  checkOptions,
  either,
  func,
  int,
  kind,
  oneOf,
  qos,
  type Rule,
  table,
} from '../core/schema.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import { withUserPropertyPairs } from '../core/user-properties.js';
import {
  type Message,
  type PublishPropertiesInit,
  type Session,
  type Subscription,
  tracerOf,
} from '../session/index.js';
import { withOwnSpans } from '../tracing/hooks.js';
import { envelope, FORWARDED_PROPERTY } from './envelope.js';
import { type LoopGuard, loopGuardOf } from './loops.js';
import { compileTopicMap, type TopicMap, type TopicMapFunction } from './mapping.js';

/** A message as `filter` and `transform` see it, and as `transform` returns it. */
export interface ForwardMessage {
  /** The source topic (for `transform`'s result: the target topic, mapped when omitted). */
  topic: string;
  /** The payload; a view of the received bytes, so copy it before changing it in place. */
  payload: Buffer;
  /** QoS the message is forwarded with: the forwarder's `qos`, not the QoS it was received with. */
  qos: QoS;
  /** Retain flag it is forwarded with, from the forwarder's `retain` option (`'keep'`: the source's flag). */
  retain: boolean;
  /**
   * MQTT 5 properties as received. A 5.0 target gets the ones describing the message (payload
   * format, expiry, content type, response topic, correlation data, user properties); topic aliases
   * and subscription identifiers stay behind.
   */
  properties: PublishProperties | undefined;
  /** The name of the session it came from. */
  readonly source: string;
}

/**
 * What `transform` returns: a {@link ForwardMessage} whose
 * `properties.userProperties` may also be MQTT.js's object
 * (`{ name: 'value' }`, `{ name: ['a', 'b'] }`), converted to pairs once.
 */
export type ForwardResult = Omit<ForwardMessage, 'properties'> & {
  /** As {@link ForwardMessage.properties}, user properties in either shape. */
  properties: PublishPropertiesInit | undefined;
};

/** Options of {@link SessionManager.forward}: from which sessions and topics, to which session, and how. */
export interface ForwarderOptions {
  /** Names the forwarder in metrics and errors. */
  name: string;
  /** Source session names. */
  from: string | readonly string[];
  /** Filters subscribed on each source. */
  topics: string | readonly string[];
  /** Target session name. */
  to: string;
  /** Topic mapping (see `compileTopicMap`); a message no rule maps is forwarded to its own topic. */
  map?: TopicMap;
  /** False skips the message (acknowledged, counted as `filtered`). */
  filter?: (message: ForwardMessage) => boolean;
  /** Returns the message to forward (changed or not), or null to drop it (acknowledged, counted as `dropped`). */
  transform?: (message: ForwardMessage) => ForwardResult | null;
  /** QoS of the source subscriptions and of the forwarded messages. @default 1 */
  qos?: QoS;
  /** Retain flag of forwarded messages: `true`, `false`, or `'keep'` the source's. @default false */
  retain?: boolean | 'keep';
  /** Added to each forwarded message: MQTT 5 user properties, or with `envelope` inside the JSON envelope. */
  metadata?:
    | Readonly<Record<string, string>>
    | ((message: ForwardMessage) => Readonly<Record<string, string>>);
  /**
   * For an MQTT 3.1.1 target: send `{"topic","metadata","payload"}` JSON
   * (payload in base64) so the metadata travels. @default false
   */
  envelope?: boolean;
  /**
   * QoS 0 messages waiting for the target at most; past it a new QoS 0
   * message is dropped and counted (QoS 1/2 messages are bounded by the
   * source's Receive Maximum, since they wait unacknowledged). @default 10000
   */
  maxWaiting?: number;
  /**
   * Tries of one message before the forwarder gives it up: acknowledges it to
   * its source, counts it in `dropped` and goes on with the next. A failure
   * no retry can mend gives up at once whatever this says: the target refused
   * the message before sending it (`InvalidArgumentError`: too large for the
   * target broker, a mapped topic that is not valid). @default Infinity (a
   * failing message is tried again, once a second, and holds back the later
   * messages of its source until it goes through)
   */
  maxAttempts?: number;
}

const name: Rule = (v) =>
  typeof v === 'string' && v !== '' ? undefined : `must be a non-empty string, got ${kind(v)}`;
const names: Rule = (v) =>
  (typeof v === 'string' && v !== '') ||
  (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== ''))
    ? undefined
    : `must be a non-empty string or a non-empty array of them, got ${kind(v)}`;

/** The table `ForwarderOptions` are checked against (see `core/schema.ts`). */
const OPTIONS = table(
  {
    name,
    from: names,
    topics: names,
    to: name,
    map: either('an array of [filter, template] pairs or a function', func, (v) =>
      Array.isArray(v) ? undefined : 'no',
    ),
    filter: func,
    transform: func,
    qos,
    retain: oneOf(true, false, 'keep'),
    metadata: either('an object of strings or a function', anyObject, func),
    envelope: boolean,
    maxWaiting: int(1),
    maxAttempts: either('a positive integer or Infinity', int(1), oneOf(Number.POSITIVE_INFINITY)),
  },
  ['name', 'from', 'topics', 'to'],
);

/** Counters of a forwarder. */
export interface ForwarderMetrics {
  /** Messages received from the sources. */
  received: number;
  /** Messages the target acknowledged (QoS 0: wrote), each then acknowledged to its source. */
  forwarded: number;
  /** Skipped by `filter`, or carrying this manager's forwarded marker (loops). */
  filtered: number;
  /**
   * Dropped by `transform` returning null, past `maxWaiting` (QoS 0), at
   * `stop()`, or given up after failing (see `maxAttempts`).
   */
  dropped: number;
  /** Forwards that failed (each try counts; `onError` gets each one). */
  errors: number;
  /** Waiting for the target (offline, or to be tried again). */
  waiting: number;
  /** Forwarded and not yet acknowledged by the target. */
  inflight: number;
  /** Receive-to-target-acknowledgement time of forwarded messages, ms. */
  latency: {
    /** Messages measured. */
    count: number;
    /** Sum of their times, ms: `sum / count` is the mean. */
    sum: number;
    /** The longest time, ms. */
    max: number;
  };
}

/** What a forwarder needs from its manager (structural: a `SessionManager` fits). */
export interface ForwarderHost {
  get(name: string): Session | undefined;
  /** The manager's id, carried in the loop marker. */
  readonly id: string;
  /** The manager's logger, where the forwarder tells what it gave up (read at the forwarder's start). */
  logger?(): Logger | undefined;
}

/** ms between retry rounds of a target that is connected and still fails. */
const RETRY_MS = 1000;

/** A forwarder's next retry round: one entry on the shared coarse timer per forwarder, never one per message. */
class RetryRound extends TimerEntry {
  constructor(readonly run: () => void) {
    super();
  }

  /** Schedules the round in `RETRY_MS`, unless one is already due. */
  arm(): void {
    if (this.timerBucket !== undefined) return;
    this.deadline = Date.now() + RETRY_MS;
    sharedTimer.add(this);
  }

  cancel(): void {
    sharedTimer.remove(this);
  }

  expire(): void {
    this.run();
  }
}

interface Item {
  readonly msg: Message;
  readonly source: string;
  readonly received: number;
  /** Failed tries so far. */
  attempts: number;
}

/**
 * Messages from one or more source sessions, republished through a target
 * session (which may be on another broker). Made by
 * {@link SessionManager.forward}: call {@link Forwarder.start} once its
 * sessions are connected (a fleet config's `forwarders` start by
 * themselves). It stops when the manager closes.
 *
 * At least once: the source subscription acknowledges manually, and a
 * message's PUBACK goes to the source broker only once the target broker
 * acknowledged the forwarded copy (QoS 0 targets: once it was written).
 * While the target is offline or refuses, messages wait in the forwarder,
 * unacknowledged, and are forwarded again when the target is back (a target
 * that is connected and still fails is retried every second): the source
 * broker's flow control (the source session's Receive Maximum) is the
 * bound, not loss. Only an explicit policy drops: `filter` (counted as
 * `filtered`) and `transform` returning null (`dropped`). A `filter`,
 * `transform`, `map` or `metadata` that throws counts as an error and the
 * message waits to be tried again.
 *
 * Loops: with MQTT 5 every forwarded message carries the user property
 * {@link FORWARDED_PROPERTY} with the manager's id, and a forwarder of the
 * same manager never forwards a message that has it, so forwarders A to B
 * and B to A on the same topics do not ping-pong. MQTT 3.1.1 has no
 * properties: there the manager's forwarders note what they publish (topic
 * and payload hash, for a minute) and do not forward such a copy when it
 * comes back.
 *
 * @throws {@link InvalidArgumentError} from the constructor when an option is not valid.
 */
export class Forwarder {
  /** The forwarder's `name` option: names it in metrics and errors. */
  readonly name: string;
  /** The source session names (`from`). */
  readonly sources: readonly string[];
  /** The filters subscribed on each source. */
  readonly topics: readonly string[];
  /** The target session name (`to`). */
  readonly target: string;
  private readonly map: TopicMapFunction | undefined;
  private readonly options: ForwarderOptions;
  private readonly qos: QoS;
  private readonly maxWaiting: number;
  private readonly maxAttempts: number;
  private subscriptions: Subscription[] = [];
  private waiting: Item[] = [];
  private inflight = 0;
  private running = false;
  /** Stopped with `acknowledge: false`: what arrives or waits stays unacknowledged. */
  private holding = false;
  private starting: Promise<void> | undefined = undefined;
  private targetSession: Session | undefined = undefined;
  private readonly retry = new RetryRound(() => this.drain());
  private readonly onTargetReady = (): void => this.drain();
  private readonly counters = { received: 0, forwarded: 0, filtered: 0, dropped: 0, errors: 0 };
  private readonly latency = { count: 0, sum: 0, max: 0 };
  /** Loop prevention on MQTT 3.1.1 sessions, shared by the host's forwarders. */
  readonly #loops: LoopGuard;
  /** What was given up, per reason, for the log (with a logger only). */
  #drops: Map<string, DropTally> | undefined = undefined;
  /** Called with each failed forward (it waits and is tried again). */
  onError: ((error: MqttError | Error) => void) | undefined = undefined;

  constructor(
    private readonly host: ForwarderHost,
    options: ForwarderOptions,
  ) {
    checkOptions(options, OPTIONS, '');
    this.name = options.name;
    this.sources = typeof options.from === 'string' ? [options.from] : [...options.from];
    this.topics = typeof options.topics === 'string' ? [options.topics] : [...options.topics];
    this.target = options.to;
    this.map = options.map === undefined ? undefined : compileTopicMap(options.map);
    this.qos = options.qos ?? 1;
    this.maxWaiting = options.maxWaiting ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
    this.options = options;
    this.#loops = loopGuardOf(host);
  }

  /**
   * Subscribes on every source (they must be connected) and starts
   * forwarding. Rejects when a session is unknown or a subscribe fails.
   * A call while a start is in flight gets that start: every caller
   * resolves once the subscriptions are acknowledged.
   */
  start(): Promise<void> {
    if (this.starting === undefined) {
      this.starting = this.subscribeAll().catch((err: unknown) => {
        this.starting = undefined; // a later start() tries again
        throw err;
      });
    }
    return this.starting;
  }

  private async subscribeAll(): Promise<void> {
    const target = this.host.get(this.target);
    if (target === undefined) throw new InvalidArgumentError('to', `no session named '${this.target}'`);
    if (
      this.options.metadata !== undefined &&
      this.options.envelope !== true &&
      target.protocolVersion === 4
    ) {
      // it would be dropped from every message without a word
      throw new InvalidArgumentError(
        'metadata',
        `session '${this.target}' uses MQTT 3.1.1, which has no user properties: set envelope: true to send it`,
      );
    }
    const sources = this.sources.map((name) => {
      const s = this.host.get(name);
      if (s === undefined) throw new InvalidArgumentError('from', `no session named '${name}'`);
      return [name, s] as const;
    });
    this.running = true;
    this.holding = false;
    this.targetSession = target;
    target.on('ready', this.onTargetReady);
    // every source's handler is in place in this turn (a source still connecting gets the messages
    // its broker queued right after the CONNACK), then the SUBACKs are awaited together
    const results = await Promise.allSettled(
      sources.map(([name, s]) =>
        s.subscribe(
          this.topics,
          { qos: this.qos, manualAck: true },
          withOwnSpans((m: Message) => this.receive(name, m)),
        ),
      ),
    );
    const subs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (!this.running) {
      // stop() came while subscribing
      if (!this.holding) await Promise.all(subs.map((sub) => sub.unsubscribe().catch(() => undefined)));
      return;
    }
    this.subscriptions.push(...subs);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stop();
      throw failed.reason;
    }
  }

  /**
   * Unsubscribes from the sources. Messages still waiting for the target
   * are acknowledged to their source and counted as `dropped`: MQTT
   * acknowledges in arrival order, so leaving them unacknowledged would
   * hold back every later message of those sessions. Stop once `waiting`
   * is 0 to lose none.
   *
   * With `acknowledge: false`, for sources about to close (a cluster moving
   * them to another node): nothing waiting or arriving is acknowledged and
   * nothing is unsubscribed, so the broker keeps those messages, and the
   * subscriptions, for the sources' next connection. Forwards in flight
   * still complete. A source that stays open then acknowledges nothing more.
   */
  async stop(options: { acknowledge?: boolean } = {}): Promise<void> {
    this.starting = undefined; // start() again subscribes anew
    if (!this.running) return;
    this.running = false;
    this.holding = options.acknowledge === false;
    this.targetSession?.off('ready', this.onTargetReady);
    this.retry.cancel();
    const subs = this.subscriptions;
    this.subscriptions = [];
    const left = this.waiting;
    this.waiting = [];
    if (this.holding) return;
    for (const item of left) this.release(item);
    if (this.#drops !== undefined) for (const tally of this.#drops.values()) tally.flush();
    await Promise.all(subs.map((s) => s.unsubscribe().catch(() => undefined)));
  }

  /** Gives up on an item: acknowledged to its source (so later messages are not held back), counted. */
  private release(item: Item): void {
    if (this.holding) return; // stopped for a move: left for the next owner
    this.lost('stopped');
    item.msg.ack?.();
  }

  /** A message given up (not one a filter or transform chose to drop): counted, and told in the log now and then. */
  private lost(reason: 'stopped' | 'overflow' | 'attempts'): void {
    this.counters.dropped++;
    const log = this.host.logger?.();
    if (log === undefined) return;
    this.#drops ??= new Map();
    let tally = this.#drops.get(reason);
    if (tally === undefined) {
      tally = new DropTally((count, total) =>
        log.warn(
          { reason: 'forwarder', forwarder: this.name, why: reason, count, total },
          'messages dropped',
        ),
      );
      this.#drops.set(reason, tally);
    }
    tally.add();
  }

  /** Counters since the forwarder was made, and what waits and is in flight now, as a new object. */
  metrics(): ForwarderMetrics {
    return {
      ...this.counters,
      waiting: this.waiting.length,
      inflight: this.inflight,
      latency: { ...this.latency },
    };
  }

  private receive(source: string, msg: Message): void {
    if (this.holding) return; // stopped for a move: the broker delivers it again to the next owner
    this.counters.received++;
    const up = msg.properties?.userProperties;
    const session = this.host.get(source);
    const looped =
      session?.protocolVersion === 4
        ? this.#loops.seen(source, msg.topic, msg.payload)
        : up !== undefined && isForwardedBy(up, this.host.id);
    if (looped) {
      this.counters.filtered++;
      msg.ack?.();
      return;
    }
    if (msg.qos === 0 && this.waiting.length >= this.maxWaiting) {
      this.lost('overflow');
      return;
    }
    const item: Item = { msg, source, received: performance.now(), attempts: 0 };
    if (this.waiting.length > 0)
      this.waiting.push(item); // keep the order behind what waits
    else this.forward(item);
  }

  /** Forwards what waited, in order, now that the target is back. */
  private drain(): void {
    const items = this.waiting;
    this.waiting = [];
    for (const item of items) this.forward(item);
  }

  private forward(item: Item): void {
    if (!this.running) {
      this.release(item);
      return;
    }
    const target = this.targetSession as Session;
    const { msg, source } = item;
    let m: ForwardMessage = {
      topic: msg.topic,
      payload: msg.payload,
      qos: this.qos,
      retain: this.options.retain === 'keep' ? msg.retain : this.options.retain === true,
      properties: msg.properties,
      source,
    };
    const o = this.options;
    let topic: string;
    let metadata: Readonly<Record<string, string>> | undefined;
    try {
      if (o.filter !== undefined && !o.filter(m)) {
        this.counters.filtered++;
        msg.ack?.();
        return;
      }
      if (o.transform !== undefined) {
        const t = o.transform(m);
        if (t === null) {
          this.counters.dropped++;
          msg.ack?.();
          return;
        }
        // user properties in MQTT.js's shape become pairs here; a bad shape gives the message up at once
        const p =
          t.properties === undefined
            ? undefined
            : withUserPropertyPairs(t.properties, 'transform().properties');
        m = p === t.properties ? (t as ForwardMessage) : { ...t, properties: p };
      }
      topic = (m.topic === msg.topic ? this.map?.(msg.topic) : undefined) ?? m.topic;
      metadata = typeof o.metadata === 'function' ? o.metadata(m) : o.metadata;
    } catch (err) {
      // a throwing filter, transform, map or metadata is a bug in it: count it, the message waits for a retry
      this.failed(item, err as Error);
      return;
    }
    let payload: Uint8Array = m.payload;
    let properties: PublishProperties | undefined;
    const tracer = tracerOf(target);
    if (target.protocolVersion === 5) {
      const props: PublishProperties = { ...forwardableProperties(m.properties) };
      const users: UserProperty[] = [...(m.properties?.userProperties ?? [])];
      if (metadata !== undefined) for (const [k, v] of Object.entries(metadata)) users.push([k, v]);
      users.push([FORWARDED_PROPERTY, this.host.id]);
      props.userProperties = users;
      properties = props;
    } else if (o.envelope === true) {
      // MQTT 3.1.1 has no user properties: the trace context the message arrived in rides in the envelope
      payload = envelope(msg.topic, metadata ?? {}, m.payload, tracer?.carrierOf(msg as never));
    }
    if (target.state !== 'connected') {
      this.waiting.push(item);
      return;
    }
    this.inflight++;
    if (target.protocolVersion === 4) this.#loops.note(this.target, topic, payload);
    const options = { qos: m.qos, retain: m.retain, properties };
    // traced: published in the context the message arrived with, which its publish span continues
    const published =
      tracer === undefined
        ? target.publish(topic, payload, options)
        : tracer.within(msg as never, () => target.publish(topic, payload, options));
    published.then(
      () => {
        this.inflight--;
        this.counters.forwarded++;
        const ms = performance.now() - item.received;
        this.latency.count++;
        this.latency.sum += ms;
        if (ms > this.latency.max) this.latency.max = ms;
        msg.ack?.();
      },
      (err: Error) => {
        this.inflight--;
        this.failed(item, err);
      },
    );
  }

  /**
   * A forward failed: it waits for the target's next `ready` (or the next
   * drain), or is given up when no retry can mend it or it has had its tries.
   */
  private failed(item: Item, err: Error): void {
    this.counters.errors++;
    if (!this.running) {
      this.release(item);
      return;
    }
    try {
      this.onError?.(err);
    } catch {
      // the error hook has nowhere to report to
    }
    if (++item.attempts >= this.maxAttempts || err instanceof InvalidArgumentError) {
      this.lost('attempts');
      item.msg.ack?.();
      return;
    }
    this.waiting.push(item);
    // connected and still failing (refused, too large, a throwing transform...), or a target that will
    // not come back (closed): try again in a second, one round for all, never in a tight loop
    const target = this.targetSession;
    if (target !== undefined && target.state !== 'connecting' && target.state !== 'reconnecting')
      this.retry.arm();
  }
}

function isForwardedBy(up: readonly UserProperty[], id: string): boolean {
  for (const [k, v] of up) if (k === FORWARDED_PROPERTY && v === id) return true;
  return false;
}

/** The properties that describe the message itself (not the hop: aliases and subscription ids stay behind). */
function forwardableProperties(p: PublishProperties | undefined): PublishProperties {
  if (p === undefined) return {};
  const out: PublishProperties = {};
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.messageExpiryInterval !== undefined) out.messageExpiryInterval = p.messageExpiryInterval;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined) out.userProperties = p.userProperties;
  return out;
}
