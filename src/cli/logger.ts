/**
 * The command's logger: what `--verbose` prints on stderr (stdout stays the
 * command's output), made here and given to the sessions and managers the
 * command runs, so a command shows what the library logs.
 *
 * - `--log-format text` (the default): one line per entry for people,
 *   `12:04:05.123 INFO  connected session=a url=mqtt://host:1883 ...`
 *   (the time is local; strings with spaces or quotes are JSON-quoted).
 * - `--log-format json`: one JSON object per line, as pino writes them:
 *   `{"level":30,"time":<epoch ms>,"pid":…,"hostname":…,...fields,"msg":…}`
 *   with pino's numbers (20 debug, 30 info, 40 warn, 50 error), so
 *   `pino-pretty` and log shippers read it.
 *
 * `--verbose` shows `info` and above; `MQTTKIT_LOG_LEVEL` (debug, info,
 * warn, error) sets another level. `--log-format` implies `--verbose`.
 */
import { hostname } from 'node:os';
import { InvalidArgumentError as FlagError } from 'commander';
import type { LogFn, Logger } from '../core/logger.js';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** pino's level numbers. */
export const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

export interface CliLoggerOptions {
  format: LogFormat;
  /** The lowest level written. @default 'info' */
  level?: LogLevel;
  /** Where each line goes (with its newline). @default stderr */
  write?: (line: string) => void;
}

/** The flags that ask for the logger. */
export interface LogFlags {
  verbose?: boolean;
  logFormat?: LogFormat;
}

/** `--log-format`'s parser. */
export function parseLogFormat(value: string): LogFormat {
  if (value === 'text' || value === 'json') return value;
  throw new FlagError('expected text or json');
}

/** The help of `--log-format`, the same on every command. */
export const LOG_FORMAT_HELP = 'with --verbose: text lines for people, or json lines (pino) (default: text)';

/**
 * The command's logger when `--verbose` or `--log-format` was given, else
 * undefined (the command logs nothing). The level is `info`, or
 * `MQTTKIT_LOG_LEVEL`'s.
 */
export function cliLogger(flags: LogFlags, env: NodeJS.ProcessEnv = process.env): Logger | undefined {
  if (flags.verbose !== true && flags.logFormat === undefined) return undefined;
  const wanted = env.MQTTKIT_LOG_LEVEL?.toLowerCase();
  const level = wanted !== undefined && wanted in LEVELS ? (wanted as LogLevel) : 'info';
  return createCliLogger({ format: flags.logFormat ?? 'text', level });
}

/** A logger writing `format` lines of `level` and above. */
export function createCliLogger(options: CliLoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const min = LEVELS[options.level ?? 'info'];
  const line = options.format === 'json' ? jsonLine(process.pid, hostname()) : textLine;
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: LogLevel): LogFn =>
      (fields, message) => {
        if (LEVELS[level] >= min) write(line(level, bindings, fields, message));
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}

type Format = (
  level: LogLevel,
  bindings: Record<string, unknown>,
  fields: Record<string, unknown>,
  message: string,
) => string;

function jsonLine(pid: number, host: string): Format {
  return (level, bindings, fields, message) => {
    const entry = {
      level: LEVELS[level],
      time: Date.now(),
      pid,
      hostname: host,
      ...bindings,
      ...fields,
      msg: message,
    };
    try {
      return `${JSON.stringify(entry, bigints)}\n`;
    } catch {
      // a field JSON cannot hold (a cycle): the line without the fields
      return `${JSON.stringify({ level: LEVELS[level], time: entry.time, pid, hostname: host, msg: message })}\n`;
    }
  };
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

const textLine: Format = (level, bindings, fields, message) => {
  const d = new Date();
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  let out = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
  for (const source of [bindings, fields]) {
    for (const key of Object.keys(source)) {
      const v = source[key];
      if (v !== undefined) out += ` ${key}=${textValue(v)}`;
    }
  }
  return `${out}\n`;
};

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return v === '' || /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v, bigints);
    } catch {
      return '[object]';
    }
  }
  return String(v);
}

/**
 * Where a command prints its own lines: stderr as they are without a
 * logger, or as `info` log lines with one (so `--log-format json` is all JSON).
 */
export function commandLines(logger: Logger | undefined): (line: string) => void {
  if (logger === undefined)
    return (line) => {
      process.stderr.write(`${line}\n`);
    };
  return (line) => logger.info({}, line);
}
