import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { isSealed } from '../../commands/shared/sealed.ts';
import { genaiModel, legacyModel, type AiModel } from '../../src/ai/model/index.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { mp3, oggOpus, waveform } from '../helpers/audio.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';
import { connect } from '../helpers/socket.ts';

/**
 * Voice notes: a recording whose duration the server reads from its container (never the client's word), refused past
 * VOICE_MAX_SECONDS, with the waveform its recorder computed, bounds-checked; readers of the message see both.
 */
let app: TestApp;
let gemini: FakeGemini;
test.before(async () => {
  gemini = await fakeGemini(['Meet me ', 'at noon.'], 5);
  app = await startTestApp({ env: { VOICE_MAX_SECONDS: '5', GEMINI_API_BASE_URL: gemini.url } });
});
test.after.always(async () => {
  await app.dispose();
  await gemini.close();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const auth = (who: User) => ({ authorization: `Bearer ${who.accessToken}` });
const peaks = waveform(64);
const uploadVoice = (who: User, bytes: Buffer, contentType: string, query = `?waveform=${peaks.join(',')}`) =>
  fetch(`${app.url}/api/media/voice${query}`, { method: 'POST', headers: { ...auth(who), 'content-type': contentType }, body: bytes });
const uploadsOf = async (ownerId: string) =>
  (await app.eventStore.readAll()).filter(
    (event) => event.type === 'MediaUploaded' && (event.data as { ownerId: string }).ownerId === ownerId,
  );
const tempFiles = () => readdirSync(join(app.storageDir, 'media', 'tmp'));

test('an Ogg/Opus or MP3 voice note keeps the duration read from its container and its waveform; the message shows both', async (t) => {
  const alice = await registerUser(app.url);
  const bob = await registerUser(app.url);

  const ogg = await uploadVoice(alice, oggOpus(3), 'audio/ogg');
  t.is(ogg.status, 201);
  const { media } = (await ogg.json()) as { media: { id: string; kind: string; mime: string; voice: unknown } };
  t.like(media, { kind: 'audio', mime: 'audio/ogg' });
  t.deepEqual(media.voice, { durationMs: 3000, waveform: peaks });

  const form = new FormData();
  form.append('file', new Blob([mp3(2)], { type: 'audio/mpeg' }), 'memo.mp3');
  const fromMp3 = await fetch(`${app.url}/api/media/voice?waveform=${waveform(16).join(',')}`, {
    method: 'POST',
    headers: auth(alice),
    body: form,
  });
  t.is(fromMp3.status, 201);
  const mp3Voice = ((await fromMp3.json()) as { media: { voice: { durationMs: number; waveform: number[] } } }).media.voice;
  t.true(mp3Voice.durationMs >= 2000 && mp3Voice.durationMs <= 2100, `mp3 duration ${mp3Voice.durationMs}`);
  t.is(mp3Voice.waveform.length, 16);

  const uploads = await uploadsOf(alice.user.id);
  t.is(uploads.length, 2);
  t.deepEqual((uploads[0]!.data as { voice: unknown }).voice, { durationMs: 3000, waveform: peaks });

  const sent = await request(app.url, 'POST', '/api/messages', {
    token: alice.accessToken,
    body: { recipientId: bob.user.id, text: 'listen', attachments: [media.id] },
  });
  t.is(sent.status, 201);
  const page = await request(app.url, 'GET', `/api/messages?with=${alice.user.id}`, { token: bob.accessToken });
  t.deepEqual(page.body.messages[0].files[0].voice, { durationMs: 3000, waveform: peaks });
  // An ordinary upload is no voice note.
  const plain = await fetch(`${app.url}/api/media/upload`, {
    method: 'POST',
    headers: { ...auth(alice), 'content-type': 'audio/ogg' },
    body: oggOpus(1),
  });
  t.is(((await plain.json()) as { media: { voice: unknown } }).media.voice, null);
});

test.serial(
  'a voice note over VOICE_MAX_SECONDS, a waveform out of bounds, or a file that is no recording: refused, nothing stored',
  async (t) => {
    const carol = await registerUser(app.url);

    const tooLong = await uploadVoice(carol, oggOpus(6), 'audio/ogg');
    t.is(tooLong.status, 422);
    t.like(((await tooLong.json()) as { error: unknown }).error, {
      code: 'voice_too_long',
      details: { durationMs: 6000, maxDurationMs: 5000 },
    });

    const outOfRange = await uploadVoice(carol, oggOpus(1), 'audio/ogg', `?waveform=${[...waveform(63), 256].join(',')}`);
    t.is(outOfRange.status, 400);
    t.is(((await outOfRange.json()) as { error: { code: string } }).error.code, 'validation_failed');
    const tooFew = await uploadVoice(carol, oggOpus(1), 'audio/ogg', `?waveform=${waveform(8).join(',')}`);
    t.is(tooFew.status, 400);
    const tooMany = await uploadVoice(carol, oggOpus(1), 'audio/ogg', `?waveform=${waveform(129).join(',')}`);
    t.is(tooMany.status, 400);
    const none = await uploadVoice(carol, oggOpus(1), 'audio/ogg', '');
    t.is(none.status, 400);

    const text = await uploadVoice(carol, Buffer.from('not a recording'), 'text/plain');
    t.is(text.status, 415);
    t.is(((await text.json()) as { error: { code: string } }).error.code, 'unsupported_media_type');

    t.is((await uploadsOf(carol.user.id)).length, 0, 'nothing appended');
    t.deepEqual(tempFiles(), [], 'no temp file left');
  },
);

const transcribedEvents = async (messageId: string) =>
  (await app.eventStore.readAll()).filter(
    (event) => event.type === 'MessageTranscribed' && (event.data as { messageId: string }).messageId === messageId,
  );

/** Alice sends Bob a voice note (and a text); Bob has his own Gemini key. */
async function voiceNoteFromAliceToBob() {
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const key = await request(app.url, 'PUT', `/api/users/${bob.user.id}/api-key`, {
    token: bob.accessToken,
    body: { apiKey: gemini.apiKey, provider: 'gemini' },
  });
  if (key.status !== 200) throw new Error(`set key: ${key.status}`);
  const recording = oggOpus(2);
  const uploaded = (await (await uploadVoice(alice, recording, 'audio/ogg')).json()) as { media: { id: string } };
  const send = async (body: object) =>
    (await request(app.url, 'POST', '/api/messages', { token: alice.accessToken, body: { recipientId: bob.user.id, ...body } })).body
      .message as {
      id: string;
      conversationId: string;
    };
  const voice = await send({ text: '🎤', attachments: [uploaded.media.id] });
  const text = await send({ text: 'no audio here' });
  return { alice, bob, carol, recording, mediaId: uploaded.media.id, voice, text };
}

test.serial(
  'a reader transcribes a voice note with their key: stored sealed once, pushed to every reader, in message reads; asked again, the model is not',
  async (t) => {
    const { alice, bob, recording, mediaId, voice } = await voiceNoteFromAliceToBob();
    const aliceSocket = await connect(app.wsUrl, alice.accessToken);
    t.teardown(() => aliceSocket.close());
    aliceSocket.send({ type: 'sync', id: 's' });
    await aliceSocket.next((frame) => frame.id === 's');
    const requestsBefore = gemini.prompts.length;

    const first = await request(app.url, 'POST', `/api/messages/${voice.id}/transcription`, {
      token: bob.accessToken,
      body: { language: 'en' },
    });
    t.is(first.status, 201);
    t.deepEqual(first.body.transcript, {
      messageId: voice.id,
      mediaId,
      language: 'en',
      text: 'Meet me at noon.',
      createdAt: first.body.transcript.createdAt,
    });
    t.is(gemini.prompts.length, requestsBefore + 1);
    t.deepEqual(gemini.inlineFiles.at(-1), [{ mimeType: 'audio/ogg', data: recording.toString('base64') }], 'the recording went inline');
    t.regex(gemini.prompts.at(-1)!, /"en"/);

    const events = await transcribedEvents(voice.id);
    t.is(events.length, 1);
    const data = events[0]!.data as { text: unknown; requestedBy: string; language: string };
    t.like(data, { requestedBy: bob.user.id, language: 'en' });
    t.true(isSealed(data.text) && data.text.kid === `message:${voice.id}`, 'sealed with the message content key');
    t.false(JSON.stringify(events[0]!.data).includes('noon'));

    const frame = await aliceSocket.next((f) => f.type === 'message.transcribed');
    t.like(frame, { conversationId: voice.conversationId, messageId: voice.id, transcript: { language: 'en', text: 'Meet me at noon.' } });

    const again = await request(app.url, 'POST', `/api/messages/${voice.id}/transcription`, {
      token: bob.accessToken,
      body: { language: 'en' },
    });
    t.is(again.status, 200);
    t.deepEqual(again.body.transcript, first.body.transcript);
    // Alice can read it too: hers is the stored one, not a second call.
    t.is(
      (await request(app.url, 'POST', `/api/messages/${voice.id}/transcription`, { token: alice.accessToken, body: { language: 'en' } }))
        .status,
      200,
    );
    t.is(gemini.prompts.length, requestsBefore + 1, 'the model was asked once');
    t.is((await transcribedEvents(voice.id)).length, 1, 'stored once');

    const page = await request(app.url, 'GET', `/api/messages?with=${alice.user.id}`, { token: bob.accessToken });
    const listed = page.body.messages.find((message: { id: string }) => message.id === voice.id);
    t.deepEqual(listed.transcripts, [first.body.transcript]);

    // Deleting the message for everyone erases the transcript: from reads and from the replayed feed.
    t.is((await request(app.url, 'DELETE', `/api/messages/${voice.id}?scope=everyone`, { token: alice.accessToken })).status, 204);
    const replay = await connect(app.wsUrl, bob.accessToken);
    t.teardown(() => replay.close());
    replay.send({ type: 'sync', id: 'r', since: 0 });
    await replay.next((f) => f.id === 'r' && f.type === 'sync.ok');
    const replayed = replay.frames.filter((f) => f.type === 'message.transcribed' && f.messageId === voice.id);
    t.is(replayed.length, 1);
    t.is(replayed[0].transcript.text, '[erased]');
    t.false(JSON.stringify(replay.frames).includes('noon'));
  },
);

test.serial(
  'denials: a stranger gets 404, a message without a voice note 422, a reader without any key 409; nothing appended',
  async (t) => {
    const { alice, carol, voice, text } = await voiceNoteFromAliceToBob();
    const requestsBefore = gemini.prompts.length;
    const stranger = await request(app.url, 'POST', `/api/messages/${voice.id}/transcription`, { token: carol.accessToken, body: {} });
    t.is(stranger.status, 404);
    t.is(stranger.body.error.code, 'not_found');
    const notVoice = await request(app.url, 'POST', `/api/messages/${text.id}/transcription`, { token: alice.accessToken, body: {} });
    t.is(notVoice.status, 422);
    t.is(notVoice.body.error.code, 'not_a_voice_note');
    // Alice set no key and the server has none.
    const noKey = await request(app.url, 'POST', `/api/messages/${voice.id}/transcription`, { token: alice.accessToken, body: {} });
    t.is(noKey.status, 409);
    t.is(noKey.body.error.code, 'ai_key_missing');
    const badLanguage = await request(app.url, 'POST', `/api/messages/${voice.id}/transcription`, {
      token: alice.accessToken,
      body: { language: 'English!' },
    });
    t.is(badLanguage.status, 400);
    t.is(gemini.prompts.length, requestsBefore, 'the model was not asked');
    t.is((await transcribedEvents(voice.id)).length + (await transcribedEvents(text.id)).length, 0, 'nothing appended');
  },
);

for (const [sdk, model] of [
  ['genai', genaiModel],
  ['legacy', legacyModel],
] as const) {
  test(`the ${sdk} adapter sends a voice note inline to Gemini and streams its transcript back`, async (t) => {
    const adapter: AiModel = model({ baseUrl: gemini.url, firstTokenTimeoutMs: 5_000, totalTimeoutMs: 10_000 });
    const audio = mp3(1);
    let text = '';
    for await (const chunk of adapter.stream({
      apiKey: gemini.apiKey,
      model: 'gemini-2.5-flash',
      systemInstruction: 'Transcribe.',
      history: [],
      message: `Transcribe this (${sdk}).`,
      inline: [{ mimeType: 'audio/mpeg', data: audio.toString('base64') }],
      maxOutputTokens: 256,
      signal: new AbortController().signal,
    }))
      if (chunk.type === 'delta') text += chunk.text;
    t.is(text, 'Meet me at noon.');
    const index = gemini.prompts.indexOf(`Transcribe this (${sdk}).`);
    t.true(index >= 0);
    t.deepEqual(gemini.inlineFiles[index], [{ mimeType: 'audio/mpeg', data: audio.toString('base64') }]);
  });
}

test.serial('a recipient who turned automatic transcription on gets the transcript in their language without asking', async (t) => {
  const [alice, dora] = [await registerUser(app.url), await registerUser(app.url)];
  await request(app.url, 'PUT', `/api/users/${dora.user.id}/api-key`, {
    token: dora.accessToken,
    body: { apiKey: gemini.apiKey, provider: 'gemini' },
  });
  const profile = await request(app.url, 'PUT', '/api/users/profile', {
    token: dora.accessToken,
    body: { ai: { autoTranscribe: true, language: 'de' } },
  });
  t.is(profile.status, 200);
  t.like(profile.body.ai ?? profile.body.profile?.ai, { autoTranscribe: true, language: 'de' });
  const doraSocket = await connect(app.wsUrl, dora.accessToken);
  t.teardown(() => doraSocket.close());
  doraSocket.send({ type: 'sync', id: 's' });
  await doraSocket.next((frame) => frame.id === 's');
  const requestsBefore = gemini.prompts.length;

  const uploaded = (await (await uploadVoice(alice, oggOpus(1), 'audio/ogg')).json()) as { media: { id: string } };
  const sent = await request(app.url, 'POST', '/api/messages', {
    token: alice.accessToken,
    body: { recipientId: dora.user.id, text: '🎤', attachments: [uploaded.media.id] },
  });
  const messageId = sent.body.message.id as string;
  const frame = await doraSocket.next((f) => f.type === 'message.transcribed' && f.messageId === messageId, 10_000);
  t.like(frame.transcript, { language: 'de', text: 'Meet me at noon.' });
  t.is(gemini.prompts.length, requestsBefore + 1);
  t.regex(gemini.prompts.at(-1)!, /"de"/);
  const events = await transcribedEvents(messageId);
  t.is(events.length, 1);
  t.like(events[0]!.data, { requestedBy: dora.user.id, language: 'de' });
  // Asking now answers with the stored one.
  const asked = await request(app.url, 'POST', `/api/messages/${messageId}/transcription`, { token: dora.accessToken, body: {} });
  t.is(asked.status, 200);
  t.is(asked.body.transcript.language, 'de');
  t.is(gemini.prompts.length, requestsBefore + 1);
});
