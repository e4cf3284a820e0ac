/**
 * Reactions and threads in Chromium: two people on the web demo against a real server on an ephemeral port. Ada
 * reacts to Bob's message with the picker; Bob sees the count on his side; then a reply in a thread shows in the
 * thread pane on both sides.
 */
import test from 'ava';
import { demoBrowser } from '../helpers/browser.ts';

const demo = demoBrowser(test);

demo.serial("Ada reacts to Bob's message with the picker and Bob sees the count; a thread reply shows in both thread panes", async (t) => {
  const ada = await demo.registered('ada_rx', 'Ada');
  const bob = await demo.registered('bob_rx', 'Bob');

  await bob.getByTestId('new-chat').locator('[name=username]').fill(`ada_rx_${process.pid}`);
  await bob.getByTestId('new-chat').locator('button').click();
  await bob.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Ada');
  await bob.getByTestId('composer-text').fill('Lunch at noon?');
  await bob.getByTestId('send').click();

  await ada.locator('[data-testid="conversation-item"][data-title="Bob"]').click();
  const onAda = ada.locator('[data-testid="message"]', { hasText: 'Lunch at noon?' });
  await onAda.waitFor();
  await onAda.getByTestId('react').click();
  await onAda.locator('[data-testid="reaction-option"][data-emoji="👍🏽"]').click();
  await onAda.locator('[data-testid="reaction"][data-emoji="👍🏽"][aria-pressed="true"]').waitFor({ timeout: 10_000 });

  // Bob's side: the count arrives live, not pressed (it is Ada's reaction).
  const onBob = bob.locator('[data-testid="message"]', { hasText: 'Lunch at noon?' });
  const chip = onBob.locator('[data-testid="reaction"][data-emoji="👍🏽"]');
  await chip.waitFor({ timeout: 10_000 });
  t.is(await chip.textContent(), '👍🏽 1');
  t.is(await chip.getAttribute('aria-pressed'), 'false');

  // Bob adds the same emoji by clicking the chip: both see 2.
  await chip.click();
  await onAda.locator('[data-testid="reaction"][data-emoji="👍🏽"]', { hasText: '👍🏽 2' }).waitFor({ timeout: 10_000 });
  t.is(await onBob.locator('[data-testid="reaction"][data-emoji="👍🏽"]').textContent(), '👍🏽 2');

  // A thread: Ada replies in the thread pane; Bob (the root's sender, so a follower) sees it in his.
  await onAda.getByTestId('open-thread').click();
  await ada.getByTestId('thread-pane').waitFor();
  await ada.getByTestId('thread-text').fill('Yes, the usual place');
  await ada.getByTestId('thread-send').click();
  await ada.locator('[data-testid="thread-reply"]', { hasText: 'Yes, the usual place' }).waitFor({ timeout: 10_000 });
  await onBob.getByTestId('open-thread').click();
  await bob.locator('[data-testid="thread-reply"]', { hasText: 'Yes, the usual place' }).waitFor({ timeout: 10_000 });
  t.is(await bob.getByTestId('thread-root').textContent(), 'Lunch at noon?');
});
