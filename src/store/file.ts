/**
 * `FileStore`: session state in append-only log files, one per client id,
 * that survive a crash of the process (and, with fsync, of the machine).
 *
 * File names: `<prefix>-<sha256>.log` in `dir`, where the hash is over the
 * client id (UTF-16, so every JS string has its own file) and the prefix is
 * the id's first characters with anything outside `[A-Za-z0-9_-]` replaced
 * by `_` (only there for people listing the directory).
 *
 * Log format: a sequence of records, big-endian,
 *
 *   length u32 | crc32 u32 | type u8 | payload (length - 1 bytes)
 *
 * where `length` counts the type byte and the payload, and the CRC-32 covers
 * the same bytes. Types:
 *
 *   1 header          'MQKS' | version u8 (1) | client id (UTF-8)   always first
 *   2 put message     `encodeMessage(m)` from record.ts
 *   3 delete message  seq f64
 *   4 add QoS 2       packet id u16
 *   5 delete QoS 2    packet id u16
 *   6 put sub         `encodeSubscription(s)` (UTF-8 JSON)
 *   7 delete sub      topic filter (UTF-8)
 *   8 clear           empty: forget everything before it
 *
 * Every record is a last-writer-wins change to one key (or to everything),
 * so replaying a record twice changes nothing: compaction relies on it.
 *
 * Reading stops at the first record that is torn (its length runs past the
 * end of the file), corrupt (CRC mismatch) or undecodable; the file is
 * truncated there so later appends are not hidden behind the garbage.
 *
 * Writes: mutations are synchronous; they encode a record into a per-client
 * buffer list and update an in-memory mirror. `flush()` writes each client's
 * buffers with one `write` and, unless `fsync` is 'never', `fdatasync`s.
 * At most one write+fsync is in flight per file; in 'batch' (the default)
 * and 'never' modes every flush that arrives meanwhile shares the next one
 * (group commit). In 'always' mode every `flush()` call gets its own
 * write+fsync round per file it involves.
 *
 * Compaction: after a round, when a log is over `compactAt` bytes and more
 * than twice what its live state needs, the live state is written to
 * `<log>.tmp`, fsynced, renamed over the log and the directory fsynced.
 *
 * One `FileStore` per directory at a time: the files are not locked.
 * Each client with something written keeps one file handle open until
 * `clear()` or `close()`.
 */

import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, readFile, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { InvalidArgumentError, StoreError } from '../errors.js';
import { decodeMessage, decodeSubscription, encodeMessage, encodeSubscription } from './record.js';
import type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * 'batch' (default): `flush()` fdatasyncs, and flushes that arrive while
   * one is in flight share the next write+fsync. 'always': every `flush()`
   * call does its own write+fsync. 'never': `flush()` writes to the OS but
   * never fsyncs (survives a crash of the process, not of the machine).
   */
  fsync?: 'always' | 'batch' | 'never';
  /** Bytes of log before compaction is considered; default 4 MiB. */
  compactAt?: number;
  /**
   * For tests and instrumentation: called after every successful fsync,
   * with what was synced: a log file, a compacted log before its rename, or
   * the directory.
   */
  onSync?: (kind: 'log' | 'compact' | 'dir', path: string) => void;
}

/** A failure of the file system, naming the file; `cause` is the fs error. */
export class FileStoreError extends StoreError {
  /** The fs error code ('ENOSPC', 'EACCES', ...), when there is one. */
  readonly errno: string | undefined;
  constructor(
    action: string,
    /** The file or directory the operation failed on. */
    readonly path: string,
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`FileStore: cannot ${action} ${path}: ${detail}`, { cause });
    this.errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

// --- records ---------------------------------------------------------------

const HEADER = 1;
const PUT_MESSAGE = 2;
const DELETE_MESSAGE = 3;
const ADD_QOS2 = 4;
const DELETE_QOS2 = 5;
const PUT_SUBSCRIPTION = 6;
const DELETE_SUBSCRIPTION = 7;
const CLEAR = 8;

const MAGIC = Buffer.from('MQKS', 'latin1');
const VERSION = 1;
/** length + crc + type */
const RECORD_OVERHEAD = 9;
const QOS2_RECORD_BYTES = RECORD_OVERHEAD + 2;

const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib) for Node versions without `zlib.crc32`. */
function tableCrc32(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function record(type: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(RECORD_OVERHEAD + payload.length);
  b.writeUInt32BE(1 + payload.length, 0);
  b[8] = type;
  b.set(payload, RECORD_OVERHEAD);
  b.writeUInt32BE(crc32(b.subarray(8)), 4);
  return b;
}

function headerRecord(clientId: string): Buffer {
  return record(HEADER, Buffer.concat([MAGIC, Buffer.of(VERSION), Buffer.from(clientId, 'utf8')]));
}

function f64Record(type: number, value: number): Buffer {
  const p = Buffer.allocUnsafe(8);
  p.writeDoubleBE(value, 0);
  return record(type, p);
}

function u16Record(type: number, value: number): Buffer {
  const p = Buffer.allocUnsafe(2);
  p.writeUInt16BE(value, 0);
  return record(type, p);
}

/**
 * Calls `visit` for each whole, CRC-valid record of `buf` from `offset`,
 * stopping at the first that is not or that `visit` throws on. Returns the
 * offset just past the last record accepted.
 */
function scan(
  buf: Buffer,
  offset: number,
  visit: (type: number, payload: Buffer, bytes: number) => void,
): number {
  while (buf.length - offset >= RECORD_OVERHEAD) {
    const length = buf.readUInt32BE(offset);
    if (length < 1 || length > buf.length - offset - 8) break;
    const body = buf.subarray(offset + 8, offset + 8 + length);
    if (crc32(body) !== buf.readUInt32BE(offset + 4)) break;
    try {
      visit(body[0], body.subarray(1), 8 + length);
    } catch {
      break;
    }
    offset += 8 + length;
  }
  return offset;
}

// --- state -------------------------------------------------------------------

/** One client's live state, with the bytes each entry takes in a compacted log. */
class Mirror {
  readonly messages = new Map<number, { message: StoredMessage; bytes: number }>();
  readonly incoming = new Set<number>();
  readonly subscriptions = new Map<string, { subscription: StoredSubscription; bytes: number }>();
  /** Bytes of the records a compacted log needs, without its header. */
  bytes = 0;

  putMessage(message: StoredMessage, bytes: number): void {
    const old = this.messages.get(message.seq);
    if (old !== undefined) this.bytes -= old.bytes;
    this.messages.set(message.seq, { message, bytes });
    this.bytes += bytes;
  }

  deleteMessage(seq: number): void {
    const old = this.messages.get(seq);
    if (old === undefined) return;
    this.bytes -= old.bytes;
    this.messages.delete(seq);
  }

  addIncoming(packetId: number): void {
    if (this.incoming.has(packetId)) return;
    this.incoming.add(packetId);
    this.bytes += QOS2_RECORD_BYTES;
  }

  deleteIncoming(packetId: number): void {
    if (this.incoming.delete(packetId)) this.bytes -= QOS2_RECORD_BYTES;
  }

  putSubscription(subscription: StoredSubscription, bytes: number): void {
    const old = this.subscriptions.get(subscription.topicFilter);
    if (old !== undefined) this.bytes -= old.bytes;
    this.subscriptions.set(subscription.topicFilter, { subscription, bytes });
    this.bytes += bytes;
  }

  deleteSubscription(topicFilter: string): void {
    const old = this.subscriptions.get(topicFilter);
    if (old === undefined) return;
    this.bytes -= old.bytes;
    this.subscriptions.delete(topicFilter);
  }

  clear(): void {
    this.messages.clear();
    this.incoming.clear();
    this.subscriptions.clear();
    this.bytes = 0;
  }

  /** Replays one (non-header) record; throws on one it cannot decode. */
  apply(type: number, payload: Buffer, bytes: number): void {
    switch (type) {
      case PUT_MESSAGE:
        this.putMessage(decodeMessage(payload), bytes);
        return;
      case DELETE_MESSAGE:
        if (payload.length !== 8) throw new Error('bad delete message record');
        this.deleteMessage(payload.readDoubleBE(0));
        return;
      case ADD_QOS2:
        if (payload.length !== 2) throw new Error('bad QoS 2 record');
        this.addIncoming(payload.readUInt16BE(0));
        return;
      case DELETE_QOS2:
        if (payload.length !== 2) throw new Error('bad QoS 2 record');
        this.deleteIncoming(payload.readUInt16BE(0));
        return;
      case PUT_SUBSCRIPTION:
        this.putSubscription(decodeSubscription(payload.toString('utf8')), bytes);
        return;
      case DELETE_SUBSCRIPTION:
        this.deleteSubscription(payload.toString('utf8'));
        return;
      case CLEAR:
        this.clear();
        return;
      default:
        throw new Error(`unknown record type ${type}`);
    }
  }
}

interface Round {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Round {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Client {
  readonly id: string;
  readonly file: string;
  readonly header: Buffer;
  /** The mirror holds the file's state plus every mutation since (the file has been read). */
  ready: boolean;
  mirror: Mirror;
  /** Records not written yet, in order. */
  pending: Buffer[];
  pendingBytes: number;
  /** Bytes of the log known to hold whole records. */
  size: number;
  /** A failed write may have left bytes past `size`: truncate before the next write. */
  broken: boolean;
  fh: FileHandle | undefined;
  /** Every file operation for this client runs in this chain, one at a time. */
  tail: Promise<void>;
  /** Rounds queued or running. */
  rounds: number;
  /** 'batch'/'never': the queued round that flushes arriving now join. */
  next: Round | undefined;
  /** 'batch'/'never': the round writing now. */
  current: Round | undefined;
  /** Replaced by `clear()`: nothing more is written for it. */
  dead: boolean;
  /** After a failed compaction, the log size before another is tried. */
  compactRetryAt: number;
}

const noop = (): void => {};

function fileName(clientId: string): string {
  const hash = createHash('sha256').update(clientId, 'utf16le').digest('hex');
  const prefix = clientId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `${prefix}-${hash}.log`;
}

/**
 * A {@link SessionStore} in append-only log files, one per client id in
 * `dir` (made when needed), that survive a crash of the process and, with
 * `fsync`, of the machine. `flush()` writes each client's changes with one
 * `write` and (unless `fsync` is `'never'`) `fdatasync`s; flushes that
 * arrive while one is in flight share the next round. A log is compacted
 * when it grows past `compactAt` and more than twice its live state. A torn
 * or corrupt tail (a crash in the middle of a write) is cut off on load.
 *
 * One `FileStore` per directory at a time: the files are not locked. Each
 * client with something written keeps one file handle open until `clear()`
 * or `close()`. Failures of the file system reject with {@link FileStoreError}.
 *
 * @throws InvalidArgumentError from the constructor when `fsync` or `compactAt` is not valid.
 */
export class FileStore implements SessionStore {
  readonly durable = true;
  private readonly fsync: 'always' | 'batch' | 'never';
  private readonly compactAt: number;
  private readonly onSync: FileStoreOptions['onSync'];
  private readonly clients = new Map<string, Client>();
  /** Clients with pending records or rounds under way. */
  private readonly active = new Set<Client>();
  private dirMade: Promise<void> | undefined;
  private closed = false;

  constructor(
    /** The directory holding the log files. */
    readonly dir: string,
    options: FileStoreOptions = {},
  ) {
    const fsync = options.fsync ?? 'batch';
    if (fsync !== 'always' && fsync !== 'batch' && fsync !== 'never')
      throw new InvalidArgumentError('fsync', `must be 'always', 'batch' or 'never', not ${String(fsync)}`);
    const compactAt = options.compactAt ?? 4 * 1024 * 1024;
    if (!(compactAt > 0)) throw new InvalidArgumentError('compactAt', 'must be a positive number of bytes');
    this.fsync = fsync;
    this.compactAt = compactAt;
    this.onSync = options.onSync;
  }

  /** The log file of `clientId` (which may not exist yet). */
  pathOf(clientId: string): string {
    return join(this.dir, fileName(clientId));
  }

  // --- SessionStore ----------------------------------------------------------

  async load(clientId: string): Promise<PersistedSession> {
    this.assertOpen();
    const c = this.client(clientId);
    if (!c.ready) await this.enqueue(c, () => this.prepare(c));
    const m = c.mirror;
    return {
      messages: [...m.messages.values()].map((e) => e.message).sort((a, b) => a.seq - b.seq),
      incomingQoS2: [...m.incoming],
      subscriptions: [...m.subscriptions.values()].map((e) => e.subscription),
    };
  }

  putMessage(clientId: string, message: StoredMessage): void {
    this.assertOpen();
    const r = record(PUT_MESSAGE, encodeMessage(message));
    const c = this.append(clientId, r);
    if (c.ready) c.mirror.putMessage(message, r.length);
  }

  deleteMessage(clientId: string, seq: number): void {
    this.assertOpen();
    const c = this.append(clientId, f64Record(DELETE_MESSAGE, seq));
    if (c.ready) c.mirror.deleteMessage(seq);
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    this.assertOpen();
    const c = this.append(clientId, u16Record(ADD_QOS2, packetId));
    if (c.ready) c.mirror.addIncoming(packetId);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.assertOpen();
    const c = this.append(clientId, u16Record(DELETE_QOS2, packetId));
    if (c.ready) c.mirror.deleteIncoming(packetId);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.assertOpen();
    const r = record(PUT_SUBSCRIPTION, Buffer.from(encodeSubscription(subscription), 'utf8'));
    const c = this.append(clientId, r);
    if (c.ready) c.mirror.putSubscription(subscription, r.length);
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.assertOpen();
    const c = this.append(clientId, record(DELETE_SUBSCRIPTION, Buffer.from(topicFilter, 'utf8')));
    if (c.ready) c.mirror.deleteSubscription(topicFilter);
  }

  flush(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const c of this.active) {
      const p = this.flushClient(c);
      if (p !== undefined) waits.push(p);
      else if (c.rounds === 0 && (c.pendingBytes === 0 || c.dead)) this.active.delete(c);
    }
    if (waits.length === 0) return Promise.resolve();
    return Promise.allSettled(waits).then((results) => {
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    });
  }

  async clear(clientId: string): Promise<void> {
    this.assertOpen();
    const old = this.clients.get(clientId);
    const c = this.newClient(clientId);
    c.ready = true; // nothing is left once the file is gone
    this.clients.set(clientId, c);
    const before = old?.tail ?? Promise.resolve();
    if (old !== undefined) {
      old.dead = true;
      old.pending = [];
      old.pendingBytes = 0;
    }
    const removal = before.then(async () => {
      const fh = old?.fh;
      if (old !== undefined) old.fh = undefined;
      await fh?.close().catch(noop);
      try {
        await rm(c.file, { force: true });
        await rm(`${c.file}.tmp`, { force: true });
      } catch (err) {
        throw new FileStoreError('remove', c.file, err);
      }
      await this.syncDir();
    });
    // if the file could not be removed, empty it before the next write
    c.tail = removal.then(noop, () => {
      c.broken = true;
    });
    if (old !== undefined) old.tail = c.tail;
    await removal;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let error: unknown;
    try {
      await this.flush();
    } catch (err) {
      error = err;
    }
    const clients = [...this.clients.values()];
    await Promise.all(clients.map((c) => c.tail));
    await Promise.all(
      clients.map(async (c) => {
        const fh = c.fh;
        c.fh = undefined;
        await fh?.close().catch(noop);
      }),
    );
    this.clients.clear();
    this.active.clear();
    if (error !== undefined) throw error;
  }

  // --- internals -------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error('FileStore is closed');
  }

  private newClient(id: string): Client {
    return {
      id,
      file: this.pathOf(id),
      header: headerRecord(id),
      ready: false,
      mirror: new Mirror(),
      pending: [],
      pendingBytes: 0,
      size: 0,
      broken: false,
      fh: undefined,
      tail: Promise.resolve(),
      rounds: 0,
      next: undefined,
      current: undefined,
      dead: false,
      compactRetryAt: 0,
    };
  }

  private client(clientId: string): Client {
    let c = this.clients.get(clientId);
    if (c === undefined) {
      c = this.newClient(clientId);
      this.clients.set(clientId, c);
    }
    return c;
  }

  private append(clientId: string, r: Buffer): Client {
    const c = this.client(clientId);
    c.pending.push(r);
    c.pendingBytes += r.length;
    this.active.add(c);
    return c;
  }

  private enqueue<T>(c: Client, fn: () => Promise<T>): Promise<T> {
    const p = c.tail.then(fn);
    c.tail = p.then(noop, noop);
    return p;
  }

  /** The promise a flush must wait on for `c`, starting or joining a round; undefined when nothing is owed. */
  private flushClient(c: Client): Promise<void> | undefined {
    if (c.dead) return undefined;
    if (this.fsync === 'always') {
      if (c.pendingBytes === 0 && c.rounds === 0) return undefined;
      return this.startRound(c).promise;
    }
    if (c.next !== undefined) return c.next.promise;
    // everything this caller changed is in the round under way, or already written
    if (c.pendingBytes === 0) return c.current?.promise;
    const round = this.startRound(c);
    c.next = round;
    return round.promise;
  }

  private startRound(c: Client): Round {
    const round = deferred();
    c.rounds++;
    this.active.add(c);
    const run = async (): Promise<void> => {
      if (c.next === round) c.next = undefined;
      c.current = round;
      try {
        await this.writeRound(c);
        round.resolve();
      } catch (err) {
        round.reject(err);
      } finally {
        c.current = undefined;
        c.rounds--;
      }
      if (!c.dead) await this.maybeCompact(c);
      if (c.rounds === 0 && (c.pendingBytes === 0 || c.dead)) this.active.delete(c);
    };
    c.tail = c.tail.then(run);
    return round;
  }

  /** Reads the log into the mirror (once), truncating a torn or corrupt tail. */
  private async prepare(c: Client): Promise<void> {
    if (c.ready) return;
    let data: Buffer;
    try {
      data = await readFile(c.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FileStoreError('read', c.file, err);
      data = Buffer.alloc(0);
    }
    const mirror = new Mirror();
    let owner: Buffer | undefined;
    let version = VERSION;
    let end = scan(data, 0, (type, payload) => {
      if (type !== HEADER || payload.length < 5 || !payload.subarray(0, 4).equals(MAGIC))
        throw new Error('no header');
      version = payload[4];
      owner = payload.subarray(5);
    });
    // a whole header of another format version: leave the file alone
    if (version !== VERSION)
      throw new FileStoreError('read', c.file, new Error(`unsupported log version ${version}`));
    if (owner !== undefined) {
      if (!owner.equals(Buffer.from(c.id, 'utf8')))
        throw new FileStoreError(
          'use',
          c.file,
          new Error(`it holds client id ${JSON.stringify(owner.toString())}`),
        );
      end = scan(data, end, (type, payload, bytes) => mirror.apply(type, payload, bytes));
    }
    if (end < data.length) {
      try {
        await truncate(c.file, end);
      } catch (err) {
        throw new FileStoreError('truncate', c.file, err);
      }
    }
    // what was changed while the file was read
    for (const r of c.pending) scan(r, 0, (type, payload, bytes) => mirror.apply(type, payload, bytes));
    c.mirror = mirror;
    c.size = end;
    c.ready = true;
  }

  private async writeRound(c: Client): Promise<void> {
    if (c.dead) return;
    await this.prepare(c);
    const chunks = c.pending;
    const bytes = c.pendingBytes;
    if (bytes === 0) {
      // 'always': a round of its own even when an earlier one took the records
      if (c.fh !== undefined && this.fsync !== 'never' && !c.broken) {
        try {
          await c.fh.datasync();
        } catch (err) {
          throw new FileStoreError('fsync', c.file, err);
        }
        this.onSync?.('log', c.file);
      }
      return;
    }
    c.pending = [];
    c.pendingBytes = 0;
    const created = c.size === 0;
    const parts = created ? [c.header, ...chunks] : chunks;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    let action = 'open';
    try {
      if (c.fh === undefined) {
        await this.makeDir();
        c.fh = await open(c.file, 'a');
      }
      const fh = c.fh;
      if (c.broken) {
        action = 'truncate';
        await fh.truncate(c.size);
        c.broken = false;
      }
      action = 'write';
      c.broken = true; // until the write is whole
      for (let off = 0; off < buf.length; ) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        if (bytesWritten <= 0) throw new Error('nothing written');
        off += bytesWritten;
      }
      if (this.fsync !== 'never') {
        action = 'fsync';
        await fh.datasync();
        this.onSync?.('log', c.file);
        if (created) {
          action = 'fsync the directory of';
          await this.syncDir();
        }
      }
      c.broken = false;
      c.size += buf.length;
    } catch (err) {
      // keep the records for the next flush; it cuts the file back to `size` first
      c.pending = chunks.concat(c.pending);
      c.pendingBytes += bytes;
      const fh = c.fh;
      c.fh = undefined;
      await fh?.close().catch(noop);
      throw err instanceof FileStoreError ? err : new FileStoreError(action, c.file, err);
    }
  }

  private async maybeCompact(c: Client): Promise<void> {
    const live = c.header.length + c.mirror.bytes;
    if (!c.ready || c.broken || c.size <= this.compactAt || c.size <= 2 * live || c.size < c.compactRetryAt)
      return;
    const tmp = `${c.file}.tmp`;
    try {
      const snapshot = this.snapshot(c);
      await this.makeDir();
      const fh = await open(tmp, 'w');
      try {
        for (let off = 0; off < snapshot.length; ) {
          const { bytesWritten } = await fh.write(snapshot, off, snapshot.length - off);
          if (bytesWritten <= 0) throw new Error('nothing written');
          off += bytesWritten;
        }
        if (this.fsync !== 'never') {
          await fh.datasync();
          this.onSync?.('compact', tmp);
        }
      } finally {
        await fh.close();
      }
      await rename(tmp, c.file);
      const old = c.fh;
      c.fh = undefined;
      c.size = snapshot.length;
      await old?.close().catch(noop);
    } catch {
      // the log is still whole; try again once it has grown some more
      c.compactRetryAt = c.size + this.compactAt;
      await rm(tmp, { force: true }).catch(noop);
      return;
    }
    await this.syncDir().catch(noop);
  }

  /** The live state of `c` as a log. */
  private snapshot(c: Client): Buffer {
    const parts: Buffer[] = [c.header];
    const m = c.mirror;
    const messages = [...m.messages.values()].map((e) => e.message).sort((a, b) => a.seq - b.seq);
    for (const message of messages) parts.push(record(PUT_MESSAGE, encodeMessage(message)));
    for (const id of m.incoming) parts.push(u16Record(ADD_QOS2, id));
    for (const { subscription } of m.subscriptions.values())
      parts.push(record(PUT_SUBSCRIPTION, Buffer.from(encodeSubscription(subscription), 'utf8')));
    return Buffer.concat(parts);
  }

  private makeDir(): Promise<void> {
    this.dirMade ??= mkdir(this.dir, { recursive: true }).then(
      () => undefined,
      (err) => {
        this.dirMade = undefined;
        throw new FileStoreError('create the directory', this.dir, err);
      },
    );
    return this.dirMade;
  }

  /** Makes a file's creation, removal or rename durable. */
  private async syncDir(): Promise<void> {
    if (this.fsync === 'never') return;
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.dir, 'r');
      await fh.sync();
      this.onSync?.('dir', this.dir);
    } catch (err) {
      // Windows cannot open or sync a directory; there is nothing more to do there
      if (process.platform !== 'win32') throw new FileStoreError('fsync the directory', this.dir, err);
    } finally {
      await fh?.close().catch(noop);
    }
  }
}
