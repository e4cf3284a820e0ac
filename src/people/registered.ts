import { userDecider, userStream } from '../../commands/users.ts';
import type { CommandHandler } from '../commandHandler.ts';

/**
 * Whether `userId` names a registered user, from the user's own stream rather than the `users` projection: the
 * facts a decider is given (`userExists`) must not lag behind a registration that was just acknowledged.
 */
export async function isRegistered(commands: CommandHandler, userId: string): Promise<boolean> {
  // Nothing unregisters a user: a cached "registered" is true however old (every send asks this of its recipient).
  if (commands.cached(userDecider, userStream(userId))?.state.status === 'registered') return true;
  return (await commands.load(userDecider, userStream(userId))).state.status === 'registered';
}
