/**
 * Voice notes in Chromium with a fake microphone (`--use-fake-device-for-media-stream` plays a beep): Ada records one in
 * the demo and sends it; Bob sees its waveform and duration, plays it back, and transcribes it (the fake Gemini answers).
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
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
  '--autoplay-policy=no-user-gesture-required',
];

const available = existsSync(CHROMIUM);
const serial = available ? test.serial : test.skip;

let browser: Browser;
let app: TestApp;
let gemini: FakeGemini;
test.before(async () => {
  if (!available) return;
  gemini = await fakeGemini(['Beep ', 'beep.'], 5);
  // No key of Bob's: the server's own pays, as for Leta.
  app = await startTestApp({ env: { GEMINI_API_BASE_URL: gemini.url, GEMINI_API_KEY: gemini.apiKey } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});
test.after.always(async () => {
  await browser?.close();
  await app?.dispose();
  await gemini?.close();
});

async function signUp(name: string): Promise<{ page: Page; username: string }> {
  const page = await (await browser.newContext()).newPage();
  const username = `${name}_${process.pid}`;
  await page.goto(`${app.url}/demo`);
  const form = page.getByTestId('register-form');
  await form.locator('[name=email]').fill(`${username}@example.test`);
  await form.locator('[name=username]').fill(username);
  await form.locator('[name=displayName]').fill(name);
  await form.locator('[name=password]').fill('correct horse battery');
  await form.locator('button').click();
  await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 10_000 });
  return { page, username };
}

serial('Ada records a voice note with the microphone and sends it; Bob sees its waveform, plays it back and transcribes it', async (t) => {
  const ada = await signUp('Ada');
  const bob = await signUp('Bob');
  await ada.page.getByTestId('new-chat').locator('[name=username]').fill(bob.username);
  await ada.page.getByTestId('new-chat').locator('button').click();
  await ada.page.waitForFunction(() => document.querySelector('[data-testid="conversation-title"]')?.textContent === 'Bob');

  await ada.page.getByTestId('record').click();
  await ada.page.waitForSelector('[data-testid="record"][data-recording]');
  await ada.page.waitForTimeout(1_500); // a second and a half of the fake microphone's beeps
  await ada.page.getByTestId('record').click();
  const adaNote = ada.page.locator('[data-testid="message"]:not([data-pending]) [data-testid="voice-note"]');
  await adaNote.waitFor({ timeout: 10_000 });
  const durationMs = Number(await adaNote.getAttribute('data-duration-ms'));
  t.true(durationMs >= 1_000 && durationMs <= 3_000, `the duration the server read: ${durationMs} ms`);

  // The server stored a WebM/Opus voice note with the duration from the container and the page's waveform.
  const uploads = (await app.eventStore.readAll()).filter((event) => event.type === 'MediaUploaded');
  t.is(uploads.length, 1);
  const facts = uploads[0]!.data as { mime: string; voice: { durationMs: number; waveform: number[] } };
  t.is(facts.mime, 'audio/webm');
  t.is(facts.voice.durationMs, durationMs);
  t.is(facts.voice.waveform.length, 64);
  t.true(
    facts.voice.waveform.some((peak) => peak > 0),
    'the beeps show in the waveform',
  );

  await bob.page.locator('[data-testid="conversation-item"][data-title="Ada"]').click();
  const bobNote = bob.page.locator('[data-testid="voice-note"]');
  await bobNote.waitFor({ timeout: 10_000 });
  t.is(await bobNote.locator('[data-testid="waveform"] .bar').count(), 64);
  // Played back: the audio element loads the recording and its time moves.
  const played = await bob.page.evaluate(async () => {
    const audio = document.querySelector<HTMLAudioElement>('[data-testid="voice-audio"]')!;
    for (let waited = 0; !audio.src && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    await audio.play();
    for (let waited = 0; audio.currentTime === 0 && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    return { currentTime: audio.currentTime, error: audio.error?.code ?? null };
  });
  t.is(played.error, null);
  t.true(played.currentTime > 0, `played to ${played.currentTime} s`);

  // Bob transcribes it; Ada's page gets the transcript live.
  await bob.page.getByTestId('transcribe').click();
  await bob.page.waitForSelector('[data-testid="chat-error"]:not(:empty), [data-testid="transcript"]:not([hidden])', { timeout: 10_000 });
  t.is(await bob.page.getByTestId('chat-error').textContent(), '', 'no error shown');
  const transcript = bob.page.getByTestId('transcript');
  t.is(await transcript.textContent(), 'Beep beep.');
  await ada.page.waitForFunction(() => document.querySelector('[data-testid="transcript"]')?.textContent === 'Beep beep.', undefined, {
    timeout: 10_000,
  });
  t.is(gemini.inlineFiles.length, 1, 'the model was asked once');
  t.is(gemini.inlineFiles[0]?.[0]?.mimeType, 'audio/webm');
});
