/**
 * Issue 16, case 6: runs the broker-restart loss rig (test/helpers/restart-rig.ts)
 * a few times and prints, for every message whose publish() resolved and that
 * never reached the subscriber, where it went on the wire.
 *
 *   npx tsx bench/restart-loss.ts --runs 4 --messages 5000 --restarts 3 --load 3 \
 *     [--config 'max_queued_messages 0'] [--subscriber mqttkit] [--publisher mqttjs] \
 *     [--pub-reconnect 50] [--sub-reconnect 1000] [--window 200] [--kill] [--log]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { explainLoss, runRestartRig } from '../test/helpers/restart-rig.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '4' },
    messages: { type: 'string', default: '5000' },
    restarts: { type: 'string', default: '3' },
    load: { type: 'string', default: '3' },
    window: { type: 'string', default: '200' },
    config: { type: 'string', default: '' },
    subscriber: { type: 'string', default: 'mqttjs' },
    publisher: { type: 'string', default: 'mqttkit' },
    'pub-reconnect': { type: 'string' },
    'sub-reconnect': { type: 'string' },
    log: { type: 'boolean', default: false },
    kill: { type: 'boolean', default: false },
  },
});

let lossy = 0;
const runs = Number(values.runs);
for (let run = 1; run <= runs; run++) {
  const result = await runRestartRig({
    messages: Number(values.messages),
    restarts: Number(values.restarts),
    load: Number(values.load),
    window: Number(values.window),
    brokerConfig: values.config.replaceAll('\\n', '\n'),
    signal: values.kill ? 'SIGKILL' : 'SIGTERM',
    subscriber: values.subscriber as 'mqttjs' | 'mqttkit',
    publisher: values.publisher as 'mqttkit' | 'mqttjs',
    ...(values['pub-reconnect'] !== undefined && { pubReconnectDelay: Number(values['pub-reconnect']) }),
    ...(values['sub-reconnect'] !== undefined && { subReconnectDelay: Number(values['sub-reconnect']) }),
  });
  if (result.lost.length > 0) lossy++;
  console.log(`--- run ${run}\n${explainLoss(result).text}`);
  if (values.log) {
    const file = `/tmp/restart-loss-run${run}.log`;
    writeFileSync(file, result.log);
    console.log(`mosquitto log: ${file}`);
  }
}
console.log(`${lossy}/${runs} runs lost messages`);
