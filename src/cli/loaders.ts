/**
 * The loaders the root entry point (`src/index.ts`) registers for the
 * manager, registered by the command instead, which does not load that
 * entry point: cluster mode (`fleet run --cluster`, `--workers`) and the
 * web dashboard (`dashboard`, `--dashboard`). Imported only by the modules
 * commands load when they run, so `mqttkit --help` loads neither.
 */
import { setClusterLoader } from '../manager/cluster.js';
import { setDashboardLoader } from '../manager/dashboard.js';

/** Registers cluster mode's and the dashboard's loaders (each a dynamic import, run on first use). */
export function registerLoaders(): void {
  setClusterLoader(() => import('../cluster/driver.js').then((m) => m.createClusterDriver));
  setDashboardLoader(() => import('../dashboard/index.js').then((m) => m.serveDashboard));
}

/** The manager's module, with the loaders registered. */
export async function loadManager(): Promise<typeof import('../manager/manager.js')> {
  registerLoaders();
  return import('../manager/manager.js');
}
