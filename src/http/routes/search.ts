import { searchPage, searchQuerySchema } from '../../contract/searchSchemas.ts';
import type { SearchService } from '../../messaging/searchService.ts';
import { reply, route } from '../routeTable.ts';

export interface SearchRouteDeps {
  search: SearchService;
}

/** Full-text search of the messages the caller may read. */
export function searchRoutes({ search }: SearchRouteDeps) {
  return [
    route({
      method: 'get',
      path: '/api/search',
      operationId: 'searchMessages',
      tag: 'messages',
      auth: true,
      rateLimit: 'message-search',
      summary: 'Search the messages the caller may read, best matches first, with highlighted excerpts',
      description:
        'Operators: `from:<username|me>`, `in:<username|groupId|group name>`, `has:file`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`. ' +
        'Never a message deleted for everyone or for the caller, from outside their membership of a group, or across a block. ' +
        '501 `search_unavailable` on a MongoDB read store.',
      query: searchQuerySchema,
      responses: { 200: { description: 'A page of results', schema: searchPage } },
      errors: ['search_unavailable'],
      handle: async ({ principal, query }) => reply(200, await search.search(principal.userId, query)),
    }),
  ];
}
