/**
 * Settles the operations the engine carries for the session's callers:
 * publishes, subscribes and unsubscribes.
 *
 * - Acknowledged: a publish resolves with the broker's answer (its latency
 *   observed); with a durable store, a QoS 1/2 one resolves only once the
 *   writer's flush has recorded that it is done. A refusal rejects with
 *   `RejectedError`.
 * - Timed out or aborted: taken back from the engine and rejected (this is
 *   the requests' owner).
 * - The connection or the session ended: everything in flight or waiting
 *   rejects at once (`failAll`, `closeAll`).
 * - `close()` waits here for the last acknowledgements (`idle`).
 */

import { reasonCodeName } from '../codec/reason-codes.js';
import type { AckProperties, SubackPacket, UnsubackPacket } from '../codec/types.js';
import { ClosedError, type MqttError, RejectedError, StoreError } from '../core/errors.js';
import type { SessionContext } from './context.js';
import { LatencyHistogram } from './latency.js';
import { toArgumentError } from './packets.js';
import { type Cancellable, ControlRequest, PublishRequest, Request, type RequestOwner } from './requests.js';
import type { OperationOptions, PublishResult } from './types.js';
import { QOS0_RESULT, UNRECORDED } from './writer.js';

export class Operations implements RequestOwner {
  /** The `seq` of the newest QoS 1/2 publish, made or restored: the order of the store's messages. */
  seq = 0;
  /** Publish-to-acknowledgement times, from the first acknowledgement on. */
  latency: LatencyHistogram | undefined = undefined;
  /** `close()` waiting for the operations in flight to finish. */
  private idleWaiter: (() => void) | undefined = undefined;

  constructor(private readonly ctx: SessionContext) {}

  /** A publish, subscribe or unsubscribe timed out or was aborted. */
  cancel(req: Cancellable, error: MqttError): void {
    if (req.settled) return;
    if (req instanceof PublishRequest && req.result !== undefined) {
      // the broker completed it; only the store is late in recording that: say so, not 'timed out'
      req.fail(new StoreError(`${req.describe()}: ${UNRECORDED}`, { cause: error }));
      return;
    }
    if (req instanceof PublishRequest || req instanceof ControlRequest) this.ctx.engine.cancel(req);
    req.fail(error);
  }

  /** Starts a SUBSCRIBE or UNSUBSCRIBE: its timeout and signal, then the engine (`ahead`: before what is queued). */
  sendControl(
    req: ControlRequest,
    options: OperationOptions,
    ahead = false,
  ): Promise<SubackPacket | UnsubackPacket> {
    const promise = req.start(options.timeout ?? this.ctx.options.operationTimeout, options.signal);
    try {
      this.ctx.engine.control(req, ahead);
    } catch (err) {
      req.fail(toArgumentError(err));
    }
    return promise;
  }

  /** A QoS 1/2 publish completed: PUBACK, PUBCOMP, or PUBREC with an error. */
  published(req: PublishRequest, reasonCode: number, properties: AckProperties | undefined): void {
    const ctx = this.ctx;
    ctx.journal.forget(req);
    if (reasonCode >= 0x80) {
      const why = properties?.reasonString;
      req.fail(
        new RejectedError(
          `the broker refused ${req.describe()}: ${reasonCodeName(reasonCode, 'puback')}${why ? `: ${why}` : ''}`,
          reasonCode,
        ),
      );
    } else if (!req.settled) {
      if (req.startedAt !== 0)
        (this.latency ??= new LatencyHistogram()).observe(performance.now() - req.startedAt);
      const result: PublishResult =
        req.packet.qos === 2 && req.stage === 1
          ? { reasonCode, properties, qos: 1 } // completed by a PUBACK: the broker took it at QoS 1 (see the engine)
          : reasonCode === 0 && properties === undefined
            ? QOS0_RESULT
            : { reasonCode, properties };
      // resolved by the flush that makes its deletion durable: a crash before it would send it again
      if (req.seq !== 0 && ctx.store.durable) ctx.writer.completeAfterFlush(req, result);
      else req.succeed(result);
    }
    this.checkIdle();
  }

  /** A SUBACK or UNSUBACK arrived. */
  controlDone(req: ControlRequest, packet: SubackPacket | UnsubackPacket): void {
    req.succeed(packet);
    this.checkIdle();
  }

  /** Rejects every operation in flight or waiting, and forgets it in the store. */
  failAll(error: MqttError): void {
    for (const op of this.ctx.engine.drain()) {
      // QoS 0 publishes without a signal are plain operations: their turn's shared promise answers for them
      if (op instanceof Request) {
        if (op instanceof PublishRequest) this.ctx.journal.forget(op);
        op.fail(error);
      }
    }
  }

  /**
   * At close: every operation left rejects with `ClosedError`. What is left
   * stays in the store for a session that resumes (a durable store has it
   * already); only the promises end here.
   */
  closeAll(): void {
    const journal = this.ctx.journal;
    for (const op of this.ctx.engine.drain()) {
      if (!(op instanceof Request)) continue;
      if (op instanceof PublishRequest) journal.keepUnfinished(op);
      op.fail(new ClosedError());
    }
  }

  /** Operations in flight or waiting to be sent. */
  get busy(): boolean {
    const engine = this.ctx.engine;
    return engine.inflightCount + engine.pendingCount > 0;
  }

  /** Resolves once no operation is left (see `checkIdle`, `wakeIdle`), or after `timeout` ms. */
  idle(timeout: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiter = undefined;
        resolve();
      }, timeout);
      this.idleWaiter = () => {
        this.idleWaiter = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** An operation ended: wakes `idle()` when it was the last. */
  checkIdle(): void {
    if (this.idleWaiter !== undefined && !this.busy) this.idleWaiter();
  }

  /** No acknowledgement can come any more (the connection of a closing session is gone): `idle()` ends. */
  wakeIdle(): void {
    this.idleWaiter?.();
  }
}
