import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { CONVERSATIONS, conversationDocId, type ConversationDoc } from '../../projections/conversations.ts';
import { FEED, FEED_HORIZON, type FeedHorizon } from '../../projections/feed.ts';
import { newId } from '../ids.ts';
import { noteCorrelationId } from '../tracing/tracing.ts';
import type { ConversationAccess } from '../messaging/access.ts';
import type { Blocks } from '../people/blocks.ts';
import type { PresenceService } from '../presence/presenceService.ts';
import type { AiService } from '../ai/aiService.ts';
import type { CallService } from '../calls/callService.ts';
import { toErrorResponse } from '../contract/errors.ts';
import type { Logger } from 'pino';
import type { MessagingService } from '../messaging/messagingService.ts';
import type { ReactionService } from '../messaging/reactionService.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { Connection, FrameHandler, FrameHandlers } from './gateway.ts';
import { replayFeed } from './feedReplay.ts';
import { LIMITS, type ServerFrame } from '../contract/socketProtocol.ts';

export interface FrameDeps {
  messaging: MessagingService;
  reactions: ReactionService;
  access: ConversationAccess;
  blocks: Blocks;
  presence: PresenceService;
  ai: AiService;
  calls: CallService;
  logger: Logger;
  readStore: ReadStore;
  projections: Projections;
  clock: () => Date;
  /** Sends ephemeral frames (typing) to every socket of a user. */
  sendToUser: (userId: string, bytes: string) => void;
  /** Resolves once the projections have reached every write acknowledged so far (see mountRoutes). */
  caughtUp: () => Promise<void>;
}

function metadataOf(connection: Connection, frameId: string | undefined, now: Date): CommandMetadata {
  const correlationId = `ws:${connection.id}:${frameId ?? newId()}`;
  noteCorrelationId(correlationId);
  const { userId, user } = connection.principal;
  return {
    commandId: newId(),
    correlationId,
    causationId: correlationId,
    userId,
    ...(user.bot ? { actorIsBot: true as const } : {}),
    now: now.toISOString(),
  };
}

const SYNC_PAGE = 500;

/** Every client frame type, with the same validation (by the gateway, from the protocol) and authorization as REST. */
export function frameHandlers({
  messaging,
  reactions,
  access,
  blocks,
  presence,
  ai,
  calls,
  logger,
  readStore,
  projections,
  clock,
  sendToUser,
  caughtUp,
}: FrameDeps): FrameHandlers {
  /**
   * Not found may only mean not projected yet: a conversation or message of a send acknowledged a moment ago (sends
   * answer before their projection). Looked for again once the projections have caught up with it.
   */
  const againWhenCaughtUp = async <T>(read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      await caughtUp();
      return read();
    }
  };

  /**
   * Replays the caller's feed after `since`, then goes live; or sends a snapshot (no `since`), or a reset (a
   * `since` the feed can no longer replay whole: pruned before or during the replay, or beyond the log's head).
   * A replay that fails leaves the socket not live: the error frame tells the client to sync again.
   */
  const sync: FrameHandler<'sync'> = async (connection, { since }, frameId) => {
    const userId = connection.principal.userId;
    const horizon = async () => (await readStore.collection<FeedHorizon>(FEED_HORIZON).findOne({ _id: FEED }))?.position ?? 0;
    const snapshot = async (type: 'sync.snapshot' | 'sync.reset') => {
      // The feed's own position: a client resuming from it misses nothing the feed has yet to write.
      const position = projections.positionOf(FEED);
      const conversations = await messaging.conversations(userId, { limit: 50 });
      connection.send(JSON.stringify({ type, id: frameId, position, conversations } satisfies ServerFrame<'sync.snapshot' | 'sync.reset'>));
      connection.endSync(position);
    };
    connection.beginSync();
    try {
      // What was acknowledged before the sync (a send answers before its projection) is in what it replays, as every
      // REST read sees it; live updates meanwhile are held and follow.
      await caughtUp();
      if (since === undefined) return await snapshot('sync.snapshot');
      if (since < (await horizon()) || since > (await projections.headPosition())) return await snapshot('sync.reset');
      let position = since;
      for await (const page of replayFeed(readStore, userId, since, SYNC_PAGE)) {
        for (const entry of page) {
          connection.send(entry.bytes);
          position = entry.position;
          // Sent as fast as the client reads: a slow reader waits here, it is not closed as a slow consumer.
          if (connection.congested) await connection.drained();
        }
        // A long backlog gives the event loop back between pages, so other sockets are served meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      // prune-feed may have run meanwhile: if it removed anything after `since`, the replay may have a hole.
      if (since < (await horizon())) return await snapshot('sync.reset');
      connection.send(JSON.stringify({ type: 'sync.ok', id: frameId, position } satisfies ServerFrame<'sync.ok'>));
      connection.endSync(position);
    } catch (error) {
      connection.abortSync();
      throw error;
    }
  };

  const send: FrameHandler<'message.send'> = async (connection, input, frameId) => {
    const { message, created } = await messaging.send(connection.principal.userId, input, metadataOf(connection, frameId, clock()));
    return { messageId: message.id, position: message.position, created, message };
  };

  const mark =
    (kind: 'read' | 'delivered'): FrameHandler<'message.read' | 'message.delivered'> =>
    async (connection, { messageId, ...conversation }, frameId) => {
      const metadata = metadataOf(connection, frameId, clock());
      const userId = connection.principal.userId;
      const result = await againWhenCaughtUp(() =>
        kind === 'read'
          ? messaging.markRead(userId, conversation, messageId, metadata, false)
          : messaging.markDelivered(userId, conversation, messageId, metadata, false),
      );
      return { messageId, position: result.position, upTo: result.upTo };
    };

  /**
   * Acked once the prompt is stored; the generation then runs outside the socket's frame queue (so `ai.cancel` and
   * everything else are served meanwhile), streaming `ai.delta` to this socket. The outcome reaches all of the
   * user's devices as `ai.reply` (the feed); a failure after the ack is an `ai.error` here.
   */
  const aiSend: FrameHandler<'ai.send'> = async (connection, input, frameId) => {
    const userId = connection.principal.userId;
    let acked: string | null = null;
    const ack = (prompt: { id: string; position: number }) => {
      if (acked) return;
      acked = prompt.id;
      connection.send(
        JSON.stringify({
          type: 'ai.send.ok',
          id: frameId,
          promptId: prompt.id,
          position: prompt.position,
        } satisfies ServerFrame<'ai.send.ok'>),
      );
    };
    await new Promise<void>((resolve, reject) => {
      ai.send(
        userId,
        input,
        metadataOf(connection, frameId, clock()),
        (delta) => connection.send(JSON.stringify({ type: 'ai.delta', ...delta } satisfies ServerFrame<'ai.delta'>)),
        (prompt) => {
          ack(prompt);
          resolve();
        },
        connection.id,
      ).then(
        ({ prompt }) => {
          ack(prompt);
          resolve();
        },
        (error: unknown) => {
          if (!acked) return reject(error);
          const { body } = toErrorResponse(error, logger, { connectionId: connection.id, frameType: 'ai.send' });
          const frame: ServerFrame<'ai.error'> = {
            type: 'ai.error',
            id: frameId,
            promptId: acked,
            error: body.error as ServerFrame<'ai.error'>['error'],
          };
          connection.send(JSON.stringify(frame));
        },
      );
    });
  };

  const typing: FrameHandler<'typing'> = async (connection, conversation) => {
    const userId = connection.principal.userId;
    const conversationId = access.conversationIdOf(userId, conversation);
    // Only in a conversation that exists: a stranger cannot show "typing…" to anyone they like.
    await againWhenCaughtUp(async () => {
      const membership = await readStore
        .collection<ConversationDoc>(CONVERSATIONS)
        .findOne({ _id: conversationDocId(userId, conversationId) });
      if (!membership?.active || !(await access.canRead(userId, conversationId))) throw new NotFoundError('Conversation');
    });
    // Ephemeral: relayed to the others in the conversation, never stored.
    const bytes = JSON.stringify({
      type: 'typing',
      conversationId,
      userId,
      expiresInMs: LIMITS.typingExpiresMs,
    } satisfies ServerFrame<'typing'>);
    // Not across a block, either way.
    const others = (await access.participants(conversationId)).filter((participant) => participant !== userId);
    const blocked = await blocks.among(userId, others);
    for (const participant of others) if (!blocked.has(participant)) sendToUser(participant, bytes);
    return {};
  };

  return {
    ping: () => Promise.resolve({ time: clock().toISOString() }),
    sync,
    'message.send': send,
    'message.read': mark('read'),
    'message.delivered': mark('delivered'),
    typing,
    // As PUT / DELETE /api/messages/{id}/reactions/{emoji}; a message sent a moment ago may not be projected yet.
    'reaction.set': (connection, { messageId, emoji, on }, frameId) =>
      againWhenCaughtUp(() => reactions.set(connection.principal.userId, messageId, emoji, on, metadataOf(connection, frameId, clock()))),
    'presence.subscribe': async (connection, { userIds }, frameId) => {
      const users = await presence.subscribe(connection, userIds);
      connection.send(JSON.stringify({ type: 'presence.snapshot', id: frameId, users } satisfies ServerFrame<'presence.snapshot'>));
    },
    'ai.send': aiSend,
    'ai.cancel': (connection, { promptId }) => Promise.resolve({ cancelled: ai.cancel(connection.principal.userId, promptId) }),
    'call.ack': async (connection, { callId }) => {
      await calls.ack(connection.principal.userId, callId);
      return {};
    },
    'call.signal': async (connection, frame) => {
      await calls.signal(connection.principal.userId, connection.id, frame);
      return {};
    },
    'presence.set': (connection, { state }) => {
      presence.setIdle(connection, state === 'idle');
      return Promise.resolve({});
    },
  };
}
