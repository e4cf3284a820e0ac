import test from 'ava';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { feedProjector } from '../../projections/feed.ts';
import { projectors } from '../../projections/index.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { CHECKPOINTS } from '../../src/projection/projector.ts';
import { openEventStore, openReadStore } from '../../src/stores.ts';
import { openKeysForTools } from '../../src/privacy/auditorKeys.ts';
import { revealingProjectors } from '../../src/privacy/revealingProjectors.ts';
import { registerUser, request, startTestApp, testConfig, testEnv } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';

const collections = ['users', 'groups', 'messages', 'group_messages', 'conversations', 'feed'];

async function populate(url: string) {
  const [a, b, c] = [await registerUser(url), await registerUser(url), await registerUser(url)];
  const groupId = (
    await request(url, 'POST', '/api/groups', { token: a.accessToken, body: { name: 'R', memberIds: [b.user.id, c.user.id] } })
  ).body.group.id;
  await request(url, 'POST', '/api/messages', { token: a.accessToken, body: { groupId, text: 'to all' } });
  await request(url, 'DELETE', `/api/groups/${groupId}/members/${c.user.id}`, { token: a.accessToken });
  await request(url, 'POST', '/api/messages', { token: b.accessToken, body: { groupId, text: 'c is gone' } });
  const direct = (await request(url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'hi' } })).body
    .message;
  await request(url, 'POST', '/api/messages/read', { token: b.accessToken, body: { with: a.user.id, messageId: direct.id } });
  return { a, b };
}

test('rebuilding only the feed while the server serves brings in what it reads and yields the same documents', async (t) => {
  const app = await startTestApp();
  try {
    const { a, b } = await populate(app.url);
    const snapshot = () => Promise.all(collections.map((name) => app.readStore.collection(name).find({}, { sort: { _id: 1 } })));
    const before = await snapshot();
    // Texts are sealed in the log: a rebuild opens them with the content keys, as the server and the script do.
    const keys = await openKeysForTools(testConfig(app.storageDir));
    t.teardown(() => keys.close());
    const [feed, all] = [revealingProjectors([feedProjector], keys.keys), revealingProjectors(projectors, keys.keys)];
    const summary = await rebuildProjections({
      eventStore: app.eventStore,
      readStore: app.readStore,
      projectors: feed,
      all,
      upcaster: eventUpcaster,
    });
    // The feed reads transcripts, reactions and threads too: their projectors are rebuilt before it.
    t.deepEqual(summary.projectors, [
      'users',
      'contacts',
      'media_files',
      'message_transcripts',
      'calls',
      'groups',
      'messages',
      'group_messages',
      'conversations',
      'reactions',
      'threads',
      'feed',
    ]);
    t.deepEqual(await snapshot(), before);
    // Many small transactions give the same collections as one.
    await rebuildProjections({
      eventStore: app.eventStore,
      readStore: app.readStore,
      projectors: feed,
      all,
      upcaster: eventUpcaster,
      batchSize: 2,
    });
    t.deepEqual(await snapshot(), before);
    // The server carries on on the swapped-in collections.
    const after = await request(app.url, 'POST', '/api/messages', {
      token: b.accessToken,
      body: { recipientId: a.user.id, text: 'still here' },
    });
    t.is(after.status, 201);
    const page = await request(app.url, 'GET', `/api/messages?with=${b.user.id}`, { token: a.accessToken });
    t.is(page.body.messages[0].content.text, 'still here');
  } finally {
    await app.dispose();
  }
});

test('npm run rebuild-projections -- --only users rebuilds from the log and prints a summary', async (t) => {
  const app = await startTestApp();
  await populate(app.url);
  await app.stop();
  try {
    const { stdout } = await execScript('rebuild-projections.ts', ['--only', 'users', '--batch-size', '3'], {
      env: { ...process.env, ...testEnv(app.storageDir), NODE_ENV: 'test' },
    });
    t.regex(stdout, /Rebuilt users: \d+ events in [\d.]+ s \(\d+ events\/s\), up to position \d+\./);
    const noBatch = await execScript('rebuild-projections.ts', ['--batch-size', '0'], {
      env: { ...process.env, ...testEnv(app.storageDir) },
    }).catch((error: { code: number; stderr: string }) => error);
    t.like(noBatch, { code: 2 });
    t.regex((noBatch as { stderr: string }).stderr, /--batch-size takes a positive whole number/);
    const unknown = await execScript('rebuild-projections.ts', ['--only', 'nope'], {
      env: { ...process.env, ...testEnv(app.storageDir) },
    }).catch((error: { code: number; stderr: string }) => error);
    t.is((unknown as { code: number }).code, 2);
  } finally {
    await app.dispose();
  }
});

/**
 * Puts `projector` where a held one stands: its checkpoint at the event before `position` (the runner keeps a held
 * projector's checkpoint there while the others go on), as written with the server stopped.
 */
async function holdAt(storageDir: string, projector: string, position: number): Promise<void> {
  const config = testConfig(storageDir);
  const [eventStore, readStore] = [await openEventStore(config), await openReadStore(config)];
  try {
    const before = (await eventStore.readAll({ after: 0, maxCount: position })).filter((event) => event.position < position).at(-1);
    await readStore.collection(CHECKPOINTS).updateOne({ _id: projector }, { $set: { position: before?.position ?? 0 } });
  } finally {
    await eventStore.close();
    await readStore.close();
  }
}

test('npm run skip-event records an audited skip of the event a projector is held at, once; bad input or a position with no event is refused', async (t) => {
  const app = await startTestApp();
  await populate(app.url);
  const position = await app.eventStore.headPosition();
  await app.stop();
  await holdAt(app.storageDir, 'conversations', position);
  const run = (...args: string[]) =>
    execScript('skip-event.ts', args, {
      env: { ...process.env, ...testEnv(app.storageDir), NODE_ENV: 'test' },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
  try {
    const recorded = await run('--projector', 'conversations', '--position', String(position), '--reason', 'test');
    t.regex((recorded as { stdout: string }).stdout, new RegExp(`Recorded: conversations skips \\w+ at position ${position}`));
    const again = await run('--projector', 'conversations', '--position', String(position), '--reason', 'test');
    t.regex((again as { stdout: string }).stdout, /already skips/);
    t.is(((await run('--projector', 'nope', '--position', '1', '--reason', 'x')) as { code: number }).code, 2);
    t.is(((await run('--projector', 'users', '--position', 'one', '--reason', 'x')) as { code: number }).code, 2);
    t.is(((await run('--projector', 'users', '--position', '1')) as { code: number }).code, 2, 'a reason is required');
    t.is(((await run('--projector', 'users', '--position', String(position + 1_000), '--reason', 'x')) as { code: number }).code, 1);
    const reopened = await startTestApp({ storageDir: app.storageDir });
    t.teardown(() => reopened.dispose());
    const skips = await reopened.eventStore.readStream('projection-skips-conversations');
    t.deepEqual(
      skips.map((event) => [event.type, (event.data as { position: number }).position]),
      [['ProjectionEventSkipped', position]],
    );
  } finally {
    await app.stop();
  }
});

test('npm run skip-event refuses a projector that is not held at that position, saying what the skip would drop; --force records it and says so', async (t) => {
  const app = await startTestApp();
  const { a, b } = await populate(app.url);
  const sent = await request(app.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'a real message' },
  });
  const [sentEvent] = await app.eventStore.readStream(`message-${sent.body.message.id}`);
  const position = sentEvent!.position;
  await app.stop();
  const run = (...args: string[]) =>
    execScript('skip-event.ts', args, {
      env: { ...process.env, ...testEnv(app.storageDir), NODE_ENV: 'test' },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  t.teardown(() => app.dispose());

  // A mistyped position: messages applied it long ago, nothing holds there.
  const refused = await run('--projector', 'messages', '--position', String(position), '--reason', 'typo');
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, new RegExp(`messages is not held at position ${position}: it has applied up to position \\d+`));
  t.regex(refused.stderr, new RegExp(`MessageSent on message-${sent.body.message.id}`));
  t.regex(refused.stderr, /--force/);
  const config = testConfig(app.storageDir);
  const eventStore = await openEventStore(config);
  t.deepEqual(await eventStore.readStream('projection-skips-messages'), [], 'nothing was recorded');
  await eventStore.close();

  const forced = await run('--projector', 'messages', '--position', String(position), '--reason', 'on purpose', '--force');
  t.is(forced.code, 0, forced.stderr);
  t.regex(
    forced.stdout,
    new RegExp(`--force: messages is not held at position ${position}.*\\n.*drops MessageSent on message-${sent.body.message.id}`),
  );
  t.regex(forced.stdout, new RegExp(`Recorded: messages skips MessageSent at position ${position}`));
  const reopened = await openEventStore(config);
  t.deepEqual(
    (await reopened.readStream('projection-skips-messages')).map((event) => (event.data as { position: number }).position),
    [position],
  );
  await reopened.close();
});
