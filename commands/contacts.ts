import { ConflictError, DomainError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import type { SealedText } from './shared/sealed.ts';

/**
 * One user's address book and block list (`contacts-<ownerId>`): whom they added (with a nickname) and whom they
 * blocked. A block is the owner's decision alone; what it stops (direct messages both ways, presence, typing,
 * receipts, profile details) is enforced where those happen, from the `contacts` collection.
 */
export const contactsStream = (ownerId: string) => `contacts-${ownerId}`;

export const MAX_CONTACTS = 5_000;
export const MAX_BLOCKS = 1_000;

/** Version 2 seals the nickname under the owner's data key (`user:<ownerId>`); version 1 held it in clear (upcast to `{ plain }`). */
export type ContactAdded = Event<'ContactAdded', { ownerId: string; userId: string; nickname: SealedText | null; at: string }>;
export type ContactRenamed = Event<'ContactRenamed', { ownerId: string; userId: string; nickname: SealedText | null; at: string }>;
export type ContactRemoved = Event<'ContactRemoved', { ownerId: string; userId: string; at: string }>;
export type UserBlocked = Event<'UserBlocked', { ownerId: string; userId: string; at: string }>;
export type UserUnblocked = Event<'UserUnblocked', { ownerId: string; userId: string; at: string }>;
export type ContactEvent = ContactAdded | ContactRenamed | ContactRemoved | UserBlocked | UserUnblocked;
export const contactEventTypes = [
  'ContactAdded',
  'ContactRenamed',
  'ContactRemoved',
  'UserBlocked',
  'UserUnblocked',
] as const satisfies readonly ContactEvent['type'][];

/** `userExists` is looked up by the shell: the target is a registered user. */
/** Nicknames arrive sealed by the shell; a rename to the same nickname is left out by the shell (sealed texts never compare equal). */
export type AddContact = Command<'AddContact', { ownerId: string; userId: string; nickname: SealedText | null; userExists: boolean }>;
export type RenameContact = Command<'RenameContact', { ownerId: string; userId: string; nickname: SealedText | null }>;
export type RemoveContact = Command<'RemoveContact', { ownerId: string; userId: string }>;
export type BlockUser = Command<'BlockUser', { ownerId: string; userId: string; userExists: boolean }>;
export type UnblockUser = Command<'UnblockUser', { ownerId: string; userId: string }>;
export type ContactCommand = AddContact | RenameContact | RemoveContact | BlockUser | UnblockUser;

export interface ContactsState {
  /** Contact id → nickname (sealed). */
  contacts: ReadonlyMap<string, SealedText | null>;
  blocked: ReadonlySet<string>;
}

export const initialState: ContactsState = { contacts: new Map(), blocked: new Set() };

/** A direct message, a call or a side channel refused because one of the two blocked the other. */
export class BlockedError extends DomainError {
  constructor(message = 'One of you has blocked the other') {
    super('blocked', 403, message);
  }
}

export function evolve(state: ContactsState, event: ContactEvent): ContactsState {
  switch (event.type) {
    case 'ContactAdded':
    case 'ContactRenamed':
      return { ...state, contacts: new Map(state.contacts).set(event.data.userId, event.data.nickname) };
    case 'ContactRemoved': {
      const contacts = new Map(state.contacts);
      contacts.delete(event.data.userId);
      return { ...state, contacts };
    }
    case 'UserBlocked':
      return { ...state, blocked: new Set(state.blocked).add(event.data.userId) };
    case 'UserUnblocked': {
      const blocked = new Set(state.blocked);
      blocked.delete(event.data.userId);
      return { ...state, blocked };
    }
    default:
      return assertNever(event);
  }
}

function notYourself(ownerId: string, userId: string): void {
  if (ownerId === userId) throw new ValidationError('userId: not yourself', { field: 'userId' });
}

export function decide(command: ContactCommand, state: ContactsState): Decision<ContactEvent> {
  const at = command.metadata.now;
  const { ownerId, userId } = command.data;
  notYourself(ownerId, userId);
  switch (command.type) {
    case 'AddContact': {
      if (!command.data.userExists) throw new NotFoundError('User', { userId });
      if (state.contacts.has(userId)) return [];
      if (state.contacts.size >= MAX_CONTACTS) throw new ConflictError('contacts_limit', `At most ${MAX_CONTACTS} contacts`);
      return [{ type: 'ContactAdded', data: { ownerId, userId, nickname: command.data.nickname, at } }];
    }
    case 'RenameContact': {
      if (!state.contacts.has(userId)) throw new NotFoundError('Contact', { userId });
      if (state.contacts.get(userId) === null && command.data.nickname === null) return [];
      return [{ type: 'ContactRenamed', data: { ownerId, userId, nickname: command.data.nickname, at } }];
    }
    case 'RemoveContact':
      return state.contacts.has(userId) ? [{ type: 'ContactRemoved', data: { ownerId, userId, at } }] : [];
    case 'BlockUser': {
      if (!command.data.userExists) throw new NotFoundError('User', { userId });
      if (state.blocked.has(userId)) return [];
      if (state.blocked.size >= MAX_BLOCKS) throw new ConflictError('blocks_limit', `At most ${MAX_BLOCKS} blocked users`);
      return [{ type: 'UserBlocked', data: { ownerId, userId, at } }];
    }
    case 'UnblockUser':
      return state.blocked.has(userId) ? [{ type: 'UserUnblocked', data: { ownerId, userId, at } }] : [];
    default:
      return assertNever(command);
  }
}

export const contactsDecider: Decider<ContactCommand, ContactEvent, ContactsState> = {
  eventTypes: contactEventTypes,
  initialState,
  evolve,
  decide,
};
