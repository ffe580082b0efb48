/**
 * `RouteStream`: a `MessageStream` fed by a manager route, so that stopping
 * either one stops the other (`RouteTable.listen` makes the pair).
 */
import type { DropTally } from '../core/logger.js';
import { MessageStream } from '../session/index.js';
import { noop } from './state.js';
import type { FleetMessage, FleetRoute } from './types.js';

/** The constructor, for {@link createRouteStream} (set by the class's static block: it is protected). */
let construct: (
  filter: string,
  session: string | undefined,
  buffer: number,
  drop: 'drop-oldest' | 'drop-newest',
  route: () => FleetRoute,
  drops: DropTally | undefined,
) => RouteStream;

/**
 * The async iterable `listen` and `listenTo` return: a bounded buffer of
 * messages (see `MessageStream`) that is also a {@link FleetRoute}.
 */
export class RouteStream extends MessageStream<FleetMessage> implements FleetRoute {
  readonly session: string | undefined;
  readonly #route: () => FleetRoute;

  static {
    construct = (filter, session, buffer, drop, route, drops) =>
      new RouteStream(filter, session, buffer, drop, route, drops);
  }

  /** Made by the manager's routes ({@link createRouteStream}). */
  protected constructor(
    filter: string,
    session: string | undefined,
    buffer: number,
    drop: 'drop-oldest' | 'drop-newest',
    route: () => FleetRoute,
    drops?: DropTally,
  ) {
    super(
      filter,
      buffer,
      () => route().stop().catch(noop),
      drop,
      drops === undefined ? undefined : () => drops.add(),
    );
    this.session = session;
    this.#route = route;
  }

  /** The topic filter the stream receives messages for. */
  declare readonly filter: string;

  /** False once stopped (or the manager closed). */
  get active(): boolean {
    return this.#route().active;
  }

  /** Ends the iteration (buffered messages are dropped) and the route. */
  stop(): Promise<void> {
    const done = this.#route().stop();
    void this.return();
    return done;
  }
}

/** A stream for `listen`/`listenTo`, fed by the route `route()` returns. */
export function createRouteStream(
  filter: string,
  session: string | undefined,
  buffer: number,
  drop: 'drop-oldest' | 'drop-newest',
  route: () => FleetRoute,
  drops?: DropTally,
): RouteStream {
  return construct(filter, session, buffer, drop, route, drops);
}
