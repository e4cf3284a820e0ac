import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONVERSATIONS, type ConversationDoc } from '../../projections/conversations.ts';
import { MESSAGE_SEARCH, messageSearchProjector, type MessageSearchDoc } from '../../projections/messageSearch.ts';
import { conversationsProjector } from '../../projections/conversations.ts';
import { contactsProjector } from '../../projections/contacts.ts';
import { SearchService } from '../../src/messaging/searchService.ts';
import type { ReadStore } from '../../src/readstore/port.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { Latencies } from './load.ts';

/**
 * `npm run bench -- --search 100000`: that many messages in the search index of the embedded read store (the projector's
 * own collection and indexes, filled in batches), spread over 200 conversations, one searcher a member of 60 of them
 * (20 direct, 40 groups, some with a window); then the searches of GET /api/search (SearchService, the same access
 * filter and ranking) timed per kind of query. Texts are 6 to 24 words drawn from a 5,000-word vocabulary with a Zipf
 * distribution, so common words match tens of thousands of messages and rare ones a handful.
 */
export interface SearchBenchResult {
  messages: number;
  indexSeconds: number;
  queries: Record<string, ReturnType<Latencies['summary']> & { meanResults: number; cpuP95Ms: number }>;
  overallP95Ms: number;
  /** The machine's 1-minute load average before and after the queries (a shared machine's wall times depend on it). */
  loadAverage: { before: number; after: number };
}

const VOCABULARY = 5_000;
const CONVERSATION_COUNT = 200;
const SEARCHER = '00000000-0000-8000-8000-000000000001';

/** A deterministic generator (mulberry32), so every run indexes the same texts. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const word = (rank: number) => `w${rank.toString(36)}x${(rank * 7919).toString(36).slice(-2)}`;

export async function searchBench(messages: number, log: (line: string) => void): Promise<SearchBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-search-bench-'));
  const store: ReadStore = new SqliteReadStore(join(dir, 'read.sqlite'), { checkpoints: false });
  try {
    for (const projector of [messageSearchProjector, conversationsProjector, contactsProjector])
      for (const [collection, indexes] of Object.entries(projector.collections)) await store.ensureIndexes(collection, indexes);
    const next = random(42);
    // Zipf over the vocabulary: rank r with weight 1/r.
    const weights = Array.from({ length: VOCABULARY }, (_, r) => 1 / (r + 1));
    const total = weights.reduce((a, b) => a + b, 0);
    const cumulative: number[] = [];
    weights.reduce((sum, weight, index) => (cumulative[index] = sum + weight / total), 0);
    const drawRank = () => {
      const x = next();
      let lo = 0;
      let hi = VOCABULARY - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const conversationIds = Array.from({ length: CONVERSATION_COUNT }, (_, i) =>
      i < 100 ? `dm:${SEARCHER}:u${i}` : `group:00000000-0000-8000-8000-${String(i).padStart(12, '0')}`,
    );
    const started = performance.now();
    const batch = 5_000;
    for (let from = 0; from < messages; from += batch) {
      await store.withTransaction(async (tx) => {
        const collection = tx.collection<MessageSearchDoc>(MESSAGE_SEARCH);
        for (let n = from; n < Math.min(messages, from + batch); n++) {
          const length = 6 + Math.floor(next() * 19);
          const text = Array.from({ length }, () => word(drawRank())).join(' ');
          const conversationId = conversationIds[n % CONVERSATION_COUNT]!;
          await collection.insertOne({
            _id: `m${n}`,
            _position: n + 1,
            conversationId,
            senderId: n % 3 === 0 ? SEARCHER : `u${n % 100}`,
            text,
            hasFile: n % 17 === 0,
            sentAt: new Date(Date.UTC(2026, 0, 1) + n * 60_000).toISOString(),
            position: n + 1,
            hiddenFor: n % 101 === 0 ? [SEARCHER] : [],
          });
        }
      });
      if ((from / batch) % 4 === 3) log(`  indexed ${Math.min(messages, from + batch)} messages`);
    }
    // The searcher: in 20 of the direct conversations and 40 groups (every fourth joined half way through).
    await store.withTransaction(async (tx) => {
      const conversations = tx.collection<ConversationDoc>(CONVERSATIONS);
      for (const [index, conversationId] of conversationIds.entries()) {
        const direct = conversationId.startsWith('dm:');
        if (direct ? index % 5 !== 0 : index % 2 !== 0) continue;
        await conversations.insertOne({
          _id: `${SEARCHER}|${conversationId}`,
          _position: 1,
          userId: SEARCHER,
          conversationId,
          kind: direct ? 'direct' : 'group',
          peerId: direct ? `u${index}` : null,
          groupId: direct ? null : conversationId.slice('group:'.length),
          memberships: [{ from: index % 4 === 0 ? Math.floor(messages / 2) : 0, to: null }],
          active: true,
          readUpTo: 0,
          readSeq: 0,
          deliveredUpTo: 0,
          hiddenRecently: [],
          hiddenUnread: [],
        });
      }
    });
    const indexSeconds = (performance.now() - started) / 1000;
    log(`indexed ${messages} messages in ${indexSeconds.toFixed(1)} s; searching ...`);

    const search = new SearchService(store);
    const kinds: Record<string, () => string> = {
      'one common word': () => word(Math.floor(next() * 20)),
      'one rare word': () => word(1_000 + Math.floor(next() * 4_000)),
      'two words': () => `${word(Math.floor(next() * 200))} ${word(Math.floor(next() * 200))}`,
      'prefix of a word': () => word(Math.floor(next() * 500)).slice(0, 4),
      'word with has:file and after:': () => `${word(Math.floor(next() * 100))} has:file after:2026-02-01`,
    };
    const queries: SearchBenchResult['queries'] = {};
    const all = new Latencies();
    const loadBefore = loadavg()[0]!;
    for (const [kind, make] of Object.entries(kinds)) {
      const latencies = new Latencies();
      // CPU time of the process per query: unlike the wall time, it hardly moves with other work on the machine.
      const cpu = new Latencies();
      let results = 0;
      for (let i = 0; i < 200; i++) {
        const q = make();
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const page = await search.search(SEARCHER, { q, limit: 20 });
        const ms = performance.now() - t0;
        const cpuUsed = process.cpuUsage(cpu0);
        if (i >= 10) {
          latencies.add(ms);
          all.add(ms);
          cpu.add((cpuUsed.user + cpuUsed.system) / 1000);
        }
        results += page.results.length;
      }
      queries[kind] = { ...latencies.summary(), meanResults: Number((results / 200).toFixed(1)), cpuP95Ms: cpu.summary().p95 };
    }
    return {
      messages,
      indexSeconds: Number(indexSeconds.toFixed(1)),
      queries,
      overallP95Ms: all.summary().p95,
      loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(loadavg()[0]!.toFixed(2)) },
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
