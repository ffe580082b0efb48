/**
 * The one EventSource of the page. Its URL carries the view params; when they
 * change, the hook closes the stream and opens a new one, whose first tick is
 * complete (`info` and the full fleet `history`). Later ticks carry one new
 * history point each, appended here to a buffer of at most `historySeconds`
 * points: the only state the page accumulates.
 *
 * EventSource reconnects by itself after a network error; a stream the
 * server refused (a 401, a 5xx) stays closed, so the hook reopens it with a
 * backoff. A stream that stops ticking without an error (a stalled proxy) is
 * reopened too, by a watchdog.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { FleetHistory, Info, Tick } from './types.js';

export type Connection = 'connecting' | 'live' | 'reconnecting';

export interface Stream {
  /** The latest tick, possibly of the previous params until the new stream's first tick. */
  tick: Tick | null;
  /** The params `tick` answers. */
  query: string | null;
  info: Info | null;
  /** Fleet totals over time; mutated in place, read it on each tick. */
  history: FleetHistory;
  connection: Connection;
}

const MAX_BACKOFF = 10_000;

function emptyHistory(): FleetHistory {
  return { t: [], in: [], out: [], disconnected: [] };
}

function absorb(history: FleetHistory, tick: Tick, limit: number): void {
  const h = tick.history;
  if (tick.info !== undefined) {
    history.t = h.t.slice(-limit);
    history.in = h.in.slice(-limit);
    history.out = h.out.slice(-limit);
    history.disconnected = h.disconnected.slice(-limit);
    return;
  }
  for (let i = 0; i < h.t.length; i++) {
    if (history.t.length > 0 && h.t[i] <= history.t[history.t.length - 1]) continue; // a point seen already
    history.t.push(h.t[i]);
    history.in.push(h.in[i]);
    history.out.push(h.out[i]);
    history.disconnected.push(h.disconnected[i]);
  }
  const excess = history.t.length - limit;
  if (excess > 0) {
    history.t.splice(0, excess);
    history.in.splice(0, excess);
    history.out.splice(0, excess);
    history.disconnected.splice(0, excess);
  }
}

export function useStream(query: string): Stream {
  const history = useRef<FleetHistory>(emptyHistory());
  const info = useRef<Info | null>(null);
  const [state, setState] = useState<{ tick: Tick | null; query: string | null; connection: Connection }>({
    tick: null,
    query: null,
    connection: 'connecting',
  });

  useEffect(() => {
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let lastTick = Date.now();

    const reconnecting = (): void =>
      setState((s) => (s.connection === 'reconnecting' ? s : { ...s, connection: 'reconnecting' }));

    const reopen = (): void => {
      source?.close();
      source = null;
      reconnecting();
      clearTimeout(retry);
      retry = setTimeout(open, Math.min(MAX_BACKOFF, 500 * 2 ** failures++));
    };

    const onTick = (event: MessageEvent<string>): void => {
      const tick = JSON.parse(event.data) as Tick;
      if (tick.info !== undefined) info.current = tick.info;
      absorb(history.current, tick, info.current?.historySeconds ?? 900);
      failures = 0;
      lastTick = Date.now();
      setState({ tick, query, connection: 'live' });
    };

    function open(): void {
      lastTick = Date.now();
      source = new EventSource(`api/stream?${query}`);
      source.addEventListener('tick', onTick);
      source.onerror = () => {
        if (source?.readyState === EventSource.CLOSED) reopen();
        else reconnecting(); // EventSource retries by itself
      };
    }

    open();
    const watchdog = setInterval(() => {
      const interval = info.current?.interval ?? 1000;
      if (source !== null && Date.now() - lastTick > 5 * interval) reopen();
    }, 1000);
    return () => {
      clearInterval(watchdog);
      clearTimeout(retry);
      source?.close();
    };
  }, [query]);

  return { ...state, info: info.current, history: history.current };
}
