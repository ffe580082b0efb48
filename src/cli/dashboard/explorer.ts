/**
 * `mqttkit dashboard` without `--config`: a standalone topic explorer. One
 * session, `explorer`, in a SessionManager, subscribed to the `-t` filters
 * (default `#`) and served on the dashboard, which follows what it receives
 * and publishes through it. The dashboard is bound first (a port in use
 * fails before any connection), the URL printed once the explorer is
 * subscribed; then it runs until Ctrl-C, SIGTERM or `--duration`. Loaded
 * only when the command runs.
 */
import { isValidTopicFilter } from '../../codec/topic.js';
import type { DashboardFlags } from '../commands/dashboard.js';
import { planConnection } from '../connection.js';
import { Exit, UsageError } from '../errors.js';
import { loadManager } from '../loaders.js';
import type { CommandContext } from '../program.js';
import { aborted, errorPrefix, sleep } from '../runtime.js';
import { type DashboardSettings, dashboardLine, startDashboard } from './serve.js';

/** The explorer session's name (the dashboard publishes through it by default). */
export const EXPLORER = 'explorer';

export async function runExplorer(
  flags: DashboardFlags,
  context: CommandContext,
  settings: Omit<DashboardSettings, 'title' | 'explorer'> & { title?: string },
): Promise<number> {
  const filters = flags.topic ?? ['#'];
  for (const f of filters) {
    if (!isValidTopicFilter(f))
      throw new UsageError(`-t/--topic: not a valid topic filter: ${JSON.stringify(f)}`);
  }
  const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-dashboard' });
  context.target = plan.target;
  const { SessionManager } = await loadManager();
  const manager = new SessionManager(plan.logger === undefined ? {} : { logger: plan.logger });
  try {
    const session = manager.add({
      ...plan.options,
      // without -V: MQTT 5, or 3.1.1 when the broker refuses it (connectSession's rule)
      ...(plan.versionFixed ? {} : { protocolVersion: 'auto' as const }),
      name: EXPLORER,
      subscriptions: filters.map((filter) => ({ filter, qos: flags.qos })),
    });
    const dashboard = await startDashboard(manager, {
      ...settings,
      title: settings.title ?? `mqttkit: ${plan.target}`,
      explorer: EXPLORER,
    });
    if (plan.logger === undefined) {
      // a filter the broker refused, a failed reconnect; with --verbose the session logs these itself
      manager.on('session_error', ({ error }) => process.stderr.write(`${errorPrefix()} ${error.message}\n`));
    }
    await session.connect({ signal: context.signal });
    await manager.waitReady(EXPLORER, { timeout: 0, signal: context.signal });
    process.stdout.write(`${dashboardLine(dashboard)}\n`);
    if (flags.duration === undefined) await aborted(context.signal);
    else await sleep(flags.duration, context.signal);
    return Exit.Ok;
  } finally {
    await manager.close();
  }
}
