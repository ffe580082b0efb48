/**
 * The program of `bench/workers.bench.ts`: a fleet of idle sessions run on
 * workers. The primary and every worker it forks run this script:
 *
 *   node --expose-gc --import tsx bench/workers-child.ts <fleet.json> <workers>
 *
 * Primary: prints `started` once every worker is ready, and stops the fleet
 * (gracefully) when its stdin ends. Worker: prints `base <node> <pid> <heap>
 * <rss>` (after GC, before the fleet file is loaded), then `count <node> <n>`
 * whenever its number of connected sessions changed (checked every 200
 * ms), and on SIGUSR2 `mem <node> <heap> <rss> <sessions>` after GC.
 */
import { createInterface } from 'node:readline';
import { createWorkerMember, createWorkerPrimary } from '../src/cluster/workers.js';
import {
  type ClusterDriverInput,
  isFleetWorker,
  loadFleetConfig,
  type ManagerEvents,
  SessionManager,
} from '../src/manager/index.js';

const [path, workers] = process.argv.slice(2) as [string, string];
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const worker = isFleetWorker();
const index = process.env.MQTTKIT_FLEET_WORKER;

if (worker) {
  gc();
  gc();
  const m = process.memoryUsage();
  say(`base bench-w${index} ${process.pid} ${m.heapUsed} ${m.rss}`);
}
const config = await loadFleetConfig(path);
const manager = new SessionManager(config.manager);
const emit = <K extends keyof ManagerEvents>(event: K, e: ManagerEvents[K]): void => {
  if (event === 'cluster_error' && !worker)
    process.stderr.write(`cluster_error: ${(e as { error: Error }).error.message}\n`);
};
const input: ClusterDriverInput = {
  manager,
  config,
  path,
  options: { workers: Number(workers), node: 'bench' },
  emit,
};

if (worker) {
  const driver = createWorkerMember(input);
  let connected = 0;
  manager.on('session_connected', () => connected++);
  manager.on('session_disconnected', () => connected--);
  let told = -1;
  setInterval(() => {
    if (connected === told) return;
    told = connected;
    say(`count ${driver.node} ${connected}`);
  }, 200).unref();
  process.on('SIGUSR2', () => {
    gc();
    gc();
    const mem = process.memoryUsage();
    say(`mem ${driver.node} ${mem.heapUsed} ${mem.rss} ${manager.size}`);
  });
  await driver.start();
} else {
  const driver = createWorkerPrimary(input);
  createInterface({ input: process.stdin }).on('close', () => {
    void driver
      .stop()
      .then(() => manager.close())
      .then(() => process.exit(0));
  });
  await driver.start();
  say('started');
}
