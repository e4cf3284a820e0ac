import { MESSAGES, messageProjector } from './messageDocs.ts';

/** `messages`: direct messages between two users. */
export const messagesProjector = messageProjector(MESSAGES);
