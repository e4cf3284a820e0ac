import type { Projector } from '../src/projection/projector.ts';
import { contactsProjector } from './contacts.ts';
import { disappearingProjector } from './disappearing.ts';
import { dataExportsProjector } from './dataExports.ts';
import { conversationsProjector } from './conversations.ts';
import { presenceProjector } from './presence.ts';
import { pushProjector } from './push.ts';
import { webhooksProjector } from './webhooks.ts';
import { mediaFilesProjector } from './mediaFiles.ts';
import { transcriptsProjector } from './transcripts.ts';
import { aiProjector } from './ai.ts';
import { callsProjector } from './calls.ts';
import { feedProjector } from './feed.ts';
import { groupMessagesProjector } from './groupMessages.ts';
import { groupsProjector } from './groups.ts';
import { groupInvitesProjector, joinRequestsProjector } from './groupInvites.ts';
import { messagesProjector } from './messages.ts';
import { usersProjector } from './users.ts';
import { scheduledMessagesProjector } from './scheduledMessages.ts';
import { messageSearchProjector } from './messageSearch.ts';
import { reactionsProjector } from './reactions.ts';
import { threadsProjector } from './threads.ts';

/**
 * Every projector, one per read collection. Order matters within an event: later projectors read what
 * earlier ones wrote for the same event (the feed reads messages and group membership).
 */
export const projectors: readonly Projector[] = [
  usersProjector,
  scheduledMessagesProjector,
  contactsProjector,
  messageSearchProjector,
  presenceProjector,
  pushProjector,
  webhooksProjector,
  mediaFilesProjector,
  transcriptsProjector,
  aiProjector,
  callsProjector,
  dataExportsProjector,
  groupsProjector,
  groupInvitesProjector,
  joinRequestsProjector,
  messagesProjector,
  groupMessagesProjector,
  disappearingProjector,
  conversationsProjector,
  reactionsProjector,
  threadsProjector,
  feedProjector,
];
