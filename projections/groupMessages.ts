import { GROUP_MESSAGES, messageProjector } from './messageDocs.ts';

/** `group_messages`: messages sent to groups. */
export const groupMessagesProjector = messageProjector(GROUP_MESSAGES);
