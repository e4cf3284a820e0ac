/**
 * Operator tool: lets a user read the event history over REST (`/api/audit/...`), or takes it back.
 *   npm run grant-auditor -- <userId> [--revoke]
 * The grant is an event (`AuditorGranted` / `AuditorRevoked` on the `auditors` stream): audited like everything else.
 */
import { auditorDecider, AUDITORS_STREAM } from '../commands/auditors.ts';
import { eventUpcaster } from '../commands/upcasters.ts';
import { isRegistered } from '../src/people/registered.ts';
import { CommandHandler } from '../src/commandHandler.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { openEventStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

process.umask(0o077);
const { values, positionals, fail } = parseScriptArgs(
  'Usage: npm run grant-auditor -- <userId> [--revoke]',
  { revoke: { type: 'boolean', default: false } },
  { positionals: true },
);
const userId = positionals[0];
if (positionals.length !== 1 || !/^[0-9a-f-]{36}$/i.test(userId ?? '')) fail('Name one user by id (a UUID).');
const eventStore = await openEventStore(loadConfig());
try {
  const commands = new CommandHandler(eventStore, eventUpcaster);
  const correlationId = `operator:grant-auditor:${newId()}`;
  const metadata = { commandId: newId(), correlationId, causationId: correlationId, userId: null, now: new Date().toISOString() };
  const result = values.revoke
    ? await commands.handle(auditorDecider, AUDITORS_STREAM, { type: 'RevokeAuditor', data: { userId: userId! }, metadata })
    : await commands.handle(auditorDecider, AUDITORS_STREAM, {
        type: 'GrantAuditor',
        data: { userId: userId!, userExists: await isRegistered(commands, userId!) },
        metadata,
      });
  const verb = values.revoke ? 'revoked' : 'granted';
  console.log(
    result.position === null
      ? `Nothing to do: ${userId} was already ${values.revoke ? 'not an auditor' : 'an auditor'}.`
      : `Auditor access ${verb} for ${userId} (position ${result.position}).`,
  );
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await eventStore.close();
}
