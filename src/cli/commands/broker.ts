/** `mqttkit broker`: the embedded broker alone, for trying things out. */
import type { Command } from 'commander';
import type { EmbeddedBroker } from '../../broker/index.js';
import { collect, parseIntFlag } from '../connection.js';
import { CliError } from '../errors.js';
import { cliLogger, LOG_FORMAT_HELP, type LogFormat, parseLogFormat } from '../logger.js';
import { action } from '../program.js';
import { aborted } from '../runtime.js';

interface BrokerFlags {
  port: number;
  wsPort?: number;
  bind?: string[];
  verbose?: boolean;
  logFormat?: LogFormat;
}

export function registerBroker(program: Command): void {
  const cmd = program
    .command('broker')
    .description('run the embedded broker (aedes, MQTT 3.1.1) on a port, until Ctrl-C')
    .option('-p, --port <port>', 'port to listen on; 0 picks a free one', parseIntFlag(0, 65_535), 1883)
    .option(
      '--ws-port <port>',
      'also take MQTT over WebSocket on this port (any path, e.g. ws://localhost:8083/mqtt); 0 picks a free one',
      parseIntFlag(0, 65_535),
    )
    .option('--bind <address>', 'address to listen on, repeatable (default: 127.0.0.1 and ::1)', collect)
    .option('--verbose', 'log client connects, disconnects and errors to stderr')
    .option('--log-format <format>', LOG_FORMAT_HELP, parseLogFormat)
    .addHelpText(
      'after',
      `
Examples:
  mqttkit broker -p 1883 &
  mqttkit sub -t "demo/#" -v
  mqttkit broker --ws-port 8083 &                 # and WebSocket: mqttkit sub --ws -t "demo/#"`,
    );
  action<BrokerFlags>(cmd, async (flags, context) => {
    context.target = `port ${flags.port}`;
    const logger = cliLogger(flags);
    const log = logger === undefined ? undefined : (line: string) => logger.info({}, line);
    const { startEmbeddedBroker, startLoopbackBroker } = await import('../../broker/index.js');
    const options = { port: flags.port, wsPort: flags.wsPort, log };
    let broker: EmbeddedBroker;
    try {
      broker =
        flags.bind === undefined
          ? await startLoopbackBroker(options)
          : await startEmbeddedBroker({ ...options, hosts: flags.bind });
    } catch (err) {
      const { code, port } = err as NodeJS.ErrnoException & { port?: number };
      if (code === 'EADDRINUSE' && port !== undefined && port === flags.wsPort) {
        throw new CliError(
          `port ${port} is already in use`,
          'is a broker already running there? pick another with --ws-port, or --ws-port 0 for a free one',
        );
      }
      throw err;
    }
    const local = flags.bind === undefined;
    const shown = [local ? `mqtt://localhost:${broker.port}` : broker.url];
    if (broker.wsPort !== undefined) {
      shown.push(local ? `ws://localhost:${broker.wsPort}/mqtt` : (broker.wsUrl as string));
    }
    process.stdout.write(
      `mqttkit broker (aedes, MQTT 3.1.1) listening on ${shown.join(' and ')}; Ctrl-C stops it\n`,
    );
    // started by another mqttkit with an IPC channel (bench): end when it does, however it ends
    const parentGone =
      process.send === undefined
        ? new Promise<void>(() => undefined)
        : new Promise<void>((resolve) => process.once('disconnect', () => resolve()));
    await Promise.race([aborted(context.signal), parentGone]);
    await broker.close();
    return 0;
  });
}
