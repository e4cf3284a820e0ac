import { z } from 'zod';
import { reactionSummary } from './models.ts';

const uuid = z.uuid();

export const messageReactions = z
  .strictObject({ messageId: uuid, reactions: z.array(reactionSummary) })
  .meta({ id: 'MessageReactions', description: "A message's reactions as the caller sees them" });

export const reactorPage = z
  .strictObject({
    messageId: uuid,
    reactors: z.array(
      z
        .strictObject({
          userId: uuid,
          username: z.string(),
          displayName: z.string(),
          emoji: z.string(),
          at: z.iso.datetime({ offset: true }),
          position: z.number().int().min(0),
        })
        .meta({ id: 'Reactor' }),
    ),
    hasMore: z.boolean(),
    cursor: z.number().int().min(0).nullable().meta({ description: 'Pass as `after` for the next page' }),
  })
  .meta({ id: 'ReactorPage' });
