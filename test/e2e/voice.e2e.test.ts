import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { mp3, oggOpus, waveform } from '../helpers/audio.ts';

/**
 * Voice notes: a recording whose duration the server reads from its container (never the client's word), refused past
 * VOICE_MAX_SECONDS, with the waveform its recorder computed, bounds-checked; readers of the message see both.
 */
let app: TestApp;
test.before(async () => {
  app = await startTestApp({ env: { VOICE_MAX_SECONDS: '5' } });
});
test.after.always(async () => {
  await app.dispose();
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
