/**
 * `mqttkit demo`: a small fleet in this process (devices, an RPC API and its
 * caller, a forwarder) on the embedded broker, or on yours with -h/-p/-L,
 * shown live until --duration or Ctrl-C, then a summary.
 */
import type { Command } from 'commander';
import { addConnectionFlags, parseIntFlag } from '../connection.js';
import { addDashboardOption } from '../dashboard/flags.js';
import type { DemoFlags } from '../demo/run.js';
import { action } from '../program.js';
import { parseDuration } from '../runtime.js';

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description('run a small fleet on an embedded broker and watch it live, until --duration or Ctrl-C')
    .option(
      '-d, --duration <duration>',
      'stop after this long (a bare number is seconds; default: until Ctrl-C)',
      parseDuration('s', 1),
    )
    .option('-n, --devices <n>', 'how many devices', parseIntFlag(1, 100), 4);
  addDashboardOption(cmd);
  addConnectionFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Without -h, -p or -L the demo starts its own broker (aedes, MQTT 3.1.1) in
this process on a free port, and prints how to watch it with \`mqttkit sub\`.
With -i, the sessions' client ids are <id>-device-1, <id>-api, and so on.
With --dashboard the fleet is also shown on the live web dashboard, at the
URL printed with the other lines (the token, needed with --dashboard-bind
beyond loopback, is read from MQTTKIT_DASHBOARD_TOKEN).

Examples:
  mqttkit demo
  mqttkit demo --duration 30s --devices 20
  mqttkit demo --dashboard                     # and open http://127.0.0.1:9470/
  mqttkit demo -L mqtt://localhost:1883        # on your broker, MQTT 5 when it speaks it`,
  );
  action<DemoFlags>(cmd, async (flags, context) => {
    const { runDemo } = await import('../demo/run.js');
    return runDemo(flags, context);
  });
}
