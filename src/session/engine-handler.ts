/**
 * The engine's callbacks, each sent to the part of the session it concerns:
 * output to the writer, CONNACK and the end of a connection to the
 * connector, messages to dispatch, completions to the operations, store
 * changes to the journal, dropped publishes to the offline queue. One
 * object per session, holding the parts themselves: no closure, and no
 * lookup through the context on a message's way.
 */
import type {
  AckProperties,
  AuthPacket,
  ConnackPacket,
  PublishPacket,
  SubackPacket,
  UnsubackPacket,
} from '../codec/types.js';
import type { MqttError } from '../core/errors.js';
import type { ControlOp, EngineHandler, PublishOp } from '../protocol/engine.js';
import { answerAuth } from './authentication.js';
import type { Connector } from './connector.js';
import type { SessionContext } from './context.js';
import type { Dispatcher } from './dispatch.js';
import type { Journal } from './journal.js';
import type { OfflineQueue } from './offline-queue.js';
import type { Operations } from './operations.js';
import { ControlRequest, PublishRequest } from './requests.js';
import type { Writer } from './writer.js';

/** The session's {@link EngineHandler}, made by its context once the parts exist. */
export class EngineHandlerAdapter implements EngineHandler {
  private readonly writer: Writer;
  private readonly connector: Connector;
  private readonly dispatcher: Dispatcher;
  private readonly operations: Operations;
  private readonly journal: Journal;
  private readonly queue: OfflineQueue;

  constructor(private readonly ctx: SessionContext) {
    this.writer = ctx.writer;
    this.connector = ctx.connector;
    this.dispatcher = ctx.dispatcher;
    this.operations = ctx.operations;
    this.journal = ctx.journal;
    this.queue = ctx.queue;
  }
  wantsFlush(): void {
    this.writer.wantsFlush();
  }
  connack(p: ConnackPacket): void {
    this.connector.connack(p);
  }
  message(p: PublishPacket): void {
    this.dispatcher.message(p);
  }
  published(op: PublishOp, rc: number, props: AckProperties | undefined): void {
    if (op instanceof PublishRequest) this.operations.published(op, rc, props);
  }
  subscribed(op: ControlOp, p: SubackPacket): void {
    if (op instanceof ControlRequest) this.operations.controlDone(op, p);
  }
  unsubscribed(op: ControlOp, p: UnsubackPacket): void {
    if (op instanceof ControlRequest) this.operations.controlDone(op, p);
  }
  auth(p: AuthPacket): void {
    answerAuth(this.ctx, p);
  }
  stored(op: PublishOp): void {
    // a memory store holds this very object: the journal records it in a durable one only
    if (op instanceof PublishRequest) this.journal.putMessage(op);
  }
  incomingQoS2(packetId: number, added: boolean): void {
    this.journal.incomingQoS2(packetId, added);
  }
  expired(op: PublishOp): void {
    if (op instanceof PublishRequest) this.queue.expired(op);
  }
  abandoned(op: PublishOp): void {
    if (op instanceof PublishRequest) this.queue.abandoned(op);
  }
  closing(error: MqttError): void {
    this.connector.closing(error);
  }
}
