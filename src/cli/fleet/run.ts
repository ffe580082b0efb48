/**
 * What `mqttkit fleet run` (and `mqttkit dashboard --config`) does once its
 * flags are parsed: runs a fleet file's sessions (this node's share of them
 * in a cluster) until Ctrl-C, SIGTERM or a duration, with one line per event
 * on stderr, and serves the fleet's dashboard when asked. Loaded only when
 * the command runs.
 */
import { basename } from 'node:path';
import { isFleetWorker } from '../../manager/cluster.js';
import type { SessionManager } from '../../manager/manager.js';
import type { DashboardSettings } from '../dashboard/serve.js';
import { configError, Exit } from '../errors.js';
import { loadManager } from '../loaders.js';
import { cliLogger, commandLines, type LogFormat } from '../logger.js';
import type { CommandContext } from '../program.js';
import { aborted, errorPrefix, sleep } from '../runtime.js';

export interface FleetRunFlags {
  config: string;
  cluster?: string;
  node?: string;
  name?: string;
  workers?: number;
  verbose?: boolean;
  logFormat?: LogFormat;
}

export interface FleetRunOptions {
  /** Serve the fleet's dashboard (the title defaults to the file's name). */
  dashboard?: Omit<DashboardSettings, 'title'> & { title?: string };
  /** ms to run; undefined: until Ctrl-C or SIGTERM. */
  duration?: number;
}

export async function runFleet(
  flags: FleetRunFlags,
  context: CommandContext,
  options: FleetRunOptions = {},
): Promise<number> {
  const { SessionManager } = await loadManager();
  const cluster = {
    ...(flags.cluster === undefined ? {} : { redis: flags.cluster }),
    ...(flags.node === undefined ? {} : { node: flags.node }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.workers === undefined ? {} : { workers: flags.workers }),
  };
  const logger = cliLogger(flags);
  const manager = await SessionManager.fromConfig(flags.config, {
    ...(Object.keys(cluster).length === 0 ? {} : { cluster }),
    ...(logger === undefined ? {} : { logger }),
  });
  // with --verbose the manager and the sessions log the events themselves, and the command's lines are log lines
  const log = commandLines(logger);
  try {
    const c = manager.cluster;
    if (c === undefined && manager.size === 0) throw configError(`${flags.config} has no sessions`);
    // a worker process re-runs this command: its primary serves the dashboard, for all of them
    if (options.dashboard !== undefined && !isFleetWorker()) {
      const { dashboardLine, startDashboard } = await import('../dashboard/serve.js');
      const dashboard = await startDashboard(manager, {
        ...options.dashboard,
        title: options.dashboard.title ?? `mqttkit: ${basename(flags.config)}`,
      });
      process.stdout.write(`${dashboardLine(dashboard)}\n`);
    }
    if (logger === undefined) watch(manager, log);
    if (c === undefined) {
      await manager.connectAll({ signal: context.signal }).catch((err: unknown) => {
        if (context.signal.aborted) return; // they keep trying:
        if (logger === undefined) log(`${errorPrefix()} ${(err as Error).message}`);
        else logger.error({ error: (err as Error).message }, 'not every session connected');
      });
      log(`running ${manager.size} session${manager.size === 1 ? '' : 's'}`);
    } else {
      await manager.connectAll();
      log(`joined cluster ${c.name} as ${c.node} (${c.role})`);
    }
    if (options.duration === undefined) await aborted(context.signal);
    else await sleep(options.duration, context.signal);
    if (c !== undefined) log('leaving: handing the sessions over');
    await manager.close();
    return Exit.Ok;
  } finally {
    await manager.close();
  }
}

/** Prints the cluster's events and failures (without --verbose: with it, the manager logs them). */
function watch(manager: SessionManager, log: (line: string) => void): void {
  manager.on('session_error', ({ name, error }) =>
    log(`${errorPrefix()} ${name === '' ? '' : `${name}: `}${error.message}`),
  );
  manager.on('cluster_error', ({ error }) => log(`${errorPrefix()} cluster: ${error.message}`));
  manager.on('session_acquired', ({ name }) => log(`acquired ${name}`));
  manager.on('session_released', ({ name, reason }) => log(`released ${name} (${reason})`));
  manager.on('node_joined', ({ node }) => log(`node joined ${node}`));
  manager.on('node_left', ({ node }) => log(`node left ${node}`));
}
