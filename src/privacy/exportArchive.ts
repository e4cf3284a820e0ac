import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import {
  AI_CHAT_MESSAGES,
  AI_PERSONALITIES,
  AI_SETTINGS,
  type AiMessageDoc,
  type AiPersonalityDoc,
  type AiSettingsDoc,
} from '../../projections/ai.ts';
import { CALLS, type CallDoc } from '../../projections/calls.ts';
import { CONTACTS, type ContactDoc } from '../../projections/contacts.ts';
import { CONVERSATIONS, type ConversationDoc } from '../../projections/conversations.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import { messageCollectionOf, type MessageDoc } from '../../projections/messageDocs.ts';
import { PRESENCE, type PresenceDoc } from '../../projections/presence.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { BlobStore } from '../media/blobStore.ts';
import type { Filter, ReadStore } from '../readstore/port.ts';

/** Read-store pages: a conversation of any length is written a page at a time, never held whole. */
const PAGE = 500;

export interface ExportSources {
  readStore: ReadStore;
  blobs: BlobStore;
}

/** The ZIP's README.txt: what each file holds, and what is left out and why. */
export const EXPORT_README = `LetsApp: a copy of your data
============================

Made at the request of the account it describes (GDPR Art. 15, access, and Art. 20, portability).
Every file is UTF-8 JSON; times are ISO-8601 in UTC; ids are those the LetsApp API uses.

README.txt          this file
profile.json        your account: email, username, display name, about text, privacy settings, assistant
                    preferences, profile picture id, published encryption public keys (never your password or its hash)
contacts.json       the people you added, with the nickname you gave them
blocks.json         the people you blocked, and when
conversations.json  every conversation you can still read, each with every message you can still read, oldest
                    first: never a message deleted for everyone or one you deleted for yourself, and in a group only
                    what was said while you were a member. A text whose key was destroyed (erased) reads "[erased]";
                    an end-to-end encrypted message is as it was sent (ciphertext: only your device can open it).
                    Attachments name their file; "path" is where it is in this archive when it is one of yours.
calls.json          the calls you made or were invited to, with their outcome and duration
ai.json             your conversation with Leta (prompts and replies), your personalities, and the metadata of
                    your Gemini key (never the key)
sessions.json       your last login, the sessions you signed out of (token ids, until when they were valid), and
                    your presence (online status, last seen, chosen mode)
media.json          the files you uploaded and still have (attachments, profile pictures), with their "path" here
media/<id>/<name>   those files, byte for byte as stored (images were re-encoded without their metadata on upload)

Other people's files are not included; their messages to you are, as you can read them in the app.
`;

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);

/** A filename safe inside the archive: no separators, no control characters, never empty. */
export const archiveName = (filename: string): string =>
  filename
    .replace(/[\p{Cc}/\\:*?"<>|]/gu, '_')
    .replace(/^\.+/, '_')
    .slice(0, 120) || 'file';

/**
 * Writes the user's export to `path` (created new, mode 0600) from the read collections, and returns its size.
 * JSON areas are small and written whole, conversations and Leta's history a page at a time, files streamed one
 * after another from the blob store (one open at a time). `signal` stops it between pages and files.
 */
export async function writeExportArchive(sources: ExportSources, userId: string, now: Date, path: string, signal: AbortSignal) {
  const { readStore } = sources;
  const user = await readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
  if (!user) throw new Error(`export of an unknown user ${userId}`);
  const ownMedia = await readStore
    .collection<MediaDoc>(MEDIA_FILES)
    .find({ ownerId: userId, state: 'live' }, { sort: { uploadedAt: 1, _id: 1 } });
  const mediaPaths = new Map(ownMedia.map((doc) => [doc._id, `media/${doc._id}/${archiveName(doc.filename)}`]));

  const zip = new yazl.ZipFile();
  const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  const written = pipeline(zip.outputStream, file);
  // Any failure (a read stream's, the ZIP's, a stop) ends the export here; whichever settles second is ignored.
  let fail: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  written.catch(() => undefined);
  failed.catch(() => undefined);
  zip.on('error', fail);
  const stop = () => {
    fail(signal.reason);
    file.destroy();
  };
  signal.addEventListener('abort', stop, { once: true });
  const options = { mtime: now };
  const source = <S extends Readable>(readable: S): S => readable.on('error', fail);
  const stream = (name: string, parts: () => AsyncGenerator<string>) =>
    zip.addReadStreamLazy(name, options, (callback) => callback(null, source(Readable.from(parts(), { objectMode: false }))));
  try {
    zip.addBuffer(Buffer.from(EXPORT_README), 'README.txt', options);
    zip.addBuffer(json({ exportedAt: now.toISOString(), user: profileOf(user) }), 'profile.json', options);
    zip.addBuffer(json(await contactsOf(readStore, userId)), 'contacts.json', options);
    zip.addBuffer(json(await blocksOf(readStore, userId)), 'blocks.json', options);
    stream('conversations.json', () => conversationsJson(readStore, userId, ownMedia, mediaPaths, signal));
    zip.addBuffer(json(await callsOf(readStore, userId)), 'calls.json', options);
    stream('ai.json', () => aiJson(readStore, userId, signal));
    zip.addBuffer(json(await sessionsOf(readStore, user)), 'sessions.json', options);
    zip.addBuffer(
      json({
        files: ownMedia.map((doc) => ({
          id: doc._id,
          path: mediaPaths.get(doc._id),
          filename: doc.filename,
          kind: doc.kind,
          mime: doc.mime,
          size: doc.size,
          sha256: doc.sha256,
          width: doc.width,
          height: doc.height,
          purpose: doc.purpose,
          uploadedAt: doc.uploadedAt,
        })),
      }),
      'media.json',
      options,
    );
    for (const doc of ownMedia) {
      // Stored already compressed (images, video) or small: not deflated again.
      zip.addReadStreamLazy(mediaPaths.get(doc._id)!, { ...options, compress: false, size: doc.size }, (callback) => {
        callback(null, source(createReadStream(sources.blobs.pathOf(doc.sha256))));
      });
    }
    zip.end();
    await Promise.race([written, failed]);
  } catch (error) {
    file.destroy();
    throw error;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  return (await stat(path)).size;
}

function profileOf(user: UserDoc) {
  return {
    id: user._id,
    email: user.email,
    username: user.username,
    displayName: user.displayName,
    about: user.about,
    createdAt: user.createdAt,
    privacy: user.privacy,
    assistant: user.ai,
    avatarMediaId: user.avatarMediaId,
    encryptionKeys: user.encryptionKeys ?? [],
  };
}

async function usersById(readStore: ReadStore, ids: readonly string[]): Promise<Map<string, UserDoc>> {
  if (ids.length === 0) return new Map();
  return new Map((await readStore.collection<UserDoc>(USERS).find({ _id: { $in: [...ids] } })).map((doc) => [doc._id, doc]));
}

async function contactsOf(readStore: ReadStore, userId: string) {
  const docs = await readStore.collection<ContactDoc>(CONTACTS).find({ ownerId: userId, isContact: true }, { sort: { addedPosition: 1 } });
  const users = await usersById(
    readStore,
    docs.map((doc) => doc.userId),
  );
  return {
    contacts: docs.map((doc) => ({
      userId: doc.userId,
      username: users.get(doc.userId)?.username ?? null,
      displayName: users.get(doc.userId)?.displayName ?? null,
      nickname: doc.nickname,
      addedAt: doc.addedAt,
    })),
  };
}

async function blocksOf(readStore: ReadStore, userId: string) {
  const docs = await readStore.collection<ContactDoc>(CONTACTS).find({ ownerId: userId, blocked: true }, { sort: { blockedAt: 1 } });
  const users = await usersById(
    readStore,
    docs.map((doc) => doc.userId),
  );
  return {
    blocks: docs.map((doc) => ({ userId: doc.userId, username: users.get(doc.userId)?.username ?? null, blockedAt: doc.blockedAt })),
  };
}

async function callsOf(readStore: ReadStore, userId: string) {
  const docs = await readStore.collection<CallDoc>(CALLS).find({ userId }, { sort: { position: 1 } });
  return {
    calls: docs.map((doc) => ({
      callId: doc.callId,
      direction: doc.direction,
      callerId: doc.callerId,
      invitees: doc.invitees,
      peerId: doc.peerId,
      groupId: doc.groupId,
      media: doc.media,
      state: doc.state,
      outcome: doc.outcome,
      reason: doc.reason,
      tookPart: doc.tookPart,
      startedAt: doc.startedAt,
      answeredAt: doc.answeredAt,
      endedAt: doc.endedAt,
      durationMs: doc.durationMs,
    })),
  };
}

async function sessionsOf(readStore: ReadStore, user: UserDoc) {
  const presence = await readStore.collection<PresenceDoc>(PRESENCE).findOne({ _id: user._id });
  return {
    lastLoginAt: user.lastLoginAt,
    signedOutTokens: user.revokedTokens,
    presence: presence && {
      status: presence.status,
      onlineSince: presence.onlineSince,
      lastSeenAt: presence.lastSeenAt,
      mode: presence.mode,
      statusText: presence.statusText,
      statusExpiresAt: presence.statusExpiresAt,
    },
  };
}

/** `{"conversations":[{..., "messages":[...]}]}`, written a page of messages at a time. */
async function* conversationsJson(
  readStore: ReadStore,
  userId: string,
  ownMedia: readonly MediaDoc[],
  mediaPaths: ReadonlyMap<string, string>,
  signal: AbortSignal,
): AsyncGenerator<string> {
  // What the user can still read: the conversations they are in now (a group they left is no longer theirs to read).
  const memberships = await readStore.collection<ConversationDoc>(CONVERSATIONS).find({ userId, active: true }, { sort: { _id: 1 } });
  const peers = await usersById(
    readStore,
    memberships.flatMap((doc) => (doc.peerId ? [doc.peerId] : [])),
  );
  const groupIds = memberships.flatMap((doc) => (doc.groupId ? [doc.groupId] : []));
  const groups = new Map(
    (groupIds.length ? await readStore.collection<GroupDoc>(GROUPS).find({ _id: { $in: groupIds } }) : []).map((doc) => [doc._id, doc]),
  );
  const ownFiles = new Map(ownMedia.map((doc) => [doc._id, doc]));
  yield '{\n  "conversations": [';
  let firstConversation = true;
  for (const membership of memberships) {
    const peer = membership.peerId ? peers.get(membership.peerId) : undefined;
    const group = membership.groupId ? groups.get(membership.groupId) : undefined;
    const head = {
      conversationId: membership.conversationId,
      kind: membership.kind,
      ...(membership.peerId
        ? { peer: { id: membership.peerId, username: peer?.username ?? null, displayName: peer?.displayName ?? null } }
        : {}),
      ...(membership.groupId ? { group: { id: membership.groupId, name: group?.name ?? null } } : {}),
      memberships: membership.memberships,
    };
    const opening = JSON.stringify(head);
    yield `${firstConversation ? '' : ','}\n    ${opening.slice(0, -1)},"messages":[`;
    firstConversation = false;
    // In a group, only what was said while a member (as the app shows it).
    const windows: Filter[] = membership.memberships.map((window) => ({
      position: window.to === null ? { $gte: window.from } : { $gte: window.from, $lt: window.to },
    }));
    const collection = readStore.collection<MessageDoc>(messageCollectionOf(membership.conversationId));
    let after = -1;
    let firstMessage = true;
    for (;;) {
      if (signal.aborted) return;
      const filter: Filter = {
        conversationId: membership.conversationId,
        hiddenFor: { $ne: userId },
        deletedAt: null,
        $and: [{ position: { $gt: after } }, ...(membership.kind === 'group' ? [{ $or: windows }] : [])],
      };
      const page = await collection.find(filter, { sort: { position: 1 }, limit: PAGE });
      if (page.length === 0) break;
      const attachmentIds = [...new Set(page.flatMap((doc) => doc.attachments))].filter((id) => !ownFiles.has(id));
      const othersFiles = new Map(
        (attachmentIds.length ? await readStore.collection<MediaDoc>(MEDIA_FILES).find({ _id: { $in: attachmentIds } }) : []).map((doc) => [
          doc._id,
          doc,
        ]),
      );
      const lines = page.map((doc) =>
        JSON.stringify({
          id: doc._id,
          senderId: doc.senderId,
          sentAt: doc.sentAt,
          editedAt: doc.editedAt,
          content: doc.content,
          replyTo: doc.replyTo,
          attachments: doc.attachments.map((id) => {
            const file = ownFiles.get(id) ?? othersFiles.get(id);
            const live = file?.state === 'live';
            return {
              id,
              filename: live ? file.filename : null,
              mime: live ? file.mime : null,
              size: live ? file.size : null,
              deleted: !live,
              path: mediaPaths.get(id) ?? null,
            };
          }),
        }),
      );
      yield `${firstMessage ? '' : ','}\n      ${lines.join(',\n      ')}`;
      firstMessage = false;
      after = page.at(-1)!.position;
      if (page.length < PAGE) break;
    }
    yield firstMessage ? ']}' : '\n    ]}';
  }
  yield firstConversation ? ']\n}\n' : '\n  ]\n}\n';
}

/** `{"history":[...],"personalities":[...],"apiKey":...}`, the history a page at a time. */
async function* aiJson(readStore: ReadStore, userId: string, signal: AbortSignal): AsyncGenerator<string> {
  const messages = readStore.collection<AiMessageDoc>(AI_CHAT_MESSAGES);
  yield '{\n  "history": [';
  let after = -1;
  let first = true;
  for (;;) {
    if (signal.aborted) return;
    const page = await messages.find({ userId, position: { $gt: after } }, { sort: { position: 1 }, limit: PAGE });
    if (page.length === 0) break;
    const lines = page.map((doc) =>
      JSON.stringify({
        promptId: doc.promptId,
        role: doc.role,
        text: doc.text,
        status: doc.status,
        code: doc.code,
        personalityId: doc.personalityId,
        finishReason: doc.finishReason,
        usage: doc.usage,
        model: doc.model,
        createdAt: doc.createdAt,
      }),
    );
    yield `${first ? '' : ','}\n    ${lines.join(',\n    ')}`;
    first = false;
    after = page.at(-1)!.position;
    if (page.length < PAGE) break;
  }
  const personalities = await readStore.collection<AiPersonalityDoc>(AI_PERSONALITIES).find({ userId }, { sort: { createdAt: 1 } });
  const settings = await readStore.collection<AiSettingsDoc>(AI_SETTINGS).findOne({ _id: userId });
  const rest = {
    personalities: personalities.map((doc) => ({
      id: doc._id.slice(userId.length + 1),
      name: doc.name,
      instructions: doc.instructions,
      temperature: doc.temperature,
      createdAt: doc.createdAt,
    })),
    apiKey: settings?.key
      ? { provider: settings.key.provider, last4: settings.key.last4, status: settings.key.status, updatedAt: settings.key.updatedAt }
      : null,
  };
  yield `${first ? '' : '\n  '}],\n  "personalities": ${JSON.stringify(rest.personalities)},\n  "apiKey": ${JSON.stringify(rest.apiKey)}\n}\n`;
}
