/**
 * A PUBLISH as it goes out on the current connection: its outgoing topic
 * alias applied (`aliases.ts`), the server's Maximum Packet Size enforced,
 * and a large payload kept out of the encoded bytes.
 *
 * Payloads from {@link SEPARATE_PAYLOAD} bytes on are not copied: the
 * encoder writes the head (fixed header, topic, properties) and the payload
 * follows as its own chunk, in the same writev. Below that size, one copy
 * into the encoder's slab is cheaper than a chunk of its own, and the outbox
 * joins packets that sit back to back in the slab into one chunk.
 */

import { type EncodeOptions, encode, encodePublishHead } from '../codec/encode.js';
import type { PublishPacket } from '../codec/types.js';
import type { TopicAliases } from './aliases.js';
import type { Link } from './link.js';

/** Payload bytes from which the payload is its own chunk. */
const SEPARATE_PAYLOAD = 1024;

export class PublishWriter {
  private readonly link: Link;
  private readonly aliases: TopicAliases;

  constructor(link: Link, aliases: TopicAliases) {
    this.link = link;
    this.aliases = aliases;
  }

  /**
   * Encodes `p` for this connection, with its topic alias; throws
   * {@link EncodeError} when it cannot be sent (too large for the server,
   * invalid). A large payload is left out, for {@link send} to add.
   */
  encode(p: PublishPacket): Uint8Array {
    const max = this.link.limits.topicAliasMaximum;
    if (max === 0 || this.link.version === 4 || p.topic.length === 0) return this.encodeAs(p);
    const aliases = this.aliases;
    const alias = aliases.outgoingAlias(p.topic);
    if (alias === undefined) {
      const next = aliases.nextOutgoing(max);
      if (next === 0) return this.encodeAs(p);
      const bytes = this.encodeAs({ ...p, properties: { ...p.properties, topicAlias: next } });
      aliases.setOutgoing(p.topic, next); // only once the server will have seen it
      return bytes;
    }
    return this.encodeAs({ ...p, topic: '', properties: { ...p.properties, topicAlias: alias } });
  }

  /** Sends what {@link encode} made of `p`, and the payload after it if it was left out. */
  send(p: PublishPacket, bytes: Uint8Array): void {
    this.link.send(bytes);
    if (p.payload.byteLength >= SEPARATE_PAYLOAD) this.link.send(p.payload);
  }

  private encodeAs(p: PublishPacket): Uint8Array {
    const max = this.link.limits.maximumPacketSize;
    const options: EncodeOptions | undefined = max === undefined ? undefined : { maximumPacketSize: max };
    const version = this.link.version;
    return p.payload.byteLength >= SEPARATE_PAYLOAD
      ? encodePublishHead(p, version, options)
      : encode(p, version, options);
  }
}
