import test from 'ava';
import { eventUpcaster } from '../../commands/upcasters.ts';

/** Leta's texts were written in clear before v2 sealed them: those events stay readable, as `{ plain }`, never rewritten. */
test('AiPromptSubmitted and AiReplyCompleted v1 (text in clear) read as v2 with the text as { plain }; v2 is written for new events', (t) => {
  for (const type of ['AiPromptSubmitted', 'AiReplyCompleted']) {
    const v1 = { type, data: { userId: 'u', promptId: 'p', text: 'hello Leta' }, metadata: { schemaVersion: 1 } };
    t.like(eventUpcaster.upcast(v1), { data: { text: { plain: 'hello Leta' } }, metadata: { schemaVersion: 2 } }, type);
    t.is(eventUpcaster.latestVersion(type), 2);
  }
});
