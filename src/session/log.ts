/**
 * What a session tells its logger (option `logger`): its life, never its
 * messages. The parts call these methods where the events happen (the
 * connector, the offline queue, `report`), through `ctx.log`, which is
 * undefined without a logger: a session without one pays one property check
 * on paths that are not per message, and nothing on the ones that are.
 *
 * Levels: `info` for connects, reconnect schedules, what a store restored
 * and the close; `warn` for failed attempts, lost connections, the fallback
 * to MQTT 3.1.1, records a store skipped and dropped messages; `error` for
 * what the session reports as `error`; `debug` for resubscribes and resends.
 *
 * Failures of one kind (the same message) are logged at most once every
 * `REPEAT_LOG_INTERVAL` ms, the next line saying how many were left
 * out (`repeated`), and the rest at close. Drops are counted, never logged one by one: the first drop of a quiet
 * period is logged at once, later ones are summed per reason and logged at
 * most every {@link DROP_LOG_INTERVAL} ms (one timer per session, only while
 * drops wait to be told), and what is left at close.
 *
 * Nothing here logs a secret: URLs are the redacted ones, errors are logged
 * by their message and code (messages never hold credentials), and options
 * are never logged.
 */
import type { EventEmitter } from 'node:events';
import type { ConnackPacket } from '../codec/types.js';
import type { MqttError } from '../core/errors.js';
import { childLogger, type Logger, REPEAT_LOG_INTERVAL, RepeatLimiter } from '../core/logger.js';
import { redact } from '../core/url.js';
import type { PersistedSession, SessionStore } from '../store/types.js';
import type { SessionContext } from './context.js';

/** ms between two lines about dropped messages of a session (the first of a quiet period goes at once). */
export const DROP_LOG_INTERVAL = 10_000;

/** Why messages were dropped: a `DroppedError` reason, or `stream` for a `messages()` iterator too slow. */
export type DropReason = 'queue-full' | 'overflow' | 'expired' | 'offline' | 'attempts' | 'stream';

/** What a `FileStore` reports about a damaged log (its `'damage'` event); only what is logged. */
interface StoreDamage {
  clientId: string;
  path: string;
  savedTo: string | undefined;
  skipped: readonly { bytes: number }[];
  torn: { bytes: number } | undefined;
  headerDamaged: boolean;
}

export class SessionLog {
  readonly logger: Logger;
  /** Drops not logged yet, by reason. */
  private pending: Map<DropReason, number> | undefined = undefined;
  /** Drops since the session was made, by reason. */
  private readonly totals = new Map<DropReason, number>();
  private lastDropLine = Number.NEGATIVE_INFINITY;
  private dropTimer: NodeJS.Timeout | undefined = undefined;
  /** Failures of one kind (their message) logged once per interval. */
  private readonly errors = new RepeatLimiter(REPEAT_LOG_INTERVAL);

  constructor(
    logger: Logger,
    name: string | undefined,
    private readonly ctx: SessionContext,
  ) {
    this.logger = name === undefined ? logger : childLogger(logger, { session: name });
  }

  connected(url: string, p: ConnackPacket, reconnect: boolean): void {
    const engine = this.ctx.engine;
    this.logger.info(
      {
        url: redact(url),
        clientId: engine.clientId,
        protocolVersion: engine.version,
        sessionPresent: p.sessionPresent,
        reconnect,
      },
      'connected',
    );
    const resending = engine.inflightCount;
    if (resending > 0) this.logger.debug({ inflight: resending }, 'resending what was in flight');
  }

  /** An attempt failed; `next` says what comes of it. */
  attemptFailed(url: string, error: MqttError, next: 'next url' | 'reconnect' | 'give up'): void {
    this.logger.warn(
      { url: redact(url), error: error.message, code: error.code, reasonCode: error.reasonCode, next },
      'connection attempt failed',
    );
  }

  lost(url: string, error: MqttError): void {
    this.logger.warn(
      { url: redact(url), error: error.message, code: error.code, reasonCode: error.reasonCode },
      'connection lost',
    );
  }

  reconnecting(attempt: number, delay: number): void {
    this.logger.info({ attempt, delay }, 'reconnecting');
  }

  fallback(url: string, reason: MqttError): void {
    this.logger.warn(
      { url: redact(url), reason: reason.message, reasonCode: reason.reasonCode },
      'falling back to MQTT 3.1.1',
    );
  }

  /** What the store held for this client id at the first connect. */
  restored(saved: PersistedSession): void {
    const fields = {
      messages: saved.messages.length,
      subscriptions: saved.subscriptions.length,
      incomingQoS2: saved.incomingQoS2.length,
    };
    if (fields.messages + fields.subscriptions + fields.incomingQoS2 === 0)
      this.logger.debug(fields, 'nothing to restore from the store');
    else this.logger.info(fields, 'restored from the store');
  }

  /**
   * While the store loads this session's state: what a store that reports damage (`FileStore`'s
   * `'damage'` event) skipped is logged. Returns the function that stops listening.
   */
  watchStore(store: SessionStore): (() => void) | undefined {
    const emitter = store as Partial<Pick<EventEmitter, 'on' | 'off'>>;
    if (typeof emitter.on !== 'function' || typeof emitter.off !== 'function') return undefined;
    const listener = (d: StoreDamage) => this.damaged(d);
    emitter.on.call(store, 'damage', listener);
    return () => emitter.off?.call(store, 'damage', listener);
  }

  /** A `FileStore` read this session's log with damage in it. */
  damaged(d: StoreDamage): void {
    if (d.clientId !== this.ctx.options.clientId) return;
    if (d.skipped.length > 0 || d.headerDamaged) {
      this.logger.warn(
        {
          path: d.path,
          skipped: d.skipped.length,
          skippedBytes: d.skipped.reduce((sum, r) => sum + r.bytes, 0),
          headerDamaged: d.headerDamaged,
          savedTo: d.savedTo,
        },
        'store skipped damaged records',
      );
    }
    if (d.torn !== undefined)
      this.logger.info({ path: d.path, bytes: d.torn.bytes }, 'store cut a torn tail');
  }

  /** `count` messages dropped for `reason`: logged at once, or summed into the next line. */
  dropped(reason: DropReason, count = 1): void {
    this.totals.set(reason, (this.totals.get(reason) ?? 0) + count);
    const now = Date.now();
    if (this.dropTimer === undefined && now - this.lastDropLine >= DROP_LOG_INTERVAL) {
      this.lastDropLine = now;
      this.dropLine(reason, count);
      return;
    }
    const pending = (this.pending ??= new Map());
    pending.set(reason, (pending.get(reason) ?? 0) + count);
    if (this.dropTimer === undefined) {
      this.dropTimer = setTimeout(flushDrops, this.lastDropLine + DROP_LOG_INTERVAL - now, this);
      this.dropTimer.unref();
    }
  }

  /** The drops summed since the last line, one line per reason (the timer's, and at close). */
  flushDrops(): void {
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    this.lastDropLine = Date.now();
    for (const [reason, count] of pending) this.dropLine(reason, count);
  }

  private dropLine(reason: DropReason, count: number): void {
    this.logger.warn({ reason, count, total: this.totals.get(reason) }, 'messages dropped');
  }

  /** What the session reports as `error`. */
  error(err: unknown, what: string): void {
    const msg = what === '' ? 'session error' : what;
    // a handler that throws on every message must not write a line per message
    const left = this.errors.admit(msg);
    if (left === undefined) return;
    const e = err as Partial<MqttError> | undefined;
    const fields: Record<string, unknown> = { error: e?.message ?? String(err), code: e?.code };
    if (left > 0) fields.repeated = left;
    this.logger.error(fields, msg);
  }

  /** The session closed: the drops not told yet, then the line. */
  closed(reasonCode: number): void {
    this.flushDrops();
    for (const [msg, left] of this.errors.drain()) this.logger.error({ repeated: left }, msg);
    this.logger.info({ reasonCode, dropped: this.ctx.counters.dropped }, 'closed');
  }
}

function flushDrops(log: SessionLog): void {
  log.flushDrops();
}
