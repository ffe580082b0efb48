/**
 * The dashboard in a real browser: Debian's Chromium, driven by
 * playwright-core, on the page as `npm run build` bundles it, served by
 * `manager.serveDashboard()` for a fleet on a private mosquitto. Every wait
 * is for something on the page (playwright's auto-waiting locators), never
 * for a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, SessionManager } from '../../src/index.js';
import { hasChromium, openBrowser } from '../helpers/browser.js';
import { closeAfter } from '../helpers/cleanup.js';
import { received } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const TIMEOUT = 20_000;

/** What the functions run in the page read of it (the tests are compiled without the DOM's types). */
declare const document: {
  readonly activeElement: { getAttribute(name: string): string | null } | null;
  readonly documentElement: { getAttribute(name: string): string | null };
};

async function fleet(
  broker: Broker,
  names: string[],
  options: Parameters<SessionManager['serveDashboard']>[0] = {},
) {
  const manager = closeAfter(new SessionManager());
  for (const name of names)
    manager.add({ name, url: broker.url, reconnect: { initialDelay: 20, maxDelay: 200 } });
  await manager.connectAll();
  const dashboard = await manager.serveDashboard({ port: 0, interval: 100, ...options });
  return { manager, dashboard };
}

describe.skipIf(!hasMosquitto() || !hasChromium())('the dashboard in Chromium', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('loads against a running fleet and lists its sessions', async () => {
    const names = ['meter-1', 'meter-2', 'pump-1', 'pump-2', 'gateway'];
    const { dashboard } = await fleet(broker, names);
    const { page, errors } = await openBrowser();
    await page.goto(dashboard.url);
    const rows = page.getByTestId('fleet-row');
    await expect.poll(() => rows.count(), { timeout: TIMEOUT }).toBe(5);
    const shown = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
    expect([...shown].sort()).toEqual([...names].sort());
    for (const state of await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))) {
      expect(state).toBe('connected');
    }
    await expect
      .poll(() => page.getByTestId('conn-status').textContent(), { timeout: TIMEOUT })
      .toMatch(/live/i);
    // the filter narrows the table (on the server)
    await page.getByTestId('fleet-filter').fill('pump');
    await expect.poll(() => rows.count(), { timeout: TIMEOUT }).toBe(2);
    expect(errors).toEqual([]);
  });

  it('publishes from the page: the message reaches a subscriber and shows in the topic tree', async () => {
    const { manager, dashboard } = await fleet(broker, ['explorer', 'device']);
    await manager.get('explorer')?.subscribe('page/#', { qos: 1 });
    const watcher = closeAfter(new Session({ url: broker.url }));
    await watcher.connect();
    await watcher.subscribe('page/#', { qos: 1 });
    const got = received(watcher, 1);
    const { page, errors } = await openBrowser();
    await page.goto(`${dashboard.url}#/topics`);
    const form = page.getByTestId('publish-form');
    await form.waitFor({ timeout: TIMEOUT });
    await page.getByTestId('publish-topic').fill('page/greeting');
    await page.getByTestId('publish-payload').fill('{"hello":"from the page"}');
    await page.getByTestId('publish-submit').click();
    await expect
      .poll(() => page.getByTestId('publish-result').getAttribute('data-ok'), { timeout: TIMEOUT })
      .toBe('true');
    const [message] = await got;
    expect(message.topic).toBe('page/greeting');
    expect(message.payload.toString()).toBe('{"hello":"from the page"}');
    const leaf = page.locator('[data-testid="topic-node"][data-topic="page/greeting"]');
    await expandTo(page, 'page/greeting');
    await leaf.waitFor({ timeout: TIMEOUT });
    await leaf.click();
    await expect
      .poll(() => page.getByTestId('topic-messages').textContent(), { timeout: TIMEOUT })
      .toContain('from the page');
    expect(errors).toEqual([]);
  });

  it('turns the rows of a killed broker disconnected, and back after it restarts', async () => {
    const own = await startMosquitto();
    try {
      const { dashboard } = await fleet(own, ['a', 'b', 'c']);
      const { page } = await openBrowser();
      await page.goto(dashboard.url);
      const rows = page.getByTestId('fleet-row');
      const states = () => rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
      await expect.poll(states, { timeout: TIMEOUT }).toEqual(['connected', 'connected', 'connected']);
      await own.kill();
      // every row stays listed, none connected, each marked as a problem (a red edge and tint)
      const marked = () =>
        rows.evaluateAll((els) =>
          els.map((e) => `${e.getAttribute('data-state') === 'connected'}:${e.className}`),
        );
      await expect
        .poll(marked, { timeout: TIMEOUT })
        .toEqual(['false:row-bad', 'false:row-bad', 'false:row-bad']);
      await own.restart();
      await expect.poll(states, { timeout: TIMEOUT }).toEqual(['connected', 'connected', 'connected']);
    } finally {
      await own.stop();
    }
  });

  it('is usable with the keyboard: rows open with Enter, views switch with 1-4, t switches the theme', async () => {
    const { dashboard } = await fleet(broker, ['kb-1', 'kb-2']);
    const { page, errors } = await openBrowser({ colorScheme: 'dark' });
    await page.goto(dashboard.url);
    const rows = page.getByTestId('fleet-row');
    await expect.poll(() => rows.count(), { timeout: TIMEOUT }).toBe(2);
    const theme = () => page.evaluate(() => document.documentElement.getAttribute('data-theme'));
    const before = await theme();
    await page.keyboard.press('t');
    await expect.poll(theme).not.toBe(before);
    // Tab reaches the rows; Enter opens the focused one
    for (
      let i = 0;
      i < 40 &&
      (await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))) !== 'fleet-row';
      i++
    ) {
      await page.keyboard.press('Tab');
    }
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-name'));
    expect(focused).toBe('kb-1');
    await page.keyboard.press('Enter');
    await page.getByTestId('session-view').waitFor({ timeout: TIMEOUT });
    await expect
      .poll(() => page.getByTestId('session-view').textContent(), { timeout: TIMEOUT })
      .toContain('kb-1');
    await page.keyboard.press('3');
    await page.getByTestId('publish-form').waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('4');
    await page.getByText(/no RPC server/i).waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('1');
    await page.getByTestId('fleet-table').waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(
      'fleet-filter',
    );
    expect(errors).toEqual([]);
  });

  it('refuses a request without the token, and opens with it', async () => {
    const token = 'browser-token-93d1';
    const { dashboard } = await fleet(broker, ['one'], { token });
    const { page } = await openBrowser();
    const refused = await page.goto(dashboard.url);
    expect(refused?.status()).toBe(401);
    expect(await page.content()).not.toContain('fleet-table');
    await page.goto(`${dashboard.url}?token=${token}`);
    expect(page.url()).not.toContain(token); // redirected, the token kept in a cookie
    await expect.poll(() => page.getByTestId('fleet-row').count(), { timeout: TIMEOUT }).toBe(1);
    await expect
      .poll(() => page.getByTestId('conn-status').textContent(), { timeout: TIMEOUT })
      .toMatch(/live/i);
  });
});

/** Opens the tree's inner nodes down to `topic` (clicking each level that is not open yet). */
async function expandTo(page: import('playwright-core').Page, topic: string): Promise<void> {
  const levels = topic.split('/');
  for (let i = 1; i < levels.length; i++) {
    const path = levels.slice(0, i).join('/');
    const node = page.locator(`[data-testid="topic-node"][data-path="${path}"]`);
    await node.waitFor({ timeout: TIMEOUT });
    if ((await node.getAttribute('aria-expanded')) === 'false') await node.click();
  }
}
