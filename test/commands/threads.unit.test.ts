import test from 'ava';
import { NotFoundError } from '../../commands/shared/errors.ts';
import { threadDecider, type ThreadCommand, type ThreadEvent } from '../../commands/threads.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:00:00.000Z';
const threads = spec(threadDecider);
const fields = { rootId: 'r', conversationId: 'group:g', userId: 'u' };
const command = (type: 'FollowThread' | 'UnfollowThread', following: boolean, rootVisible = true) =>
  ({ type, data: { ...fields, rootVisible, following }, metadata: metadata({ now }) }) satisfies ThreadCommand;
const markRead = (upTo: number) =>
  ({ type: 'MarkThreadRead', data: { ...fields, rootVisible: true, upTo }, metadata: metadata({ now }) }) satisfies ThreadCommand;
const read = (upTo: number): ThreadEvent => ({ type: 'ThreadRead', data: { ...fields, upTo, at: now } });

test('following and unfollowing record a change only when it is one', (t) => {
  threads
    .given([])
    .when(command('FollowThread', false))
    .then(t, [{ type: 'ThreadFollowed', data: { ...fields, at: now } }]);
  threads.given([]).when(command('FollowThread', true)).then(t, []);
  threads
    .given([])
    .when(command('UnfollowThread', true))
    .then(t, [{ type: 'ThreadUnfollowed', data: { ...fields, at: now } }]);
  threads.given([]).when(command('UnfollowThread', false)).then(t, []);
});

test('the read mark only moves forward', (t) => {
  threads
    .given([])
    .when(markRead(7))
    .then(t, [read(7)]);
  threads
    .given([read(7)])
    .when(markRead(7))
    .then(t, []);
  threads
    .given([read(7)])
    .when(markRead(3))
    .then(t, []);
});

test('a root the user cannot read is not found', (t) => {
  threads
    .given([])
    .when(command('FollowThread', false, false))
    .thenThrows(t, NotFoundError, 'not_found');
});
