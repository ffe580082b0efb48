/**
 * Serving a manager's dashboard from a command (`dashboard`, `fleet run
 * --dashboard`, `demo --dashboard`): the flags made into
 * `serveDashboard()`'s options, its failures made into the command's (a
 * port in use, a token missing beyond loopback), and the line that says
 * where to open it, which never holds the token. Loaded only when a
 * command serves a dashboard: it loads the dashboard's code.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { DASHBOARD_PORT } from '../../dashboard/index.js';
import type { DashboardOptions, DashboardServer } from '../../manager/dashboard.js';
import type { SessionManager } from '../../manager/manager.js';
import { CliError, UsageError } from '../errors.js';
import { registerLoaders } from '../loaders.js';

import { TOKEN_ENV } from './flags.js';

export { TOKEN_ENV };

/** What a command asks of its dashboard. */
export interface DashboardSettings {
  /** undefined: serveDashboard's default (9470); 0 picks a free port. */
  port?: number;
  /** undefined: 127.0.0.1. */
  host?: string;
  /** undefined: `MQTTKIT_DASHBOARD_TOKEN`, if set. */
  token?: string;
  title: string;
  publish?: boolean;
  explorer?: string;
  /** The command's flags for the port and the host, for error messages (`--port`, `--bind`). */
  flags: { port: string; host: string };
}

/** A running dashboard and whether it asks for a token. */
export interface CommandDashboard {
  server: DashboardServer;
  tokened: boolean;
}

/**
 * Serves `manager`'s dashboard. Throws `UsageError` for an empty token or a
 * host beyond loopback without one, and `CliError` (exit 1) naming the port
 * when it cannot be bound.
 */
export async function startDashboard(
  manager: SessionManager,
  settings: DashboardSettings,
): Promise<CommandDashboard> {
  registerLoaders();
  const token = settings.token ?? process.env[TOKEN_ENV];
  if (token === '') throw new UsageError(`the dashboard's token (${TOKEN_ENV} or --token) is empty`);
  const options: DashboardOptions = { title: settings.title };
  if (settings.port !== undefined) options.port = settings.port;
  if (settings.host !== undefined) options.host = settings.host;
  if (token !== undefined) options.token = token;
  if (settings.publish !== undefined) options.publish = settings.publish;
  if (settings.explorer !== undefined) options.explorer = settings.explorer;
  const host = settings.host ?? '127.0.0.1';
  const port = settings.port ?? DASHBOARD_PORT;
  try {
    return { server: await manager.serveDashboard(options), tokened: token !== undefined };
  } catch (err) {
    if (err instanceof InvalidArgumentError && err.field === 'token') {
      // serveDashboard's rule: beyond loopback, a token
      throw new UsageError(
        `${settings.flags.host} ${host}: a token is required beyond loopback (anyone who reaches the dashboard could publish): set ${TOKEN_ENV}`,
      );
    }
    throw listenError(err, host, port, settings.flags);
  }
}

/** The line that says where the dashboard is; with a token, how to pass it, without it. */
export function dashboardLine({ server, tokened }: CommandDashboard): string {
  return tokened
    ? `dashboard at ${server.url} (append ?token=… with your token once: the browser keeps it in a cookie)`
    : `dashboard at ${server.url}`;
}

/** The error of a listen that failed, as one line naming the port and the flag that changes it. */
function listenError(err: unknown, host: string, port: number, flags: DashboardSettings['flags']): unknown {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return new CliError(
        `the dashboard's port ${port} is in use (${where})`,
        `pick another with ${flags.port}, or ${flags.port} 0 for a free one`,
      );
    case 'EACCES':
      return new CliError(
        `no permission to serve the dashboard on ${where}`,
        'ports below 1024 need privileges',
      );
    case 'EADDRNOTAVAIL':
      return new CliError(
        `cannot serve the dashboard on ${host}: not an address of this machine`,
        `check ${flags.host}`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new CliError(`cannot resolve ${host}, the dashboard's address`, `check ${flags.host}`);
  }
  return err;
}
