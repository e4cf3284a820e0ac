import { z } from 'zod';
import { displayText, usernameInput } from './validation.ts';

/** POST /api/bots: a bot has a username and display name; no email, no password (it acts with its token). */
export const createBotSchema = z
  .strictObject({
    username: usernameInput(),
    displayName: displayText(1, 64).optional().meta({ description: 'Defaults to the username' }),
  })
  .meta({ id: 'CreateBot', examples: [{ username: 'weather_bot', displayName: 'Weather' }] });

export const bot = z
  .strictObject({
    id: z.uuid(),
    username: z.string(),
    displayName: z.string(),
    ownerId: z.uuid(),
    isBot: z.literal(true),
    createdAt: z.iso.datetime({ offset: true }),
    tokenIssuedAt: z.iso
      .datetime({ offset: true })
      .nullable()
      .meta({ description: 'When its current token was issued; null when it has none (revoked)' }),
  })
  .meta({ id: 'Bot', description: 'A bot account as its owner sees it: never its token' });

export const botList = z.strictObject({ bots: z.array(bot) }).meta({ id: 'BotList' });

export const botWithToken = z
  .strictObject({
    bot,
    token: z.string().meta({
      description:
        'The bot token, shown this once (only its hash is kept): send it as `Authorization: Bearer <token>` on REST and on the socket',
    }),
  })
  .meta({ id: 'BotWithToken' });
