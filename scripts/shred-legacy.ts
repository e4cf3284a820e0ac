/**
 * Operator tool, run once after upgrading to sealed message texts (MessageSent/MessageEdited v2), with the server
 * stopped:
 *   npm run shred-legacy                    # report and clean up; writes STORAGE_DIR/legacy-plaintext.jsonl
 *   npm run shred-legacy -- --dry-run       # report only
 *
 * The log is never rewritten (its hash chain and anchor would break, and history is evidence), so events written
 * before the upgrade keep their text in clear. What this does, exactly:
 *   1. Lists every v1 MessageSent/MessageEdited (text in clear) in STORAGE_DIR/legacy-plaintext.jsonl (mode 0600),
 *      one line per event: position, event id, stream, type, message id, and whether the message was deleted for
 *      everyone (its text is then gone from the read models but still in clear in the log). Texts are not copied.
 *   1b. Lists every event holding personal fields in clear (UserRegistered before v3, ProfileUpdated v1, ContactAdded
 *      and ContactRenamed v1 with a nickname) in STORAGE_DIR/legacy-personal-fields.jsonl (mode 0600): position, event id,
 *      stream, type, whose fields, and whether that account was deleted since. They cannot be re-sealed without
 *      rewriting the log; the fields are not copied.
 *   2. VACUUMs read.sqlite and secrets.sqlite: rows deleted before secure_delete was on (texts of messages deleted
 *      before the upgrade, say) may linger in free pages; VACUUM rewrites each file without them, and its WAL is
 *      truncated.
 * The read models' copies of messages deleted before the upgrade are tombstones already, and the upgrade's rebuild
 * (messages v3, feed v4) rewrites their feed entries to the tombstone.
 */
import { chmodSync, openSync, closeSync, writeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config.ts';
import { openEventStore } from '../src/stores.ts';
import { lockStorageDir } from '../src/sqlite/storageDirLock.ts';
import { scanLog } from '../src/audit/scan.ts';
import { parseScriptArgs } from './lib/args.ts';

/**
 * Whose personal fields an event holds in clear, or null: UserRegistered before v3, ProfileUpdated v1 with a display
 * name or about text, ContactAdded/ContactRenamed v1 with a nickname (the owner's).
 */
function personalFieldsOwner(event: { type: string; data: unknown; metadata: { schemaVersion?: number } }): string | null {
  const version = event.metadata.schemaVersion ?? 1;
  const data = event.data as { userId?: string; ownerId?: string; email?: unknown; nickname?: unknown; changes?: Record<string, unknown> };
  if (event.type === 'UserRegistered' && version < 3 && typeof data.email === 'string') return data.userId ?? null;
  if (event.type === 'ProfileUpdated' && version < 2 && ['displayName', 'about'].some((field) => typeof data.changes?.[field] === 'string'))
    return data.userId ?? null;
  if ((event.type === 'ContactAdded' || event.type === 'ContactRenamed') && version < 2 && typeof data.nickname === 'string')
    return data.ownerId ?? null;
  return null;
}

process.umask(0o077);
const { values } = parseScriptArgs(
  `Usage: npm run shred-legacy -- [--dry-run]
  Lists the events that hold a message text in clear (written before texts were sealed) in
  STORAGE_DIR/legacy-plaintext.jsonl, those that hold personal fields in clear (email, username, display name, about,
  nicknames) in STORAGE_DIR/legacy-personal-fields.jsonl, and VACUUMs read.sqlite and secrets.sqlite. Run it with the server stopped.
  --dry-run  report the counts only: write nothing, vacuum nothing`,
  { 'dry-run': { type: 'boolean', default: false } },
);

const config = loadConfig();
if (config.database || config.eventStoreConnectionString) {
  console.error('shred-legacy works on the embedded stores (STORAGE_DIR). With PostgreSQL, see README, Privacy.');
  process.exit(2);
}
const lock = lockStorageDir(config.storageDir);
const eventStore = await openEventStore(config, { checkpoints: false, readonly: true });
const report = values['dry-run'] ? null : join(config.storageDir, 'legacy-plaintext.jsonl');
const fd = report ? openSync(report, 'w', 0o600) : null;
try {
  const head = await eventStore.headPosition();
  const legacy: Array<{ position: number; eventId: string; stream: string; type: string; messageId: string }> = [];
  const deleted = new Set<string>();
  const personal: Array<{ position: number; eventId: string; stream: string; type: string; userId: string }> = [];
  const deletedAccounts = new Set<string>();
  for await (const event of scanLog(eventStore, {}, head)) {
    if (event.type === 'MessageDeleted') deleted.add((event.data as { messageId: string }).messageId);
    if (event.type === 'AccountDeleted') deletedAccounts.add((event.data as { userId: string }).userId);
    const owner = personalFieldsOwner(event);
    if (owner !== null)
      personal.push({ position: event.position, eventId: event.metadata.eventId, stream: event.stream, type: event.type, userId: owner });
    if ((event.type !== 'MessageSent' && event.type !== 'MessageEdited') || (event.metadata.schemaVersion ?? 1) >= 2) continue;
    const content = (event.data as { content?: { kind?: string; text?: unknown } }).content;
    if (content?.kind !== 'text' || typeof content.text !== 'string') continue;
    legacy.push({
      position: event.position,
      eventId: event.metadata.eventId,
      stream: event.stream,
      type: event.type,
      messageId: (event.data as { messageId: string }).messageId,
    });
  }
  const deletedInClear = legacy.filter((entry) => deleted.has(entry.messageId));
  if (fd !== null)
    for (const entry of legacy) writeSync(fd, `${JSON.stringify({ ...entry, deletedForEveryone: deleted.has(entry.messageId) })}\n`);
  console.log(
    `${legacy.length} events hold a message text in clear (written before texts were sealed), up to position ${head};` +
      ` ${deletedInClear.length} of them belong to messages deleted for everyone: their text stays in events.sqlite, which is never rewritten.`,
  );
  if (report) console.log(`Listed in ${report}.`);
  const personalOfDeleted = personal.filter((entry) => deletedAccounts.has(entry.userId));
  console.log(
    `${personal.length} events hold personal fields in clear (written before they were sealed under the users' data keys);` +
      ` ${personalOfDeleted.length} of them belong to deleted accounts: their fields stay in events.sqlite, which is never rewritten.`,
  );
  if (report) {
    const personalReport = join(config.storageDir, 'legacy-personal-fields.jsonl');
    const personalFd = openSync(personalReport, 'w', 0o600);
    try {
      for (const entry of personal)
        writeSync(personalFd, `${JSON.stringify({ ...entry, accountDeleted: deletedAccounts.has(entry.userId) })}\n`);
    } finally {
      closeSync(personalFd);
      chmodSync(personalReport, 0o600);
    }
    console.log(`Listed in ${personalReport}.`);
  }
  if (!values['dry-run']) {
    for (const file of ['read.sqlite', 'secrets.sqlite']) {
      const path = join(config.storageDir, file);
      if (!existsSync(path)) continue;
      const db = new Database(path);
      try {
        db.pragma('secure_delete = ON');
        db.exec('VACUUM');
        db.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        db.close();
      }
      console.log(`Vacuumed ${file}: no free page keeps a deleted row.`);
    }
  }
} finally {
  if (fd !== null) closeSync(fd);
  if (report) chmodSync(report, 0o600);
  await eventStore.close();
  lock.release();
}
