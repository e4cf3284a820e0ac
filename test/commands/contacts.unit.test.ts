import test from 'ava';
import {
  BlockedError,
  contactsDecider,
  MAX_BLOCKS,
  MAX_CONTACTS,
  type ContactCommand,
  type ContactEvent,
} from '../../commands/contacts.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';

const at = '2026-01-01T00:00:00.000Z';
const contacts = spec(contactsDecider);
const command = <T extends ContactCommand['type']>(type: T, data: Omit<Extract<ContactCommand, { type: T }>['data'], 'ownerId'>) =>
  ({ type, data: { ownerId: 'me', ...data }, metadata: metadata({ now: at }) }) as Extract<ContactCommand, { type: T }>;
const added = (userId: string, nickname: string | null = null): ContactEvent => ({
  type: 'ContactAdded',
  data: { ownerId: 'me', userId, nickname: nickname === null ? null : { plain: nickname }, at },
});
const blocked = (userId: string): ContactEvent => ({ type: 'UserBlocked', data: { ownerId: 'me', userId, at } });

test('adding a registered user records ContactAdded; adding them again records nothing', (t) => {
  contacts
    .given([])
    .when(command('AddContact', { userId: 'u', nickname: { plain: 'Mum' }, userExists: true }))
    .then(t, [added('u', 'Mum')]);
  contacts
    .given([added('u')])
    .when(command('AddContact', { userId: 'u', nickname: { plain: 'other' }, userExists: true }))
    .then(t, []);
});

test('an unknown user cannot be added or blocked; nobody adds or blocks themselves', (t) => {
  contacts
    .given([])
    .when(command('AddContact', { userId: 'ghost', nickname: null, userExists: false }))
    .thenThrows(t, NotFoundError, 'not_found');
  contacts
    .given([])
    .when(command('BlockUser', { userId: 'ghost', userExists: false }))
    .thenThrows(t, NotFoundError, 'not_found');
  contacts
    .given([])
    .when(command('AddContact', { userId: 'me', nickname: null, userExists: true }))
    .thenThrows(t, ValidationError);
  contacts
    .given([])
    .when(command('BlockUser', { userId: 'me', userExists: true }))
    .thenThrows(t, ValidationError);
});

test('renaming needs a contact and a nickname where there was none or another (sealed ones are compared by the shell); removing an absent contact records nothing', (t) => {
  contacts
    .given([added('u', 'a')])
    .when(command('RenameContact', { userId: 'u', nickname: { plain: 'b' } }))
    .then(t, [{ type: 'ContactRenamed', data: { ownerId: 'me', userId: 'u', nickname: { plain: 'b' }, at } }]);
  contacts
    .given([added('u')])
    .when(command('RenameContact', { userId: 'u', nickname: null }))
    .then(t, []);
  contacts
    .given([])
    .when(command('RenameContact', { userId: 'u', nickname: { plain: 'b' } }))
    .thenThrows(t, NotFoundError);
  contacts
    .given([])
    .when(command('RemoveContact', { userId: 'u' }))
    .then(t, []);
  contacts
    .given([added('u')])
    .when(command('RemoveContact', { userId: 'u' }))
    .then(t, [{ type: 'ContactRemoved', data: { ownerId: 'me', userId: 'u', at } }]);
});

test('blocking and unblocking are idempotent', (t) => {
  contacts
    .given([])
    .when(command('BlockUser', { userId: 'u', userExists: true }))
    .then(t, [blocked('u')]);
  contacts
    .given([blocked('u')])
    .when(command('BlockUser', { userId: 'u', userExists: true }))
    .then(t, []);
  contacts
    .given([blocked('u')])
    .when(command('UnblockUser', { userId: 'u' }))
    .then(t, [{ type: 'UserUnblocked', data: { ownerId: 'me', userId: 'u', at } }]);
  contacts
    .given([])
    .when(command('UnblockUser', { userId: 'u' }))
    .then(t, []);
});

test('a user has at most 5,000 contacts and 1,000 blocks', (t) => {
  const full = Array.from({ length: MAX_CONTACTS }, (_, i) => added(`c${i}`));
  contacts
    .given(full)
    .when(command('AddContact', { userId: 'one-more', nickname: null, userExists: true }))
    .thenThrows(t, ConflictError, 'contacts_limit');
  const blocks = Array.from({ length: MAX_BLOCKS }, (_, i) => blocked(`b${i}`));
  contacts
    .given(blocks)
    .when(command('BlockUser', { userId: 'one-more', userExists: true }))
    .thenThrows(t, ConflictError, 'blocks_limit');
  t.is(new BlockedError().status, 403);
});
