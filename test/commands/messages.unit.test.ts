import test from 'ava';
import { BlockedError } from '../../commands/contacts.ts';
import { InvalidAttachmentError, messageDecider, type MessageEvent, type SendMessage } from '../../commands/messages.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';
import { sealedFor } from '../helpers/sealed.ts';

const now = '2026-01-01T00:00:00.000Z';
const messages = spec(messageDecider);
const sendData: SendMessage['data'] = {
  messageId: 'm1',
  conversationId: 'dm:a:b',
  senderId: 'a',
  target: { kind: 'direct', recipientId: 'b' },
  content: { kind: 'text', text: sealedFor('m1', 'hi') },
  replyTo: null,
  attachments: [],
  clientMessageId: 'c1',
  targetReachable: true,
  postingAllowed: true,
  replyToValid: true,
  blocked: false,
  attachmentsValid: true,
};
const send = (overrides: Partial<SendMessage['data']> = {}): SendMessage => ({
  type: 'SendMessage',
  data: { ...sendData, ...overrides },
  metadata: metadata({ now }),
});
const { targetReachable: _r, postingAllowed: _p, replyToValid: _v, blocked: _b, attachmentsValid: _a, ...sentData } = sendData;
const sent: MessageEvent = { type: 'MessageSent', data: { ...sentData, sentAt: now } };

test('sending to a reachable recipient records the message', (t) => {
  messages.given([]).when(send()).then(t, [sent]);
});

test('a retried send finds the message already sent and records nothing', (t) => {
  messages.given([sent]).when(send()).then(t, []);
});

test('another sender reusing the id is a conflict', (t) => {
  messages
    .given([sent])
    .when(send({ senderId: 'x' }))
    .thenThrows(t, ConflictError, 'message_exists');
});

test('an unknown recipient is not found; a group you are not in is forbidden', (t) => {
  messages
    .given([])
    .when(send({ targetReachable: false }))
    .thenThrows(t, NotFoundError);
  messages
    .given([])
    .when(send({ targetReachable: false, target: { kind: 'group', groupId: 'g' }, conversationId: 'group:g' }))
    .thenThrows(t, ForbiddenError);
});

test('messaging yourself or replying to a message outside the conversation is invalid', (t) => {
  messages
    .given([])
    .when(send({ target: { kind: 'direct', recipientId: 'a' } }))
    .thenThrows(t, ValidationError);
  messages
    .given([])
    .when(send({ replyToValid: false, replyTo: 'zz' }))
    .thenThrows(t, ValidationError);
});

test('only the sender edits, and not after deletion', (t) => {
  const edit = (actorId: string) => ({
    type: 'EditMessage' as const,
    data: { messageId: 'm1', actorId, content: { kind: 'text' as const, text: sealedFor('m1', 'v2') } },
    metadata: metadata({ now }),
  });
  messages
    .given([sent])
    .when(edit('a'))
    .then(t, [
      {
        type: 'MessageEdited',
        data: {
          messageId: 'm1',
          conversationId: 'dm:a:b',
          senderId: 'a',
          content: { kind: 'text', text: sealedFor('m1', 'v2') },
          editedAt: now,
        },
      },
    ]);
  messages.given([sent]).when(edit('b')).thenThrows(t, ForbiddenError);
  messages
    .given([sent, { type: 'MessageDeleted', data: { messageId: 'm1', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: now } }])
    .when(edit('a'))
    .thenThrows(t, ConflictError);
  messages.given([]).when(edit('a')).thenThrows(t, NotFoundError);
});

test("delete for everyone is the sender's; delete for me is any participant's, once", (t) => {
  const del = (actorId: string, scope: 'everyone' | 'me', actorIsParticipant = true) => ({
    type: 'DeleteMessage' as const,
    data: { messageId: 'm1', actorId, scope, actorIsParticipant },
    metadata: metadata({ now }),
  });
  messages
    .given([sent])
    .when(del('a', 'everyone'))
    .then(t, [{ type: 'MessageDeleted', data: { messageId: 'm1', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: now } }]);
  messages.given([sent]).when(del('b', 'everyone')).thenThrows(t, ForbiddenError);
  const hidden: MessageEvent = { type: 'MessageHidden', data: { messageId: 'm1', conversationId: 'dm:a:b', userId: 'b', hiddenAt: now } };
  messages.given([sent]).when(del('b', 'me')).then(t, [hidden]);
  messages.given([sent, hidden]).when(del('b', 'me')).then(t, []);
  messages
    .given([sent])
    .when(del('eve', 'me', false))
    .thenThrows(t, NotFoundError);
});

test('a direct message across a block either way is refused until unblocked; a group message is not a direct one', (t) => {
  messages
    .given([])
    .when(send({ blocked: true }))
    .thenThrows(t, BlockedError, 'blocked');
  const toGroup = send({ target: { kind: 'group', groupId: 'g' }, conversationId: 'group:g', blocked: true });
  t.is(messageDecider.decide(toGroup, messageDecider.initialState).length, 1);
});

test('attachments must be live files of the sender: anything else is refused, nothing recorded', (t) => {
  messages
    .given([])
    .when(send({ attachments: ['someone-elses'], attachmentsValid: false }))
    .thenThrows(t, InvalidAttachmentError, 'invalid_attachment');
});

test("a text is recorded sealed with its own message's content key, never in clear (MessageSent v2)", (t) => {
  messages.given([]).when(send()).then(t, [sent]);
  messages
    .given([])
    .when(send({ content: { kind: 'text', text: { plain: 'hi' } } }))
    .thenThrows(t, ValidationError);
  messages
    .given([])
    .when(send({ content: { kind: 'text', text: sealedFor('m1', 'hi', 'message:other') } }))
    .thenThrows(t, ValidationError);
});

test("an edit is sealed with the message's content key too (MessageEdited v2); a v1 message read as { plain } can be edited", (t) => {
  const edit = (text: SendMessage['data']['content']) => ({
    type: 'EditMessage' as const,
    data: { messageId: 'm1', actorId: 'a', content: text },
    metadata: metadata({ now }),
  });
  messages
    .given([sent])
    .when(edit({ kind: 'text', text: { plain: 'v2' } }))
    .thenThrows(t, ValidationError);
  messages
    .given([sent])
    .when(edit({ kind: 'text', text: sealedFor('m1', 'v2', 'user:a') }))
    .thenThrows(t, ValidationError);
  const legacy: MessageEvent = {
    type: 'MessageSent',
    data: { ...sentData, content: { kind: 'text', text: { plain: 'hi' } }, sentAt: now },
  };
  messages
    .given([legacy])
    .when(edit({ kind: 'text', text: sealedFor('m1', 'v2') }))
    .then(t, [
      {
        type: 'MessageEdited',
        data: {
          messageId: 'm1',
          conversationId: 'dm:a:b',
          senderId: 'a',
          content: { kind: 'text', text: sealedFor('m1', 'v2') },
          editedAt: now,
        },
      },
    ]);
});
