/**
 * Disappearing messages in Chromium: two people on the web demo against a real server on an ephemeral port. Bob sets
 * the timer with the selector in the conversation header; both see the notice and the selector follow; his message
 * then leaves both pages when its time is up (a pass of the server's expiry job with a clock a day on).
 */
import test from 'ava';
import { demoBrowser } from '../helpers/browser.ts';

const demo = demoBrowser(test);

demo.serial(
  'Bob sets disappearing messages from the conversation header; both see the notice; his message leaves both pages when it expires',
  async (t) => {
    const ada = await demo.registered('ada_dm', 'Ada');
    const bob = await demo.registered('bob_dm', 'Bob');

    await bob.getByTestId('new-chat').locator('[name=username]').fill(`ada_dm_${process.pid}`);
    await bob.getByTestId('new-chat').locator('button').click();
    await bob.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Ada');
    await bob.getByTestId('composer-text').fill('Before the timer');
    await bob.getByTestId('send').click();
    await ada.locator('[data-testid="conversation-item"][data-title="Bob"]').click();
    await ada.locator('[data-testid="message"]', { hasText: 'Before the timer' }).waitFor();
    t.is(await ada.getByTestId('disappearing-timer').inputValue(), 'off');

    await bob.getByTestId('disappearing-timer').selectOption('24h');
    await bob
      .locator('[data-testid="timer-notice"]', { hasText: 'You set messages to disappear after 24 hours' })
      .waitFor({ timeout: 10_000 });
    await ada.locator('[data-testid="timer-notice"]', { hasText: 'disappear after 24 hours' }).waitFor({ timeout: 10_000 });
    t.is(await ada.getByTestId('disappearing-timer').inputValue(), '24h');

    await bob.getByTestId('composer-text').fill('This one disappears');
    await bob.getByTestId('send').click();
    await ada.locator('[data-testid="message"]', { hasText: 'This one disappears' }).waitFor({ timeout: 10_000 });

    t.like(await demo.app.messageExpiry.sweep(new Date(Date.now() + 25 * 3_600_000)), { expired: 1 });
    for (const page of [ada, bob]) {
      await page.locator('[data-testid="message"]', { hasText: 'This one disappears' }).waitFor({ state: 'detached', timeout: 10_000 });
      t.is(await page.locator('[data-testid="message"]', { hasText: 'Before the timer' }).count(), 1, 'the earlier message stays');
    }
  },
);
