/**
 * What `mqttkit demo` does once its flags are parsed; loaded only when the
 * command runs, so other commands start without the fleet's modules.
 */
import pc from 'picocolors';
import { type EmbeddedBroker, startLoopbackBroker } from '../../broker/index.js';
import { parseBrokerUrl } from '../../core/url.js';
import {
  brokerGiven,
  type ConnectionFlags,
  checkEmbeddedFlags,
  connectSession,
  planConnection,
  targetOf,
} from '../connection.js';
import { type DashboardOptionFlags, dashboardOption } from '../dashboard/flags.js';
import { Exit } from '../errors.js';
import type { CommandContext } from '../program.js';
import { aborted, sleep } from '../runtime.js';
import { DemoFleet, TELEMETRY_RATE } from './fleet.js';
import { LiveOutput, statusLine, summary, table } from './view.js';

export interface DemoFlags extends ConnectionFlags, DashboardOptionFlags {
  duration?: number;
  devices: number;
}

export async function runDemo(flags: DemoFlags, context: CommandContext): Promise<number> {
  const external = brokerGiven(flags);
  if (!external) checkEmbeddedFlags(flags);
  const dashboard = dashboardOption(flags);
  const plan = await planConnection(flags);
  const out = new LiveOutput(process.stdout.isTTY === true);
  let broker: EmbeddedBroker | undefined;
  if (external) {
    context.target = plan.target;
    // one connection first: a clear error when the broker is not there, and the MQTT version it takes
    const probing = connectSession(plan);
    const probe = await Promise.race([probing, aborted(context.signal).then(() => undefined)]);
    if (probe === undefined) {
      void probing.then(
        (s) => s.close(),
        () => undefined,
      );
      out.print(`stopped while connecting to ${plan.target}`);
      return Exit.Ok;
    }
    plan.options.protocolVersion = probe.protocolVersion;
    await probe.close();
    const version = probe.protocolVersion === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
    out.print(
      `broker ${plan.target} (${version}) ${pc.dim('—')} try: mqttkit sub ${watchFlags(flags)} -t 'demo/#' -v`,
    );
  } else {
    broker = await startLoopbackBroker();
    plan.options.url = broker.url;
    plan.options.protocolVersion = 4;
    context.target = targetOf(broker.url);
    out.print(
      `embedded broker (aedes, MQTT 3.1.1) at ${broker.url} ${pc.dim('—')} try: mqttkit sub -p ${broker.port} -t 'demo/#' -v`,
    );
  }

  const seen = new Map<string, number>();
  const log = (line: string): void => {
    // the same trouble from many sessions or calls: once every 5 s
    const now = Date.now();
    if (now - (seen.get(line) ?? -Infinity) < 5000) return;
    if (seen.size > 100) seen.clear();
    seen.set(line, now);
    out.error(line);
  };
  const prefix =
    flags.id ?? `mqttkit-demo-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  // with --verbose every session logs its connects, losses and drops (bound to its name)
  const fleet = new DemoFleet({ ...plan.options, logger: plan.logger }, flags.devices, prefix, log);
  const n = flags.devices;
  const pad = (s: string) => s.padEnd(n >= 10 ? 14 : 13);
  for (const line of [
    `${pc.bold('mqttkit demo')}: ${fleet.sessions.size} MQTT sessions in this process, managed by one SessionManager`,
    `  ${pad(n === 1 ? 'device-1' : `device-1..${n}`)}state batched every 500 ms to demo/devices/<id>/state,`,
    `  ${pad('')}telemetry queued at most ${TELEMETRY_RATE}/s to demo/devices/<id>/telemetry`,
    `  ${pad('api')}RPC server: demo/devices/<id>/get answers the last state it saw`,
    `  ${pad('console')}RPC client: calls it every 200 ms (one call in ten: a missing device, 404)`,
    `  ${pad('edge → cloud')}forwarder: demo/devices/+/telemetry → demo/cloud/devices/+/telemetry`,
  ]) {
    out.print(line);
  }
  if (dashboard !== undefined) {
    try {
      const { dashboardLine, startDashboard } = await import('../dashboard/serve.js');
      out.print(dashboardLine(await startDashboard(fleet.manager, { ...dashboard, title: 'mqttkit demo' })));
    } catch (err) {
      await fleet.stop();
      await broker?.close();
      throw err;
    }
  }

  const connecting = performance.now();
  try {
    await fleet.start(context.signal);
  } catch (err) {
    await fleet.stop();
    await broker?.close();
    if (context.signal.aborted) {
      out.print('stopped before the fleet was ready');
      return Exit.Ok;
    }
    throw err;
  }
  const started = performance.now();
  const until =
    flags.duration === undefined ? 'until Ctrl-C' : `for ${flags.duration / 1000} s (or until Ctrl-C)`;
  out.print(
    `${fleet.sessions.size} sessions ready in ${Math.round(started - connecting)} ms; running ${until}`,
  );

  fleet.manager.metrics(); // starts sampling the rates
  const render = (second: number): void => {
    const snap = fleet.manager.metrics();
    const stats = fleet.stats();
    if (out.tty) out.frame(table(snap, stats, fleet.roles, second));
    else out.print(statusLine(snap, stats, second));
  };
  if (out.tty) render(0);
  const deadline = started + (flags.duration ?? Number.POSITIVE_INFINITY);
  for (let second = 1; ; second++) {
    const next = started + second * 1000;
    if (!(await sleep(Math.max(0, Math.min(next, deadline) - performance.now()), context.signal))) break;
    if (next <= deadline) render(second);
    if (performance.now() >= deadline) break;
  }
  const seconds = (performance.now() - started) / 1000;
  out.done();
  out.print(context.signal.aborted ? '\nCtrl-C: stopping…' : '\nstopping…');

  await fleet.stop();
  await broker?.close();
  const totals = { sessions: fleet.sessions.size, messagesOut: 0, messagesIn: 0, reconnects: 0, errors: 0 };
  for (const s of fleet.sessions.values()) {
    const m = s.metrics();
    totals.messagesOut += m.messagesOut;
    totals.messagesIn += m.messagesIn;
    totals.reconnects += m.reconnects;
    totals.errors += m.errors;
  }
  const where =
    broker === undefined ? `${plan.target}, left running` : `embedded aedes at ${broker.url}, closed`;
  for (const line of summary(fleet.stats(), totals, seconds, where)) out.print(line);
  return Exit.Ok;
}

/** How `mqttkit sub` reaches the same broker (without credentials or the URL's query: they may be secrets). */
function watchFlags(flags: DemoFlags): string {
  const parts: string[] = [];
  // planConnection has parsed the URL already
  if (flags.url !== undefined) parts.push(`-L ${parseBrokerUrl(flags.url).display}`);
  if (flags.host !== undefined) parts.push(`-h ${flags.host}`);
  if (flags.port !== undefined) parts.push(`-p ${flags.port}`);
  if (flags.ws) parts.push('--ws');
  if (flags.cafile !== undefined) parts.push(`--cafile ${flags.cafile}`);
  if (flags.cert !== undefined) parts.push(`--cert ${flags.cert} --key ${flags.key}`);
  if (flags.insecure) parts.push('--insecure');
  if (flags.username !== undefined) parts.push(`-u ${flags.username}`); // never the password
  return parts.join(' ');
}
