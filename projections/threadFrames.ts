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

/**
 * A reply in a thread reaches the thread's followers (who started it, replied, were mentioned or followed it) as
 * `message.created`, in the entry a delete for everyone rewrites; everyone else in the conversation gets
 * `thread.updated`, the root's new summary without the reply. One entry each (a socket takes one frame per position),
 * the first naming the followers, the second the conversation less them: neither grows with the group.
 * Returns false for a message outside any thread (messageFrame's business).
 */
export async function threadFrame(
  event: MessageEvent,
  recorded: RecordedEvent,
  context: ProjectionContext,
  deliver: Deliver,
): Promise<boolean> {
  if (event.type !== 'MessageSent' || !event.data.threadRootId) return false;
  const { threadRootId: rootId, conversationId, messageId } = event.data;
  const [doc, thread] = await Promise.all([
    context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId }),
    context.collection<ThreadDoc>(THREADS).findOne({ _id: rootId }),
  ]);
  if (!doc || !thread) return true;
  const message = toPublicMessage(doc, await attachmentFilesOf(context.collection<MediaDoc>(MEDIA_FILES), [doc]));
  const followers = (await context.collection<ThreadMemberDoc>(THREAD_MEMBERS).find({ rootId, following: true }))
    .map((member) => member.userId)
    .filter((userId) => !doc.hiddenFor.includes(userId));
  await deliver(context, recorded, { userIds: followers }, { type: 'message.created', conversationId, message });
  await deliver(
    context,
    recorded,
    { conversationId, except: [...doc.hiddenFor, ...followers] },
    {
      type: 'thread.updated',
      conversationId,
      rootId,
      replyId: messageId,
      senderId: event.data.senderId,
      replyCount: thread.replyCount,
      lastReplyAt: thread.lastReplyAt,
      lastRepliers: thread.lastRepliers,
    },
    ':t',
  );
  return true;
}
