import type { Doc } from '../readstore/port.ts';
import type { AuditEntry } from './entries.ts';
import { redactSecrets } from './redact.ts';

/**
 * The readable (non-`--json`) forms of audit output, line by line so long results stream. Pure: strings in,
 * strings out. Columns have minimum widths that fit UUIDs and ISO times; a longer value widens its row only.
 */
export interface TimelineOptions {
  /** Show each event's stream: views across streams (actor, correlation). */
  stream: boolean;
  /** Show the stored data beside the upcast one. */
  raw: boolean;
}

interface Column {
  title: string;
  width: number;
  right?: boolean;
  value: (entry: AuditEntry) => string;
}

const columnsFor = (options: TimelineOptions): Column[] => [
  { title: 'POSITION', width: 8, right: true, value: (entry) => String(entry.position) },
  { title: 'TIME', width: 24, value: (entry) => entry.time },
  { title: 'TYPE', width: 24, value: (entry) => entry.type },
  ...(options.stream ? [{ title: 'STREAM', width: 44, value: (entry: AuditEntry) => entry.stream }] : []),
  { title: 'REV', width: 3, right: true, value: (entry) => String(entry.revision) },
  { title: 'USER', width: 36, value: (entry) => entry.userId ?? '-' },
  { title: 'CORRELATION', width: 36, value: (entry) => entry.correlationId },
  { title: 'CAUSATION', width: 36, value: (entry) => entry.causationId },
  {
    title: 'V',
    width: 1,
    value: (entry) =>
      entry.upcastVersion === entry.schemaVersion ? String(entry.schemaVersion) : `${entry.schemaVersion}->${entry.upcastVersion}`,
  },
];

const cell = (text: string, column: Column) => (column.right ? text.padStart(column.width) : text.padEnd(column.width));
const DETAIL_INDENT = ' '.repeat(10);

export function timelineHeader(options: TimelineOptions): string {
  return columnsFor(options)
    .map((column) => cell(column.title, column))
    .join('  ')
    .trimEnd();
}

/** The event's row, then its data on the next line (`--raw`: the stored and the upcast form on two). */
export function timelineRow(entry: AuditEntry, options: TimelineOptions): string {
  const row = columnsFor(options)
    .map((column) => cell(column.value(entry), column))
    .join('  ')
    .trimEnd();
  const details = options.raw
    ? [`stored v${entry.schemaVersion} ${JSON.stringify(entry.raw)}`, `upcast v${entry.upcastVersion} ${JSON.stringify(entry.data)}`]
    : [`data ${JSON.stringify(entry.data)}`];
  return [row, ...details.map((line) => DETAIL_INDENT + line)].join('\n');
}

export const countLine = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** A read document as a block: its id, then one aligned `field  value` line per top-level field (secrets redacted). */
export function documentBlock(collection: string, doc: Doc): string {
  const shown = redactSecrets(doc) as Doc;
  const fields = Object.entries(shown).filter(([key]) => key !== '_id');
  const width = Math.max(0, ...fields.map(([key]) => key.length));
  return [
    `${collection}/${shown._id}`,
    ...fields.map(([key, value]) => `  ${key.padEnd(width)}  ${JSON.stringify(value) ?? 'undefined'}`),
  ].join('\n');
}
