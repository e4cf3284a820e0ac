import { existsSync } from 'node:fs';
import type { TestFn } from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestApp, type TestApp } from './app.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'];

export interface DemoBrowser {
  /** `test.serial`, or `test.skip` where there is no Chromium. */
  serial: TestFn['serial'] | TestFn['skip'];
  /** The server and the browser, shared by the file's tests (set before the first test). */
  app: TestApp;
  browser: Browser;
  /** A new browser context on the demo, registered as `<name>_<pid>` and live on the socket. */
  registered(name: string, displayName: string): Promise<Page>;
}

/** Whether Debian's Chromium (or CHROMIUM_PATH) is there: browser tests are skipped without it. */
export const chromiumAvailable = existsSync(CHROMIUM);

/** Headless Chromium as the browser tests run it. */
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: FLAGS });

/** The web demo in Debian's Chromium against one real server on an ephemeral port, for the tests of one file. */
export function demoBrowser(test: TestFn): DemoBrowser {
  const available = chromiumAvailable;
  const demo = {
    serial: available ? test.serial : test.skip,
    async registered(name: string, displayName: string): Promise<Page> {
      const page = await (await demo.browser.newContext()).newPage();
      await page.goto(`${demo.app.url}/demo`);
      const form = page.getByTestId('register-form');
      const username = `${name}_${process.pid}`;
      await form.locator('[name=email]').fill(`${username}@example.test`);
      await form.locator('[name=username]').fill(username);
      await form.locator('[name=displayName]').fill(displayName);
      await form.locator('[name=password]').fill('correct horse battery');
      await form.locator('button').click();
      await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 10_000 });
      return page;
    },
  } as DemoBrowser;
  test.before(async () => {
    if (!available) return;
    demo.app = await startTestApp();
    demo.browser = await launchChromium();
  });
  test.after.always(async () => {
    await demo.browser?.close();
    await demo.app?.dispose();
  });
  return demo;
}
