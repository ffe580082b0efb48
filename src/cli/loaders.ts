/**
 * The loaders the root entry point (`src/index.ts`) registers for the
 * manager, registered by the command instead, which does not load that
 * entry point: cluster mode (`fleet run --cluster`, `--workers`). Imported
 * only by the modules commands load when they run, so `mqttkit --help`
 * loads none of it.
 */
import { setClusterLoader } from '../manager/cluster.js';

/** Registers cluster mode's loader (a dynamic import, run on first use). */
export function registerLoaders(): void {
  setClusterLoader(() => import('../cluster/driver.js').then((m) => m.createClusterDriver));
}

/** The manager's module, with the loaders registered. */
export async function loadManager(): Promise<typeof import('../manager/manager.js')> {
  registerLoaders();
  return import('../manager/manager.js');
}
