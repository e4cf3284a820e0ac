import { accountDeletionScheduled, deleteAccountQuery, deleteAccountSchema } from '../../contract/accountSchemas.ts';
import type { AccountDeletionService } from '../../people/accountDeletionService.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface AccountRouteDeps {
  deletions: AccountDeletionService;
  /** ACCOUNT_DELETION_GRACE_HOURS, for the description. */
  graceHours: number;
  clock: () => Date;
}

/** DELETE /api/users/me (delete the caller's account) and DELETE /api/users/me/deletion (call off a scheduled one). */
export function accountRoutes({ deletions, graceHours, clock }: AccountRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'delete',
      path: '/api/users/me',
      operationId: 'deleteOwnAccount',
      tag: 'people',
      auth: true,
      rateLimit: 'profile',
      summary: "Delete the caller's account (password required)",
      description:
        'Without a confirmation window (`ACCOUNT_DELETION_GRACE_HOURS` 0, the default outside production) the account is ' +
        'deleted at once (204): its sockets are closed (4401 `account_deleted`), its tokens refused, its profile, contacts, ' +
        "media, Leta's history and key and presence removed, its groups left (a group it owned passes to the longest-standing " +
        'admin, else member), its data key destroyed (every personal field in the log becomes ' +
        '`[erased]`), and its email and username are free again. Its messages stay with the people who received them, shown ' +
        'from "Deleted account", unless `messages=erase`, which deletes every message it sent for everyone. With a window ' +
        `(now ${graceHours} h) the deletion is scheduled (202) and called off by logging in or DELETE /api/users/me/deletion.`,
      query: deleteAccountQuery,
      body: deleteAccountSchema,
      responses: {
        204: { description: 'Deleted' },
        202: { description: 'Scheduled: deleted at `deleteAfter` unless called off', schema: accountDeletionScheduled },
      },
      errors: ['wrong_password', 'concurrency_conflict'],
      handle: async ({ principal, body, query, ctx }) => {
        const outcome = await deletions.request(principal.userId, body.password, query.messages, ctx.ip, meta(ctx));
        return outcome.status === 'deleted'
          ? noContent()
          : reply(202, { deletion: { status: 'scheduled' as const, deleteAfter: outcome.deleteAfter } });
      },
    }),
    route({
      method: 'delete',
      path: '/api/users/me/deletion',
      operationId: 'cancelAccountDeletion',
      tag: 'people',
      auth: true,
      rateLimit: 'profile',
      summary: 'Call off a scheduled deletion of the caller’s account',
      description: 'Nothing happens when none is scheduled. Logging in calls it off too.',
      responses: { 204: { description: 'No deletion is scheduled any more' } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, ctx }) => {
        await deletions.cancel(principal.userId, meta(ctx));
        return noContent();
      },
    }),
  ];
}
