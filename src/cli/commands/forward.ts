/**
 * `mqttkit forward --config fleet.yaml`: connects the sessions of a fleet
 * config file and runs its forwarders until Ctrl-C, with their counters on
 * stderr.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../core/errors.js';
import type { ForwarderMetrics } from '../../forward/forwarder.js';
import type { SessionManager } from '../../manager/manager.js';
import { targetOf } from '../connection.js';
import { CliError, configError, describeError, Exit, UsageError } from '../errors.js';
import { cliLogger, commandLines, LOG_FORMAT_HELP, type LogFormat, parseLogFormat } from '../logger.js';
import { action } from '../program.js';
import { aborted, errorPrefix, parseDuration } from '../runtime.js';

interface ForwardFlags {
  config?: string;
  stats?: number;
  verbose?: boolean;
  logFormat?: LogFormat;
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
With --verbose these are log lines, with every session's connects,
disconnects, reconnects and drops, and the forwarders' errors (--log-format
json: JSON lines, as pino writes them).

Examples:
  mqttkit forward --config fleet.yaml
  SITE=south mqttkit forward --config fleet.yaml --stats 10s --verbose`;

export function registerForward(program: Command): void {
  const cmd = program
    .command('forward')
    .description('run the forwarders of a fleet config file (YAML or JSON) until Ctrl-C')
    .usage('--config <file> [options]')
    .option('--config <file>', 'fleet config with the sessions and forwarders (required)')
    .option(
      '--stats <duration>',
      "print each forwarder's counters to stderr this often (a bare number is seconds)",
      parseDuration('s', 1),
    )
    .option(
      '--verbose',
      'log session connects, disconnects, reconnects, drops and forwarding errors to stderr',
    )
    .option('--log-format <format>', LOG_FORMAT_HELP, parseLogFormat)
    .addHelpText('after', EXAMPLE);
  action<ForwardFlags>(cmd, async (flags, context) => {
    if (flags.config === undefined) throw new UsageError('--config is required');
    const path = flags.config;
    // loaded here, not at startup: other commands start without zod, yaml and the manager
    const { FleetConnectError, SessionManager } = await import('../../manager/manager.js');
    // the sessions, their stores (closed with the manager) and the forwarders, which start once their
    // sources are connected
    const logger = cliLogger(flags);
    const manager = await SessionManager.fromConfig(path, logger === undefined ? {} : { logger });
    // with --verbose the manager and the sessions log their events, and the command's lines are log lines
    const log = commandLines(logger);
    try {
      const forwarders = manager.forwarders();
      if (forwarders.length === 0) throw configError(`${path} has no forwarders`);
      if (logger === undefined) watch(manager, log);
      else {
        for (const f of forwarders)
          f.onError = (err) =>
            logger.warn({ forwarder: f.name, error: err.message }, 'forwarding failed; waiting to retry');
      }
      try {
        await manager.connectAll({ signal: context.signal });
      } catch (err) {
        if (context.signal.aborted) return Exit.Ok;
        if (!(err instanceof FleetConnectError)) throw err;
        const lines = [...err.failures].map(([name, e]) => {
          const { message, hint } = describeError(e, { target: targetOf(manager.get(name)?.url ?? '') });
          return `  ${name}: ${message}${hint === undefined ? '' : ` (${hint})`}`;
        });
        const n = err.failures.size;
        const head = `${n} of ${manager.size} session${manager.size === 1 ? '' : 's'} did not connect:`;
        throw new CliError([head, ...lines].join('\n'));
      }
      for (const f of forwarders) {
        if (context.signal.aborted) break;
        try {
          // joins the start fromConfig began: resolves once the sources acknowledged the subscriptions;
          // Ctrl-C does not wait for it
          const starting = f.start();
          starting.catch(() => undefined);
          await Promise.race([starting, aborted(context.signal)]);
          if (context.signal.aborted) break;
          await starting;
        } catch (err) {
          if (context.signal.aborted) break;
          const message = `forwarder ${f.name} did not start: ${describeError(err).message}`;
          // refused by its own checks (metadata toward an MQTT 3.1.1 target without envelope): the file's fault
          throw err instanceof InvalidArgumentError ? configError(message) : new CliError(message);
        }
        log(`forwarding ${f.name}: ${f.sources.join(', ')} -> ${f.target} (${f.topics.join(', ')})`);
      }
      const timer =
        flags.stats === undefined
          ? undefined
          : setInterval(() => {
              for (const f of forwarders) log(`stats ${f.name}: ${counters(f.metrics())}`);
            }, flags.stats);
      await aborted(context.signal);
      clearInterval(timer);
      // stops the forwarders, sends DISCONNECT once what is in flight is acknowledged, closes the stores
      await manager.close();
      for (const f of forwarders) log(`stopped ${f.name}: ${counters(f.metrics())}`);
      return Exit.Ok;
    } finally {
      await manager.close();
    }
  });
}

/** Prints the manager's failures (without --verbose: with it, the manager and the sessions log them). */
function watch(manager: SessionManager, log: (line: string) => void): void {
  manager.on('session_error', ({ name, error }) => {
    log(`${errorPrefix()} ${name === '' ? '' : `${name}: `}${error.message}`);
  });
}

function counters(m: ForwarderMetrics): string {
  return `received ${m.received}, forwarded ${m.forwarded}, filtered ${m.filtered}, dropped ${m.dropped}, errors ${m.errors}, waiting ${m.waiting}`;
}
