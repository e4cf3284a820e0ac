/**
 * Message search in Chromium: Bob sends Ada a message on the web demo (against a real server on an ephemeral port);
 * Ada finds it through the search box, the searched word marked, and Cy, who is not in the conversation, does not.
 */
import test from 'ava';
import type { Page } from 'playwright-core';
import { demoBrowser } from '../helpers/browser.ts';

const demo = demoBrowser(test);

async function searchFor(page: Page, q: string) {
  await page.getByTestId('search-input').fill(q);
  await page.getByTestId('search').locator('button').click();
}

demo.serial('Ada finds the message Bob sent her through the search box, the word marked; Cy finds nothing of it', async (t) => {
  const ada = await demo.registered('ada_sx', 'Ada');
  const bob = await demo.registered('bob_sx', 'Bob');
  const cy = await demo.registered('cy_sx', 'Cy');

  await bob.getByTestId('new-chat').locator('[name=username]').fill(`ada_sx_${process.pid}`);
  await bob.getByTestId('new-chat').locator('button').click();
  await bob.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Ada');
  await bob.getByTestId('composer-text').fill('The pelican report is ready');
  await bob.getByTestId('send').click();
  await ada.locator('[data-testid="conversation-item"][data-title="Bob"]').waitFor({ timeout: 10_000 });

  // The search index is a projection: asked again until the message is in it.
  const result = ada.getByTestId('search-result');
  for (let attempt = 0; attempt < 20 && (await result.count()) === 0; attempt++) {
    await searchFor(ada, 'pelic');
    await result
      .first()
      .waitFor({ timeout: 500 })
      .catch(() => undefined);
  }
  t.is(await result.count(), 1);
  t.is(await result.locator('mark').textContent(), 'pelican', 'the matched word is marked');
  t.regex((await result.locator('p').textContent()) ?? '', /The pelican report is ready/);

  await searchFor(cy, 'pelican');
  await cy.getByTestId('search-results').locator('li', { hasText: 'No messages found' }).waitFor({ timeout: 10_000 });
  t.is(await cy.getByTestId('search-result').count(), 0, 'not a conversation of hers');
});
