/**
 * The live web dashboard of a `SessionManager`: `serveDashboard(manager,
 * options)` samples the fleet once a second (`aggregator.ts`) and serves the
 * page and its tick stream (`server.ts`). Reached through
 * `manager.serveDashboard()` (the root entry point registers this module as
 * the manager's dashboard loader) and `mqttkit dashboard`; never loaded by
 * `import 'mqttkit'` itself.
 */
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { isLoopbackHost } from '../core/url.js';
import type { DashboardOptions, DashboardServer, SessionManager } from '../manager/index.js';
import { DASHBOARD_OPTIONS } from '../manager/schema.js';
import { Aggregator } from './aggregator.js';
import { ClusterRows } from './cluster.js';
import { DashboardHttp } from './server.js';
import type { Info } from './view.js';

/** Default port of `serveDashboard`. */
export const DASHBOARD_PORT = 9470;
const PUBLISHERS = 1000;

/** Serves the manager's dashboard; resolves once listening, rejects when the port cannot be bound. */
export async function serveDashboard(
  manager: SessionManager,
  options: DashboardOptions = {},
  closed?: (server: DashboardServer) => void,
): Promise<DashboardServer> {
  checkOptions(options, DASHBOARD_OPTIONS, 'options');
  const host = options.host ?? '127.0.0.1';
  if (options.token === undefined && !isLoopbackHost(host)) {
    throw new InvalidArgumentError(
      'token',
      `is required to serve the dashboard on ${host}, beyond loopback (anyone who reaches it could publish)`,
    );
  }
  const agg = new Aggregator(manager, { interval: options.interval ?? 1000, topics: options.topics ?? true });
  const cluster = manager.cluster === undefined ? undefined : new ClusterRows(manager.cluster, agg);
  if (cluster !== undefined) agg.remoteRows = () => cluster.view().rows;
  const title = options.title ?? 'mqttkit';
  const publish = options.publish ?? true;
  const info = (): Info => ({
    title,
    version: packageVersion(),
    interval: agg.options.interval,
    historySeconds: Math.round((agg.history.time.capacity * agg.options.interval) / 1000),
    publish,
    publishers: publish ? manager.list().slice(0, PUBLISHERS) : [],
    explorer: options.explorer,
  });
  const http = new DashboardHttp(agg, {
    port: options.port ?? DASHBOARD_PORT,
    host,
    token: options.token,
    publish,
    explorer: options.explorer,
    info,
    remote: () => cluster?.view() ?? { rows: [], node: null, cluster: undefined },
  });
  let port: number;
  try {
    port = await http.listen();
  } catch (err) {
    agg.stop();
    cluster?.stop();
    throw err;
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const server: DashboardServer = {
    url: `http://${hostPart}:${port}/`,
    port,
    get clients() {
      return http.clients;
    },
    close() {
      closing ??= (async () => {
        agg.stop();
        cluster?.stop();
        await http.close();
        closed?.(server);
      })();
      return closing;
    },
  };
  return server;
}

let version: string | undefined;
function packageVersion(): string {
  try {
    version ??= (createRequire(import.meta.url)('mqttkit/package.json') as { version: string }).version;
  } catch {
    version = 'unknown';
  }
  return version;
}
