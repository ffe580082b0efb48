/**
 * Topic aliases (MQTT 5, 3.3.2.3.4): on one connection, a number that
 * stands for a topic, in each direction, so a topic is sent once and then
 * only its number.
 *
 * Incoming: the server sets an alias with a PUBLISH that carries both topic
 * and alias, and uses it with an empty topic. It may use up to the Topic
 * Alias Maximum this client sent in CONNECT; an alias above that, or one
 * used before it was set, is a protocol error.
 *
 * Outgoing: publishes to new topics take aliases 1, 2, ... up to the
 * server's Topic Alias Maximum, and publishes to those topics after that go
 * with the alias and an empty topic (`publish-writer.ts`). An alias is never
 * given to another topic, so a topic past the maximum is sent in full.
 *
 * Both directions belong to one connection: `reset` at every `open`.
 */

import type { PublishPacket } from '../codec/types.js';
import type { Link } from './link.js';

export class TopicAliases {
  private readonly link: Link;
  /** Topics the server set, by alias. */
  private incoming: (string | undefined)[] = [];
  /** Aliases this client set, by topic; made by the first. */
  private outgoing: Map<string, number> | undefined = undefined;

  constructor(link: Link) {
    this.link = link;
  }

  reset(): void {
    this.incoming = [];
    this.outgoing = undefined;
  }

  /**
   * Resolves `alias` of a received PUBLISH: records its topic, or puts the
   * recorded topic in. False when the alias breaks the rules (above `max`,
   * or never set): the connection is failing then.
   */
  resolve(p: PublishPacket, alias: number, max: number): boolean {
    if (alias > max) {
      this.link.protocolError(`topic alias ${alias} exceeds the maximum of ${max} this client allows`, 0x94);
      return false;
    }
    if (p.topic.length > 0) {
      this.incoming[alias] = p.topic;
      return true;
    }
    const topic = this.incoming[alias];
    if (topic === undefined) {
      this.link.protocolError(`topic alias ${alias} was never set`, 0x82);
      return false;
    }
    p.topic = topic;
    return true;
  }

  /** The alias this client set for `topic`; undefined when none. */
  outgoingAlias(topic: string): number | undefined {
    return this.outgoing?.get(topic);
  }

  /** The alias a new topic would take, or 0 when all `max` are in use. */
  nextOutgoing(max: number): number {
    const used = this.outgoing === undefined ? 0 : this.outgoing.size;
    return used >= max ? 0 : used + 1;
  }

  /** Records the alias of `topic`, once the PUBLISH that sets it is in the output. */
  setOutgoing(topic: string, alias: number): void {
    (this.outgoing ??= new Map()).set(topic, alias);
  }
}
