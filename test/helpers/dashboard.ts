/**
 * A dashboard's tick stream, read as a browser's EventSource would: `until`
 * resolves with the latest tick, or the first to come, that passes a check
 * (or rejects when the stream ends first), so a test waits for what the page would show rather
 * than for a time. Ticks are merged the way the page merges them: a later
 * tick's one-point `history` is appended to the first tick's.
 */
import { request } from 'node:http';
import type { Tick } from '../../src/dashboard/view.js';
import { onCleanup } from './cleanup.js';

export type { Tick };

export interface TickStream {
  /** Every tick so far, the newest last. */
  readonly ticks: Tick[];
  /** The latest tick if `check` is true of it, else the first tick to come of which it is. */
  until(check: (t: Tick) => boolean): Promise<Tick>;
  close(): void;
}

/** Opens `<url>api/stream?<query>` (closed after the test). */
export function openStream(
  url: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<TickStream> {
  return new Promise((resolve, reject) => {
    const ticks: Tick[] = [];
    const waiters = new Set<{
      check: (t: Tick) => boolean;
      resolve: (t: Tick) => void;
      reject: (e: Error) => void;
    }>();
    let ended = false;
    const req = request(`${url}api/stream?${query}`, { headers }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data === '') continue;
          const tick = JSON.parse(data) as Tick;
          ticks.push(tick);
          for (const w of [...waiters]) {
            if (w.check(tick)) {
              waiters.delete(w);
              w.resolve(tick);
            }
          }
        }
      });
      const done = (): void => {
        ended = true;
        for (const w of waiters) w.reject(new Error('the stream ended'));
        waiters.clear();
      };
      res.on('end', done);
      res.on('close', done);
      const stream: TickStream = {
        ticks,
        until(check) {
          const latest = ticks.at(-1);
          if (latest !== undefined && check(latest)) return Promise.resolve(latest);
          if (ended) return Promise.reject(new Error('the stream ended'));
          return new Promise((res2, rej2) => waiters.add({ check, resolve: res2, reject: rej2 }));
        },
        close: () => req.destroy(),
      };
      onCleanup(() => stream.close());
      resolve(stream);
    });
    req.on('error', (err) => {
      if (!ended) reject(err);
    });
    req.end();
  });
}

/** A row of the fleet table by name. */
export function rowOf(t: Tick, name: string): Tick['fleet']['rows'][number] | undefined {
  return t.fleet.rows.find((r) => r.name === name);
}
