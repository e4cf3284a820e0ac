import { NotFoundError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * One user's relation to one thread (`thread-<rootId>-<userId>`): whether they chose to follow or unfollow it, and
 * how far they have read it. A thread is a root message and the replies sent with `threadRootId` naming it; who
 * follows it without choosing (its root's sender, repliers, the mentioned) is the projection's business.
 */
export const threadMemberStream = (rootId: string, userId: string) => `thread-${rootId}-${userId}`;

interface ThreadFields {
  rootId: string;
  conversationId: string;
  userId: string;
}
export type ThreadFollowed = Event<'ThreadFollowed', ThreadFields & { at: string }>;
export type ThreadUnfollowed = Event<'ThreadUnfollowed', ThreadFields & { at: string }>;
/** The user has read the thread's replies up to the one at `upTo` (a position). */
export type ThreadRead = Event<'ThreadRead', ThreadFields & { upTo: number; at: string }>;
export type ThreadEvent = ThreadFollowed | ThreadUnfollowed | ThreadRead;
export const threadEventTypes = ['ThreadFollowed', 'ThreadUnfollowed', 'ThreadRead'] as const satisfies readonly ThreadEvent['type'][];

/**
 * Looked up by the shell: `rootVisible`, the root is a message the user may read now (not a reply itself);
 * `following`, whether the user follows the thread now (replying or being mentioned follows it without a choice).
 */
export type FollowThread = Command<'FollowThread', ThreadFields & { rootVisible: boolean; following: boolean }>;
export type UnfollowThread = Command<'UnfollowThread', ThreadFields & { rootVisible: boolean; following: boolean }>;
export type MarkThreadRead = Command<'MarkThreadRead', ThreadFields & { rootVisible: boolean; upTo: number }>;
export type ThreadCommand = FollowThread | UnfollowThread | MarkThreadRead;

export interface ThreadMemberState {
  readonly readUpTo: number;
}

export const initialState: ThreadMemberState = { readUpTo: 0 };

export function evolve(state: ThreadMemberState, event: ThreadEvent): ThreadMemberState {
  switch (event.type) {
    case 'ThreadFollowed':
    case 'ThreadUnfollowed':
      return state;
    case 'ThreadRead':
      return { ...state, readUpTo: Math.max(state.readUpTo, event.data.upTo) };
    default:
      return assertNever(event);
  }
}

export function decide(command: ThreadCommand, state: ThreadMemberState): Decision<ThreadEvent> {
  const { rootId, conversationId, userId, rootVisible } = command.data;
  if (!rootVisible) throw new NotFoundError('Thread');
  const at = command.metadata.now;
  switch (command.type) {
    case 'FollowThread':
      return command.data.following ? [] : [{ type: 'ThreadFollowed', data: { rootId, conversationId, userId, at } }];
    case 'UnfollowThread':
      return !command.data.following ? [] : [{ type: 'ThreadUnfollowed', data: { rootId, conversationId, userId, at } }];
    case 'MarkThreadRead':
      return command.data.upTo <= state.readUpTo
        ? []
        : [{ type: 'ThreadRead', data: { rootId, conversationId, userId, upTo: command.data.upTo, at } }];
    default:
      return assertNever(command);
  }
}

export const threadDecider: Decider<ThreadCommand, ThreadEvent, ThreadMemberState> = {
  eventTypes: threadEventTypes,
  initialState,
  evolve,
  decide,
};
