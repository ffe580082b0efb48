/** The tables the options of `SessionManager` and its calls are checked against (see `core/schema.ts`). */
import { boolean, int, logger, MAX_MS, type Rule, signal, string, table, timeout } from '../core/schema.js';

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

const nonEmpty: Rule = (v) => string(v) ?? (v === '' ? 'must not be empty' : undefined);

/** The options of `serveDashboard()`. */
export const DASHBOARD_OPTIONS = table({
  port: int(0, 65535),
  host: nonEmpty,
  token: nonEmpty,
  title: string,
  publish: boolean,
  topics: boolean,
  explorer: nonEmpty,
  interval: int(10, MAX_MS),
});
