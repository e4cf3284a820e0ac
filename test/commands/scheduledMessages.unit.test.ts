import test from 'ava';
import { BlockedError } from '../../commands/contacts.ts';
import {
  ScheduleClosedError,
  scheduledMessageDecider,
  type ScheduledMessageEvent,
  type ScheduleMessage,
} from '../../commands/scheduledMessages.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';
import { sealedFor } from '../helpers/sealed.ts';

const now = '2026-01-01T00:00:00.000Z';
const at = (ms: number) => new Date(Date.parse(now) + ms).toISOString();
const schedules = spec(scheduledMessageDecider);
const data: ScheduleMessage['data'] = {
  scheduleId: 's1',
  senderId: 'a',
  messageId: 'm1',
  conversationId: 'dm:a:b',
  target: { kind: 'direct', recipientId: 'b' },
  text: sealedFor('m1', 'later'),
  sendAt: at(60_000),
  targetReachable: true,
  blocked: false,
};
const schedule = (overrides: Partial<ScheduleMessage['data']> = {}, when = now): ScheduleMessage => ({
  type: 'ScheduleMessage',
  data: { ...data, ...overrides },
  metadata: metadata({ now: when }),
});
const { targetReachable: _r, blocked: _b, ...eventData } = data;
const scheduled: ScheduledMessageEvent = { type: 'MessageScheduled', data: { ...eventData, scheduledAt: now } };

test('scheduling a sealed text for a minute ahead records it', (t) => {
  schedules.given([]).when(schedule()).then(t, [scheduled]);
});

test('a retried schedule records nothing', (t) => {
  schedules.given([scheduled]).when(schedule()).then(t, []);
});

test('a time less than 10 s or more than a year ahead is refused', (t) => {
  schedules
    .given([])
    .when(schedule({ sendAt: at(9_000) }))
    .thenThrows(t, ValidationError);
  schedules
    .given([])
    .when(schedule({ sendAt: at(366 * 24 * 3_600_000) }))
    .thenThrows(t, ValidationError);
  schedules
    .given([])
    .when(schedule({ sendAt: 'tomorrow' }))
    .thenThrows(t, ValidationError);
});

test('a text in clear or sealed under another key is refused', (t) => {
  schedules
    .given([])
    .when(schedule({ text: { plain: 'x' } }))
    .thenThrows(t, ValidationError);
  schedules
    .given([])
    .when(schedule({ text: sealedFor('m2') }))
    .thenThrows(t, ValidationError);
});

test('the blocker, a non-member and an unknown recipient are refused', (t) => {
  schedules
    .given([])
    .when(schedule({ blocked: true }))
    .thenThrows(t, BlockedError);
  schedules
    .given([])
    .when(schedule({ targetReachable: false }))
    .thenThrows(t, NotFoundError);
  schedules
    .given([])
    .when(schedule({ target: { kind: 'group', groupId: 'g' }, conversationId: 'group:g', targetReachable: false }))
    .thenThrows(t, ForbiddenError);
});

test('only the sender edits or cancels, and only while pending and not about to be sent', (t) => {
  const edit = (actorId: string, when = now) => ({
    type: 'EditScheduledMessage' as const,
    data: { scheduleId: 's1', actorId, text: sealedFor('m1', 'new'), sendAt: at(120_000) },
    metadata: metadata({ now: when }),
  });
  schedules
    .given([scheduled])
    .when(edit('a'))
    .then(t, [
      {
        type: 'ScheduledMessageEdited',
        data: { scheduleId: 's1', senderId: 'a', messageId: 'm1', text: sealedFor('m1', 'new'), sendAt: at(120_000), editedAt: now },
      },
    ]);
  schedules.given([scheduled]).when(edit('b')).thenThrows(t, NotFoundError);
  schedules
    .given([scheduled])
    .when(edit('a', at(59_500)))
    .thenThrows(t, ScheduleClosedError);
  const cancelled: ScheduledMessageEvent = {
    type: 'ScheduledMessageCancelled',
    data: { scheduleId: 's1', senderId: 'a', messageId: 'm1', cancelledAt: now },
  };
  const cancel = { type: 'CancelScheduledMessage' as const, data: { scheduleId: 's1', actorId: 'a' }, metadata: metadata({ now }) };
  schedules.given([scheduled]).when(cancel).then(t, [cancelled]);
  schedules.given([scheduled, cancelled]).when(cancel).then(t, []);
  schedules.given([scheduled, cancelled]).when(edit('a')).thenThrows(t, ScheduleClosedError);
});

test('delivery and failure are recorded once', (t) => {
  const deliver = { type: 'RecordScheduledDelivery' as const, data: { scheduleId: 's1' }, metadata: metadata({ now: at(60_000) }) };
  const delivered: ScheduledMessageEvent = {
    type: 'ScheduledMessageDelivered',
    data: { scheduleId: 's1', senderId: 'a', messageId: 'm1', conversationId: 'dm:a:b', deliveredAt: at(60_000) },
  };
  schedules.given([scheduled]).when(deliver).then(t, [delivered]);
  schedules.given([scheduled, delivered]).when(deliver).then(t, []);
  const fail = {
    type: 'RecordScheduledFailure' as const,
    data: { scheduleId: 's1', reason: 'blocked' as const },
    metadata: metadata({ now: at(60_000) }),
  };
  schedules
    .given([scheduled])
    .when(fail)
    .then(t, [
      {
        type: 'ScheduledMessageFailed',
        data: { scheduleId: 's1', senderId: 'a', messageId: 'm1', conversationId: 'dm:a:b', reason: 'blocked', failedAt: at(60_000) },
      },
    ]);
  schedules.given([scheduled, delivered]).when(fail).then(t, []);
});
