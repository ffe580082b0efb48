/** `mqttkit broker`: the embedded broker alone, for trying things out. */
import type { Command } from 'commander';
import type { EmbeddedBroker } from '../../broker/index.js';
import { collect, parseIntFlag } from '../connection.js';
import { action } from '../program.js';
import { aborted } from '../runtime.js';

interface BrokerFlags {
  port: number;
  bind?: string[];
  verbose?: boolean;
}

export function registerBroker(program: Command): void {
  const cmd = program
    .command('broker')
    .description('run the embedded broker (aedes, MQTT 3.1.1) on a port, until Ctrl-C')
    .option('-p, --port <port>', 'port to listen on; 0 picks a free one', parseIntFlag(0, 65_535), 1883)
    .option('--bind <address>', 'address to listen on, repeatable (default: 127.0.0.1 and ::1)', collect)
    .option('--verbose', 'print client connects and disconnects to stderr')
    .addHelpText('after', '\nExample:\n  mqttkit broker -p 1883 &\n  mqttkit sub -t "demo/#" -v');
  action<BrokerFlags>(cmd, async (flags, context) => {
    context.target = `port ${flags.port}`;
    const log = flags.verbose ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
    const { startEmbeddedBroker, startLoopbackBroker } = await import('../../broker/index.js');
    const broker: EmbeddedBroker =
      flags.bind === undefined
        ? await startLoopbackBroker({ port: flags.port, log })
        : await startEmbeddedBroker({ port: flags.port, hosts: flags.bind, log });
    const shown = flags.bind === undefined ? `mqtt://localhost:${broker.port}` : broker.url;
    process.stdout.write(`mqttkit broker (aedes, MQTT 3.1.1) listening on ${shown}; Ctrl-C stops it\n`);
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
