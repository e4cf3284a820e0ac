import { callStream } from '../../commands/calls.ts';
import { groupStream } from '../../commands/groups.ts';
import { mediaStream } from '../../commands/media.ts';
import { messageStream } from '../../commands/messages.ts';
import { userStream } from '../../commands/users.ts';

/** The aggregates an auditor names by kind and id; each lives in one stream. Pure. */
export const ENTITY_KINDS = ['user', 'group', 'message', 'call', 'media'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

const STREAMS: Record<EntityKind, (id: string) => string> = {
  user: userStream,
  group: groupStream,
  message: messageStream,
  call: callStream,
  media: mediaStream,
};

export const isEntityKind = (kind: string): kind is EntityKind => (ENTITY_KINDS as readonly string[]).includes(kind);

/** The stream holding an entity's history: `message-<id>` for a message, and so on. */
export const entityStream = (kind: EntityKind, id: string): string => STREAMS[kind](id);
