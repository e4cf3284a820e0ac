import { directConversationId, groupConversationId } from '../../commands/conversations.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import { GROUPS, participantsOf, type GroupDoc } from '../../projections/groups.ts';
import type { ReadStore } from '../readstore/port.ts';

export interface ConversationName {
  with?: string | undefined;
  groupId?: string | undefined;
}

/**
 * Who may read a conversation, answered from the read model: the two participants of a direct conversation,
 * the current members of a group. A conversation one may not read is reported as not found.
 */
export class ConversationAccess {
  constructor(private readonly readStore: ReadStore) {}

  conversationIdOf(userId: string, name: ConversationName): string {
    return name.groupId !== undefined ? groupConversationId(name.groupId) : directConversationId(userId, name.with!);
  }

  async canRead(userId: string, conversationId: string): Promise<boolean> {
    return (await this.participants(conversationId)).includes(userId);
  }

  async assertCanRead(userId: string, conversationId: string): Promise<void> {
    if (!(await this.canRead(userId, conversationId))) throw new NotFoundError('Conversation');
  }

  /** The ids of everyone who may read the conversation now. */
  participants(conversationId: string): Promise<string[]> {
    return participantsOf(this.readStore.collection<GroupDoc>(GROUPS), conversationId);
  }
}
