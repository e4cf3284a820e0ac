import { z } from 'zod';
import { listedMessage } from './models.ts';
import { queryInteger } from './validation.ts';

const uuid = z.uuid();
const position = z.number().int().min(0);

export const threadPageQuery = z.strictObject({
  before: queryInteger(position.max(Number.MAX_SAFE_INTEGER)).optional(),
  limit: queryInteger(z.number().int().min(1).max(100).default(50)),
});

/** A thread as the caller sees it. */
export const threadState = z
  .strictObject({
    replyCount: z.number().int().min(0),
    lastReplyAt: z.iso.datetime({ offset: true }).nullable(),
    lastRepliers: z.array(uuid).max(3),
    following: z
      .boolean()
      .meta({ description: 'You get its `thread.updated` frames: you started it, replied, were mentioned or followed it' }),
    unreadCount: z.number().int().min(0).meta({ description: "Others' replies after your read mark (up to 1000)" }),
  })
  .meta({ id: 'ThreadState' });

export const threadPage = z
  .strictObject({
    root: listedMessage,
    thread: threadState,
    replies: z.array(listedMessage).meta({ description: 'Newest first' }),
    hasMore: z.boolean(),
    cursors: z.strictObject({ before: position.nullable() }),
  })
  .meta({ id: 'ThreadPage' });

export const threadChanged = z.strictObject({ rootId: uuid, thread: threadState }).meta({ id: 'ThreadChanged' });

export const followedThreads = z
  .strictObject({
    threads: z.array(
      z
        .strictObject({
          rootId: uuid,
          conversationId: z.string(),
          replyCount: z.number().int().min(1),
          lastReplyAt: z.iso.datetime({ offset: true }),
          lastRepliers: z.array(uuid).max(3),
          lastReplyPosition: position,
          unreadCount: z.number().int().min(0),
        })
        .meta({ id: 'FollowedThread' }),
    ),
    unreadCount: z.number().int().min(0).meta({ description: 'Unread replies over all the threads you follow (up to 1000)' }),
  })
  .meta({ id: 'FollowedThreads' });
