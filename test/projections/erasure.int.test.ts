import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import type { MessageEvent } from '../../commands/messages.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectors } from '../../projections/index.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { revealingProjectors } from '../../src/privacy/revealingProjectors.ts';
import { sealWithKey } from '../../src/privacy/sealing.ts';
import { messageKeyId, StoredShreddingKeys } from '../../src/privacy/shreddingKeys.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { ProjectionRunner } from '../../src/projection/runner.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { parseKeyring } from '../../src/secrets/keyring.ts';
import { SecretBox } from '../../src/secrets/secretBox.ts';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import { tempDir } from '../helpers/app.ts';
import { documents } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const collections = ['messages', 'conversation_summaries', 'feed'];

test('rebuild equals incremental with shredded keys: a deleted message is a tombstone, a message whose key is gone reads [erased], the rest as sent', async (t) => {
  const dir = tempDir('letsapp-erasure-');
  const eventStore = new SqliteEventStore(join(dir, 'events.sqlite'));
  const readStore = new SqliteReadStore(join(dir, 'read.sqlite'));
  const secrets = SqliteSecretStore.open(dir);
  const keys = new StoredShreddingKeys(
    secrets,
    await SecretBox.create(parseKeyring({ ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') })),
  );
  t.teardown(async () => {
    await keys.close();
    await secrets.close();
    await eventStore.close();
    await readStore.close();
  });
  const all = revealingProjectors(projectors, keys);
  const runner = new ProjectionRunner(eventStore, readStore, all, eventUpcaster, pino({ level: 'silent' }));
  await runner.start();

  let n = 0;
  const append = async (event: MessageEvent, eventId: string) => {
    const { position } = await eventStore.append(
      `message-${event.data.messageId}`,
      [
        {
          ...event,
          metadata: {
            eventId,
            correlationId: 'c',
            causationId: 'c',
            userId: null,
            timestamp: at,
            schemaVersion: 2,
          },
        },
      ],
      'any',
    );
    await runner.waitFor(position);
  };
  const sealed = async (messageId: string, text: string, eventId: string) => ({
    kind: 'text' as const,
    text: await sealWithKey(keys, messageKeyId(messageId), text, { eventId, stream: `message-${messageId}`, field: 'content.text' }),
  });
  const send = async (messageId: string, text: string) => {
    const eventId = `e${++n}`;
    return {
      type: 'MessageSent' as const,
      data: {
        messageId,
        conversationId: 'dm:a:b',
        senderId: 'a',
        target: { kind: 'direct' as const, recipientId: 'b' },
        content: await sealed(messageId, text, eventId),
        replyTo: null,
        attachments: [],
        clientMessageId: messageId,
        sentAt: at,
      },
      eventId,
    };
  };

  const m1 = await send('m1', 'deleted for everyone');
  await append(m1, m1.eventId);
  const editId = `e${++n}`;
  await append(
    {
      type: 'MessageEdited',
      data: { messageId: 'm1', conversationId: 'dm:a:b', senderId: 'a', content: await sealed('m1', 'its edit', editId), editedAt: at },
    },
    editId,
  );
  await append({ type: 'MessageDeleted', data: { messageId: 'm1', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: at } }, `e${++n}`);
  await keys.destroy(messageKeyId('m1'));
  // m2's key is destroyed before it is projected (as an expiry or an erased account may do).
  const m2 = await send('m2', 'key destroyed');
  await keys.destroy(messageKeyId('m2'));
  await append(m2, m2.eventId);
  const m3 = await send('m3', 'still here');
  await append(m3, m3.eventId);
  await runner.stop();

  const snapshot = async () =>
    Object.fromEntries(await Promise.all(collections.map(async (name) => [name, await documents(readStore, name)] as const)));
  const incremental = await snapshot();
  await rebuildProjections({ eventStore, readStore, projectors: all, upcaster: eventUpcaster, batchSize: 2 });
  const rebuilt = await snapshot();
  t.deepEqual(rebuilt, incremental);

  const messages = incremental.messages as Array<{ _id: string; content: unknown; deletedAt: string | null }>;
  t.deepEqual(
    messages.map((doc) => [doc._id, doc.content]),
    [
      ['m1', null],
      ['m2', { kind: 'text', text: '[erased]' }],
      ['m3', { kind: 'text', text: 'still here' }],
    ],
  );
  const feed = JSON.stringify(incremental.feed);
  t.false(feed.includes('deleted for everyone'));
  t.false(feed.includes('its edit'));
  t.true(feed.includes('[erased]'));
  t.true(feed.includes('still here'));
});
