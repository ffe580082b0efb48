/** A logger for tests: it keeps every line, and waits for one. */
import type { Logger } from '../../src/core/logger.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line (bindings merged into the fields), and can wait for one. */
export function capture(): Logger & { lines: LogLine[]; next(msg: string, from?: number): Promise<LogLine> } {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const make = (bindings: Record<string, unknown>): Logger => {
    const at = (level: LogLine['level']) => (fields: Record<string, unknown>, msg: string) => {
      lines.push({ level, msg, fields: { ...bindings, ...fields } });
      for (const w of [...waiters]) w();
    };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return Object.assign(make({}), {
    lines,
    /** The first line `msg` at or after index `from` (waits for it). */
    next(msg: string, from = 0): Promise<LogLine> {
      return new Promise<LogLine>((resolve) => {
        const look = () => {
          const found = lines.slice(from).find((l) => l.msg === msg);
          if (found === undefined) return;
          waiters.delete(look);
          resolve(found);
        };
        waiters.add(look);
        look();
      });
    },
  });
}
