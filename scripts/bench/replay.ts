import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { directConversationId, groupConversationId } from '../../commands/conversations.ts';
import { groupStream } from '../../commands/groups.ts';
import { messageStream } from '../../commands/messages.ts';
import { receiptStream } from '../../commands/receipts.ts';
import { userStream } from '../../commands/users.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectors } from '../../projections/index.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import type { ExpectedRevision, NewEvent } from '../../src/eventstore/port.ts';
import { rebuildProjections, type RebuildSummary } from '../../src/projection/rebuild.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';

export interface ReplayResult extends RebuildSummary {
  generatedEvents: number;
  generateSeconds: number;
}

const USERS = 200;
const GROUP_SIZE = 5;

/**
 * `npm run bench -- --replay N`: writes an N-event history of the shapes the server writes (registrations,
 * groups, direct and group messages, read receipts) straight into a fresh embedded event log, then times a full
 * rebuild of every projector over it, with the operator's progress bar. The projection's own ceiling, alone.
 */
export async function replayBench(total: number, log: (message: string) => void): Promise<ReplayResult> {
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-replay-'));
  const eventStore = new SqliteEventStore(join(dir, 'events.sqlite'));
  const { written, generateSeconds } = await writeHistory(eventStore, total);
  log(`generated ${written} events in ${generateSeconds.toFixed(1)} s; rebuilding every projector ...`);
  const readStore = new SqliteReadStore(join(dir, 'read.sqlite'));
  try {
    const summary = await rebuildWithProgress(eventStore, readStore);
    return { ...summary, generatedEvents: written, generateSeconds };
  } finally {
    await eventStore.close();
    await readStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A full rebuild of every projector from `eventStore` into `readStore`, with the operator's progress bar. */
export async function rebuildWithProgress(eventStore: SqliteEventStore, readStore: SqliteReadStore): Promise<RebuildSummary> {
  const rebuildBar = new cliProgress.SingleBar(
    { format: 'rebuilding [{bar}] {percentage}% | position {value}/{total} | {eta_formatted} left' },
    cliProgress.Presets.shades_classic,
  );
  rebuildBar.start(await eventStore.headPosition(), 0);
  try {
    return await rebuildProjections({
      eventStore,
      readStore,
      projectors,
      upcaster: eventUpcaster,
      onProgress: (position) => rebuildBar.update(position),
    });
  } finally {
    rebuildBar.stop();
  }
}

/**
 * Appends a `total`-event history of the shapes the server writes (200 users, groups of five, direct and group
 * messages, a read receipt every tenth direct message) to `eventStore`, with a progress bar.
 */
export async function writeHistory(eventStore: SqliteEventStore, total: number): Promise<{ written: number; generateSeconds: number }> {
  const now = new Date().toISOString();
  const event = (type: string, data: unknown): NewEvent => ({
    type,
    data,
    metadata: {
      eventId: randomUUID(),
      correlationId: 'replay',
      causationId: 'replay',
      userId: null,
      timestamp: now,
      schemaVersion: eventUpcaster.latestVersion(type),
    },
  });
  const users = Array.from({ length: USERS }, () => randomUUID());
  const groups = Array.from({ length: USERS / GROUP_SIZE }, (_, index) => ({
    id: randomUUID(),
    members: users.slice(index * GROUP_SIZE, (index + 1) * GROUP_SIZE),
  }));
  const started = performance.now();
  let written = 0;
  let pending: Array<Promise<unknown>> = [];
  const append = (stream: string, next: NewEvent, expected: ExpectedRevision = 'no-stream') => {
    pending.push(eventStore.append(stream, [next], expected));
    written++;
  };
  // Appends of one turn share a commit: flush in chunks so memory stays flat.
  const flush = async () => {
    await Promise.all(pending);
    pending = [];
  };
  for (const [index, userId] of users.entries()) {
    append(
      userStream(userId),
      event('UserRegistered', {
        userId,
        email: `replay${index}@example.test`,
        username: `replay_${index}`,
        displayName: `Replay ${index}`,
        passwordHash: '$2b$04$replayreplayreplayreplayreplayreplayreplayreplayrep',
        passwordScheme: 'bcrypt-nfc',
        registeredAt: now,
      }),
    );
  }
  for (const group of groups) {
    append(
      groupStream(group.id),
      event('GroupCreated', {
        groupId: group.id,
        ownerId: group.members[0]!,
        profile: { name: 'replay', description: '', iconMediaId: null },
        memberIds: group.members.slice(1),
        createdAt: now,
      }),
    );
  }
  await flush();
  const bar = new cliProgress.SingleBar({ format: 'generating [{bar}] {value}/{total} events' }, cliProgress.Presets.shades_classic);
  bar.start(total, written);
  while (written < total) {
    const senderIndex = Math.floor(Math.random() * USERS);
    const senderId = users[senderIndex]!;
    const messageId = randomUUID();
    const inGroup = Math.random() < 0.1;
    const group = groups[Math.floor(senderIndex / GROUP_SIZE)]!;
    const recipientId = users[(senderIndex + 1 + Math.floor(Math.random() * (USERS - 1))) % USERS]!;
    const conversationId = inGroup ? groupConversationId(group.id) : directConversationId(senderId, recipientId);
    append(
      messageStream(messageId),
      event('MessageSent', {
        messageId,
        conversationId,
        senderId,
        target: inGroup ? { kind: 'group', groupId: group.id } : { kind: 'direct', recipientId },
        content: { kind: 'text', text: `replay ${written}` },
        replyTo: null,
        attachments: [],
        clientMessageId: messageId,
        sentAt: now,
      }),
    );
    if (!inGroup && written % 10 === 0 && written < total) {
      append(
        receiptStream(conversationId, recipientId),
        event('MessagesRead', {
          conversationId,
          userId: recipientId,
          upTo: { messageId, position: written },
          at: now,
        }),
        'any',
      );
    }
    if (pending.length >= 2_000) {
      await flush();
      bar.update(written);
    }
  }
  await flush();
  bar.update(written);
  bar.stop();
  return { written, generateSeconds: (performance.now() - started) / 1000 };
}
