import { createHash } from 'node:crypto';
import { callStream, type CallEnded, type CallInitiated } from '../../commands/calls.ts';
import { directConversationId, groupConversationId } from '../../commands/conversations.ts';
import { revealedContent, type MessageSent } from '../../commands/messages.ts';
import { isMutedAt } from '../../commands/push.ts';
import { CONTACTS, type ContactDoc } from '../../projections/contacts.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { PUSH_SETTINGS, type PushSettingsDoc } from '../../projections/push.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { PushOptions } from './pushSender.ts';

/**
 * What a push's decrypted payload holds (the service worker shows it). Without the recipient's `pushPreview` there is
 * no sender and no text: only the kind and where it belongs.
 */
export interface PushPayload {
  type: 'message' | 'mention' | 'call' | 'missed_call';
  conversationId: string;
  messageId?: string;
  callId?: string;
  /** The sender's or caller's display name with a preview; "New message", "Incoming call" or "Missed call" without. */
  title: string;
  /** The message's text (at most 200 characters) or the call's media with a preview; empty without. */
  body: string;
  sender?: { id: string; username: string; displayName: string };
  preview: boolean;
  at: string;
}

export interface PlannedPush {
  userId: string;
  payload: PushPayload;
  options: PushOptions;
}

const PREVIEW_CHARACTERS = 200;

/** A Topic header value: per conversation (or call), 32 base64url characters, nothing readable. */
export const topicOf = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 32);

/**
 * Which pushes an event causes, before presence is checked: a message (its text opened) to the direct recipient or the
 * group's other members, a mention for a member named as @username, a ring to a call's invitees, and a missed call
 * to the invitees who never answered. Muted conversations, blocks and stale events cause none.
 */
export class PushPlanner {
  constructor(
    private readonly readStore: ReadStore,
    private readonly eventStore: EventStore,
    private readonly messageTtlSeconds: number,
  ) {}

  /**
   * Who could get a push for the event, read from fields that are never sealed: the direct recipient, the group's other
   * members, a call's invitees; null when that takes the full plan (a missed call reads the call's history). Lets the
   * deliveries skip opening and planning an event none of whose people has a push subscription.
   */
  async audience(event: RecordedEvent): Promise<string[] | null> {
    switch (event.type) {
      case 'MessageSent': {
        const { senderId, target } = event.data as MessageSent['data'];
        const members =
          target.kind === 'direct'
            ? [target.recipientId]
            : ((await this.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: target.groupId }))?.memberIds ?? []);
        return members.filter((id) => id !== senderId);
      }
      case 'CallInitiated': {
        const { callerId, invitees } = event.data as CallInitiated['data'];
        return invitees.filter((id) => id !== callerId);
      }
      default:
        return null;
    }
  }

  /** `audience`: what `audience(event)` answered for it, if the caller asked already (it is not read again). */
  async plan(event: RecordedEvent, now: Date, audience?: readonly string[] | null): Promise<PlannedPush[]> {
    switch (event.type) {
      case 'MessageSent':
        return this.message(
          event as RecordedEvent<'MessageSent', MessageSent['data']>,
          now,
          audience ?? (await this.audience(event)) ?? [],
        );
      case 'CallInitiated':
        return this.ring(event as RecordedEvent<'CallInitiated', CallInitiated['data']>, now);
      case 'CallEnded':
        return this.missed(event as RecordedEvent<'CallEnded', CallEnded['data']>, now);
      default:
        return [];
    }
  }

  /** `candidates`: the message's audience (the recipient, or the group's other members). */
  private async message(
    event: RecordedEvent<'MessageSent', MessageSent['data']>,
    now: Date,
    candidates: readonly string[],
  ): Promise<PlannedPush[]> {
    const { senderId, target, conversationId, messageId, sentAt } = event.data;
    const ageSeconds = (now.getTime() - Date.parse(sentAt)) / 1_000;
    if (ageSeconds > this.messageTtlSeconds) return [];
    const recipients = await this.reachable(senderId, candidates, conversationId, now);
    if (recipients.length === 0) return [];
    const users = await this.users([senderId, ...recipients.map((recipient) => recipient.userId)]);
    const sender = users.get(senderId);
    const content = revealedContent(event.data.content);
    const text = content.kind === 'text' ? content.text : 'Encrypted message';
    const ttlSeconds = Math.max(0, Math.floor(this.messageTtlSeconds - ageSeconds));
    return recipients.map(({ userId, preview }) => {
      const username = users.get(userId)?.username;
      const mentioned = target.kind === 'group' && content.kind === 'text' && username !== undefined && mentions(content.text, username);
      const type = mentioned ? 'mention' : 'message';
      const payload: PushPayload =
        preview && sender
          ? {
              type,
              conversationId,
              messageId,
              title: sender.displayName,
              body: text.length > PREVIEW_CHARACTERS ? `${text.slice(0, PREVIEW_CHARACTERS - 1)}…` : text,
              sender: { id: senderId, username: sender.username, displayName: sender.displayName },
              preview: true,
              at: sentAt,
            }
          : { type, conversationId, messageId, title: mentioned ? 'New mention' : 'New message', body: '', preview: false, at: sentAt };
      return { userId, payload, options: { ttlSeconds, urgency: mentioned ? 'high' : 'normal', topic: topicOf(conversationId) } };
    });
  }

  private async ring(event: RecordedEvent<'CallInitiated', CallInitiated['data']>, now: Date): Promise<PlannedPush[]> {
    const { callId, callerId, invitees, groupId, media, ringDeadline, at } = event.data;
    const ringingMs = Date.parse(ringDeadline) - now.getTime();
    if (ringingMs <= 0) return [];
    const ttlSeconds = Math.ceil(ringingMs / 1_000);
    return this.callPushes(callId, callerId, invitees, groupId, now, (preview, caller) => ({
      type: 'call',
      conversationId: groupId ? groupConversationId(groupId) : '',
      callId,
      title: preview && caller ? caller.displayName : 'Incoming call',
      body: preview ? `Incoming ${media} call` : '',
      ...(preview && caller ? { sender: { id: callerId, username: caller.username, displayName: caller.displayName } } : {}),
      preview,
      at,
    })).then((pushes) => pushes.map((push) => ({ ...push, options: { ...push.options, ttlSeconds } })));
  }

  private async missed(event: RecordedEvent<'CallEnded', CallEnded['data']>, now: Date): Promise<PlannedPush[]> {
    const { callId, reason, at } = event.data;
    if (reason !== 'missed' && reason !== 'cancelled') return [];
    if ((now.getTime() - Date.parse(at)) / 1_000 > this.messageTtlSeconds) return [];
    const history = await this.eventStore.readStream(callStream(callId), { maxCount: 200 });
    const initiated = history.find((recorded) => recorded.type === 'CallInitiated') as
      RecordedEvent<'CallInitiated', CallInitiated['data']> | undefined;
    if (!initiated) return [];
    const { callerId, invitees, groupId, media } = initiated.data;
    const responded = new Set(
      history
        .filter((recorded) => ['CallAnswered', 'CallRejected', 'CallParticipantJoined'].includes(recorded.type))
        .map((recorded) => (recorded.data as { userId: string }).userId),
    );
    return this.callPushes(
      callId,
      callerId,
      invitees.filter((id) => !responded.has(id)),
      groupId,
      now,
      (preview, caller) => ({
        type: 'missed_call',
        conversationId: groupId ? groupConversationId(groupId) : '',
        callId,
        title: 'Missed call',
        body: preview && caller ? `${caller.displayName} (${media})` : '',
        ...(preview && caller ? { sender: { id: callerId, username: caller.username, displayName: caller.displayName } } : {}),
        preview,
        at,
      }),
    ).then((pushes) => pushes.map((push) => ({ ...push, options: { ...push.options, ttlSeconds: this.messageTtlSeconds } })));
  }

  private async callPushes(
    callId: string,
    callerId: string,
    invitees: readonly string[],
    groupId: string | null,
    now: Date,
    payloadOf: (preview: boolean, caller: UserDoc | undefined) => PushPayload,
  ): Promise<PlannedPush[]> {
    const pushes: PlannedPush[] = [];
    const users = await this.users([callerId]);
    for (const invitee of invitees) {
      if (invitee === callerId) continue;
      const conversationId = groupId ? groupConversationId(groupId) : directConversationId(callerId, invitee);
      const [reachable] = await this.reachable(callerId, [invitee], conversationId, now);
      if (!reachable) continue;
      const payload = { ...payloadOf(reachable.preview, users.get(callerId)), conversationId };
      pushes.push({ userId: invitee, payload, options: { ttlSeconds: 0, urgency: 'high', topic: topicOf(`call:${callId}`) } });
    }
    return pushes;
  }

  /** Of `userIds`, those who neither muted the conversation nor blocked `senderId`, each with their preview setting. */
  private async reachable(
    senderId: string,
    userIds: readonly string[],
    conversationId: string,
    now: Date,
  ): Promise<Array<{ userId: string; preview: boolean }>> {
    if (userIds.length === 0) return [];
    const [settings, blockers] = await Promise.all([
      this.readStore.collection<PushSettingsDoc>(PUSH_SETTINGS).find({ _id: { $in: [...userIds] } }),
      this.readStore.collection<ContactDoc>(CONTACTS).find({ userId: senderId, blocked: true, ownerId: { $in: [...userIds] } }),
    ]);
    const settingsOf = new Map(settings.map((doc) => [doc._id, doc]));
    const blocked = new Set(blockers.map((doc) => doc.ownerId));
    return userIds
      .filter((userId) => !blocked.has(userId) && !isMutedAt(settingsOf.get(userId)?.mutes[conversationId], now))
      .map((userId) => ({ userId, preview: settingsOf.get(userId)?.pushPreview ?? true }));
  }

  private async users(userIds: readonly string[]): Promise<Map<string, UserDoc>> {
    const docs = await this.readStore.collection<UserDoc>(USERS).find({ _id: { $in: [...new Set(userIds)] } });
    return new Map(docs.map((doc) => [doc._id, doc]));
  }
}

/** `@username` as a word of the text (case-insensitive, usernames are letters, digits and underscores). */
export function mentions(text: string, username: string): boolean {
  const escaped = username.replace(/[^A-Za-z0-9_]/g, '');
  return new RegExp(`(^|[^A-Za-z0-9_@])@${escaped}(?![A-Za-z0-9_])`, 'i').test(text);
}
