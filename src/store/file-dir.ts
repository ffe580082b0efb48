/**
 * The directory side of `FileStore`: making the directory, making changes
 * of its entries durable, replacing a log whole, keeping a damaged log
 * aside, and what is done to a log read with damage. The log files' own
 * writes are in `file.ts`.
 *
 * - `replace(log, data)`: `data` goes to `<log>.tmp`, is fsynced and renamed
 *   over the log, so the log is the old file or the new one, whole, whatever
 *   the moment of a crash. The caller syncs the directory after it.
 * - `saveAside(log)`: a hard link `<log>.damaged-<time>` (a copy where the
 *   file system has no links), made durable before the caller replaces the
 *   log. `<time>` is UTC, `YYYYMMDDTHHMMSSmmmZ`; `-1`, `-2`... follow when
 *   the name is taken.
 *
 * - `recover(log, read)`, after `readLog`: damage in the middle (or the
 *   header) is saved aside and the log replaced by what was read; a version
 *   1 log is replaced too; a torn tail alone is cut off (truncate). When the
 *   copy cannot be made the log is left as it is (appends after the damage
 *   are read as well) and must not be compacted, so the damaged bytes are
 *   never lost; a version 1 log then fails to load, as it cannot take
 *   version 2 appends.
 *
 * With `fsync: 'never'` nothing is fsynced.
 */
import { constants } from 'node:fs';
import { copyFile, type FileHandle, link, mkdir, open, rename, rm, truncate } from 'node:fs/promises';
import { StoreError } from '../core/errors.js';
import type { FileStoreOptions } from './file.js';
import { type LogRead, snapshot } from './file-log.js';

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

const noop = (): void => {};

/** What `LogDir.recover` did to a log. */
export interface Recovered {
  /** The log's length now. */
  size: number;
  /** Where the damaged log was kept, when it was. */
  savedTo: string | undefined;
  /** The log still holds damaged bytes kept nowhere else: do not compact it. */
  keepsDamage: boolean;
}

export class LogDir {
  private made: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly fsync: 'always' | 'batch' | 'never',
    private readonly onSync: FileStoreOptions['onSync'],
  ) {}

  /** Makes the directory (once, and again after a failure). */
  make(): Promise<void> {
    this.made ??= mkdir(this.dir, { recursive: true }).then(
      () => undefined,
      (err) => {
        this.made = undefined;
        throw new FileStoreError('create the directory', this.dir, err);
      },
    );
    return this.made;
  }

  /** Makes a file's creation, removal or rename durable. */
  async sync(): Promise<void> {
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

  /** Replaces `file` with `data` through `<file>.tmp`; on failure removes the temporary file and throws. */
  async replace(file: string, data: Buffer): Promise<void> {
    const tmp = `${file}.tmp`;
    try {
      await this.make();
      const fh = await open(tmp, 'w');
      try {
        for (let off = 0; off < data.length; ) {
          const { bytesWritten } = await fh.write(data, off, data.length - off);
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
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(noop);
      throw err instanceof FileStoreError ? err : new FileStoreError('rewrite', file, err);
    }
  }

  /** Keeps `file` as it is now under a new name, which it returns. */
  async saveAside(file: string): Promise<string> {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    for (let i = 0; i < 100; i++) {
      const aside = `${file}.damaged-${stamp}${i === 0 ? '' : `-${i}`}`;
      try {
        await link(file, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        // no hard links on this file system: a copy
        try {
          await copyFile(file, aside, constants.COPYFILE_EXCL);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw e;
        }
        if (this.fsync !== 'never') {
          const fh = await open(aside, 'r+');
          try {
            await fh.datasync();
          } finally {
            await fh.close();
          }
          this.onSync?.('damaged', aside);
        }
      }
      // the name must outlive the rename that replaces the log
      await this.sync();
      return aside;
    }
    throw new Error(`${file}.damaged-${stamp}: no free name`);
  }

  /** Puts right the log `file` that `readLog` read as `read`; `header` starts a log rewritten. */
  async recover(file: string, read: LogRead, header: Buffer): Promise<Recovered> {
    let size = read.end;
    let savedTo: string | undefined;
    if (read.skipped.length > 0) {
      try {
        savedTo = await this.saveAside(file);
      } catch (err) {
        if (read.version === 1) throw new FileStoreError('save a copy of', file, err);
      }
    }
    let rewritten = false;
    const missingHeader = read.headerDamaged && read.skipped.length === 0;
    if (read.version === 1 || savedTo !== undefined || missingHeader) {
      const log = snapshot(header, read.mirror);
      try {
        await this.replace(file, log);
        rewritten = true;
        size = log.length;
      } catch (err) {
        if (read.version === 1) throw err;
      }
      if (rewritten) await this.sync().catch(noop);
    }
    if (!rewritten && read.torn !== undefined) {
      try {
        await truncate(file, read.end);
      } catch (err) {
        throw new FileStoreError('truncate', file, err);
      }
    }
    return { size, savedTo, keepsDamage: !rewritten && read.skipped.length > 0 };
  }
}
