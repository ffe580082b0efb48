/**
 * The bytes a connection has to send this turn, as few chunks as possible.
 *
 * The encoder carves small packets out of a shared slab one after another,
 * so the packets of one turn usually sit back to back in memory: the outbox
 * keeps the current run as (buffer, start, end) and grows it in place
 * instead of keeping a view per packet. A turn of thousands of packets then
 * leaves as one or a few Buffers in one write, with no copy.
 */
export class Outbox {
  private chunks: Buffer[] = [];
  private run: ArrayBufferLike | undefined = undefined;
  private start = 0;
  private end = 0;

  get isEmpty(): boolean {
    return this.run === undefined && this.chunks.length === 0;
  }

  push(bytes: Uint8Array): void {
    if (bytes.buffer === this.run && bytes.byteOffset === this.end) {
      this.end += bytes.byteLength;
      return;
    }
    this.seal();
    this.run = bytes.buffer;
    this.start = bytes.byteOffset;
    this.end = bytes.byteOffset + bytes.byteLength;
  }

  /** Everything pushed since the last take, in order. */
  take(): Buffer[] {
    this.seal();
    const out = this.chunks;
    this.chunks = [];
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.run = undefined;
  }

  private seal(): void {
    if (this.run === undefined) return;
    this.chunks.push(Buffer.from(this.run, this.start, this.end - this.start));
    this.run = undefined;
  }
}
