import type { Collection, Doc, Filter } from '../readstore/port.ts';

/**
 * The documents of a collection matching `filter`, in `_id` order, read a page at a time (keyset paging on `_id`,
 * so each page is one indexed query however deep into the collection it is).
 */
export async function* documentsMatching(collection: Collection, filter: Filter, pageSize = 500): AsyncGenerator<Doc> {
  for (let last: string | null = null; ;) {
    const page: Doc[] = await collection.find(last === null ? filter : andAfter(filter, last), { sort: { _id: 1 }, limit: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    last = page[page.length - 1]!._id;
  }
}

const andAfter = (filter: Filter, id: string): Filter =>
  Object.keys(filter).length === 0 ? { _id: { $gt: id } } : { $and: [filter, { _id: { $gt: id } }] };
