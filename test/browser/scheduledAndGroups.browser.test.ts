/**
 * Schedule-for-later and group settings in Chromium, on the web demo against a real server on an ephemeral port.
 * Bob schedules a message to Ada 20 s ahead (the minimum is 10 s), edits its text, schedules and cancels another; the
 * first arrives on Ada's screen at its time. Ada makes a group announcement-only and creates an invite link; Cy, in a
 * browser of his own, previews the group through the link, joins, and is refused when he posts.
 */
import test from 'ava';
import type { Page } from 'playwright-core';
import { demoBrowser } from '../helpers/browser.ts';

const demo = demoBrowser(test);

/**
 * Sets the page's "send at" input to `seconds` from now, in the browser's local time (a datetime-local value). The
 * value keeps whole seconds, so the time may be up to a second nearer than asked.
 */
const scheduleIn = (page: Page, seconds: number) =>
  page.evaluate((ahead) => {
    const at = new Date(Date.now() + ahead * 1000);
    const input = document.querySelector<HTMLInputElement>('[data-testid="schedule-at"]')!;
    input.value = new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
  }, seconds);

// 20 s, not the minimum's 10: the page and the server each check the lead, and the edit must land before the send
// freezes a second ahead, so a busy CI machine needs seconds of margin.
demo.serial('Bob schedules a message 20 s ahead, edits it, cancels another; the first arrives on Ada’s screen at its time', async (t) => {
  const ada = await demo.registered('ada_sched', 'Ada');
  const bob = await demo.registered('bob_sched', 'Bob');
  await bob.getByTestId('new-chat').locator('[name=username]').fill(`ada_sched_${process.pid}`);
  await bob.getByTestId('new-chat').locator('button').click();
  await bob.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Ada');
  await bob.getByTestId('composer-text').fill('First, hello');
  await bob.getByTestId('send').click();
  await ada.locator('[data-testid="conversation-item"][data-title="Bob"]').click();
  await ada.locator('[data-testid="message"]', { hasText: 'First, hello' }).waitFor({ timeout: 10_000 });

  // Too soon is refused in the page, before any request.
  await bob.getByTestId('composer-text').fill('too soon');
  await scheduleIn(bob, 3);
  await bob.getByTestId('send-later').click();
  await bob.locator('[data-testid="schedule-error"]', { hasText: 'at least 10 seconds' }).waitFor();

  await bob.getByTestId('composer-text').fill('Meet at 3');
  await scheduleIn(bob, 20);
  await bob.getByTestId('send-later').click();
  const pending = bob.locator('[data-testid="scheduled-item"][data-status="pending"]', { hasText: 'Meet at 3' });
  await pending.waitFor({ timeout: 10_000 });
  t.is(await bob.getByTestId('composer-text').inputValue(), '');

  // Edit its text (the time stays).
  await pending.getByTestId('scheduled-edit').click();
  await pending.getByTestId('scheduled-edit-text').fill('Meet at 3, by the fountain');
  await pending.getByTestId('scheduled-save').click();
  await bob.locator('[data-testid="scheduled-text"]', { hasText: 'Meet at 3, by the fountain' }).waitFor({ timeout: 10_000 });

  // Another, cancelled: gone from the list, never sent.
  await bob.getByTestId('composer-text').fill('Never mind this one');
  await scheduleIn(bob, 600);
  await bob.getByTestId('send-later').click();
  const other = bob.locator('[data-testid="scheduled-item"]', { hasText: 'Never mind this one' });
  await other.waitFor({ timeout: 10_000 });
  await other.getByTestId('scheduled-cancel').click();
  await other.waitFor({ state: 'detached', timeout: 10_000 });
  const mine = await demo.app.readStore.collection<{ _id: string; status: string; text: string | null }>('scheduled_messages').find({});
  t.deepEqual(mine.map((doc) => doc.status).sort(), ['cancelled', 'pending']);

  // At its time the edited text arrives on Ada's screen, and leaves Bob's list.
  await ada.locator('[data-testid="message"]', { hasText: 'Meet at 3, by the fountain' }).waitFor({ timeout: 30_000 });
  await bob.locator('[data-testid="scheduled-item"]', { hasText: 'fountain' }).waitFor({ state: 'detached', timeout: 10_000 });
  t.is(await ada.locator('[data-testid="message"]', { hasText: 'Never mind this one' }).count(), 0);
});

demo.serial(
  'Ada makes a group announcement-only and creates an invite link; Cy previews it, joins through it, and may not post',
  async (t) => {
    const ada = await demo.registered('ada_grp', 'Ada');
    const cy = await demo.registered('cy_grp', 'Cy');

    const newGroup = ada.getByTestId('new-group');
    await newGroup.locator('[name=name]').fill('Book club');
    await newGroup.locator('button').click();
    await ada.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Book club');
    const settings = ada.getByTestId('group-settings');
    await settings.locator('summary').click();
    await settings.locator('select[name=send]').selectOption('admins');
    await settings.getByTestId('save-group-settings').click();
    // The change is a GroupSettingsChanged in the group's stream.
    let changed: unknown;
    for (let tries = 0; tries < 100 && !changed; tries++) {
      const [group] = await demo.app.readStore.collection<{ _id: string }>('groups').find({ name: 'Book club' });
      changed =
        group && (await demo.app.eventStore.readStream(`group-${group._id}`)).find((event) => event.type === 'GroupSettingsChanged');
      if (!changed) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.like(changed, { data: { changes: { send: 'admins' } } });

    await settings.locator('[name=inviteHours]').fill('2');
    await settings.locator('[name=inviteUses]').fill('5');
    await settings.getByTestId('create-invite').click();
    const output = ada.getByTestId('new-invite');
    await ada.waitForFunction(() =>
      /#join=[A-Za-z0-9_-]{32}$/.test(document.querySelector('[data-testid="new-invite"]')?.textContent ?? ''),
    );
    const link = (await output.textContent())!;
    const listed = settings.locator('[data-testid="invite-link"][data-status="open"]');
    await listed.waitFor({ timeout: 10_000 });
    t.regex((await listed.textContent())!, /0\/5 used/);

    // Cy previews the group through the link, then joins.
    const join = cy.getByTestId('join-group');
    await join.locator('[name=link]').fill(link);
    await join.locator('button[value=preview]').click();
    await cy.locator('[data-testid="join-result"]', { hasText: 'Book club · 1 members' }).waitFor({ timeout: 10_000 });
    t.is(await cy.locator('[data-testid="conversation-item"][data-title="Book club"]').count(), 0);
    await join.locator('button[value=join]').click();
    await cy.locator('[data-testid="join-result"]', { hasText: 'Joined Book club' }).waitFor({ timeout: 10_000 });
    await cy.locator('[data-testid="conversation-item"][data-title="Book club"]').click({ timeout: 10_000 });
    // Announcement-only: Cy's post is refused, and nothing of it reaches Ada.
    await cy.getByTestId('composer-text').fill('Can I talk?');
    await cy.getByTestId('send').click();
    await cy.locator('[data-testid="chat-error"]', { hasText: /admin/i }).waitFor({ timeout: 10_000 });
    // Ada sees the link used once.
    await settings.locator('[data-testid="invite-link"]', { hasText: '1/5 used' }).waitFor({ timeout: 10_000 });
    t.is(await ada.locator('[data-testid="message"]', { hasText: 'Can I talk?' }).count(), 0);
  },
);

demo.serial('a reply in a thread Ada follows shows in her conversation list as unread in threads until she opens the thread', async (t) => {
  const ada = await demo.registered('ada_thr', 'Ada');
  const bob = await demo.registered('bob_thr', 'Bob');
  await ada.getByTestId('new-chat').locator('[name=username]').fill(`bob_thr_${process.pid}`);
  await ada.getByTestId('new-chat').locator('button').click();
  await ada.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Bob');
  await ada.getByTestId('composer-text').fill('Dinner plans?');
  await ada.getByTestId('send').click();

  await bob.locator('[data-testid="conversation-item"][data-title="Ada"]').click();
  const onBob = bob.locator('[data-testid="message"]', { hasText: 'Dinner plans?' });
  await onBob.waitFor({ timeout: 10_000 });
  await onBob.getByTestId('open-thread').click();
  await bob.getByTestId('thread-text').fill('Pasta?');
  await bob.getByTestId('thread-send').click();

  // Ada started the thread, so she follows it: one unread reply in the list, until she opens the thread.
  const badge = ada.locator('[data-testid="conversation-item"][data-title="Bob"] [data-testid="thread-unread"]');
  await badge.waitFor({ timeout: 10_000 });
  t.is(await badge.textContent(), '+1 in threads');
  await ada.locator('[data-testid="message"]', { hasText: 'Dinner plans?' }).getByTestId('open-thread').click();
  await ada.locator('[data-testid="thread-reply"]', { hasText: 'Pasta?' }).waitFor({ timeout: 10_000 });
  await badge.waitFor({ state: 'detached', timeout: 10_000 });
});
