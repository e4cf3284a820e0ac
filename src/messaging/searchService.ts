import { directConversationId, groupConversationId } from '../../commands/conversations.ts';
import { DomainError, ValidationError } from '../../commands/shared/errors.ts';
import { CONTACTS, type ContactDoc } from '../../projections/contacts.ts';
import { CONVERSATIONS, type ConversationDoc } from '../../projections/conversations.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { MESSAGE_SEARCH, type MessageSearchDoc } from '../../projections/messageSearch.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import { MATCH_END, MATCH_START, type Filter, type ReadStore } from '../readstore/port.ts';

/** 501: the read store has no full-text search (MongoDB: see the README). */
export class SearchUnavailableError extends DomainError {
  constructor() {
    super('search_unavailable', 501, 'Message search is not offered on this read store (MongoDB); use the embedded store or PostgreSQL');
  }
}

export const MAX_SEARCH_TERMS = 8;
export const MAX_SEARCH_PAGE = 50;
/** Paging goes this deep at most: past it, narrow the query. */
export const MAX_SEARCH_OFFSET = 1_000;

/** What a query asks, parsed from `q`: words, and the operators `from:`, `in:`, `has:file`, `before:`, `after:`. */
export interface ParsedQuery {
  terms: string[];
  from?: string;
  in?: string;
  hasFile: boolean;
  before?: string;
  after?: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/;

function dateOperand(operator: string, value: string): string {
  const time = DATE.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(time)) throw new ValidationError(`q: ${operator}: takes a date (YYYY-MM-DD)`, { field: 'q' });
  return new Date(time).toISOString();
}

export function parseQuery(q: string): ParsedQuery {
  const parsed: ParsedQuery = { terms: [], hasFile: false };
  for (const token of q.trim().split(/\s+/)) {
    const operator = /^(from|in|has|before|after):(.+)$/i.exec(token);
    if (operator) {
      const name = operator[1]!.toLowerCase();
      const value = operator[2]!;
      if (name === 'from') parsed.from = value.replace(/^@/, '');
      else if (name === 'in') parsed.in = value.replace(/^@/, '');
      else if (name === 'has') {
        if (value.toLowerCase() !== 'file') throw new ValidationError('q: has: takes `file`', { field: 'q' });
        parsed.hasFile = true;
      } else if (name === 'before') parsed.before = dateOperand('before', value);
      else parsed.after = dateOperand('after', value);
      continue;
    }
    // Words are letters and digits: punctuation separates them, as the indexes' tokenizers do.
    for (const word of token.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) parsed.terms.push(word.slice(0, 64));
  }
  if (parsed.terms.length === 0) throw new ValidationError('q: give at least one word to search for', { field: 'q' });
  if (parsed.terms.length > MAX_SEARCH_TERMS) throw new ValidationError(`q: at most ${MAX_SEARCH_TERMS} words`, { field: 'q' });
  return parsed;
}

export interface SearchHit {
  messageId: string;
  conversationId: string;
  senderId: string;
  sentAt: string;
  position: number;
  hasFile: boolean;
  score: number;
  /** An excerpt, in pieces: `match` pieces are the words that matched (a client highlights them). */
  snippet: Array<{ text: string; match: boolean }>;
}

/** An excerpt with MATCH_START/MATCH_END marks as pieces (no markup: a client renders them as text). */
export function snippetPieces(snippet: string): SearchHit['snippet'] {
  const pieces: SearchHit['snippet'] = [];
  for (const part of snippet.split(MATCH_START)) {
    const end = part.indexOf(MATCH_END);
    if (end === -1) {
      if (part) pieces.push({ text: part, match: false });
      continue;
    }
    if (end > 0) pieces.push({ text: part.slice(0, end), match: true });
    const rest = part.slice(end + MATCH_END.length);
    if (rest) pieces.push({ text: rest, match: false });
  }
  return pieces;
}

/**
 * Full-text search over the messages the searcher may read at the moment of the search: the direct conversations they
 * are in (not with someone they blocked or who blocked them), the groups they are in now, within the spans they were
 * members; never a message deleted for everyone (it has no search document) or for them (`hiddenFor`), nor one by
 * someone with a block either way. Ranked by the store's engine (BM25 on the embedded store, ts_rank on PostgreSQL).
 */
export class SearchService {
  constructor(private readonly readStore: ReadStore) {}

  async search(userId: string, query: { q: string; limit: number; cursor?: number | undefined }) {
    const collection = this.readStore.collection<MessageSearchDoc>(MESSAGE_SEARCH);
    if (!collection.searchText) throw new SearchUnavailableError();
    const parsed = parseQuery(query.q);
    const skip = query.cursor ?? 0;
    const filter = await this.readableBy(userId, parsed);
    if (filter === null) return { results: [], nextCursor: null };
    const hits = await collection.searchText({
      field: 'text',
      terms: parsed.terms,
      filter,
      limit: query.limit + 1,
      skip,
      newest: 'position',
    });
    const results: SearchHit[] = hits.slice(0, query.limit).map(({ doc, score, snippet }) => ({
      messageId: doc._id,
      conversationId: doc.conversationId,
      senderId: doc.senderId,
      sentAt: doc.sentAt,
      position: doc.position,
      hasFile: doc.hasFile,
      score,
      snippet: snippetPieces(snippet),
    }));
    const next = skip + query.limit;
    return { results, nextCursor: hits.length > query.limit && next <= MAX_SEARCH_OFFSET ? String(next) : null };
  }

  /** The filter of what `userId` may read and asked for; null when that is nothing. */
  private async readableBy(userId: string, parsed: ParsedQuery): Promise<Filter | null> {
    const contacts = this.readStore.collection<ContactDoc>(CONTACTS);
    const [memberships, blockedMe, blockedByMe] = await Promise.all([
      this.readStore.collection<ConversationDoc>(CONVERSATIONS).find({ userId, active: true }),
      contacts.find({ userId, blocked: true }),
      contacts.find({ ownerId: userId, blocked: true }),
    ]);
    const blocked = new Set([...blockedMe.map((doc) => doc.ownerId), ...blockedByMe.map((doc) => doc.userId)]);
    let only: string | null = null;
    if (parsed.in !== undefined) {
      only = await this.conversationNamed(userId, parsed.in);
      if (only === null) return null;
    }
    // Whole conversations as one IN (an index probe per row, not a comparison per conversation), and only the spans of
    // a group left or joined late as conditions of their own.
    const whole: string[] = [];
    const spans: Filter[] = [];
    for (const doc of memberships) {
      if (only !== null && doc.conversationId !== only) continue;
      if (doc.kind === 'direct') {
        if (doc.peerId === null || !blocked.has(doc.peerId)) whole.push(doc.conversationId);
        continue;
      }
      for (const window of doc.memberships) {
        if (window.from <= 0 && window.to === null) whole.push(doc.conversationId);
        else
          spans.push({
            conversationId: doc.conversationId,
            position: window.to === null ? { $gte: window.from } : { $gte: window.from, $lt: window.to },
          });
      }
    }
    if (whole.length === 0 && spans.length === 0) return null;
    // The asked-for conditions first: they are cheap column tests, and a selective one (has:file) spares the rest.
    const and: Filter[] = [];
    if (parsed.from !== undefined) {
      const senderId = parsed.from.toLowerCase() === 'me' ? userId : await this.userNamed(parsed.from);
      if (senderId === null) return null;
      and.push({ senderId });
    }
    if (parsed.hasFile) and.push({ hasFile: true });
    if (parsed.before !== undefined) and.push({ sentAt: { $lt: parsed.before } });
    if (parsed.after !== undefined) and.push({ sentAt: { $gte: parsed.after } });
    if (blocked.size > 0) and.push({ senderId: { $nin: [...blocked] } });
    const filter: Filter = and.length > 0 ? { $and: and } : {};
    // Every readable conversation as one IN first: a row elsewhere fails it at once, before any span is compared.
    filter.conversationId = { $in: [...new Set([...whole, ...spans.map((span) => span.conversationId as string)])] };
    if (spans.length > 0) filter.$or = whole.length > 0 ? [{ conversationId: { $in: whole } }, ...spans] : spans;
    filter.hiddenFor = { $ne: userId };
    return filter;
  }

  private async userNamed(username: string): Promise<string | null> {
    const users = this.readStore.collection<UserDoc>(USERS);
    return ((await users.findOne({ username })) ?? (await users.findOne({ username: username.toLowerCase() })))?._id ?? null;
  }

  /** `in:` names a user (your direct conversation with them), a group id, or one of your groups by name. */
  private async conversationNamed(userId: string, name: string): Promise<string | null> {
    if (/^[0-9a-f-]{36}$/i.test(name)) return groupConversationId(name.toLowerCase());
    const peerId = await this.userNamed(name);
    if (peerId !== null) return directConversationId(userId, peerId);
    const groups = await this.readStore.collection<GroupDoc>(GROUPS).find({ memberIds: userId });
    const group = groups.find((doc) => doc.name.toLowerCase() === name.toLowerCase());
    return group ? groupConversationId(group._id) : null;
  }
}
