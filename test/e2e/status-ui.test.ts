/**
 * The live view in a real browser: Debian's chromium, driven headless by playwright-core, against a
 * gateway on loopback with a two-target chain of fake upstreams. The page must draw the chain, then
 * show the first target's breaker open and the failovers as they happen, without a reload. Every
 * wait is on the DOM (Playwright's auto-waiting), none on time.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openai } from '../helpers/fake-upstream.js';
import { ask, startChain, type Chain } from '../integration/chain-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
/** The page sits behind the admin key: the browser sends it as Basic credentials, to the page and its event stream alike. */
const ADMIN_KEY = 'live-view-admin-key-0123456789';
const WAIT_MS = 10_000;
/** Starting Chromium on a loaded CI machine may take a while. */
const LAUNCH_MS = 60_000;

let browser: BrowserContext;
let profile: string;
let c: Chain;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  profile = await mkdtemp(join(tmpdir(), 'switchyard-chromium-'));
  // A fresh profile (Playwright's own --user-data-dir) for each run.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // The network is closed: nothing may try to reach Google's services (sync, updates, QUIC probes).
    httpCredentials: { username: 'operator', password: ADMIN_KEY },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  c = await startChain({ config: { auth: { adminKey: ADMIN_KEY }, breaker: { consecutiveFailures: 3, jitter: 0, openMs: 60_000, maxOpenMs: 120_000 } } });
}, LAUNCH_MS);

afterAll(async () => {
  await browser?.close();
  await c?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
}, LAUNCH_MS);

const target = (page: Page, id: string) => page.locator(`ol.chain > li[data-target="${id}"]`);

describe('/status/ui in headless Chromium', () => {
  it('draws the chain, then shows the breaker opening and the failovers live', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    // Without the key the page and its events are refused, with the challenge that makes a browser ask for it.
    for (const path of ['/status/ui', '/status/events']) {
      const refused = await fetch(`${c.gw.url}${path}`);
      expect([refused.status, refused.headers.get('www-authenticate')]).toEqual([401, 'Basic realm="switchyard admin", charset="UTF-8"']);
    }
    await page.goto(`${c.gw.url}/status/ui`);

    await page.locator('#connection[data-connection="live"]').waitFor({ timeout: WAIT_MS });
    const route = page.locator('section[data-route="m"]');
    await route.waitFor({ timeout: WAIT_MS });
    // both targets, in chain order, closed: state in an attribute, and in words, not colour alone
    await expect.poll(() => route.locator('ol.chain > li').evaluateAll((items) => items.map((li) => [li.getAttribute('data-target'), li.getAttribute('data-state')])), { timeout: WAIT_MS }).toEqual([
      ['p1/up1', 'closed'],
      ['p2/up2', 'closed'],
    ]);
    expect(await target(page, 'p1/up1').locator('.badge').textContent()).toContain('closed');
    await expect.poll(() => page.locator('#store').textContent()).toContain('memory');
    expect(await page.locator('#failovers > tr').count()).toBe(0);

    c.p1.setDefault({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    for (let i = 0; i < 3; i++) expect((await ask(c.gw)).headers['x-switchyard-target']).toBe('p2/up2');

    // no reload: the page learns it from the event stream
    await page.locator('ol.chain > li[data-target="p1/up1"][data-state="open"]').waitFor({ timeout: WAIT_MS });
    expect(await target(page, 'p1/up1').locator('.badge').textContent()).toContain('open');
    expect(await target(page, 'p1/up1').locator('dd[data-field="consecutive"]').textContent()).toBe('3');
    expect(await target(page, 'p1/up1').locator('dd[data-field="reopens"]').textContent()).toMatch(/^in \d+ s$/);
    expect(await target(page, 'p1/up1').locator('dd[data-field="lastError"]').textContent()).toContain('GW_ERR_UPSTREAM_OVERLOADED');
    expect(await target(page, 'p2/up2').getAttribute('data-state')).toBe('closed');

    const failover = page.locator('#failovers > tr[data-failover="p1/up1"][data-to="p2/up2"]');
    await failover.nth(2).waitFor({ timeout: WAIT_MS });
    expect(await failover.first().textContent()).toContain('GW_ERR_UPSTREAM_OVERLOADED');
    expect(problems).toEqual([]);
    await page.close();
  }, LAUNCH_MS);
});
