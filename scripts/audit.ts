/**
 * Auditor's tool: reads the event history straight from the event store. Read-only and safe beside a running server:
 * it opens the log read-only (never appends, migrates or chains anything), never checkpoints the server's files, and `at` replays into a temporary read store of its own
 * (deleted afterwards), never the live one. Progress bars go to stderr; results to stdout, as a readable table, or
 * with `--json` as one JSON document (`export`: JSON Lines, one event per line).
 *   npm run audit -- stream <stream> [--raw]
 *   npm run audit -- entity user|group|message|call|media <id> [--raw]
 *   npm run audit -- actor <userId> [--from <ISO|position>] [--to <ISO|position>] [--raw]
 *   npm run audit -- correlation <id> [--from <ISO|position>] [--to <ISO|position>] [--raw]
 *   npm run audit -- at <ISO time|position> --collection <name> [--filter '<json>']
 *   npm run -s audit -- export [--from <ISO|position>] [--to <ISO|position>] > events.jsonl   (-s: no npm banner in the file)
 *   npm run audit -- verify [--anchor head.json]  recomputes the embedded log's hash chain (src/eventstore/chainHash.ts)
 *                                                 and checks it against its anchor (src/eventstore/anchor.ts)
 *   npm run audit -- anchor                       prints the newest head, signed, to keep elsewhere
 *   npm run audit -- verify-file events.jsonl     checks an export on its own
 * Every output redacts password hashes to "[redacted]" (src/audit/redact.ts); other data is shown as stored, and
 * encrypted message payloads stay ciphertext.
 * Not in scope: the chain on EventStoreDB.
 */
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { checkHead, parseSignedHead, readAnchorFile, signHead, type AnchorCheck } from '../src/eventstore/anchor.ts';
import { digest, firstBreak, GENESIS_HASH, linkHash, type ChainedRow } from '../src/eventstore/chainHash.ts';
import { SqliteEventStore } from '../src/eventstore/sqlite.ts';
import { join } from 'node:path';
import { eventUpcaster } from '../commands/upcasters.ts';
import { projectors } from '../projections/index.ts';
import { openKeysForTools } from '../src/privacy/auditorKeys.ts';
import { revealingProjectors } from '../src/privacy/revealingProjectors.ts';
import { dataForAuditor } from '../src/privacy/sealing.ts';
import { toAuditEntry, toExportRecord } from '../src/audit/entries.ts';
import { documentsMatching } from '../src/audit/documents.ts';
import { ENTITY_KINDS, entityStream, isEntityKind, type EntityKind } from '../src/audit/entities.ts';
import { countLine, documentBlock, timelineHeader, timelineRow, type TimelineOptions } from '../src/audit/format.ts';
import { describeMoment, parseMoment, type Moment, type Range } from '../src/audit/moments.ts';
import { Output } from '../src/audit/output.ts';
import { collectionsOf, resolveMoment, withReadModelAt } from '../src/audit/pointInTime.ts';
import { startProgress, type Progress } from '../src/audit/progress.ts';
import { filterTestsSecret, redactSecrets } from '../src/audit/redact.ts';
import { readStreamInPages, scanLog } from '../src/audit/scan.ts';
import { loadConfig } from '../src/config.ts';
import type { EventStore, RecordedEvent } from '../src/eventstore/port.ts';
import type { Filter } from '../src/readstore/port.ts';
import { assertSafeFilter } from '../src/readstore/filterSafety.ts';
import { anchorFileOf, openEventStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

const COLLECTIONS = collectionsOf(projectors);
/** A line of a file given to verify-file that is not an exported event; declared before the commands run. */
class NotAnExportedEvent extends Error {}
const USAGE = `Usage: npm run audit -- <command> [options]
  stream <stream> [--raw]                          every event of a stream, in order
  entity <${ENTITY_KINDS.join('|')}> <id> [--raw]      every event of that entity's stream
  actor <userId> [--from <ISO|position>] [--to <ISO|position>] [--raw]
                                                   every event that user's commands produced
  correlation <id> [--from ...] [--to ...] [--raw] every event of one request
  at <ISO time|position> --collection <name> [--filter '<json>']
                                                   a read collection as it was then (replayed into a temporary store)
  export [--from ...] [--to ...] > events.jsonl    every event as stored, one JSON line each (npm run -s: no banner)
  verify [--anchor <head.json>]                    recompute the embedded log's hash chain, naming the first break, and
                                                   check it against its anchor (and a head kept elsewhere): a
                                                   recomputed or cut-short log fails too
  anchor                                           print the newest head, signed, to keep away from the server
  verify-file <events.jsonl>                       check an export's chain and digests on its own
Options: --json  one JSON document for machines (export is always JSON Lines)
         --raw   the stored form of each event's data beside the upcast one
Collections: ${COLLECTIONS.join(', ')}`;

const COMMANDS: Record<string, { args: readonly string[]; options: readonly string[] }> = {
  stream: { args: ['<stream>'], options: ['json', 'raw'] },
  entity: { args: ['<kind>', '<id>'], options: ['json', 'raw'] },
  actor: { args: ['<userId>'], options: ['json', 'raw', 'from', 'to'] },
  correlation: { args: ['<id>'], options: ['json', 'raw', 'from', 'to'] },
  at: { args: ['<ISO time|position>'], options: ['json', 'collection', 'filter'] },
  // Always JSON Lines; --json is accepted and changes nothing.
  export: { args: [], options: ['json', 'from', 'to'] },
  verify: { args: [], options: ['json', 'anchor'] },
  anchor: { args: [], options: ['json'] },
  'verify-file': { args: ['<events.jsonl>'], options: ['json'] },
};

// Whatever this script creates (the temporary read store of `at`) is the server user's alone, as for the server.
process.umask(0o077);
// `npm run audit -- export | head` closes the pipe early: that is the reader's choice, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const {
  values,
  positionals,
  fail: usage,
} = parseScriptArgs(
  USAGE,
  {
    json: { type: 'boolean' },
    raw: { type: 'boolean' },
    from: { type: 'string' },
    to: { type: 'string' },
    collection: { type: 'string' },
    filter: { type: 'string' },
    anchor: { type: 'string' },
  },
  { positionals: true },
);
const [command = '', ...args] = positionals;
const spec = COMMANDS[command] ?? usage(command ? `Unknown command ${command}.` : 'Name a command.');
if (args.length !== spec.args.length || args.some((arg) => arg.trim() === '')) {
  usage(`${command} takes ${spec.args.length === 0 ? 'no arguments' : spec.args.join(' ')}.`);
}
const misplaced = Object.keys(values).filter((option) => !spec.options.includes(option));
if (misplaced.length > 0) usage(`${command} does not take ${misplaced.map((option) => `--${option}`).join(', ')}.`);

const momentOption = (name: 'from' | 'to'): Moment | undefined => {
  const text = values[name];
  if (text === undefined) return undefined;
  return parseMoment(text) ?? usage(`--${name} takes an ISO-8601 time or a position, got "${text}".`);
};
const range: Range = { from: momentOption('from'), to: momentOption('to') };
const json = values.json === true;
const timeline = (stream: boolean): TimelineOptions => ({ stream, raw: values.raw === true });

let filter: Filter = {};
if (command === 'entity' && !isEntityKind(args[0]!)) usage(`entity takes one of ${ENTITY_KINDS.join(', ')}, got "${args[0]}".`);
if (command === 'at') {
  if (!parseMoment(args[0]!)) usage(`at takes an ISO-8601 time or a position, got "${args[0]}".`);
  if (!values.collection || !COLLECTIONS.includes(values.collection)) usage(`at needs --collection, one of ${COLLECTIONS.join(', ')}.`);
  try {
    const candidate: unknown = JSON.parse(values.filter ?? '{}');
    assertSafeFilter(candidate);
    filter = candidate;
  } catch (error) {
    usage(`--filter takes a read-store filter in JSON: ${(error as Error).message}`);
  }
  if (filterTestsSecret(filter)) usage('--filter cannot test a secret field.');
}

if (command === 'verify-file') process.exit(await verifyFile(args[0]!));
const config = loadConfig();
if (command === 'verify') process.exit(verifyChain());
if (command === 'anchor') process.exit(printAnchor());
if (!config.eventStoreConnectionString && !existsSync(join(config.storageDir, 'events.sqlite'))) {
  console.error(`No event log in ${config.storageDir}: set STORAGE_DIR (or EVENTSTORE_CONNECTION_STRING).`);
  process.exit(1);
}
// A read-only connection to the server's log: nothing here may write it (nor chain it), and the server's own
// checkpointer keeps its WAL in check.
const eventStore = await openEventStore(config, { checkpoints: false, readonly: true });
// Sealed fields are shown opened while their key exists, `[erased]` once it was destroyed (crypto-shredding).
const contentKeys = await openKeysForTools(config);
try {
  switch (command) {
    case 'stream':
      await showTimeline({ command, stream: args[0] }, `Stream ${args[0]}`, readStreamInPages(eventStore, args[0]!), timeline(false));
      break;
    case 'entity': {
      const [kind, id] = args as [EntityKind, string];
      const stream = entityStream(kind, id);
      await showTimeline(
        { command, entity: { kind, id }, stream },
        `${kind} ${id} (stream ${stream})`,
        readStreamInPages(eventStore, stream),
        timeline(false),
      );
      break;
    }
    case 'actor':
    case 'correlation': {
      const [id] = args as [string];
      const matches =
        command === 'actor'
          ? (event: RecordedEvent) => event.metadata.userId === id
          : (event: RecordedEvent) => event.metadata.correlationId === id;
      await scanning(eventStore, 'scanning', async (head, progress) => {
        const title = `${command === 'actor' ? 'Events by user' : 'Events of correlation'} ${id}${rangeText(range)}, up to position ${head}`;
        const events = filtered(scanLog(eventStore, range, head, { onProgress: (position) => progress.update(position) }), matches);
        await showTimeline(
          { command, [command === 'actor' ? 'userId' : 'correlationId']: id, ...rangeJson(range), head },
          title,
          events,
          timeline(true),
          progress,
        );
      });
      break;
    }
    case 'export':
      await scanning(eventStore, 'exporting', async (head, progress) => {
        const out = new Output(progress);
        let count = 0;
        // On the embedded log each line also carries what its hash chain covers, so `verify <file>` can check it.
        const stored = eventStore instanceof SqliteEventStore ? eventStore : null;
        for await (const event of scanLog(eventStore, range, head, { onProgress: (position) => progress.update(position) })) {
          const row = stored?.storedAt(event.position);
          const chain = row ? { dataSha256: digest(row.data), metadataSha256: digest(row.metadata), chainHash: row.chain_hash } : {};
          await out.line(JSON.stringify({ ...toExportRecord(event), ...chain }));
          count++;
        }
        progress.stop();
        console.error(`Exported ${countLine(count, 'event')}${rangeText(range)}, up to position ${head}.`);
      });
      break;
    case 'at':
      await showCollectionAt(eventStore, parseMoment(args[0]!)!, values.collection!, filter);
      break;
  }
} finally {
  await eventStore.close();
  await contentKeys.close();
}

interface ChainVerdict {
  events: number;
  head: number;
  broken: ReturnType<typeof firstBreak>;
  anchor: AnchorCheck;
  keptAnchor: AnchorCheck | null;
}

/**
 * Recomputes the hash chain of the embedded log (read-only, in one read transaction: a consistent snapshot while the
 * server appends), names the first position where a stored hash does not follow from the events before it, and checks
 * the anchored head (and one kept elsewhere) against it: a recomputed chain or a cut-off tail matches no anchor.
 */
function chainVerdict(keptAnchorText: string | null): ChainVerdict | null {
  if (config.eventStoreConnectionString) {
    console.error(`${command} covers the embedded event log only: EventStoreDB has no chain hash here.`);
    return null;
  }
  // Read before the snapshot: the server anchors only what it committed, so the anchor is never ahead of it.
  const anchorFile = readAnchorFile(anchorFileOf(config.storageDir));
  const db = new Database(join(config.storageDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.transaction(() => {
      const rows = db
        .prepare<[], ChainedRow & { chain_hash: string | null }>(
          'SELECT position, stream, revision, type, data, metadata, chain_hash FROM events ORDER BY position',
        )
        .iterate();
      let events = 0;
      let broken: ReturnType<typeof firstBreak>;
      try {
        broken = firstBreak(
          (function* () {
            for (const row of rows) {
              events++;
              yield row;
            }
          })(),
        );
      } finally {
        rows.return?.();
      }
      const head = db.prepare<[], { position: number | null }>('SELECT max(position) AS position FROM events').get()?.position ?? 0;
      const hashAt = db.prepare<[number], { chain_hash: string | null }>('SELECT chain_hash FROM events WHERE position = ?');
      const stored = (position: number) => hashAt.get(position)?.chain_hash;
      const anchor = checkHead(anchorFile, config.auditAnchorKey, head, stored);
      // A head kept elsewhere is trusted for where it was kept: its MAC is not needed (the key may have changed since).
      const keptAnchor = keptAnchorText === null ? null : checkHead(parseSignedHead(keptAnchorText) ?? 'unreadable', null, head, stored);
      return { events, head, broken, anchor, keptAnchor };
    })();
  } finally {
    db.close();
  }
}

const ANCHOR_FINDINGS: Record<AnchorCheck['status'], string> = {
  ok: 'matches the log',
  missing: 'is missing: nothing vouches that the log was not rewritten or cut short',
  forged: 'has a MAC that does not match (forged, or AUDIT_ANCHOR_KEY changed)',
  unreadable: 'cannot be read as an anchor',
  truncated: 'names a position the log no longer reaches: events were cut off (or the log was restored from a backup)',
  rewritten: 'names a hash the log no longer has there: the chain was recomputed after a change',
};

function verifyChain(): number {
  let keptText: string | null = null;
  if (values.anchor !== undefined) {
    const source = values.anchor.trim();
    if (source.startsWith('{')) keptText = source;
    else if (existsSync(source)) keptText = readFileSync(source, 'utf8');
    else usage(`--anchor takes a file that \`audit anchor\` printed (or its JSON), got "${values.anchor}".`);
  }
  const verdict = chainVerdict(keptText);
  if (!verdict) return 1;
  const { events, broken, anchor, keptAnchor } = verdict;
  const intact = !broken && anchor.status === 'ok' && (keptAnchor === null || keptAnchor.status === 'ok');
  const result = {
    intact,
    events,
    ...(broken ? { breakAt: broken.position } : {}),
    anchor,
    ...(keptAnchor ? { keptAnchor } : {}),
  };
  if (json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      broken
        ? `The chain breaks at position ${broken.position}: that event, or one before it, was altered.`
        : `The chain holds over ${countLine(events, 'event')}.`,
    );
    console.log(`The anchor${anchor.position === undefined ? '' : ` (position ${anchor.position})`} ${ANCHOR_FINDINGS[anchor.status]}.`);
    if (keptAnchor)
      console.log(
        `The kept head${keptAnchor.position === undefined ? '' : ` (position ${keptAnchor.position})`} ${ANCHOR_FINDINGS[keptAnchor.status]}.`,
      );
  }
  return intact ? 0 : 1;
}

/**
 * Prints the newest head, signed, for the operator to keep away from the server (`verify --anchor` checks the log
 * against it later, even if the log and its anchor file were both replaced). Only for a log that verifies now.
 */
function printAnchor(): number {
  const verdict = chainVerdict(null);
  if (!verdict) return 1;
  if (verdict.broken || verdict.anchor.status !== 'ok') {
    console.error(
      verdict.broken
        ? `The chain breaks at position ${verdict.broken.position}: no head is printed for an altered log.`
        : `The anchor ${ANCHOR_FINDINGS[verdict.anchor.status]}: no head is printed until that is resolved.`,
    );
    return 1;
  }
  const db = new Database(join(config.storageDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
  let head;
  try {
    head = db
      .prepare<[number], { position: number; chain_hash: string | null }>(
        'SELECT position, chain_hash FROM events WHERE position <= ? ORDER BY position DESC LIMIT 1',
      )
      .get(verdict.head);
  } finally {
    db.close();
  }
  const signed = signHead(config.auditAnchorKey, { position: head?.position ?? 0, hash: head?.chain_hash ?? null }, new Date());
  console.log(JSON.stringify(signed));
  if (!json) console.error(`Keep this line away from the server; later: npm run audit -- verify --anchor <file with it>.`);
  return 0;
}

/**
 * Checks an export (`audit export > events.jsonl`) on its own: each line's chain hash must follow from the line
 * before (from the genesis when the export starts at the first event), and its data and metadata must match the
 * digests the chain covers (data that was redacted is checked by its digest only).
 */
async function verifyFile(file: string): Promise<number> {
  try {
    return await verifyLines(file);
  } catch (error) {
    if (!(error instanceof NotAnExportedEvent) && !(error as NodeJS.ErrnoException).code) throw error;
    console.error(error instanceof NotAnExportedEvent ? error.message : `Cannot read ${file}: ${(error as Error).message}`);
    return 1;
  }
}

interface ExportLine {
  position: number;
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: unknown;
  dataSha256?: string;
  metadataSha256?: string;
  chainHash?: string;
}

/** One line of an export, or a failure naming the line (npm's banner, when the export was taken without `-s`). */
function exportLine(file: string, number: number, text: string): ExportLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const line = value as Partial<ExportLine> | null | undefined;
  if (
    line &&
    typeof line === 'object' &&
    !Array.isArray(line) &&
    typeof line.position === 'number' &&
    typeof line.stream === 'string' &&
    typeof line.revision === 'number' &&
    typeof line.type === 'string'
  )
    return line as ExportLine;
  const start = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  throw new NotAnExportedEvent(
    `Line ${number} of ${file} is not an exported event (it starts ${JSON.stringify(start)}). ` +
      'Take the export with npm run -s audit -- export > events.jsonl (without -s, npm writes its banner into the file), or remove that line.',
  );
}

async function verifyLines(file: string): Promise<number> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let previous: string | null = null;
  let count = 0;
  let number = 0;
  let breakAt: number | null = null;
  for await (const text of lines) {
    number++;
    if (text.trim() === '') continue;
    const line = exportLine(file, number, text);
    count++;
    if (!line.dataSha256 || !line.metadataSha256 || !line.chainHash) {
      console.error('This export has no chain hashes (it was not taken from the embedded log).');
      return 1;
    }
    const link = {
      position: line.position,
      stream: line.stream,
      revision: line.revision,
      type: line.type,
      dataSha256: line.dataSha256,
      metadataSha256: line.metadataSha256,
    };
    const redacted = JSON.stringify(line.data).includes('[redacted]');
    const bytesMatch =
      digest(JSON.stringify(line.metadata)) === line.metadataSha256 && (redacted || digest(JSON.stringify(line.data)) === line.dataSha256);
    const start = previous ?? (line.position === 1 ? GENESIS_HASH : null);
    if (!bytesMatch || (start !== null && linkHash(start, link) !== line.chainHash)) {
      breakAt = line.position;
      break;
    }
    previous = line.chainHash;
  }
  const result = breakAt === null ? { intact: true, events: count } : { intact: false, events: count, breakAt };
  if (json) console.log(JSON.stringify(result));
  else
    console.log(
      breakAt === null ? `The export's chain holds over ${countLine(count, 'event')}.` : `The export breaks at position ${breakAt}.`,
    );
  return breakAt === null ? 0 : 1;
}

/** Runs `work` with the head as of now and a progress bar up to it, stopping the bar however `work` ends. */
async function scanning(store: EventStore, label: string, work: (head: number, progress: Progress) => Promise<void>): Promise<void> {
  const head = await store.headPosition();
  const progress = startProgress(label, head);
  try {
    await work(head, progress);
  } finally {
    progress.stop();
  }
}

async function* filtered(events: AsyncIterable<RecordedEvent>, keep: (event: RecordedEvent) => boolean): AsyncGenerator<RecordedEvent> {
  for await (const event of events) if (keep(event)) yield event;
}

async function* entries(events: AsyncIterable<RecordedEvent>, raw: boolean) {
  for await (const event of events) {
    const entry = toAuditEntry(event, eventUpcaster, { raw });
    yield { ...entry, data: await dataForAuditor({ ...event, data: entry.data }, contentKeys.keys) };
  }
}

async function showTimeline(
  head: Record<string, unknown>,
  title: string,
  events: AsyncIterable<RecordedEvent>,
  options: TimelineOptions,
  progress?: Progress,
): Promise<void> {
  const out = new Output(progress);
  if (json) {
    await out.jsonDocument({ ...head, raw: options.raw }, 'events', entries(events, options.raw));
    return;
  }
  await out.line(title);
  await out.line(timelineHeader(options));
  let count = 0;
  for await (const entry of entries(events, options.raw)) {
    await out.line(timelineRow(entry, options));
    count++;
  }
  progress?.stop();
  await out.line(countLine(count, 'event'));
}

async function showCollectionAt(store: EventStore, moment: Moment, collection: string, documentFilter: Filter): Promise<void> {
  const head = await store.headPosition();
  // A time is found by scanning the log (a bar for that); a position stands for itself.
  const finding = moment.kind === 'time' ? startProgress(`finding ${moment.time}`, head) : null;
  let resolved;
  try {
    resolved = await resolveMoment(store, moment, head, finding ? { onProgress: (position) => finding.update(position) } : {});
  } finally {
    finding?.stop();
  }
  const replaying = startProgress('replaying', resolved.position);
  await withReadModelAt(
    {
      eventStore: store,
      upcaster: eventUpcaster,
      projectors: revealingProjectors(projectors, contentKeys.keys),
      collection,
      upTo: resolved.position,
      onProgress: (position) => replaying.update(position),
    },
    async (readStore) => {
      replaying.stop();
      const out = new Output();
      const documents = documentsMatching(readStore.collection(collection), documentFilter);
      if (json) {
        await out.jsonDocument(
          { command: 'at', moment: describeMoment(moment), collection, filter: documentFilter, ...resolved },
          'documents',
          redacted(documents),
        );
        return;
      }
      const filterText = Object.keys(documentFilter).length > 0 ? ` matching ${JSON.stringify(documentFilter)}` : '';
      await out.line(`${collection}${filterText} as of position ${resolved.position}${resolved.time ? ` (${resolved.time})` : ''}`);
      let count = 0;
      for await (const doc of documents) {
        await out.line(`\n${documentBlock(collection, doc)}`);
        count++;
      }
      await out.line(`\n${countLine(count, 'document')}`);
    },
  ).finally(() => replaying.stop());
}

async function* redacted(items: AsyncIterable<unknown>) {
  for await (const item of items) yield redactSecrets(item);
}

function rangeText({ from, to }: Range): string {
  return `${from ? `, from ${describeMoment(from)}` : ''}${to ? `, to ${describeMoment(to)}` : ''}`;
}

function rangeJson({ from, to }: Range): Record<string, string> {
  return { ...(from ? { from: describeMoment(from) } : {}), ...(to ? { to: describeMoment(to) } : {}) };
}
