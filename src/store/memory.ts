/**
 * `MemoryStore`: session state in this process's memory. It survives a new
 * `Session` with the same client id and store, not a crash of the process.
 */
import type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';

/** One client's state; each table is made by its first entry (most sessions only ever subscribe). */
interface ClientState {
  messages: Map<number, StoredMessage> | undefined;
  incomingQoS2: Set<number> | undefined;
  subscriptions: Map<string, StoredSubscription> | undefined;
}

/**
 * A {@link SessionStore} in this process's memory, the default of every
 * session. It survives a new `Session` with the same client id and store,
 * not a crash of the process: `durable` is false, and `flush()` resolves at once.
 */
export class MemoryStore implements SessionStore {
  readonly durable = false;
  private clients: Map<string, ClientState> | undefined = undefined;

  private client(clientId: string): ClientState {
    const clients = (this.clients ??= new Map());
    let c = clients.get(clientId);
    if (c === undefined) {
      c = { messages: undefined, incomingQoS2: undefined, subscriptions: undefined };
      clients.set(clientId, c);
    }
    return c;
  }

  async load(clientId: string): Promise<PersistedSession> {
    const c = this.clients?.get(clientId);
    return {
      messages: c?.messages === undefined ? [] : [...c.messages.values()].sort((a, b) => a.seq - b.seq),
      incomingQoS2: c?.incomingQoS2 === undefined ? [] : [...c.incomingQoS2],
      subscriptions: c?.subscriptions === undefined ? [] : [...c.subscriptions.values()],
    };
  }

  putMessage(clientId: string, message: StoredMessage): void {
    const c = this.client(clientId);
    (c.messages ??= new Map()).set(message.seq, message);
  }

  deleteMessage(clientId: string, seq: number): void {
    this.clients?.get(clientId)?.messages?.delete(seq);
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    const c = this.client(clientId);
    (c.incomingQoS2 ??= new Set()).add(packetId);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.clients?.get(clientId)?.incomingQoS2?.delete(packetId);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    const c = this.client(clientId);
    (c.subscriptions ??= new Map()).set(subscription.topicFilter, subscription);
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.clients?.get(clientId)?.subscriptions?.delete(topicFilter);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  async clear(clientId: string): Promise<void> {
    this.clients?.delete(clientId);
  }

  async close(): Promise<void> {}
}
