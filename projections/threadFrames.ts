import type { MessageEvent } from '../commands/messages.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectionContext } from '../src/projection/projector.ts';
import type { LIVE_FRAMES, LiveFrame } from '../src/contract/socketProtocol.ts';
import { MEDIA_FILES, type MediaDoc } from './mediaFiles.ts';
import { attachmentFilesOf, messageCollectionOf, toPublicMessage, type MessageDoc } from './messageDocs.ts';
import { THREAD_MEMBERS, THREADS, type ThreadDoc, type ThreadMemberDoc } from './threads.ts';

type Deliver = (
  context: ProjectionContext,
  recorded: RecordedEvent,
  audience: { conversationId: string; except?: readonly string[] } | { userIds: readonly string[] },
  frame: LiveFrame<keyof typeof LIVE_FRAMES>,
  idSuffix?: string,
) => Promise<void>;

/** Who follows the thread of `rootId` and may see the reply (not deleted for themselves). */
export async function threadFollowers(context: ProjectionContext, rootId: string, reply: Pick<MessageDoc, 'hiddenFor'>): Promise<string[]> {
  return (await context.collection<ThreadMemberDoc>(THREAD_MEMBERS).find({ rootId, following: true }))
    .map((member) => member.userId)
    .filter((userId) => !reply.hiddenFor.includes(userId));
}

/**
 * The root's summary as it now stands, to the conversation less the followers (`thread.updated`), in the entry
 * `:t` beside the followers' one.
 */
export async function threadSummaryFrame(
  context: ProjectionContext,
  recorded: RecordedEvent,
  deliver: Deliver,
  reply: MessageDoc,
  followers: readonly string[],
  change: 'replied' | 'reply_deleted',
): Promise<void> {
  const rootId = reply.threadRootId;
  const thread = rootId ? await context.collection<ThreadDoc>(THREADS).findOne({ _id: rootId }) : null;
  if (!rootId || !thread) return;
  const { conversationId } = reply;
  await deliver(
    context,
    recorded,
    { conversationId, except: [...reply.hiddenFor, ...followers] },
    {
      type: 'thread.updated',
      conversationId,
      rootId,
      change,
      replyId: reply._id,
      senderId: reply.senderId,
      replyCount: thread.replyCount,
      lastReplyAt: thread.lastReplyAt,
      lastRepliers: thread.lastRepliers,
    },
    ':t',
  );
}

/**
 * A reply in a thread reaches the thread's followers (who started it, replied, were mentioned or followed it) as
 * `message.created`, in the entry a delete for everyone rewrites; everyone else in the conversation gets
 * `thread.updated`, the root's new summary without the reply. One entry each (a socket takes one frame per position),
 * the first naming the followers, the second the conversation less them: neither grows with the group. (A reply's
 * edits and deletes go to its followers too, and a delete's new summary to the others: see the feed's messageFrame.)
 * Returns false for a message outside any thread (messageFrame's business).
 */
export async function threadFrame(
  event: MessageEvent,
  recorded: RecordedEvent,
  context: ProjectionContext,
  deliver: Deliver,
): Promise<boolean> {
  if (event.type !== 'MessageSent' || !event.data.threadRootId) return false;
  const { conversationId, messageId } = event.data;
  const doc = await context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId });
  if (!doc) return true;
  const message = toPublicMessage(doc, await attachmentFilesOf(context.collection<MediaDoc>(MEDIA_FILES), [doc]));
  const followers = await threadFollowers(context, event.data.threadRootId, doc);
  await deliver(context, recorded, { userIds: followers }, { type: 'message.created', conversationId, message });
  await threadSummaryFrame(context, recorded, deliver, doc, followers, 'replied');
  return true;
}
