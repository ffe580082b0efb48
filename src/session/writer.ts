/**
 * The write path: once per turn of the event loop, the turn's output goes
 * to the connection in one write.
 *
 * - The engine says when output appears (`wantsFlush`); the flush runs from
 *   `setImmediate`, so everything produced in a turn (publishes, the
 *   acknowledgements of received messages) leaves in one socket write.
 * - Write-ahead, with a durable store: when the turn changed the store (the
 *   journal is dirty), its output waits for a store flush, and the QoS 1/2
 *   publishes the broker completed in the turn resolve once their deletion
 *   is flushed. Flushes start at once and overlap; the writes keep their
 *   order on `writeChain`. A failed flush closes the connection and holds
 *   back all later output (the next connection's CONNECT included) until a
 *   flush succeeds.
 * - The QoS 0 publishes of one turn share one promise, resolved when the
 *   turn's bytes are written (or, when the socket is full, once it drained).
 */

import { type Deferred, deferred } from '../core/deferred.js';
import { ClosedError, ConnectionError, type MqttError, StoreError } from '../core/errors.js';
import type { Transport } from '../transport/types.js';
import type { SessionContext } from './context.js';
import { noop, type PublishRequest } from './requests.js';
import type { PublishResult } from './types.js';

/** The result of a QoS 0 publish, and of a QoS 1/2 one acknowledged with success and no properties. */
export const QOS0_RESULT: PublishResult = Object.freeze({ reasonCode: 0, properties: undefined });

/** Why a publish the broker completed rejects: its completion is not durable. */
export const UNRECORDED =
  'the broker acknowledged the publish, but the session store could not record it: a session that resumes from this store may send it again';

/** The promise the QoS 0 publishes of one turn share, settled when the turn's bytes are written. */
type Qos0Turn = Deferred<PublishResult>;

export class Writer {
  private flushScheduled = false;
  /** The current turn's QoS 0 publishes (made on the first). */
  private qos0: Qos0Turn | undefined = undefined;
  /** Writes waiting behind a store flush: later output must queue behind them. */
  private chained = 0;
  /** The transport's last write did not fit its buffer; cleared on drain. */
  private backlogged = false;
  /** Turns of QoS 0 publishes written to a full socket: they resolve when it drains. */
  private drainWaiters: Qos0Turn[] | undefined = undefined;
  /**
   * A flush failed and none succeeded since: the store holds changes not
   * known to be durable, so every output waits for a successful flush, even
   * a turn's that changed nothing itself.
   */
  private storeBehind = false;
  /** The connection whose output a failed flush held back: nothing more is written to it. */
  private storeFailedOn: Transport | undefined = undefined;
  /** QoS 1/2 publishes acknowledged whose deletion from a durable store is not flushed yet. */
  private completed: PublishRequest[] | undefined = undefined;
  private writeChain: Promise<void> = RESOLVED;

  constructor(private readonly ctx: SessionContext) {}

  /** Schedules the turn's flush (once per turn). */
  wantsFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(flushTurn, this);
  }

  /**
   * The turn's output goes to the socket, after a store flush when the
   * store changed, and the publishes acknowledged in the turn resolve once
   * their deletion is flushed. Also called at once where output must leave
   * before the connection ends.
   */
  flush(): void {
    this.flushScheduled = false;
    const ctx = this.ctx;
    const t = ctx.connector.transport;
    const out = ctx.engine.takeOutput(Date.now());
    const journal = ctx.journal;
    const durable = ctx.store.durable && journal.dirty;
    journal.dirty = false;
    const done = this.completed;
    this.completed = undefined;
    // the turn's QoS 0 publishes resolve when their bytes are written, not before
    const q = this.qos0;
    this.qos0 = undefined;
    if (durable || this.chained > 0 || this.storeBehind || done !== undefined) {
      // the flush starts now, overlapping those of earlier turns (a store settles flushes in call
      // order, each covering every change made before it); the write waits its turn
      const flushed = durable || this.storeBehind ? journal.flush() : undefined;
      this.chained++;
      this.writeChain = this.writeChain
        .then(() => this.afterStore(t, out, flushed, done, q))
        .then(undefined, (err: unknown) => ctx.report(err, 'writing to the connection failed'))
        .finally(() => {
          this.chained--;
        });
      return;
    }
    if (t !== undefined && out.length > 0) this.write(t, out);
    if (q !== undefined) this.settleQos0(q, t === undefined ? ctx.notConnected() : undefined);
  }

  /** The promise of a QoS 0 publish made in this turn: the turn's, shared. */
  qos0Promise(): Promise<PublishResult> {
    let q = this.qos0;
    if (q === undefined) {
      q = deferred<PublishResult>();
      q.promise.catch(noop); // fire-and-forget QoS 0 never raises an unhandled rejection
      this.qos0 = q;
    }
    return q.promise;
  }

  /**
   * A QoS 1/2 publish the broker completed, to resolve with `result` once the
   * store has recorded that it is done (by the turn's flush).
   */
  completeAfterFlush(req: PublishRequest, result: PublishResult): void {
    req.result = result;
    (this.completed ??= []).push(req);
    this.wantsFlush();
  }

  /** The transport's buffer emptied: release the QoS 0 publishes that waited for it. */
  drained(): void {
    this.backlogged = false;
    const waiting = this.drainWaiters;
    if (waiting === undefined || waiting.length === 0) return;
    this.drainWaiters = undefined;
    for (const q of waiting) q.resolve(QOS0_RESULT);
  }

  /** The connection is gone: nothing waits for its drain; with `error`, the unwritten QoS 0 publishes fail. */
  connectionLost(error: MqttError | undefined): void {
    this.backlogged = false;
    if (error === undefined) return;
    this.qos0?.reject(error);
    this.qos0 = undefined;
    this.rejectDrainWaiters(error);
  }

  /** At close: the QoS 0 publishes not written yet fail with `ClosedError`. */
  rejectUnwritten(): void {
    this.qos0?.reject(new ClosedError());
    this.qos0 = undefined;
    if (this.drainWaiters !== undefined) this.rejectDrainWaiters(new ClosedError());
  }

  /** Resolves once every write queued behind a store flush is done. */
  settled(): Promise<void> {
    return this.writeChain;
  }

  /**
   * At close, after the last write: a final store flush, then the publishes
   * whose completion it records resolve (or fail, when it does not).
   */
  async finish(): Promise<void> {
    await this.writeChain;
    const done = this.completed;
    this.completed = undefined;
    try {
      await this.ctx.store.flush(this.ctx.journal.clientId);
      if (done !== undefined) succeedCompleted(done);
    } catch (err) {
      const error = new StoreError('the session store failed while closing', { cause: err });
      this.ctx.report(error, '');
      if (done !== undefined) {
        const lost = new StoreError(UNRECORDED, { cause: err });
        for (const req of done) req.fail(lost);
      }
    }
  }

  /**
   * Settles a turn's QoS 0 publishes: rejected with `error` when their bytes
   * were not written; otherwise resolved, or, when the socket is full, held
   * until it drains (their backpressure).
   */
  private settleQos0(q: Qos0Turn, error: MqttError | undefined): void {
    if (error !== undefined) q.reject(error);
    else if (this.backlogged) (this.drainWaiters ??= []).push(q);
    else q.resolve(QOS0_RESULT);
  }

  /**
   * One turn's output, in the write chain: once the turn's store flush (if
   * the turn changed the store, or an earlier flush failed) succeeded, writes
   * the output to `t` if it is still the connection, and resolves the turn's
   * completed publishes. A failed flush is reported and keeps everything for
   * the next one (stores keep failed changes); `t` is closed, so the session
   * reconnects with its backoff, and its CONNECT too waits for a flush that
   * succeeds.
   */
  private afterStore(
    t: Transport | undefined,
    out: Buffer[],
    flushed: Promise<unknown> | undefined,
    done: PublishRequest[] | undefined,
    q: Qos0Turn | undefined,
  ): Promise<void> | undefined {
    const connector = this.ctx.connector;
    // the connection this output was for is gone (or failed): the output goes with it
    const gone = t !== undefined && (connector.transport !== t || this.storeFailedOn === t);
    if (flushed === undefined) {
      if (!this.storeBehind && done === undefined) {
        if (!gone && t !== undefined && out.length > 0) this.write(t, out);
        if (q !== undefined) this.settleQos0(q, gone || t === undefined ? this.unwritten() : undefined);
        return undefined;
      }
      // nothing to write and nothing to resolve: a later turn flushes before anything that needs it
      if (gone && done === undefined) {
        q?.reject(this.unwritten());
        return undefined;
      }
      flushed = this.ctx.journal.flush();
    }
    return flushed.then((err) => {
      if (err === undefined) {
        this.storeBehind = false;
        const live = !gone && t !== undefined && connector.transport === t;
        if (live && out.length > 0) this.write(t, out);
        if (done !== undefined) succeedCompleted(done);
        if (q !== undefined) this.settleQos0(q, live ? undefined : this.unwritten());
        return;
      }
      q?.reject(
        new StoreError('the session store failed; the turn’s output was not written', { cause: err }),
      );
      this.storeBehind = true;
      if (done !== undefined) this.completed = done.concat(this.completed ?? []);
      const live = !gone && t !== undefined && connector.transport === t;
      const error = new StoreError(
        live ? 'the session store failed; the connection is closed' : 'the session store failed',
        { cause: err },
      );
      this.ctx.report(error, '');
      if (live) {
        this.storeFailedOn = t;
        t.destroy(error);
      }
    });
  }

  private write(t: Transport, out: Buffer[]): void {
    const counters = this.ctx.counters;
    for (let i = 0; i < out.length; i++) counters.bytesOut += out[i].length;
    if (!t.write(out)) this.backlogged = true;
  }

  private rejectDrainWaiters(error: MqttError): void {
    const waiting = this.drainWaiters;
    this.drainWaiters = undefined;
    if (waiting !== undefined) for (const q of waiting) q.reject(error);
  }

  /** Why a turn's QoS 0 publishes were not written: their connection went first. */
  private unwritten(): MqttError {
    const s = this.ctx.state;
    if (s === 'closing' || s === 'closed') return new ClosedError();
    return new ConnectionError('the connection was lost before the publish was written');
  }
}

/** Resolves publishes whose completion the store has made durable. */
function succeedCompleted(done: PublishRequest[]): void {
  for (let i = 0; i < done.length; i++) {
    const req = done[i];
    req.succeed(req.result ?? QOS0_RESULT);
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

function flushTurn(w: Writer): void {
  w.flush();
}
