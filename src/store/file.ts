/**
 * `FileStore`: session state in append-only log files, one per client id,
 * that survive a crash of the process (and, with fsync, of the machine).
 *
 * File names: `<prefix>-<sha256>.log` in `dir`, where the hash is over the
 * client id (UTF-16, so every JS string has its own file) and the prefix is
 * the id's first characters with anything outside `[A-Za-z0-9_-]` replaced
 * by `_` (only there for people listing the directory).
 *
 * The log format, and how a log with damage in it is read, are in
 * `file-log.ts` (pure); what is then done to the file (cut a torn tail;
 * save a damaged log aside and rewrite it) is in `file-dir.ts`. A log is
 * read once per client, the first time it is loaded or written.
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
 * than twice what its live state needs, the live state (the mirror, not the
 * file's bytes: damage that appeared in the file since it was read is not
 * carried over) is written to `<log>.tmp`, fsynced, renamed over the log and
 * the directory fsynced. The log is the old file or the new one, whole,
 * whatever the moment of a crash. A log holding damage that could not be
 * saved aside is not compacted: its bytes are the only copy.
 */

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FileHandle, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Deferred, deferred } from '../core/deferred.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { FileStoreError, LogDir } from './file-dir.js';
import {
  addQoS2Record,
  deleteMessageRecord,
  deleteQoS2Record,
  deleteSubscriptionRecord,
  headerRecord,
  type LogRange,
  type LogRead,
  LogRefusedError,
  Mirror,
  putMessageRecord,
  putSubscriptionRecord,
  readLog,
  snapshot,
} from './file-log.js';
import type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';

export { FileStoreError };

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
   * with what was synced: a log file, a compacted (or recovered) log before
   * its rename, a copy of a damaged log, or the directory.
   */
  onSync?: (kind: 'log' | 'compact' | 'damaged' | 'dir', path: string) => void;
}

/**
 * What the `'damage'` event of {@link FileStore} reports: a log read with
 * damage in it (once per log, when it is first loaded or written).
 * Offsets are into the log as it was, which `savedTo` keeps.
 */
export interface FileStoreDamage {
  /** The client id whose log it is. */
  clientId: string;
  /** The log file. */
  path: string;
  /**
   * The log as it was before recovery (`<path>.damaged-<time>`), when
   * something in the middle was skipped; undefined for a torn tail alone, or
   * when the copy could not be made (then the log keeps the damaged bytes
   * and the same damage is reported again at the next load).
   */
  savedTo: string | undefined;
  /**
   * Damaged runs skipped in the middle of the log. One changed byte makes
   * one run: the record that holds it. Whatever those records changed is
   * undone: a put is lost (the message or subscription keeps its previous
   * version, or is absent), a delete is not done (the message is back and
   * will be sent again).
   */
  skipped: LogRange[];
  /** The damaged end of the log (a write cut short by a crash), cut off; undefined when there was none. */
  torn: LogRange | undefined;
  /**
   * The log did not start with a valid header. Its records are read all the
   * same: the file's name is the hash of the client id.
   */
  headerDamaged: boolean;
}

/** Counts of {@link FileStore.stats}, since the store was made. */
export interface FileStoreStats {
  /** Damaged runs skipped in the middle of logs (the header included). */
  skippedRegions: number;
  /** Bytes in those runs. */
  skippedBytes: number;
  /** Torn tails cut off the end of logs. */
  tornTails: number;
  /** Bytes in those tails. */
  tornBytes: number;
  /** Logs kept aside as `<log>.damaged-<time>`. */
  savedFiles: number;
}

/** The events of {@link FileStore}, with the arguments their listeners get. */
export interface FileStoreEvents {
  /** A log was read with damage in it; see {@link FileStoreDamage}. */
  damage: [damage: FileStoreDamage];
}

/** One write+fsync of a client's log; the flushes that share it wait on its promise. */
type Round = Deferred<void>;

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
  /** The log holds damaged bytes not saved elsewhere: it is not compacted. */
  keepsDamage: boolean;
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
 * when it grows past `compactAt` and more than twice its live state.
 *
 * Damage: every record carries a sync marker, its length and a CRC-32, so
 * a log with damaged bytes is read past them. A torn tail (a crash in the
 * middle of a write) is cut off. Damage in the middle or in the header is
 * skipped: every intact record is kept, the log is saved aside as
 * `<log>.damaged-<time>` and rewritten without the damage. Either is
 * reported once, by the `'damage'` event ({@link FileStoreDamage}) and in
 * {@link FileStore.stats}; a listener that throws cannot fail the load (its
 * error is rethrown on the next tick). A skipped record's change is undone:
 * a skipped delete brings its message back (sent again, so a QoS 2 message
 * may then arrive twice). Logs of format version 1 are read and rewritten
 * in version 2. `clear()` leaves the `.damaged-*` files: remove them
 * yourself.
 *
 * Several stores, in one process or several, may share a directory, as
 * long as each client id is used by one of them at a time and the one that
 * stops using it calls {@link FileStore.release} before another loads it
 * (the workers of a fleet do): a store keeps what it read of a log, and
 * its size, and would otherwise write on from a stale picture. The files
 * are not locked: two stores writing one client id's log at once damage it.
 * Each client with something written keeps one file handle open until
 * `release()`, `clear()` or `close()`. Failures of the file system reject
 * with {@link FileStoreError}.
 *
 * @throws InvalidArgumentError from the constructor when `fsync` or `compactAt` is not valid.
 */
export class FileStore extends EventEmitter<FileStoreEvents> implements SessionStore {
  readonly durable = true;
  private readonly fsync: 'always' | 'batch' | 'never';
  private readonly compactAt: number;
  private readonly onSync: FileStoreOptions['onSync'];
  private readonly clients = new Map<string, Client>();
  /** Clients with pending records or rounds under way. */
  private readonly active = new Set<Client>();
  private readonly counts: FileStoreStats = {
    skippedRegions: 0,
    skippedBytes: 0,
    tornTails: 0,
    tornBytes: 0,
    savedFiles: 0,
  };
  private readonly files: LogDir;
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
    super();
    this.fsync = fsync;
    this.compactAt = compactAt;
    this.onSync = options.onSync;
    this.files = new LogDir(dir, fsync, options.onSync);
  }

  /** What recovery has skipped and cut since this store was made (see the `'damage'` event). */
  stats(): FileStoreStats {
    return { ...this.counts };
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
    return c.mirror.session();
  }

  putMessage(clientId: string, message: StoredMessage): void {
    this.assertOpen();
    const r = putMessageRecord(message);
    const c = this.append(clientId, r);
    if (c.ready) c.mirror.putMessage(message, r.length);
  }

  deleteMessage(clientId: string, seq: number): void {
    this.assertOpen();
    const c = this.append(clientId, deleteMessageRecord(seq));
    if (c.ready) c.mirror.deleteMessage(seq);
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    this.assertOpen();
    const c = this.append(clientId, addQoS2Record(packetId));
    if (c.ready) c.mirror.addIncoming(packetId);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.assertOpen();
    const c = this.append(clientId, deleteQoS2Record(packetId));
    if (c.ready) c.mirror.deleteIncoming(packetId);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.assertOpen();
    const r = putSubscriptionRecord(subscription);
    const c = this.append(clientId, r);
    if (c.ready) c.mirror.putSubscription(subscription, r.length);
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.assertOpen();
    const c = this.append(clientId, deleteSubscriptionRecord(topicFilter));
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
      await this.files.sync();
    });
    // if the file could not be removed, empty it before the next write
    c.tail = removal.then(noop, () => {
      c.broken = true;
    });
    if (old !== undefined) old.tail = c.tail;
    await removal;
  }

  /**
   * Lets go of `clientId`: writes what is pending for it, closes its file
   * and forgets what was read, so that another store (another process) may
   * take the client id over, and this one reads the log again if the client
   * id comes back. Call it once the session using the client id is closed.
   * Rejects with the write's error; the client id is let go of all the same
   * (what was not written is lost: nothing the broker saw, as a session
   * flushes before it sends).
   */
  async release(clientId: string): Promise<void> {
    this.assertOpen();
    const c = this.clients.get(clientId);
    if (c === undefined) return;
    try {
      // a change made while a round is under way is written by the next one
      while (!c.dead && (c.pendingBytes > 0 || c.rounds > 0)) {
        await this.flushClient(c);
        await c.tail;
      }
    } finally {
      await c.tail;
      if (this.clients.get(clientId) === c) {
        this.clients.delete(clientId);
        this.active.delete(c);
        c.dead = true;
        c.pending = [];
        c.pendingBytes = 0;
        const fh = c.fh;
        c.fh = undefined;
        await fh?.close().catch(noop);
      }
    }
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
    if (this.closed) throw new ClosedError('FileStore is closed');
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
      keepsDamage: false,
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
    const round = deferred<void>();
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

  /** Reads the log into the mirror (once), recovering from damage (see the module comment). */
  private async prepare(c: Client): Promise<void> {
    if (c.ready) return;
    let data: Buffer;
    try {
      data = await readFile(c.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FileStoreError('read', c.file, err);
      data = Buffer.alloc(0);
    }
    let read: LogRead;
    try {
      read = readLog(data, c.id);
    } catch (err) {
      // a whole header of another client or format version: leave the file alone
      if (err instanceof LogRefusedError) throw new FileStoreError(err.action, c.file, err);
      throw err;
    }
    const mirror = read.mirror;
    const { size, savedTo, keepsDamage } = await this.files.recover(c.file, read, c.header);
    c.keepsDamage = keepsDamage;
    // what was changed while the file was read
    for (const r of c.pending) mirror.replay(r);
    c.mirror = mirror;
    c.size = size;
    c.ready = true;
    if (read.skipped.length > 0 || read.torn !== undefined || read.headerDamaged)
      this.report(c, read, savedTo);
  }

  /** Counts and emits what `prepare` found. */
  private report(c: Client, read: LogRead, savedTo: string | undefined): void {
    const n = this.counts;
    for (const r of read.skipped) {
      n.skippedRegions++;
      n.skippedBytes += r.bytes;
    }
    if (read.torn !== undefined) {
      n.tornTails++;
      n.tornBytes += read.torn.bytes;
    }
    if (savedTo !== undefined) n.savedFiles++;
    const damage: FileStoreDamage = {
      clientId: c.id,
      path: c.file,
      savedTo,
      skipped: read.skipped,
      torn: read.torn,
      headerDamaged: read.headerDamaged,
    };
    try {
      this.emit('damage', damage);
    } catch (err) {
      // a listener's bug must not fail the load: it surfaces as an uncaught exception instead
      process.nextTick(() => {
        throw err;
      });
    }
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
        await this.files.make();
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
          await this.files.sync();
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
    if (!c.ready || c.broken || c.keepsDamage) return;
    if (c.size <= this.compactAt || c.size <= 2 * live || c.size < c.compactRetryAt) return;
    try {
      const log = snapshot(c.header, c.mirror);
      await this.files.replace(c.file, log);
      const old = c.fh;
      c.fh = undefined;
      c.size = log.length;
      await old?.close().catch(noop);
    } catch {
      // the log is still whole; try again once it has grown some more
      c.compactRetryAt = c.size + this.compactAt;
      return;
    }
    await this.files.sync().catch(noop);
  }
}
