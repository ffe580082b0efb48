/**
 * Waiting for messages: the first `n` a Session or an MQTT.js client
 * receives, whichever subscription they are for (call before the publish
 * that sends them), and a watcher session that keeps what arrives on a
 * filter.
 */
import type { IPublishPacket, MqttClient } from 'mqtt';
import { type Message, Session, type SessionOptions } from '../../src/session/index.js';

/** Resolves with the first `n` messages `s` receives. */
export function received(s: Session, n: number): Promise<Message[]> {
  const got: Message[] = [];
  return new Promise((resolve) => {
    s.on('message', (m) => {
      got.push(m);
      if (got.length === n) resolve(got);
    });
  });
}

/** A message as MQTT.js hands it over. */
export interface PeerMessage {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Resolves with the messages MQTT.js receives once `done(got)` says so. */
export function collectUntil(c: MqttClient, done: (got: PeerMessage[]) => boolean): Promise<PeerMessage[]> {
  const got: PeerMessage[] = [];
  return new Promise((resolve) => {
    c.on('message', (topic, payload, packet) => {
      got.push({ topic, payload, packet });
      if (done(got)) resolve(got);
    });
  });
}

/** Resolves with the first `n` messages MQTT.js receives. */
export function collect(c: MqttClient, n: number): Promise<PeerMessage[]> {
  return collectUntil(c, (got) => got.length === n);
}

/** A session subscribed to one filter, keeping every message it receives. */
export interface Watcher {
  s: Session;
  /** Every message so far, in arrival order. */
  got: Message[];
  /** Resolves once `n` messages in all have arrived. */
  until(n: number): Promise<void>;
}

/** Connects a session with `options` and subscribes it to `filter` at QoS 1. */
export async function watch(options: SessionOptions, filter: string): Promise<Watcher> {
  const s = new Session(options);
  await s.connect();
  const got: Message[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  await s.subscribe(filter, { qos: 1 }, (m) => {
    got.push(m);
    for (const w of waiters) if (got.length >= w.n) w.resolve();
  });
  return {
    s,
    got,
    until: (n) =>
      got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}
