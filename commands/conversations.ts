/**
 * Conversation identities, shared by the message, receipt and group modules. A direct conversation is named by
 * its two participants (order-free); a group conversation by its group.
 */
export type ConversationRef = { kind: 'direct'; participants: readonly [string, string] } | { kind: 'group'; groupId: string };

export function directConversationId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

export const groupConversationId = (groupId: string) => `group:${groupId}`;

export function conversationIdOf(ref: ConversationRef): string {
  return ref.kind === 'direct' ? directConversationId(...ref.participants) : groupConversationId(ref.groupId);
}

/** The other participant of a direct conversation. */
export function peerOf(conversationId: string, userId: string): string | null {
  const [kind, a, b] = conversationId.split(':');
  if (kind !== 'dm') return null;
  return a === userId ? (b ?? null) : (a ?? null);
}
