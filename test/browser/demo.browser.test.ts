/**
 * The whole product in Chromium: two people on the web demo (/demo, on the typed client) against a real server on
 * an ephemeral port. Each step leaves screenshots of both pages in test-results/ when it fails.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = join(process.cwd(), 'test-results');
/** Offline-safe flags (no background connections the closed network refuses) plus fake camera and microphone. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

interface Person {
  page: Page;
  context: BrowserContext;
  email: string;
  username: string;
  displayName: string;
  password: string;
}

let browser: Browser;
let app: TestApp;
let gemini: FakeGemini;
let ada: Person;
let bob: Person;

const available = existsSync(CHROMIUM);
const serial = available ? test.serial : test.skip;
if (!available) console.log(`Browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);

test.before(async () => {
  if (!available) return;
  gemini = await fakeGemini(['Hello', ' from', ' Leta.'], 80);
  app = await startTestApp({ env: { GEMINI_API_BASE_URL: gemini.url, PRESENCE_OFFLINE_GRACE_MS: '300', PRESENCE_PUSH_COALESCE_MS: '0' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  ada = await person('ada', 'Ada');
  bob = await person('bob', 'Bob');
});

test.after.always(async () => {
  await browser?.close();
  await app?.dispose();
  await gemini?.close();
});

async function person(name: string, displayName: string): Promise<Person> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const username = `${name}_${process.pid}`;
  return { page, context, email: `${username}@example.test`, username, displayName, password: 'correct horse battery' };
}

/** Runs a step; on failure both pages are photographed before the error is reported. */
async function step(t: ExecutionContext, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    mkdirSync(RESULTS, { recursive: true });
    for (const who of [ada, bob]) {
      if (!who.page.isClosed()) await who.page.screenshot({ path: join(RESULTS, `${name}-${who.username}.png`), fullPage: true }).catch(() => undefined);
    }
    t.log(`screenshots in ${RESULTS}`);
    throw error;
  }
}

const byTest = (page: Page, id: string) => page.getByTestId(id);

async function openDemo(who: Person): Promise<void> {
  await who.page.goto(`${app.url}/demo`);
}

async function waitLive(who: Person): Promise<void> {
  await who.page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 10_000 });
}

async function messagesOf(who: Person): Promise<string[]> {
  return who.page.locator('[data-testid="message"]:not([data-pending]) [data-testid="message-text"]').allTextContents();
}

async function openConversationWith(who: Person, title: string): Promise<void> {
  await who.page.locator(`[data-testid="conversation-item"][data-title="${title}"]`).click();
  await who.page.waitForFunction((t) => document.querySelector('[data-testid="conversation-title"]')?.textContent === t, title);
}

async function send(who: Person, text: string): Promise<void> {
  await byTest(who.page, 'composer-text').fill(text);
  await byTest(who.page, 'send').click();
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

serial('two people register and chat: live delivery, typing, presence, read receipts, edits and deletes', async (t) => {
  await step(t, 'chat', async () => {
    for (const who of [ada, bob]) {
      await openDemo(who);
      const form = byTest(who.page, 'register-form');
      await form.locator('[name=email]').fill(who.email);
      await form.locator('[name=username]').fill(who.username);
      await form.locator('[name=displayName]').fill(who.displayName);
      await form.locator('[name=password]').fill(who.password);
      await form.locator('button').click();
      await waitLive(who);
    }

    await byTest(ada.page, 'new-chat').locator('[name=username]').fill(bob.username);
    await byTest(ada.page, 'new-chat').locator('button').click();
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Bob');
    await send(ada, 'Hello Bob');

    // Bob is not looking at the conversation: it shows up in his list, unread.
    const item = bob.page.locator('[data-testid="conversation-item"][data-title="Ada"]');
    await item.locator('[data-testid="unread"][data-count="1"]').waitFor({ timeout: 10_000 });
    await openConversationWith(bob, 'Ada');
    await until(async () => (await messagesOf(bob)).includes('Hello Bob'));
    // Opening it read it: Ada sees "read".
    await ada.page.locator('[data-testid="message"]', { hasText: 'Hello Bob' }).locator('[data-testid="status"][data-status="read"]').waitFor({ timeout: 10_000 });
    await item.locator('[data-testid="unread"][data-count="0"]').waitFor({ state: 'attached' });

    // Typing shows on the other side; presence is a green dot.
    await byTest(bob.page, 'composer-text').pressSequentially('Hi', { delay: 30 });
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent?.includes('Bob is typing'));
    await ada.page.locator('[data-testid="peer-presence"][data-status="online"]').waitFor();
    await byTest(bob.page, 'send').click();
    await until(async () => (await messagesOf(ada)).includes('Hi'));

    // Ada edits her message and deletes another: Bob's view follows.
    await send(ada, 'typo mesage');
    await until(async () => (await messagesOf(bob)).includes('typo mesage'));
    const typo = ada.page.locator('[data-testid="message"]', { hasText: 'typo mesage' });
    await typo.locator('[data-testid="edit"]').click();
    await send(ada, 'fixed message');
    await until(async () => (await messagesOf(bob)).includes('fixed message'));
    await ada.page.locator('[data-testid="message"]', { hasText: 'Hello Bob' }).locator('[data-testid="delete"]').click();
    await until(async () => (await messagesOf(bob)).includes('message deleted'));
    t.deepEqual(await messagesOf(bob), ['message deleted', 'Hi', 'fixed message']);
  });
});

serial('Bob goes offline, Ada sends, Bob comes back: he catches up with nothing lost or doubled', async (t) => {
  await step(t, 'offline', async () => {
    await bob.page.close();
    // Ada sees him go: no longer online, with a last-seen time.
    await ada.page.locator('[data-testid="peer-presence"][data-status="offline"]').waitFor({ timeout: 10_000 });
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="peer-last-seen"]')?.textContent?.startsWith('last seen'));
    for (const text of ['one', 'two', 'three']) await send(ada, text);
    await until(async () => (await ada.page.locator('[data-testid="message"][data-pending]').count()) === 0);

    bob.page = await bob.context.newPage();
    await openDemo(bob);
    await waitLive(bob);
    const item = bob.page.locator('[data-testid="conversation-item"][data-title="Ada"]');
    await item.locator('[data-testid="unread"][data-count="3"]').waitFor({ timeout: 10_000 });
    await openConversationWith(bob, 'Ada');
    await until(async () => (await messagesOf(bob)).includes('three'));
    t.deepEqual(await messagesOf(bob), ['message deleted', 'Hi', 'fixed message', 'one', 'two', 'three']);
    // Live again: the next one arrives once.
    await send(ada, 'four');
    await until(async () => (await messagesOf(bob)).includes('four'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.deepEqual(await messagesOf(bob), ['message deleted', 'Hi', 'fixed message', 'one', 'two', 'three', 'four']);
  });
});

serial('Ada shares a picture and sets a profile picture: Bob sees both', async (t) => {
  await step(t, 'picture', async () => {
    const picture = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#2a7ab0' } }).png().toBuffer();
    await byTest(ada.page, 'attach-input').setInputFiles({ name: 'sea.png', mimeType: 'image/png', buffer: picture });
    await send(ada, 'the sea');
    const image = bob.page.locator('[data-testid="message"]', { hasText: 'the sea' }).locator('[data-testid="attachment-image"]');
    await image.waitFor({ timeout: 10_000 });
    await until(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 64));

    const avatar = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#d94f2b' } }).jpeg().toBuffer();
    await byTest(ada.page, 'avatar-input').setInputFiles({ name: 'me.jpg', mimeType: 'image/jpeg', buffer: avatar });
    const mine = byTest(ada.page, 'my-avatar');
    await until(() => mine.evaluate((img: HTMLImageElement) => !img.hidden && img.complete && img.naturalWidth === 128));
    // Bob's list shows her new picture once her profile update reaches him.
    const hers = bob.page.locator('[data-testid="conversation-item"][data-title="Ada"] [data-testid="conversation-avatar"]');
    await until(() => hers.evaluate((img: HTMLImageElement) => !img.hidden && img.complete && img.naturalWidth === 48));
    t.pass();
  });
});

serial('Ada makes a group with Bob: he sees it appear and her message in it', async (t) => {
  await step(t, 'group', async () => {
    const form = byTest(ada.page, 'new-group');
    await form.locator('[name=name]').fill('Trip');
    await form.locator('[name=members]').fill(bob.username);
    await form.locator('button').click();
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Trip');
    await send(ada, 'who brings the map?');
    await bob.page.locator('[data-testid="conversation-item"][data-title="Trip"] [data-testid="unread"][data-count="1"]').waitFor({ timeout: 10_000 });
    await openConversationWith(bob, 'Trip');
    await until(async () => (await messagesOf(bob)).includes('who brings the map?'));
    t.deepEqual(await messagesOf(bob), ['who brings the map?']);
    // Ada's copy counts Bob's read.
    await ada.page.locator('[data-testid="message"]', { hasText: 'who brings the map?' }).locator('[data-testid="status"][data-status="read by 1"]').waitFor({ timeout: 10_000 });
    // Back to the direct conversation for the call.
    await openConversationWith(ada, 'Bob');
  });
});

serial('Ada asks Leta and watches the reply stream in', async (t) => {
  await step(t, 'leta', async () => {
    await byTest(ada.page, 'leta-key').locator('[name=apiKey]').fill(gemini.apiKey);
    await byTest(ada.page, 'leta-key').locator('button').click();
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="leta-key-status"]')?.textContent?.startsWith('key …'));
    await byTest(ada.page, 'leta-ask').locator('[name=message]').fill('Hi Leta');
    await byTest(ada.page, 'leta-ask').locator('button').click();
    const reply = byTest(ada.page, 'leta-reply');
    // Part of the reply shows before the whole of it.
    await ada.page.waitForFunction(() => {
      const element = document.querySelector<HTMLElement>('[data-testid="leta-reply"]');
      return element?.dataset.state === 'streaming' && element.textContent === 'Hello';
    });
    await ada.page.locator('[data-testid="leta-reply"][data-state="done"]').waitFor({ timeout: 10_000 });
    t.is(await reply.textContent(), 'Hello from Leta.');
    t.true(Number(await reply.getAttribute('data-deltas')) >= 2);
    t.is(gemini.prompts.at(-1), 'Hi Leta');
  });
});

serial('Ada calls Bob: both peer connections connect through the server\'s signaling; after the hang-up both see the call in history', async (t) => {
  await step(t, 'call', async () => {
    await byTest(ada.page, 'video-call').click();
    await byTest(bob.page, 'answer').click({ timeout: 10_000 });
    for (const who of [ada, bob]) {
      await who.page.waitForFunction(() => ['connected', 'completed'].includes(document.querySelector('[data-testid="ice-state"]')?.textContent ?? ''),
        undefined, { timeout: 10_000 });
    }
    // Media flows: Bob's page plays Ada's fake camera.
    await until(() => bob.page.evaluate(() => (document.querySelector<HTMLVideoElement>('[data-testid="remote-video"]')?.videoWidth ?? 0) > 0));
    await byTest(ada.page, 'hangup').click();
    for (const who of [ada, bob]) {
      await who.page.locator('[data-testid="call-status"][data-status="ended (hangup)"]').waitFor({ timeout: 10_000 });
      await who.page.locator('[data-testid="call-history-item"][data-state="ended"]').first().waitFor({ timeout: 10_000 });
    }
    t.regex(await byTest(ada.page, 'call-history-item').first().textContent() ?? '', /^outgoing video · answered/);
    t.regex(await byTest(bob.page, 'call-history-item').first().textContent() ?? '', /^incoming video · answered/);
  });
});
