/**
 * Packet identifiers and what is in flight under them.
 *
 * One table indexed by packet id (1..65,535) holds the operation waiting for
 * an acknowledgement under that id: a QoS 1/2 PUBLISH, a SUBSCRIBE or an
 * UNSUBSCRIBE. Ids are taken round-robin from a cursor, so an id just freed
 * is not reused at once (a late duplicate ack cannot complete the wrong
 * operation), and an id in flight is never handed out: when all 65,535 are
 * taken, `acquire` returns 0 and the caller waits.
 *
 * Incoming QoS 2 ids (PUBREC sent, PUBREL not yet received) are a bitmap.
 */

export const MAX_PACKET_ID = 0xffff;

export class PacketIds<T> {
  private readonly slots: (T | undefined)[] = new Array(MAX_PACKET_ID + 1).fill(undefined);
  private cursor = 0;
  private used = 0;

  /** Number of ids in flight. */
  get size(): number {
    return this.used;
  }

  /** Takes a free id for `op`; 0 when all are in flight. */
  acquire(op: T): number {
    if (this.used === MAX_PACKET_ID) return 0;
    const slots = this.slots;
    let id = this.cursor;
    do {
      id = id === MAX_PACKET_ID ? 1 : id + 1;
    } while (slots[id] !== undefined);
    slots[id] = op;
    this.cursor = id;
    this.used++;
    return id;
  }

  /** Puts `op` under a known id (restoring state); false if the id is taken. */
  set(id: number, op: T): boolean {
    if (this.slots[id] !== undefined) return false;
    this.slots[id] = op;
    this.used++;
    return true;
  }

  get(id: number): T | undefined {
    return this.slots[id];
  }

  /** Frees `id` and returns what was under it. */
  release(id: number): T | undefined {
    const op = this.slots[id];
    if (op !== undefined) {
      this.slots[id] = undefined;
      this.used--;
    }
    return op;
  }

  /** Every operation in flight, in packet id order starting after the cursor (oldest first). */
  values(): T[] {
    const out: T[] = [];
    if (this.used === 0) return out;
    let id = this.cursor;
    for (let n = 0; n < MAX_PACKET_ID; n++) {
      id = id === MAX_PACKET_ID ? 1 : id + 1;
      const op = this.slots[id];
      if (op !== undefined) out.push(op);
    }
    return out;
  }

  clear(): void {
    if (this.used === 0) return;
    this.slots.fill(undefined);
    this.used = 0;
  }
}

/** A set of packet ids as a bitmap: incoming QoS 2 messages awaiting PUBREL. */
export class PacketIdSet {
  private readonly bits = new Uint32Array((MAX_PACKET_ID + 1) >>> 5);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return (this.bits[id >>> 5] & (1 << (id & 31))) !== 0;
  }

  add(id: number): void {
    const i = id >>> 5;
    const m = 1 << (id & 31);
    if ((this.bits[i] & m) === 0) {
      this.bits[i] |= m;
      this.count++;
    }
  }

  delete(id: number): boolean {
    const i = id >>> 5;
    const m = 1 << (id & 31);
    if ((this.bits[i] & m) === 0) return false;
    this.bits[i] &= ~m;
    this.count--;
    return true;
  }

  values(): number[] {
    const out: number[] = [];
    for (let id = 1; id <= MAX_PACKET_ID && out.length < this.count; id++) if (this.has(id)) out.push(id);
    return out;
  }

  clear(): void {
    this.bits.fill(0);
    this.count = 0;
  }
}
