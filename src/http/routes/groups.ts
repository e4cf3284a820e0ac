import Router from '@koa/router';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { GroupService } from '../../messaging/groupService.ts';
import { addMemberSchema, createGroupSchema, transferOwnershipSchema, updateGroupSchema } from '../../messaging/schemas.ts';
import { id, parse } from '../../validation.ts';
import { actorMetadata, principalOf, requireAuth } from '../context.ts';

export interface GroupRouteDeps {
  groups: GroupService;
  authenticator: Authenticator;
  clock: () => Date;
}

/** Groups, their members and roles, under /api/groups. */
export function groupRoutes({ groups, authenticator, clock }: GroupRouteDeps): Router {
  const router = new Router({ prefix: '/api/groups' });
  router.use(requireAuth(authenticator));
  const meta = actorMetadata(clock);

  router.post('/', async (ctx) => {
    ctx.status = 201;
    ctx.body = { group: await groups.create(principalOf(ctx).userId, parse(createGroupSchema, ctx.request.body), meta(ctx)) };
  });

  router.get('/', async (ctx) => {
    ctx.body = { groups: await groups.listFor(principalOf(ctx).userId) };
  });

  router.get('/:id', async (ctx) => {
    ctx.body = { group: await groups.get(principalOf(ctx).userId, parse(id, ctx.params.id)) };
  });

  router.put('/:id', async (ctx) => {
    const changes = parse(updateGroupSchema, ctx.request.body);
    ctx.body = { group: await groups.update(principalOf(ctx).userId, parse(id, ctx.params.id), changes, meta(ctx)) };
  });

  router.post('/:id/members', async (ctx) => {
    const { userId, role } = parse(addMemberSchema, ctx.request.body);
    ctx.body = { group: await groups.addMember(principalOf(ctx).userId, parse(id, ctx.params.id), userId, role, meta(ctx)) };
  });

  router.delete('/:id/members/:userId', async (ctx) => {
    await groups.removeMember(principalOf(ctx).userId, parse(id, ctx.params.id), parse(id, ctx.params.userId), meta(ctx));
    ctx.status = 204;
  });

  router.post('/:id/owner', async (ctx) => {
    const { userId } = parse(transferOwnershipSchema, ctx.request.body);
    ctx.body = { group: await groups.transferOwnership(principalOf(ctx).userId, parse(id, ctx.params.id), userId, meta(ctx)) };
  });

  return router;
}
