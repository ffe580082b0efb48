/**
 * `mqttkit fleet run` and `mqttkit fleet status`:
 *
 *   fleet run --config fleet.yaml [--cluster redis://…] [--node NAME] [--workers N]
 *       runs the fleet of the file until Ctrl-C or SIGTERM: every session
 *       here, or (with a cluster: the flags, or the file's `cluster:`
 *       section) this node's share of it. At the signal a node hands its
 *       sessions over before it exits. One line per event on stderr.
 *       --dashboard [port] serves the fleet's web dashboard too.
 *   fleet status --cluster redis://… [--name C] [--prefix P] [--config fleet.yaml] [--json]
 *       the cluster's nodes and who runs what, read from Redis (without
 *       joining); with --config, every session of the file, owned or not.
 */
import type { Command } from 'commander';
import { InvalidArgumentError as FlagError } from 'commander';
import type { ClusterStatus } from '../../manager/cluster.js';
import { addDashboardOption, type DashboardOptionFlags, dashboardOption } from '../dashboard/flags.js';
import { Exit, UsageError } from '../errors.js';
import type { FleetRunFlags } from '../fleet/run.js';
import { LOG_FORMAT_HELP, parseLogFormat } from '../logger.js';
import { action } from '../program.js';

interface RunFlags extends Omit<FleetRunFlags, 'config'>, DashboardOptionFlags {
  config?: string;
}

interface StatusFlags {
  cluster?: string;
  name?: string;
  prefix?: string;
  config?: string;
  json?: boolean;
}

const RUN_EXAMPLE = `
Without a cluster (no --cluster, --workers, nor a cluster: section in the
file), every session of the file runs in this process. With one, each node
runs its share, and a node that stops (Ctrl-C, SIGTERM) hands its sessions
to the others first:

  mqttkit fleet run --config fleet.yaml --cluster redis://10.0.0.5:6379 --node gw-1
  mqttkit fleet run --config fleet.yaml --cluster redis://10.0.0.5:6379 --node gw-2
  mqttkit fleet run --config fleet.yaml --workers 4       # this machine's cores, no Redis

Events go to stderr, one line each: joined, acquired <session>, released
<session> (<reason>), node joined/left <node>. With --verbose they are log
lines, with every session's connects, disconnects, reconnects and drops too
(--log-format json: JSON lines, as pino writes them).

With --dashboard the fleet's live web dashboard is served too, and its URL
printed on stdout; in a cluster, one node's dashboard shows every node's
sessions. The token (needed with --dashboard-bind beyond loopback) is read
from MQTTKIT_DASHBOARD_TOKEN:

  mqttkit fleet run --config fleet.yaml --dashboard            # http://127.0.0.1:9470/
  MQTTKIT_DASHBOARD_TOKEN=<secret> mqttkit fleet run --config fleet.yaml --dashboard 8080 --dashboard-bind 0.0.0.0`;

export function registerFleet(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('run a fleet config file, alone or as a node of a cluster');
  const run = fleet
    .command('run')
    .description('run the sessions of a fleet file (this node’s share of them in a cluster) until Ctrl-C')
    .usage('--config <file> [options]')
    .option('--config <file>', 'fleet config (YAML or JSON) (required)')
    .option('--cluster <url>', 'Redis of the cluster (redis:// or rediss://): run as one of its nodes')
    .option('--node <name>', "this node's id in the cluster (default: the host name)")
    .option('--name <cluster>', "the cluster's name (default: the file's, or mqttkit)")
    .option('--workers <n>', 'worker processes on this machine sharing the fleet', workerCount)
    .option('--verbose', "log the sessions' connects, disconnects, reconnects and drops too")
    .option('--log-format <format>', LOG_FORMAT_HELP, parseLogFormat);
  addDashboardOption(run).addHelpText('after', RUN_EXAMPLE);
  action<RunFlags>(run, async (flags, context) => {
    if (flags.config === undefined) throw new UsageError('--config is required');
    const dashboard = dashboardOption(flags);
    const { runFleet } = await import('../fleet/run.js');
    return runFleet({ ...flags, config: flags.config }, context, { dashboard });
  });

  const status = fleet
    .command('status')
    .description("print a cluster's nodes and who runs what (read from Redis, without joining)")
    .usage('--cluster <url> [options]')
    .option('--cluster <url>', 'Redis of the cluster (redis:// or rediss://) (required)')
    .option('--name <cluster>', "the cluster's name", 'mqttkit')
    .option('--prefix <prefix>', 'key prefix in Redis', 'mqttkit:')
    .option('--config <file>', "the fleet file: list each of its sessions, and take the file's cluster name")
    .option('--json', 'print the status as JSON');
  action<StatusFlags>(status, async (flags) => {
    if (flags.cluster === undefined) throw new UsageError('--cluster is required');
    if (!/^rediss?:\/\//.test(flags.cluster))
      throw new UsageError('--cluster must be a redis:// or rediss:// URL');
    let sessions: { name: string; clientId: string }[] | undefined;
    let name = flags.name ?? 'mqttkit';
    let prefix = flags.prefix ?? 'mqttkit:';
    if (flags.config !== undefined) {
      const { loadFleetConfig } = await import('../../manager/config.js');
      const config = await loadFleetConfig(flags.config);
      sessions = config.sessions.map((s) => ({ name: s.name, clientId: s.clientId ?? s.name }));
      if (status.getOptionValueSource('name') === 'default') name = config.cluster?.name ?? name;
      if (status.getOptionValueSource('prefix') === 'default') prefix = config.cluster?.prefix ?? prefix;
    }
    const { readClusterStatusAt } = await import('../../cluster/status.js');
    const s = await readClusterStatusAt(
      flags.cluster,
      { cluster: name, prefix, sessions },
      'mqttkit fleet status',
    );
    process.stdout.write(
      flags.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s, sessions !== undefined),
    );
    return Exit.Ok;
  });
}

/** The status as a person reads it: a line per node, then the sessions nobody runs (and, from a file, who runs each). */
export function formatStatus(s: ClusterStatus, listAll: boolean): string {
  const owned = s.sessions.filter((x) => x.node !== undefined).length;
  const lines = [
    `cluster ${s.cluster}: ${s.nodes.length} node${s.nodes.length === 1 ? '' : 's'}, ${owned} of ${s.sessions.length} sessions running`,
  ];
  const width = Math.max(4, ...s.nodes.map((n) => n.id.length));
  for (const n of s.nodes) {
    const lease = n.expiresIn === undefined ? '' : `  lease ${(n.expiresIn / 1000).toFixed(1)} s left`;
    lines.push(`  ${n.id.padEnd(width)}  weight ${n.weight}  ${n.sessions.length} sessions${lease}`);
  }
  const free = s.sessions.filter((x) => x.node === undefined);
  if (free.length > 0) lines.push(`not running: ${free.map((x) => x.name).join(', ')}`);
  if (listAll)
    for (const x of s.sessions)
      if (x.node !== undefined) lines.push(`  ${x.name} -> ${x.node} (token ${x.token})`);
  return `${lines.join('\n')}\n`;
}

/** `--workers`' parser (`fleet run`, `dashboard --config`). */
export function workerCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new FlagError('expected a whole number from 1 to 1024');
  return n;
}
