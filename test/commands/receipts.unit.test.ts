import test from 'ava';
import { receiptDecider, type ReceiptEvent } from '../../commands/receipts.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:00:00.000Z';
const receipts = spec(receiptDecider);
const upTo = (position: number) => ({ messageId: `m${position}`, position });
const read = (position: number): ReceiptEvent => ({
  type: 'MessagesRead',
  data: { conversationId: 'dm:a:b', userId: 'b', upTo: upTo(position), at: now },
});
const mark = (type: 'MarkRead' | 'MarkDelivered', position: number) => ({
  type,
  data: { conversationId: 'dm:a:b', userId: 'b', upTo: upTo(position) },
  metadata: metadata({ now }),
});

test('moving the read watermark forward records one event', (t) => {
  receipts
    .given([read(5)])
    .when(mark('MarkRead', 9))
    .then(t, [read(9)]);
});

test('a read watermark never moves back or stays put', (t) => {
  receipts
    .given([read(5)])
    .when(mark('MarkRead', 5))
    .then(t, []);
  receipts
    .given([read(5)])
    .when(mark('MarkRead', 3))
    .then(t, []);
});

test('reading implies delivery: a delivered mark at or below the read watermark records nothing', (t) => {
  receipts
    .given([read(5)])
    .when(mark('MarkDelivered', 4))
    .then(t, []);
  receipts
    .given([read(5)])
    .when(mark('MarkDelivered', 7))
    .then(t, [{ type: 'MessagesDelivered', data: { conversationId: 'dm:a:b', userId: 'b', upTo: upTo(7), at: now } }]);
});
