import test from 'ava';
import { join } from 'node:path';
import { groupDecider, groupStream, type GroupCommand } from '../../commands/groups.ts';
import { messageDecider, messageStream } from '../../commands/messages.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';
import { metadata } from '../helpers/spec.ts';
import { sealedFor } from '../helpers/sealed.ts';

const openStore = (t: { teardown(fn: () => unknown): void }) => {
  const store = new SqliteEventStore(join(tempDir(), 'events.sqlite'));
  t.teardown(() => store.close());
  return store;
};
let commandCount = 0;
const meta = () => metadata({ commandId: `cmd-${++commandCount}` });
const profile = { name: 'G', description: '', iconMediaId: null };

test('an empty decision on a cached state is checked against the store: a member re-added by another instance is removed', async (t) => {
  const store = openStore(t);
  const [here, elsewhere] = [new CommandHandler(store, eventUpcaster), new CommandHandler(store, eventUpcaster)];
  const stream = groupStream('g');
  const run = (handler: CommandHandler, command: Omit<GroupCommand, 'metadata'>) =>
    handler.handle(groupDecider, stream, { ...command, metadata: meta() } as GroupCommand);
  await run(here, {
    type: 'CreateGroup',
    data: { groupId: 'g', ownerId: 'o', profile, memberIds: ['m'], unknownUserIds: [], blockerIds: [], iconValid: true },
  });
  await run(here, { type: 'RemoveMember', data: { groupId: 'g', actorId: 'o', userId: 'm' } });
  // Another instance adds m back; `here` still holds the state in which m is gone.
  await run(elsewhere, {
    type: 'AddMember',
    data: { groupId: 'g', actorId: 'o', userId: 'm', role: 'member', userExists: true, blockedActor: false },
  });
  const result = await run(here, { type: 'RemoveMember', data: { groupId: 'g', actorId: 'o', userId: 'm' } });
  t.deepEqual(
    result.events.map((event) => event.type),
    ['MemberRemoved'],
  );
  t.deepEqual(
    (await store.readStream(stream)).map((event) => event.type),
    ['GroupCreated', 'MemberRemoved', 'MemberAdded', 'MemberRemoved'],
  );
});

test('a refusal on a cached state is decided again on the store: a member another instance added can leave, not 404', async (t) => {
  const store = openStore(t);
  const [here, elsewhere] = [new CommandHandler(store, eventUpcaster), new CommandHandler(store, eventUpcaster)];
  const stream = groupStream('g2');
  const run = (handler: CommandHandler, command: Omit<GroupCommand, 'metadata'>) =>
    handler.handle(groupDecider, stream, { ...command, metadata: meta() } as GroupCommand);
  await run(here, {
    type: 'CreateGroup',
    data: { groupId: 'g2', ownerId: 'o', profile, memberIds: [], unknownUserIds: [], blockerIds: [], iconValid: true },
  });
  // Another instance adds m; `here` still holds the state in which m is no member (a 404 to m).
  await run(elsewhere, {
    type: 'AddMember',
    data: { groupId: 'g2', actorId: 'o', userId: 'm', role: 'member', userExists: true, blockedActor: false },
  });
  const result = await run(here, { type: 'RemoveMember', data: { groupId: 'g2', actorId: 'm', userId: 'm' } });
  t.deepEqual(
    result.events.map((event) => event.type),
    ['MemberLeft'],
  );
  t.deepEqual(
    (await store.readStream(stream)).map((event) => event.type),
    ['GroupCreated', 'MemberAdded', 'MemberLeft'],
  );
  // A refusal that the store confirms stays a refusal.
  await t.throwsAsync(run(here, { type: 'RemoveMember', data: { groupId: 'g2', actorId: 'stranger', userId: 'stranger' } }), {
    message: /Group/,
  });
});

test('the folded-state cache is bounded by bytes, not by entries', async (t) => {
  const store = openStore(t);
  const handler = new CommandHandler(store, eventUpcaster, 50_000);
  const text = 'x'.repeat(4_000);
  for (let i = 0; i < 300; i++) {
    const messageId = `m${i}`;
    await handler.handle(messageDecider, messageStream(messageId), {
      type: 'SendMessage',
      data: {
        messageId,
        conversationId: 'dm:a:b',
        senderId: 'a',
        target: { kind: 'direct', recipientId: 'b' },
        content: { kind: 'text', text: sealedFor(messageId, text) },
        replyTo: null,
        attachments: [],
        clientMessageId: messageId,
        targetReachable: true,
        postingAllowed: true,
        replyToValid: true,
        blocked: false,
        attachmentsValid: true,
      },
      metadata: meta(),
    });
  }
  t.true(handler.cachedBytes > 0);
  t.true(handler.cachedBytes <= 50_000, `${handler.cachedBytes} bytes cached`);
  // A message state keeps no body: 300 cached states of 4,000-character messages fit in far less than their text.
  t.true(handler.cachedBytes < 300 * text.length, `${handler.cachedBytes} bytes for 300 states`);
});

const sendMessage = (messageId: string, text: string) => ({
  type: 'SendMessage' as const,
  data: {
    messageId,
    conversationId: 'dm:a:b',
    senderId: 'a',
    target: { kind: 'direct' as const, recipientId: 'b' },
    content: { kind: 'text' as const, text: sealedFor(messageId, text) },
    replyTo: null,
    attachments: [],
    clientMessageId: messageId,
    targetReachable: true,
    postingAllowed: true,
    replyToValid: true,
    blocked: false,
    attachmentsValid: true,
  },
  metadata: meta(),
});

test('expectNew: a new stream is decided without reading it; an existing one (a retried send) is read after the conflict, and nothing is doubled', async (t) => {
  const store = openStore(t);
  let reads = 0;
  const counting = new Proxy(store, {
    get: (target, name, receiver) =>
      name === 'readStream'
        ? (...args: Parameters<SqliteEventStore['readStream']>) => {
            reads++;
            return target.readStream(...args);
          }
        : Reflect.get(target, name, receiver),
  });
  const first = new CommandHandler(counting, eventUpcaster);
  const sent = await first.handle(messageDecider, messageStream('m-new'), sendMessage('m-new', 'hello'), { expectNew: true });
  t.deepEqual(
    sent.events.map((event) => event.type),
    ['MessageSent'],
  );
  t.is(reads, 0, 'no read of a stream assumed new');

  // Another handler (no cache) sends the same message again under a new command id: the assumption fails once.
  const other = new CommandHandler(counting, eventUpcaster);
  const again = await other.handle(messageDecider, messageStream('m-new'), sendMessage('m-new', 'hello'), { expectNew: true });
  t.deepEqual(again.events, [], 'the decider sees the stored message and decides nothing');
  t.is(reads, 1);
  t.is((await store.readStream(messageStream('m-new'))).length, 1);
});

test('expectNew: a retried send refused on the assumed new stream (the recipient has blocked the sender since) is decided on the stored message and answered with it', async (t) => {
  const store = openStore(t);
  await new CommandHandler(store, eventUpcaster).handle(messageDecider, messageStream('m-kept'), sendMessage('m-kept', 'hello'), {
    expectNew: true,
  });
  // A fresh handler (a restart: nothing cached) retries the same send, with today's facts: a block.
  const retry = sendMessage('m-kept', 'hello');
  const result = await new CommandHandler(store, eventUpcaster).handle(
    messageDecider,
    messageStream('m-kept'),
    { ...retry, data: { ...retry.data, blocked: true } },
    { expectNew: true },
  );
  t.deepEqual(result.events, [], 'a retry, not a refusal');
  t.is((await store.readStream(messageStream('m-kept'))).length, 1);
});

test("acknowledged positions per stream category: a category's is its last append, never below the log's head at start", async (t) => {
  const store = openStore(t);
  const handler = new CommandHandler(store, eventUpcaster);
  handler.acknowledge(0);
  const group = await handler.handle(groupDecider, groupStream('g-ack'), {
    type: 'CreateGroup',
    data: { groupId: 'g-ack', ownerId: 'o', profile, memberIds: [], unknownUserIds: [], blockerIds: [], iconValid: true },
    metadata: meta(),
  });
  const first = await handler.handle(messageDecider, messageStream('m-ack-1'), sendMessage('m-ack-1', 'one'), { expectNew: true });
  const second = await handler.handle(messageDecider, messageStream('m-ack-2'), sendMessage('m-ack-2', 'two'), { expectNew: true });
  t.true(first.position! < second.position!);
  t.is(handler.acknowledgedPositionOf('group'), group.position!, 'the messages since do not move the group category');
  t.is(handler.acknowledgedPositionOf('message'), second.position!);
  t.is(handler.acknowledgedPositionOf('user'), 0, 'nothing written to a user stream');
  t.is(handler.acknowledgedPosition, second.position!);

  // After a restart, what the log held may have been acknowledged to anyone, in any category.
  const restarted = new CommandHandler(store, eventUpcaster);
  restarted.acknowledge(second.position!);
  t.is(restarted.acknowledgedPositionOf('user'), second.position!);
});
