/**
 * `mqttkit forward --config fleet.yaml`: connects the sessions of a fleet
 * config file and runs its forwarders until Ctrl-C, with their counters on
 * stderr.
 */
import type { Command } from 'commander';
import type { Forwarder, ForwarderMetrics, ForwarderOptions } from '../../forward/forwarder.js';
import type { SessionManager } from '../../manager/manager.js';
import type { SessionStore } from '../../store/types.js';
import { targetOf } from '../connection.js';
import { CliError, describeError, Exit, UsageError } from '../errors.js';
import { action } from '../program.js';
import { aborted, parseDuration } from '../runtime.js';

interface ForwardFlags {
  config?: string;
  stats?: number;
  verbose?: boolean;
}

const EXAMPLE = `
The config file holds the sessions and the forwarders between them (the
format of SessionManager.fromConfig; \${NAME} is replaced from the environment):

  sessions:
    - name: plant
      url: mqtt://plant-broker:1883
      clientId: plant-bridge
    - name: cloud
      url: mqtts://cloud.example:8883
      username: \${CLOUD_USER}
      password: \${CLOUD_PASSWORD}
  forwarders:
    - name: telemetry
      from: plant                     # a session, or a list of them
      to: cloud
      topics: [plant/+/temp, plant/+/alarm]
      map:                            # first match wins; unmapped topics are kept
        plant/+/temp: cloud/plants/{1}/temp
      qos: 1
      metadata: { site: "\${SITE:-north}" }   # MQTT 5 user properties on each copy

Each forwarder prints "forwarding <name>: <from> -> <to> (<topics>)" once its
subscriptions are in place. Counters (received, forwarded, filtered, dropped,
errors, waiting) go to stderr every --stats interval and once more at the end.

Examples:
  mqttkit forward --config fleet.yaml
  SITE=south mqttkit forward --config fleet.yaml --stats 10s --verbose`;

export function registerForward(program: Command): void {
  const cmd = program
    .command('forward')
    .description('run the forwarders of a fleet config file (YAML or JSON) until Ctrl-C')
    .option('--config <file>', 'fleet config with the sessions and forwarders (required)')
    .option(
      '--stats <duration>',
      "print each forwarder's counters to stderr this often (a bare number is seconds)",
      parseDuration('s', 1),
    )
    .option('--verbose', 'print session connects, disconnects and forwarding errors to stderr')
    .addHelpText('after', EXAMPLE);
  action<ForwardFlags>(cmd, async (flags, context) => {
    if (flags.config === undefined) throw new UsageError('--config is required');
    const path = flags.config;
    // loaded here, not at startup: other commands start without zod, yaml and the manager
    const { loadFleetConfig } = await import('../../manager/config.js');
    const { FleetConnectError, SessionManager } = await import('../../manager/manager.js');
    const config = await loadFleetConfig(path);
    const stores = new Set<SessionStore>();
    for (const s of config.sessions) if (s.store !== undefined) stores.add(s.store);
    if (config.forwarders.length === 0) {
      await closeStores(stores);
      throw new UsageError(`${path} has no forwarders`);
    }
    const log = (line: string): void => {
      process.stderr.write(`${line}\n`);
    };
    const manager = new SessionManager(config.manager);
    const forwarders: [Forwarder, ForwarderOptions][] = [];
    try {
      const targets = new Map<string, string>();
      for (const o of config.sessions) {
        manager.add(o);
        targets.set(o.name, targetOf(o.url));
      }
      watch(manager, targets, flags.verbose === true, log);
      for (const o of config.forwarders) {
        const f = manager.forward(o);
        if (flags.verbose) f.onError = (err) => log(`forwarder ${f.name}: ${err.message} (waiting to retry)`);
        forwarders.push([f, o]);
      }
      try {
        await manager.connectAll({ signal: context.signal });
      } catch (err) {
        if (context.signal.aborted) return Exit.Ok;
        if (!(err instanceof FleetConnectError)) throw err;
        const lines = [...err.failures].map(([name, e]) => {
          const { message, hint } = describeError(e, { target: targets.get(name) });
          return `  ${name}: ${message}${hint === undefined ? '' : ` (${hint})`}`;
        });
        const n = err.failures.size;
        const head = `${n} of ${manager.size} session${manager.size === 1 ? '' : 's'} did not connect:`;
        throw new CliError([head, ...lines].join('\n'));
      }
      for (const [f, o] of forwarders) {
        if (context.signal.aborted) break;
        try {
          // resolves once the sources acknowledged the subscriptions; Ctrl-C does not wait for it
          const starting = f.start();
          starting.catch(() => undefined);
          await Promise.race([starting, aborted(context.signal)]);
          if (context.signal.aborted) break;
          await starting;
        } catch (err) {
          if (context.signal.aborted) break;
          throw new CliError(`forwarder ${f.name} did not start: ${describeError(err).message}`);
        }
        log(`forwarding ${f.name}: ${list(o.from)} -> ${o.to} (${list(o.topics)})`);
      }
      const timer =
        flags.stats === undefined
          ? undefined
          : setInterval(() => {
              for (const [f] of forwarders) log(`stats ${f.name}: ${counters(f.metrics())}`);
            }, flags.stats);
      await aborted(context.signal);
      clearInterval(timer);
      // stops the forwarders, then sends DISCONNECT once what is in flight is acknowledged
      await manager.close();
      await closeStores(stores);
      for (const [f] of forwarders) log(`stopped ${f.name}: ${counters(f.metrics())}`);
      return Exit.Ok;
    } finally {
      await manager.close();
      await closeStores(stores);
    }
  });
}

/** Prints the manager's session events: errors always, connects and disconnects with --verbose. */
function watch(
  manager: SessionManager,
  targets: ReadonlyMap<string, string>,
  verbose: boolean,
  log: (line: string) => void,
): void {
  manager.on('session_error', ({ name, error }) => {
    log(`mqttkit: ${name === '' ? '' : `${name}: `}${error.message}`);
  });
  if (!verbose) return;
  manager.on('session_connected', ({ name }) => {
    const version = manager.get(name)?.protocolVersion === 4 ? 'MQTT 3.1.1' : 'MQTT 5';
    log(`connected ${name} to ${targets.get(name)} (${version})`);
  });
  manager.on('session_disconnected', ({ name, error }) => {
    log(`disconnected ${name}${error === undefined ? '' : `: ${error.message}`}`);
  });
  manager.on('session_reconnecting', ({ name, attempt, delay }) => {
    log(`reconnecting ${name} in ${Math.round(delay)} ms (attempt ${attempt})`);
  });
}

function list(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.join(', ');
}

function counters(m: ForwarderMetrics): string {
  return `received ${m.received}, forwarded ${m.forwarded}, filtered ${m.filtered}, dropped ${m.dropped}, errors ${m.errors}, waiting ${m.waiting}`;
}

/** Closes each store once (a closed store's close() is a no-op); failures are printed, not thrown. */
async function closeStores(stores: Set<SessionStore>): Promise<void> {
  const all = [...stores];
  stores.clear();
  for (const store of all) {
    try {
      await store.close();
    } catch (err) {
      process.stderr.write(`mqttkit: closing a session store failed: ${describeError(err).message}\n`);
    }
  }
}
