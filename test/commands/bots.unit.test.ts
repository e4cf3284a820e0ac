import test from 'ava';
import type { BotCreated, BotTokenIssued } from '../../commands/bots.ts';
import { ConflictError, NotFoundError } from '../../commands/shared/errors.ts';
import { InvalidCredentialsError, userDecider, type UserEvent } from '../../commands/users.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:00:00.000Z';
const created: BotCreated = {
  type: 'BotCreated',
  data: { userId: 'bot1', ownerId: 'owner', username: { plain: 'helper' }, displayName: { plain: 'Helper' }, createdAt: now },
};
const issued: BotTokenIssued = {
  type: 'BotTokenIssued',
  data: { userId: 'bot1', tokenId: 't1', tokenHash: 'h1', replacesTokenId: null, issuedAt: now },
};
const users = spec(userDecider);
const meta = metadata({ userId: 'owner', now });

test('a bot is created once: a retry by its owner appends nothing, anyone else finds the user existing', (t) => {
  const command = {
    type: 'CreateBot' as const,
    data: { userId: 'bot1', ownerId: 'owner', username: { plain: 'helper' }, displayName: { plain: 'Helper' } },
    metadata: meta,
  };
  users.given([]).when(command).then(t, [created]);
  users.given([created]).when(command).then(t, []);
  users
    .given([created])
    .when({ ...command, data: { ...command.data, ownerId: 'someone' } })
    .thenThrows(t, ConflictError, 'user_exists');
});

test('issuing a token records its id and hash and the token it replaces; only the owner may', (t) => {
  const issue = (actorId: string, tokenId: string) => ({
    type: 'IssueBotToken' as const,
    data: { userId: 'bot1', actorId, tokenId, tokenHash: `h-${tokenId}` },
    metadata: meta,
  });
  users
    .given([created])
    .when(issue('owner', 't1'))
    .then(t, [{ ...issued, data: { ...issued.data, tokenHash: 'h-t1' } }]);
  users
    .given([created, issued])
    .when(issue('owner', 't2'))
    .then(t, [
      { type: 'BotTokenIssued', data: { userId: 'bot1', tokenId: 't2', tokenHash: 'h-t2', replacesTokenId: 't1', issuedAt: now } },
    ]);
  users.given([created, issued]).when(issue('owner', 't1')).then(t, []);
  users.given([created]).when(issue('intruder', 't1')).thenThrows(t, NotFoundError);
});

test('a user who is not a bot has no bot token to issue or revoke', (t) => {
  const registered: UserEvent = {
    type: 'UserRegistered',
    data: {
      userId: 'bot1',
      email: { plain: 'a@example.test' },
      username: { plain: 'a' },
      displayName: { plain: 'A' },
      passwordHash: '$2b$hash',
      passwordScheme: 'bcrypt-nfc',
      registeredAt: now,
    },
  };
  users
    .given([registered])
    .when({ type: 'RevokeBotToken', data: { userId: 'bot1', actorId: 'owner' }, metadata: meta })
    .thenThrows(t, NotFoundError);
});

test('revoking leaves the bot without a token; revoking again appends nothing', (t) => {
  const revoke = { type: 'RevokeBotToken' as const, data: { userId: 'bot1', actorId: 'owner' }, metadata: meta };
  const revoked: UserEvent = { type: 'BotTokenRevoked', data: { userId: 'bot1', tokenId: 't1', revokedAt: now } };
  users.given([created, issued]).when(revoke).then(t, [revoked]);
  users.given([created, issued, revoked]).when(revoke).then(t, []);
});

test('a bot never logs in with a password, even one reported verified', (t) => {
  users
    .given([created, issued])
    .when({
      type: 'LogUserIn',
      data: { userId: 'bot1', passwordVerified: true, token: { tokenId: 'x', expiresAt: now } },
      metadata: meta,
    })
    .thenThrows(t, InvalidCredentialsError);
});
