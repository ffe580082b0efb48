/**
 * `MemoryStore`: session state in this process's memory. It survives a new
 * `Session` with the same client id and store, not a crash of the process.
 */
import type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';

interface ClientState {
  messages: Map<number, StoredMessage>;
  incomingQoS2: Set<number>;
  subscriptions: Map<string, StoredSubscription>;
}

export class MemoryStore implements SessionStore {
  readonly durable = false;
  private readonly clients = new Map<string, ClientState>();

  private client(clientId: string): ClientState {
    let c = this.clients.get(clientId);
    if (c === undefined) {
      c = { messages: new Map(), incomingQoS2: new Set(), subscriptions: new Map() };
      this.clients.set(clientId, c);
    }
    return c;
  }

  async load(clientId: string): Promise<PersistedSession> {
    const c = this.clients.get(clientId);
    if (c === undefined) return { messages: [], incomingQoS2: [], subscriptions: [] };
    return {
      messages: [...c.messages.values()].sort((a, b) => a.seq - b.seq),
      incomingQoS2: [...c.incomingQoS2],
      subscriptions: [...c.subscriptions.values()],
    };
  }

  putMessage(clientId: string, message: StoredMessage): void {
    this.client(clientId).messages.set(message.seq, message);
  }

  deleteMessage(clientId: string, seq: number): void {
    this.clients.get(clientId)?.messages.delete(seq);
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    this.client(clientId).incomingQoS2.add(packetId);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.clients.get(clientId)?.incomingQoS2.delete(packetId);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.client(clientId).subscriptions.set(subscription.topicFilter, subscription);
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.clients.get(clientId)?.subscriptions.delete(topicFilter);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  async clear(clientId: string): Promise<void> {
    this.clients.delete(clientId);
  }

  async close(): Promise<void> {}
}
