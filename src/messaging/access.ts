import { directConversationId, groupConversationId } from '../../commands/conversations.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import { CONVERSATIONS, conversationDocId, memberAt, type ConversationDoc } from '../../projections/conversations.ts';
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

  /**
   * Whether `userId` may read what was said at `position`: a participant now, and for a group a member at that
   * time (someone removed and re-added does not read what was said while they were out, nor what came before joining).
   */
  async canReadAt(userId: string, conversationId: string, position: number): Promise<boolean> {
    if (!(await this.canRead(userId, conversationId))) return false;
    if (!conversationId.startsWith('group:')) return true;
    const doc = await this.readStore.collection<ConversationDoc>(CONVERSATIONS).findOne({ _id: conversationDocId(userId, conversationId) });
    return doc !== null && memberAt(doc, position);
  }

  /** The position ranges in which `userId` was a member of a group conversation (all of a direct one). */
  async windowsOf(userId: string, conversationId: string): Promise<Array<{ from: number; to: number | null }>> {
    if (!conversationId.startsWith('group:')) return [{ from: 0, to: null }];
    const doc = await this.readStore.collection<ConversationDoc>(CONVERSATIONS).findOne({ _id: conversationDocId(userId, conversationId) });
    return doc?.memberships ?? [];
  }

  /** The ids of everyone who may read the conversation now. */
  participants(conversationId: string): Promise<string[]> {
    return participantsOf(this.readStore.collection<GroupDoc>(GROUPS), conversationId);
  }
}
