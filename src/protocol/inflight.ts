/**
 * Packet identifiers and what is in flight under them.
 *
 * One table indexed by packet id (1..65,535) holds the operation waiting for
 * an acknowledgement under that id: a QoS 1/2 PUBLISH, a SUBSCRIBE or an
 * UNSUBSCRIBE. Ids are taken round-robin from a cursor, so an id just freed
 * is not reused at once (a late duplicate ack cannot complete the wrong
 * operation), and an id in flight is never handed out: when all 65,535 are
 * taken, `acquire` returns 0 and the caller waits. The table starts small
 * and grows with the largest number in flight: thousands of idle sessions
 * must not each hold 65,536 slots.
 *
 * Incoming QoS 2 ids (PUBREC sent, PUBREL not yet received) are a bitmap.
 */

export const MAX_PACKET_ID = 0xffff;

/** Slots of a new table: an idle session holds a few hundred bytes, not 512 KiB. */
const INITIAL_SLOTS = 16;

export class PacketIds<T> {
  /**
   * Indexed by id. Ids cycle through 1..length-1 (the window), and the
   * table doubles whenever half of it is in flight, up to 65,536 slots: an
   * id just freed waits for at least half a window of other ids before it
   * is reused.
   */
  private slots: (T | undefined)[] = new Array(INITIAL_SLOTS).fill(undefined);
  private cursor = 0;
  private used = 0;

  /** Number of ids in flight. */
  get size(): number {
    return this.used;
  }

  /** Takes a free id for `op`; 0 when all are in flight. */
  acquire(op: T): number {
    if (this.used === MAX_PACKET_ID) return 0;
    let slots = this.slots;
    if (this.used * 2 >= slots.length - 1 && slots.length <= MAX_PACKET_ID)
      slots = this.grow(slots.length * 2);
    const last = slots.length - 1;
    let id = this.cursor;
    do {
      id = id >= last ? 1 : id + 1;
    } while (slots[id] !== undefined);
    slots[id] = op;
    this.cursor = id;
    this.used++;
    return id;
  }

  /** Puts `op` under a known id (restoring state); false if the id is taken. */
  set(id: number, op: T): boolean {
    if (id >= this.slots.length) this.grow(id + 1);
    if (this.slots[id] !== undefined) return false;
    this.slots[id] = op;
    this.used++;
    return true;
  }

  get(id: number): T | undefined {
    return id < this.slots.length ? this.slots[id] : undefined;
  }

  /** Frees `id` and returns what was under it. */
  release(id: number): T | undefined {
    if (id >= this.slots.length) return undefined;
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
    const slots = this.slots;
    const last = slots.length - 1;
    let id = this.cursor;
    for (let n = 0; n < last; n++) {
      id = id >= last ? 1 : id + 1;
      const op = slots[id];
      if (op !== undefined) out.push(op);
    }
    return out;
  }

  clear(): void {
    if (this.used === 0) return;
    this.slots.fill(undefined);
    this.used = 0;
  }

  /** Grows the table to at least `min` slots (a power of two, at most 65,536). */
  private grow(min: number): (T | undefined)[] {
    let n = this.slots.length;
    while (n < min) n *= 2;
    n = Math.min(n, MAX_PACKET_ID + 1);
    const next: (T | undefined)[] = new Array(n).fill(undefined);
    const old = this.slots;
    for (let i = 0; i < old.length; i++) next[i] = old[i];
    this.slots = next;
    return next;
  }
}

/** A set of packet ids as a bitmap: incoming QoS 2 messages awaiting PUBREL. */
export class PacketIdSet {
  /** 8 KiB, made by the first `add` (most sessions never receive QoS 2). */
  private bits: Uint32Array | undefined = undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return this.bits !== undefined && (this.bits[id >>> 5] & (1 << (id & 31))) !== 0;
  }

  add(id: number): void {
    this.bits ??= new Uint32Array((MAX_PACKET_ID + 1) >>> 5);
    const i = id >>> 5;
    const m = 1 << (id & 31);
    if ((this.bits[i] & m) === 0) {
      this.bits[i] |= m;
      this.count++;
    }
  }

  delete(id: number): boolean {
    const bits = this.bits;
    if (bits === undefined) return false;
    const i = id >>> 5;
    const m = 1 << (id & 31);
    if ((bits[i] & m) === 0) return false;
    bits[i] &= ~m;
    this.count--;
    return true;
  }

  values(): number[] {
    const out: number[] = [];
    for (let id = 1; id <= MAX_PACKET_ID && out.length < this.count; id++) if (this.has(id)) out.push(id);
    return out;
  }

  clear(): void {
    this.bits?.fill(0);
    this.count = 0;
  }
}
