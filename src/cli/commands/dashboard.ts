/**
 * `mqttkit dashboard`, and the `--dashboard` flags of `fleet run` and `demo`:
 *
 *   dashboard [-h host] [-p port] [-L url] [-t filter]...
 *       a standalone explorer: one session, `explorer`, subscribed to the
 *       filters (default `#`), and its dashboard
 *   dashboard --config fleet.yaml [--cluster redis://…] [--workers N]
 *       runs the fleet file as `fleet run` does, and serves its dashboard
 *
 * Either until Ctrl-C, SIGTERM or --duration. The dashboard listens on
 * --http-port (`-p` is the broker's port) and --bind; its token comes from
 * MQTTKIT_DASHBOARD_TOKEN (or --token, which `ps` shows).
 */
import { type Command, Option } from 'commander';
import type { QoS } from '../../codec/types.js';
import { addConnectionFlags, type ConnectionFlags, collect, parseIntFlag, parseQos } from '../connection.js';
import { BIND_HELP, PORT_HELP } from '../dashboard/flags.js';
import { UsageError } from '../errors.js';
import { action } from '../program.js';
import { parseDuration } from '../runtime.js';
import { workerCount } from './fleet.js';

export interface DashboardFlags extends ConnectionFlags {
  topic?: string[];
  qos: QoS;
  httpPort?: number;
  bind?: string;
  token?: string;
  title?: string;
  /** false with --no-publish */
  publish: boolean;
  duration?: number;
  cluster?: string;
  node?: string;
  name?: string;
  workers?: number;
}

/** Flags of the explorer's broker: refused with --config, whose file says how its sessions connect. */
const EXPLORER_ONLY = [
  'host',
  'port',
  'url',
  'id',
  'username',
  'password',
  'mqttVersion',
  'keepalive',
  'cafile',
  'cert',
  'key',
  'insecure',
  'ws',
  'willTopic',
  'willPayload',
  'willQos',
  'willRetain',
  'topic',
  'qos',
];
/** Flags of a fleet file's cluster: they need --config. */
const FLEET_ONLY = ['cluster', 'node', 'name', 'workers'];

const EXAMPLES = `
Without --config it explores a broker: one session, named explorer,
subscribed to the -t filters (default '#'); the topic explorer shows what it
receives, and the page's publish form publishes through it. With --config it
runs the sessions of a fleet file (as \`mqttkit fleet run\` does, clusters
and workers too) and shows them.

The dashboard listens on 127.0.0.1 unless --bind says otherwise; beyond
loopback it needs a token, best given in the environment (a flag shows in
\`ps\`): MQTTKIT_DASHBOARD_TOKEN=<secret>. Open the printed URL with
?token=<secret> appended once: the browser keeps it in a cookie. Scripts
send Authorization: Bearer <secret>.

Examples:
  mqttkit dashboard -L mqtt://broker:1883                  # explore every topic
  mqttkit dashboard -h broker -t 'sensors/#' -t 'devices/+/state' --http-port 8080
  mqttkit dashboard --config fleet.yaml                    # a fleet file's sessions
  MQTTKIT_DASHBOARD_TOKEN=$(openssl rand -hex 16) mqttkit dashboard -L mqtt://broker --bind 0.0.0.0
  mqttkit dashboard -L mqtt://broker --no-publish -d 10m

Also: mqttkit fleet run --config fleet.yaml --dashboard, mqttkit demo --dashboard.`;

export function registerDashboard(program: Command): void {
  const cmd = program
    .command('dashboard')
    .description(
      "serve a live web dashboard of a broker's topics, or of a fleet file's sessions, until Ctrl-C",
    )
    .usage('[-L <url> | --config <file>] [options]')
    .option('-t, --topic <filter>', "explorer: topic filter to follow, repeatable (default: '#')", collect)
    .option('-q, --qos <qos>', 'explorer: maximum QoS of its subscriptions', parseQos, 0 as QoS)
    .option('--http-port <port>', `the dashboard's port ${PORT_HELP}`, parseIntFlag(0, 65_535))
    .option('--bind <host>', BIND_HELP)
    .addOption(
      new Option(
        '--token <token>',
        'the token every request needs (better in the environment: a flag shows in `ps`)',
      ).env('MQTTKIT_DASHBOARD_TOKEN'),
    )
    .option('--title <title>', "the page's title (default: the broker, or the fleet file's name)")
    .option('--no-publish', "turn the page's publish form off")
    .option(
      '-d, --duration <duration>',
      'stop after this long (a bare number is seconds; default: until Ctrl-C)',
      parseDuration('s', 1),
    )
    .optionsGroup('Fleet file options:')
    .option(
      '--config <file>',
      'run the sessions of this fleet file (YAML or JSON) instead of exploring a broker',
    )
    .option('--cluster <url>', 'with --config: Redis of the cluster, run as one of its nodes (see fleet run)')
    .option('--node <name>', "with --config: this node's id in the cluster (default: the host name)")
    .option('--name <cluster>', "with --config: the cluster's name (default: the file's, or mqttkit)")
    .option(
      '--workers <n>',
      'with --config: worker processes on this machine sharing the fleet',
      workerCount,
    );
  addConnectionFlags(cmd);
  cmd.addHelpText('after', EXAMPLES);
  action<DashboardFlags>(cmd, async (flags, context, command) => {
    const settings = {
      port: flags.httpPort,
      host: flags.bind,
      token: flags.token,
      publish: flags.publish,
      flags: { port: '--http-port', host: '--bind' },
    };
    if (flags.config !== undefined) {
      const given = givenFlags(command, EXPLORER_ONLY);
      if (given.length > 0) {
        throw new UsageError(
          `give either --config (a fleet file's sessions) or a broker to explore, not both: ${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} for the explorer`,
        );
      }
      const { runFleet } = await import('../fleet/run.js');
      return runFleet({ ...flags, config: flags.config }, context, {
        dashboard: { ...settings, title: flags.title },
        duration: flags.duration,
      });
    }
    const fleetOnly = givenFlags(command, FLEET_ONLY);
    if (fleetOnly.length > 0)
      throw new UsageError(
        `${fleetOnly.join(', ')} need${fleetOnly.length === 1 ? 's' : ''} --config <fleet file>`,
      );
    const { runExplorer } = await import('../dashboard/explorer.js');
    return runExplorer(flags, context, { ...settings, title: flags.title });
  });
}

/** The flags among `names` given on the command line (not from the environment), as `-L/--url`. */
function givenFlags(cmd: Command, names: readonly string[]): string[] {
  return cmd.options
    .filter((o) => names.includes(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => (o.short === undefined ? (o.long as string) : `${o.short}/${o.long}`));
}
