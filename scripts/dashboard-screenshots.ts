/**
 * `npx tsx scripts/dashboard-screenshots.ts`: the screenshots of the
 * dashboard in docs/images/ (shown in the README and docs/dashboard.md).
 *
 * Runs the demo fleet (`mqttkit demo`'s: devices, an RPC API and its
 * caller, a forwarder) on a private mosquitto, plus an explorer session
 * subscribed to `demo/#` and one session whose broker is killed, serves the
 * dashboard, lets 30 s of history gather, and photographs each view in
 * Debian's Chromium (light, and the fleet view dark too). Needs `npm run
 * build` first (the page is served from dist/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { DemoFleet } from '../src/cli/demo/fleet.js';
import '../src/index.js'; // registers the dashboard's loader with the manager
import { startMosquitto } from '../test/helpers/mosquitto.js';

const OUT = fileURLToPath(new URL('../docs/images/', import.meta.url));
const GATHER_MS = Number(process.env.GATHER_MS ?? 30_000);

const broker = await startMosquitto();
const fleet = new DemoFleet({ url: broker.url, reconnect: { maxDelay: 2000 } }, 12, 'shots', () => undefined);
const m = fleet.manager;
const controller = new AbortController();
await fleet.start(controller.signal);
// two sessions more: an explorer of every demo topic, and an uplink whose broker dies
const explorer = m.add({ name: 'explorer', url: broker.url });
await explorer.connect();
await explorer.subscribe('demo/#');
const lost = await startMosquitto();
const uplink = m.add({
  name: 'backup-uplink',
  url: lost.url,
  reconnect: { initialDelay: 500, maxDelay: 2000 },
});
await uplink.connect();
const dashboard = await m.serveDashboard({ port: 0, title: 'demo plant', explorer: 'explorer' });
// the uplink's broker dies while the dashboard watches; the API's session view starts its history now
await lost.kill();
await fetch(`${dashboard.url}api/snapshot?view=session&session=api`);
process.stdout.write(`dashboard at ${dashboard.url}; gathering ${GATHER_MS / 1000} s of history\n`);
await new Promise((resolve) => setTimeout(resolve, GATHER_MS));

mkdirSync(OUT, { recursive: true });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const shots: [file: string, hash: string, scheme: 'light' | 'dark'][] = [
  ['dashboard-fleet.png', '#/fleet', 'light'],
  ['dashboard-fleet-dark.png', '#/fleet', 'dark'],
  ['dashboard-session.png', '#/session/api', 'light'],
  ['dashboard-topics.png', `#/topics/${encodeURIComponent('demo/devices/3/telemetry')}`, 'light'],
  ['dashboard-rpc.png', '#/rpc', 'light'],
];
for (const [file, hash, colorScheme] of shots) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, colorScheme });
  await page.goto(`${dashboard.url}${hash}`);
  await page.getByTestId('conn-status').filter({ hasText: /live/i }).waitFor();
  // two ticks: the charts have their data and the layout has settled
  await page.waitForTimeout(2500);
  await page.screenshot({ path: join(OUT, file) });
  await page.close();
  process.stdout.write(`docs/images/${file}\n`);
}
await browser.close();
controller.abort();
await fleet.stop();
await m.close();
await broker.stop();
await lost.stop();
