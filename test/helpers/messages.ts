/**
 * Waiting for messages: the first `n` a Session or an MQTT.js client
 * receives, whichever subscription they are for. Call before the publish
 * that sends them; the promise resolves when the last of them arrives.
 */
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Message, Session } from '../../src/session/index.js';

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
