/** The tables the options of `SessionManager` and its calls are checked against (see `core/schema.ts`). */
import { int, logger, MAX_MS, signal, table, timeout } from '../core/schema.js';

/** `SessionManagerOptions`. */
export const MANAGER_OPTIONS = table({
  concurrency: int(1),
  metricsInterval: int(1, MAX_MS),
  logger,
});

/** The options of `connectAll()`. */
export const CONNECT_ALL_OPTIONS = table({ concurrency: int(1), signal });

/** The options of `waitReady()`. */
export const WAIT_READY_OPTIONS = table({ timeout, signal });

/** The options of `close()` and `remove()`. */
export const CLOSE_OPTIONS = table({ timeout });
