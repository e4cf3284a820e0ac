/**
 * The whole product in Chromium: three people on the web demo (/demo, on the typed client) against a real server on
 * an ephemeral port, two at a desk and one on a phone-sized screen. Every step leaves screenshots of all the pages in
 * test-results/demo/ (git-ignored; the path is printed), numbered in the order they were taken.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import sharp from 'sharp';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = join(process.cwd(), 'test-results', 'demo');
/** A phone held upright (an iPhone 12-15's CSS pixels). */
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
/** Offline-safe flags (no background connections the closed network refuses) plus fake camera and microphone. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

interface Person {
  page: Page;
  context: BrowserContext;
  /** Answers of 400 and up and requests that failed, since the last check: the page should ask for nothing that is not there. */
  refused: string[];
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
let cy: Person;
let shots = 0;
/** What the server answered, from its request log: it sees what the browser asks for on its own, like /favicon.ico. */
const served: Array<{ method: string; path: string; status: number }> = [];

const available = existsSync(CHROMIUM);
const serial = available ? test.serial : test.skip;
if (!available) console.log(`Browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);

test.before(async () => {
  if (!available) return;
  gemini = await fakeGemini(['Hello', ' from', ' Leta.'], 80);
  const { pino } = await import('pino');
  const requestLog = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as { method?: string; path?: string; status?: number };
        if (entry.method && entry.path && typeof entry.status === 'number')
          served.push({ method: entry.method, path: entry.path, status: entry.status });
      },
    },
  );
  app = await startTestApp({
    logger: requestLog,
    env: { GEMINI_API_BASE_URL: gemini.url, PRESENCE_OFFLINE_GRACE_MS: '300', PRESENCE_PUSH_COALESCE_MS: '0' },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  rmSync(RESULTS, { recursive: true, force: true });
  mkdirSync(RESULTS, { recursive: true });
  ada = await person('ada', 'Ada');
  bob = await person('bob', 'Bob');
  cy = await person('cy', 'Cy', PHONE);
});

test.after.always(async () => {
  if (shots) console.log(`Demo screenshots (${shots}): ${RESULTS}`);
  await browser?.close();
  await app?.dispose();
  await gemini?.close();
});

async function person(name: string, displayName: string, device: Parameters<Browser['newContext']>[0] = {}): Promise<Person> {
  const context = await browser.newContext(device);
  const page = await context.newPage();
  const username = `${name}_${process.pid}`;
  const who: Person = {
    page,
    context,
    refused: [],
    email: `${username}@example.test`,
    username,
    displayName,
    password: 'correct horse battery',
  };
  context.on('response', (response) => {
    if (response.status() >= 400) who.refused.push(`${response.status()} ${response.url()}`);
  });
  context.on('requestfailed', (request) => who.refused.push(`failed ${request.url()}`));
  return who;
}

/** Photographs every open page as it is now: `NN-<label>-<person>.png`. */
async function snap(t: ExecutionContext, label: string): Promise<void> {
  const number = String(++shots).padStart(2, '0');
  for (const who of [ada, bob, cy]) {
    if (!who.page.isClosed())
      await who.page
        .screenshot({ path: join(RESULTS, `${number}-${label}-${who.displayName.toLowerCase()}.png`), fullPage: true })
        .catch(() => undefined);
  }
  t.log(`screenshots ${number}-${label}-* in ${RESULTS}`);
}

/** Runs a step and photographs every page at its end, whether it passed or not. */
async function step(t: ExecutionContext, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } finally {
    await snap(t, name);
  }
}

/** How wide the page is laid out on the phone: as wide as its screen when nothing sticks out sideways. */
async function widthOn(who: Person, where: string): Promise<string> {
  const { scrollWidth, innerWidth } = await who.page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  return `${where}: ${scrollWidth}px of content in a ${innerWidth}px wide window`;
}

/** Nothing sticks out sideways: the page is as wide as the phone's screen, so nothing needs a sideways scroll. */
function fitsThePhone(t: ExecutionContext, measured: string): void {
  const [, where] = /^(.*): /.exec(measured)!;
  t.is(measured, `${where}: ${PHONE.viewport.width}px of content in a ${PHONE.viewport.width}px wide window`);
}

/** Whether the element is on the screen as the page is scrolled now, and on top (not covered by anything). */
async function onScreen(who: Person, selector: string): Promise<boolean> {
  return who.page.evaluate((selector) => {
    const element = document.querySelector(selector);
    if (!element) return false;
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.top < 0 || box.left < 0 || box.bottom > window.innerHeight || box.right > window.innerWidth) return false;
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return hit !== null && element.contains(hit);
  }, selector);
}

/** Whether the element shows up in time (the test goes on either way, to report every difference at its end). */
const shows = (locator: Locator, timeout = 5_000): Promise<boolean> =>
  locator.waitFor({ timeout }).then(
    () => true,
    () => false,
  );

/** Since the last check the page asked for nothing that is not there (no 404 for an icon or a key one has not set). */
function askedForNothingMissing(t: ExecutionContext, who: Person, when: string): void {
  t.deepEqual(who.refused.splice(0), [], `${who.displayName}'s page, ${when}`);
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

serial('three people register, one on a phone: each page loads without a 404 and fits its screen', async (t) => {
  await step(t, 'register', async () => {
    await openDemo(cy);
    await byTest(cy.page, 'register-form').waitFor();
    const loginPage = await widthOn(cy, 'the login page');
    await snap(t, 'login');
    for (const who of [ada, bob, cy]) await register(who);
    for (const who of [ada, bob, cy]) {
      // The key check has answered (a user with no key is told so), and the page has had time to ask for an icon.
      await who.page.waitForFunction(() => document.querySelector('[data-testid="leta-key-status"]')?.textContent === 'no key yet');
      await who.page.waitForLoadState('networkidle');
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const chats = await widthOn(cy, 'the chats');
    t.deepEqual(
      served.filter((request) => request.status >= 400).map(({ method, path, status }) => `${status} ${method} ${path}`),
      [],
      'the server refused nothing the pages asked for',
    );
    for (const who of [ada, bob, cy]) askedForNothingMissing(t, who, 'after registering');
    fitsThePhone(t, loginPage);
    fitsThePhone(t, chats);
  });
});

async function register(who: Person): Promise<void> {
  if (who.page.url() !== `${app.url}/demo`) await openDemo(who);
  const form = byTest(who.page, 'register-form');
  await form.locator('[name=email]').fill(who.email);
  await form.locator('[name=username]').fill(who.username);
  await form.locator('[name=displayName]').fill(who.displayName);
  await form.locator('[name=password]').fill(who.password);
  await form.locator('button').click();
  await waitLive(who);
}

serial('a username nobody has is refused where Ada is looking, and the refusal does not come back later', async (t) => {
  await step(t, 'unknown-username', async () => {
    await byTest(ada.page, 'new-chat').locator('[name=username]').fill('nobody_here');
    await byTest(ada.page, 'new-chat').locator('button').click();
    await ada.page.getByText('No user named nobody_here').waitFor({ state: 'visible', timeout: 5_000 });
    t.true(await onScreen(ada, '[data-testid="sidebar-error"]'));
  });
});

serial('two people chat: live delivery, typing, presence, read receipts, edits and deletes', async (t) => {
  await step(t, 'chat', async () => {
    await byTest(ada.page, 'new-chat').locator('[name=username]').fill(bob.username);
    await byTest(ada.page, 'new-chat').locator('button').click();
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Bob');
    const staleRefusals = await ada.page.getByText(/No user named/).count();
    await send(ada, 'Hello Bob');

    // Bob is not looking at the conversation: it shows up in his list, unread.
    const item = bob.page.locator('[data-testid="conversation-item"][data-title="Ada"]');
    await item.locator('[data-testid="unread"][data-count="1"]').waitFor({ timeout: 10_000 });
    await openConversationWith(bob, 'Ada');
    await until(async () => (await messagesOf(bob)).includes('Hello Bob'));
    // Opening it read it: Ada sees "read".
    await ada.page
      .locator('[data-testid="message"]', { hasText: 'Hello Bob' })
      .locator('[data-testid="status"][data-status="read"]')
      .waitFor({ timeout: 10_000 });
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
    t.is(staleRefusals, 0, 'the earlier refusal was gone when the conversation opened, not shown again with it');
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
    const picture = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#2a7ab0' } })
      .png()
      .toBuffer();
    await byTest(ada.page, 'attach-input').setInputFiles({ name: 'sea.png', mimeType: 'image/png', buffer: picture });
    await send(ada, 'the sea');
    const image = bob.page.locator('[data-testid="message"]', { hasText: 'the sea' }).locator('[data-testid="attachment-image"]');
    await image.waitFor({ timeout: 10_000 });
    await until(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 64));

    const avatar = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#d94f2b' } })
      .jpeg()
      .toBuffer();
    await byTest(ada.page, 'avatar-input').setInputFiles({ name: 'me.jpg', mimeType: 'image/jpeg', buffer: avatar });
    const mine = byTest(ada.page, 'my-avatar');
    await until(() => mine.evaluate((img: HTMLImageElement) => !img.hidden && img.complete && img.naturalWidth === 128));
    // Bob's list shows her new picture once her profile update reaches him.
    const hers = bob.page.locator('[data-testid="conversation-item"][data-title="Ada"] [data-testid="conversation-avatar"]');
    await until(() => hers.evaluate((img: HTMLImageElement) => !img.hidden && img.complete && img.naturalWidth === 48));
    t.pass();
  });
});

serial('Ada makes a group with Bob and Cy: they see it appear, and each message in it names who wrote it', async (t) => {
  await step(t, 'group', async () => {
    const form = byTest(ada.page, 'new-group');
    await form.locator('[name=name]').fill('Trip');
    await form.locator('[name=members]').fill(`${bob.username}, ${cy.username}`);
    await form.locator('button').click();
    await ada.page.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Trip');
    await send(ada, 'who brings the map?');
    await bob.page
      .locator('[data-testid="conversation-item"][data-title="Trip"] [data-testid="unread"][data-count="1"]')
      .waitFor({ timeout: 10_000 });
    await openConversationWith(bob, 'Trip');
    await until(async () => (await messagesOf(bob)).includes('who brings the map?'));
    t.deepEqual(await messagesOf(bob), ['who brings the map?']);
    // Ada's copy counts Bob's read.
    await ada.page
      .locator('[data-testid="message"]', { hasText: 'who brings the map?' })
      .locator('[data-testid="status"][data-status="read by 1"]')
      .waitFor({ timeout: 10_000 });
    await send(bob, 'I do');
    const senderOf = (who: Person, text: string) =>
      who.page.locator('[data-testid="message"]', { hasText: text }).locator('[data-testid="sender"]');
    const adaSeesBob = await shows(senderOf(ada, 'I do').filter({ hasText: 'Bob' }), 10_000);
    t.is(await senderOf(bob, 'I do').count(), 0, "one's own messages need no name");

    // Cy, on the phone, opens the group from the list: the conversation takes the screen, every message names its sender.
    await openConversationWith(cy, 'Trip');
    await until(async () => (await messagesOf(cy)).includes('I do'));
    const cySeesAda = await shows(senderOf(cy, 'who brings the map?').filter({ hasText: 'Ada' }));
    const cySeesBob = await shows(senderOf(cy, 'I do').filter({ hasText: 'Bob' }));
    t.true(
      adaSeesBob && cySeesAda && cySeesBob,
      `group messages name their senders: Ada sees Bob ${adaSeesBob}, Cy sees Ada ${cySeesAda} and Bob ${cySeesBob}`,
    );
    t.true(await onScreen(cy, '[data-testid="composer-text"]'), "the composer is on the phone's screen");
    fitsThePhone(t, await widthOn(cy, 'a group conversation'));
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

serial(
  "Ada calls Bob: both peer connections connect through the server's signaling; after the hang-up both see the call in history",
  async (t) => {
    await step(t, 'call', async () => {
      await openConversationWith(ada, 'Bob');
      await byTest(ada.page, 'video-call').click();
      await byTest(bob.page, 'answer').waitFor({ timeout: 10_000 });
      // Who calls shows once their name is known.
      await bob.page
        .waitForFunction(() => document.querySelector('[data-testid="call"]')?.textContent?.includes('Ada is calling you'), undefined, {
          timeout: 3_000,
        })
        .catch(() => undefined);
      const ringing = (await byTest(bob.page, 'call').innerText()).split('\n')[0];
      const ringingOnScreen = await onScreen(bob, '[data-testid="answer"]');
      await snap(t, 'ringing');
      await byTest(bob.page, 'answer').click();
      for (const who of [ada, bob]) {
        await who.page.waitForFunction(
          () => ['connected', 'completed'].includes(document.querySelector('[data-testid="ice-state"]')?.textContent ?? ''),
          undefined,
          { timeout: 10_000 },
        );
      }
      // Media flows: Bob's page plays Ada's fake camera.
      await until(() =>
        bob.page.evaluate(() => (document.querySelector<HTMLVideoElement>('[data-testid="remote-video"]')?.videoWidth ?? 0) > 0),
      );
      await snap(t, 'in-call');
      await byTest(ada.page, 'hangup').click();
      const closed: string[] = [];
      for (const who of [ada, bob]) {
        // The call is over: its panel closes on both sides, the history has it.
        if (
          await byTest(who.page, 'call')
            .waitFor({ state: 'hidden', timeout: 5_000 })
            .then(
              () => true,
              () => false,
            )
        )
          closed.push(who.displayName);
        await who.page.locator('[data-testid="call-history-item"][data-state="ended"]').first().waitFor({ timeout: 10_000 });
      }
      t.regex((await byTest(ada.page, 'call-history-item').first().textContent()) ?? '', /^outgoing video · answered/);
      t.regex((await byTest(bob.page, 'call-history-item').first().textContent()) ?? '', /^incoming video · answered/);
      t.regex(ringing ?? '', /^Ada is calling you \(video\)/, 'the ringing call says who calls');
      t.true(ringingOnScreen, "the ringing call is on Bob's screen, not below the list");
      t.deepEqual(closed, ['Ada', 'Bob'], 'the call panel closed after the hang-up');
    });
  },
);

serial(
  "Ada calls the group from the call buttons: Bob and Cy (on the phone) see who calls, join, and all three see each other; Ada's hang-up ends it for all",
  async (t) => {
    await step(t, 'group-call', async () => {
      await openConversationWith(ada, 'Trip');
      await openConversationWith(bob, 'Trip');
      await cy.page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
      await byTest(ada.page, 'video-call').click();
      for (const who of [bob, cy]) {
        await byTest(who.page, 'answer').waitFor({ timeout: 10_000 });
        await who.page.waitForFunction(() =>
          document.querySelector('[data-testid="call-title"]')?.textContent?.startsWith('Ada is calling Trip'),
        );
        t.is(await byTest(who.page, 'call-title').textContent(), 'Ada is calling Trip (video)');
        // Wherever one has scrolled to, the ringing call is on top of the screen (it used to sit below everything else).
        t.true(await onScreen(who, '[data-testid="answer"]'), `the ringing call is on ${who.displayName}'s screen`);
      }
      fitsThePhone(t, await widthOn(cy, 'a ringing call'));
      await snap(t, 'group-ringing');
      for (const who of [bob, cy]) await byTest(who.page, 'answer').click();

      // A mesh: each page plays the other two cameras.
      const playing = (who: Person) =>
        who.page.evaluate(
          () =>
            [...document.querySelectorAll<HTMLVideoElement>('[data-testid="remote-video"]')].filter((video) => video.videoWidth > 0).length,
        );
      for (const who of [ada, bob, cy]) {
        await until(async () => (await playing(who)) === 2, 15_000).catch(async (error: unknown) => {
          throw new Error(`${who.displayName} plays ${await playing(who)} cameras: ${String(error)}`);
        });
        await who.page.waitForFunction(() => document.querySelector('[data-testid="ice-state"]')?.textContent === 'connected');
      }
      fitsThePhone(t, await widthOn(cy, 'a group call'));
      t.true(await onScreen(cy, '[data-testid="hangup"]'), 'Cy can hang up without scrolling');
      await snap(t, 'group-call-connected');

      // Cy leaves: his panel closes, the others drop his camera and carry on.
      await byTest(cy.page, 'hangup').click();
      await byTest(cy.page, 'call').waitFor({ state: 'hidden', timeout: 10_000 });
      for (const who of [ada, bob]) await until(async () => (await who.page.locator('[data-testid="remote-video"]').count()) === 1);
      await byTest(ada.page, 'hangup').click();
      for (const who of [ada, bob]) await byTest(who.page, 'call').waitFor({ state: 'hidden', timeout: 10_000 });
      // On the phone the history is with the list of chats: back to it.
      await byTest(cy.page, 'back').click();
      for (const who of [ada, bob, cy]) {
        await who.page
          .locator('[data-testid="call-history-item"][data-state="ended"]', { hasText: 'group' })
          .first()
          .waitFor({ timeout: 10_000 });
      }
      fitsThePhone(t, await widthOn(cy, 'the chats after the call'));
      t.regex((await byTest(ada.page, 'call-history-item').first().textContent()) ?? '', /^outgoing group video · answered/);
      t.regex((await byTest(bob.page, 'call-history-item').first().textContent()) ?? '', /^incoming group video · answered/);
      t.regex((await byTest(cy.page, 'call-history-item').first().textContent()) ?? '', /^incoming group video · answered/);
    });
  },
);
