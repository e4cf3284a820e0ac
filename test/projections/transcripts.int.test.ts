import test from 'ava';
import type { TranscriptEvent } from '../../commands/transcripts.ts';
import { MESSAGE_TRANSCRIPTS, transcriptsProjector } from '../../projections/transcripts.ts';
import { documents, freshReadStore, incrementalThenRebuilt, project, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const transcribed = (messageId: string, language: string, text: string): TranscriptEvent => ({
  type: 'MessageTranscribed',
  data: {
    messageId,
    conversationId: 'dm:a:b',
    mediaId: `${messageId}-voice`,
    language,
    text: { plain: text },
    requestedBy: 'b',
    model: 'gemini-2.5-flash',
    transcribedAt: at,
  },
});
const history = [
  transcribed('m1', 'en', 'Meet me at noon.'),
  transcribed('m1', 'de', 'Treffen wir uns mittags.'),
  transcribed('m2', 'auto', 'See you.'),
  transcribed('m3', 'auto', 'Gone soon.'),
  { type: 'MessageDeleted', data: { messageId: 'm2', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: at } },
  { type: 'MessageExpired', data: { messageId: 'm3', conversationId: 'dm:a:b', reason: 'timer', expiredAt: at } },
];

test('one document per message and language; a delete for everyone or an expiry erases the text; applying an event twice changes nothing', async (t) => {
  const store = await freshReadStore(transcriptsProjector);
  const events = history.map((event) => recorded(event));
  await project(store, transcriptsProjector, events);
  const docs = (await documents(store, MESSAGE_TRANSCRIPTS)) as Array<{ _id: string; text: string; language: string }>;
  t.deepEqual(
    docs.map((doc) => [doc._id, doc.text]),
    [
      ['m1:de', 'Treffen wir uns mittags.'],
      ['m1:en', 'Meet me at noon.'],
      ['m2:auto', '[erased]'],
      ['m3:auto', '[erased]'],
    ],
  );
  await project(store, transcriptsProjector, events);
  t.deepEqual(await documents(store, MESSAGE_TRANSCRIPTS), docs);
});

test('a rebuild from position 0 gives the same documents as the incremental run', async (t) => {
  const { incremental, rebuilt } = await incrementalThenRebuilt([transcriptsProjector], history, [MESSAGE_TRANSCRIPTS]);
  t.deepEqual(rebuilt, incremental);
  t.is(incremental[MESSAGE_TRANSCRIPTS]!.length, 4);
});
