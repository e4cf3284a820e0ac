import type { PresenceEvent, PresenceMode } from '../commands/presence.ts';
import { presenceEventTypes } from '../commands/presence.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { AccountDeleted } from '../commands/users.ts';
import type { ProjectedDoc, Projector, Unpositioned } from '../src/projection/projector.ts';

/**
 * `presence`: one document per user who has ever connected or chosen a mode: the durable part of presence (online
 * since, last seen, the chosen mode). Away flips are live only, in the serving process (src/presence).
 */
export interface PresenceDoc extends ProjectedDoc {
  status: 'online' | 'offline';
  onlineSince: string | null;
  /** What others may be shown as last seen: frozen while the user is invisible. */
  lastSeenAt: string | null;
  mode: PresenceMode;
  statusText: string | null;
  statusExpiresAt: string | null;
}

export const PRESENCE = 'presence';

const blank = (userId: string): Unpositioned<PresenceDoc> => ({
  _id: userId,
  status: 'offline',
  onlineSince: null,
  lastSeenAt: null,
  mode: 'auto',
  statusText: null,
  statusExpiresAt: null,
});

export const presenceProjector: Projector = {
  name: PRESENCE,
  collections: { [PRESENCE]: [{ key: { status: 1 } }] },
  handles: new Set([...presenceEventTypes, 'AccountDeleted']),
  async apply(recorded, context) {
    // A deleted account has no presence: not online, no last seen.
    if (recorded.type === 'AccountDeleted')
      return context.project<PresenceDoc>(PRESENCE, (recorded.data as AccountDeleted['data']).userId, recorded, () => null);
    const event = eventOf<PresenceEvent>(presenceEventTypes, recorded);
    const { userId } = event.data;
    switch (event.type) {
      case 'UserCameOnline':
        return context.project<PresenceDoc>(PRESENCE, userId, recorded, (doc) => ({
          ...(doc ?? blank(userId)),
          status: 'online',
          onlineSince: event.data.at,
        }));
      case 'UserWentOffline':
        return context.project<PresenceDoc>(PRESENCE, userId, recorded, (doc) => {
          const current = doc ?? blank(userId);
          return {
            ...current,
            status: 'offline',
            onlineSince: null,
            lastSeenAt: current.mode === 'invisible' ? current.lastSeenAt : event.data.lastSeenAt,
          };
        });
      case 'PresenceModeSet':
        return context.project<PresenceDoc>(PRESENCE, userId, recorded, (doc) => ({
          ...(doc ?? blank(userId)),
          mode: event.data.mode,
          statusText: event.data.statusText,
          statusExpiresAt: event.data.expiresAt,
        }));
      default:
        return assertNever(event);
    }
  },
};
