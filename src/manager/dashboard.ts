/**
 * `manager.serveDashboard()`, as the manager sees it: the options, the
 * running server, and where the dashboard's code comes from. The dashboard
 * lives in `dashboard/` (a floor above this one); the root entry point
 * registers a loader (`setDashboardLoader`) with a dynamic import, so
 * `import { SessionManager } from 'mqttkit'` loads none of it until a
 * dashboard is served.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { SessionManager } from './manager.js';

/** Options of `manager.serveDashboard()` and `mqttkit dashboard`. */
export interface DashboardOptions {
  /** 0 picks a free port. @default 9470 */
  port?: number;
  /**
   * Where to listen. Beyond loopback (127.0.0.1, ::1, localhost) a `token`
   * is required. @default '127.0.0.1'
   */
  host?: string;
  /**
   * A secret every request must carry: `Authorization: Bearer <token>`, or
   * `?token=<token>` once in the browser (the dashboard then keeps it in an
   * HttpOnly cookie). Never logged, never in `url`.
   */
  token?: string;
  /** The page's title. @default 'mqttkit' */
  title?: string;
  /** Whether the topic explorer's publish form may publish through the fleet's sessions. @default true */
  publish?: boolean;
  /**
   * Whether the topic explorer follows the messages the fleet's sessions
   * receive (one Map lookup per message; samples are rate-limited). @default true
   */
  topics?: boolean;
  /** The session the publish form uses unless another is picked. @default the first connected session */
  explorer?: string;
  /** ms between two snapshots pushed to the browsers. @default 1000 */
  interval?: number;
}

/** A running dashboard (`manager.serveDashboard()`). */
export interface DashboardServer {
  /** `http://host:port/`, without the token. */
  readonly url: string;
  /** The port listened on (the one picked when 0 was asked). */
  readonly port: number;
  /** Browsers connected to the live stream now. */
  readonly clients: number;
  /** Stops listening, ends the streams, stops sampling; resolves once closed. Safe to call twice. */
  close(): Promise<void>;
}

/** What the dashboard module provides to the manager; `closed` is told once the server closed. */
export type DashboardFactory = (
  manager: SessionManager,
  options: DashboardOptions,
  /** Told once the server closed (the manager forgets it then). */
  closed?: (server: DashboardServer) => void,
) => Promise<DashboardServer>;

let loader: (() => Promise<DashboardFactory>) | undefined;

/** Registers where the dashboard comes from (the root entry point does, with a dynamic import). */
export function setDashboardLoader(load: () => Promise<DashboardFactory>): void {
  loader = load;
}

/** The dashboard factory; `InvalidArgumentError` when nothing registered one. */
export async function dashboardFactory(): Promise<DashboardFactory> {
  if (loader === undefined) {
    throw new InvalidArgumentError(
      'serveDashboard',
      "needs SessionManager imported from 'mqttkit' (the entry point that loads the dashboard)",
    );
  }
  return loader();
}
