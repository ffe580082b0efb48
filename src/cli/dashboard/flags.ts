/**
 * The dashboard's flags: the port and address help every command shows,
 * and `--dashboard [port]` / `--dashboard-bind <host>` of `fleet run` and
 * `demo`. Loaded with the commands: nothing of the dashboard itself.
 */
import type { Command } from 'commander';
import { isLoopbackHost } from '../../core/url.js';
import { parseIntFlag } from '../connection.js';
import { UsageError } from '../errors.js';
import type { DashboardSettings } from './serve.js';

/** The flags of `fleet run` and `demo` that serve their dashboard too. */
export interface DashboardOptionFlags {
  /** `--dashboard` alone: true (the default port). */
  dashboard?: true | number;
  dashboardBind?: string;
}

/** The environment variable with the dashboard's token (a flag would show in `ps`). */
export const TOKEN_ENV = 'MQTTKIT_DASHBOARD_TOKEN';

export const PORT_HELP = '(default: 9470; 0 picks a free one)';
export const BIND_HELP =
  'address to listen on (default: 127.0.0.1); beyond loopback it needs MQTTKIT_DASHBOARD_TOKEN';

/**
 * Adds `--dashboard [port]` and `--dashboard-bind <host>` to `fleet run`
 * and `demo`; the token is MQTTKIT_DASHBOARD_TOKEN's.
 */
export function addDashboardOption(cmd: Command): Command {
  return cmd
    .option(
      '--dashboard [port]',
      `serve the live web dashboard too, on this port ${PORT_HELP}`,
      parseIntFlag(0, 65_535),
    )
    .option('--dashboard-bind <host>', `with --dashboard: ${BIND_HELP}`);
}

/** What `--dashboard` and `--dashboard-bind` ask for, or undefined without `--dashboard`. */
export function dashboardOption(flags: DashboardOptionFlags): Omit<DashboardSettings, 'title'> | undefined {
  if (flags.dashboard === undefined) {
    if (flags.dashboardBind !== undefined) throw new UsageError('--dashboard-bind needs --dashboard');
    return undefined;
  }
  const host = flags.dashboardBind;
  // checked before anything starts (serveDashboard checks it too, once the fleet runs)
  if (host !== undefined && !isLoopbackHost(host) && !process.env[TOKEN_ENV]) {
    throw new UsageError(`--dashboard-bind ${host}: a token is required beyond loopback: set ${TOKEN_ENV}`);
  }
  return {
    port: flags.dashboard === true ? undefined : flags.dashboard,
    host,
    flags: { port: '--dashboard', host: '--dashboard-bind' },
  };
}
