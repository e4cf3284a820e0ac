import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { ConflictError } from '../../commands/shared/errors.ts';
import type { Doc, ReadStore } from '../../src/readstore/port.ts';

export type ReadStoreFactory = { open: () => Promise<ReadStore> } | { skip: string };

interface Person extends Doc {
  name: string;
  age?: number;
  city?: string;
  tags?: string[];
  friends?: Array<{ id: string; since: number }>;
  active?: boolean;
  address?: { zip: string };
}

/** The read store contract, run against every adapter. Collection names are unique per test. */
export function readStoreContract(adapter: string, factory: ReadStoreFactory): void {
  if ('skip' in factory) {
    test.skip(`${adapter} read store contract — skipped: ${factory.skip}`, () => undefined);
    return;
  }
  const it = (title: string, body: (t: ExecutionContext, store: ReadStore, name: string) => Promise<void>) =>
    test.serial(`${adapter} read store: ${title}`, async (t) => {
      const store = await factory.open();
      const name = `contract_${randomBytes(6).toString('hex')}`;
      try {
        await store.ensureIndexes(name, [{ key: { city: 1, age: -1 } }, { key: { age: 1 } }, { key: { tags: 1 }, multikey: true }]);
        await body(t, store, name);
      } finally {
        await store.dropCollection(name);
        await store.close();
      }
    });

  const seed = async (store: ReadStore, name: string) => {
    const people = store.collection<Person>(name);
    await people.insertOne({
      _id: 'a',
      name: 'Ada',
      age: 36,
      city: 'London',
      tags: ['math', 'code'],
      active: true,
      address: { zip: 'N1' },
    });
    await people.insertOne({ _id: 'b', name: 'Bob', age: 25, city: 'Paris', tags: ['art'], active: false });
    await people.insertOne({ _id: 'c', name: 'Cy', age: 52, city: 'London', tags: [] });
    await people.insertOne({ _id: 'd', name: 'Di', city: 'Rome' });
    return people;
  };

  it('finds by equality, nested paths, $in, $nin, ranges, $ne and $exists', async (t, store, name) => {
    const people = await seed(store, name);
    const ids = async (filter: object) => (await people.find(filter as never, { sort: { _id: 1 } })).map((p) => p._id);
    t.deepEqual(await ids({ city: 'London' }), ['a', 'c']);
    t.deepEqual(await ids({ 'address.zip': 'N1' }), ['a']);
    t.deepEqual(await ids({ active: true }), ['a']);
    t.deepEqual(await ids({ _id: { $in: ['b', 'd', 'zz'] } }), ['b', 'd']);
    t.deepEqual(await ids({ city: { $nin: ['London'] } }), ['b', 'd']);
    t.deepEqual(await ids({ age: { $gte: 30, $lt: 60 } }), ['a', 'c']);
    t.deepEqual(await ids({ age: { $ne: 25 } }), ['a', 'c', 'd']);
    t.deepEqual(await ids({ age: { $exists: false } }), ['d']);
    t.deepEqual(await ids({ $or: [{ city: 'Rome' }, { age: 25 }] }), ['b', 'd']);
    // Beside other fields an $or narrows them, it does not widen them: (city = Rome AND (...)), not (... OR ...).
    t.deepEqual(await ids({ city: 'London', $or: [{ age: 9999 }, { city: 'Rome' }] }), []);
    t.deepEqual(await ids({ $and: [{ city: 'London' }, { age: { $gt: 40 } }] }), ['c']);
    t.is((await people.findOne({ _id: 'a' }))?.name, 'Ada');
    t.is(await people.findOne({ _id: 'missing' }), null);
    t.is(await people.countDocuments({ city: 'London' }), 2);
  });

  it('matches array elements through a multikey index', async (t, store, name) => {
    const people = await seed(store, name);
    t.deepEqual(
      (await people.find({ tags: 'code' })).map((p) => p._id),
      ['a'],
    );
    t.deepEqual(
      (await people.find({ tags: { $in: ['art', 'math'] } }, { sort: { _id: 1 } })).map((p) => p._id),
      ['a', 'b'],
    );
    await people.updateOne({ _id: 'c' }, { $addToSet: { tags: 'code' } });
    t.deepEqual(
      (await people.find({ tags: 'code' }, { sort: { _id: 1 } })).map((p) => p._id),
      ['a', 'c'],
    );
    await people.updateOne({ _id: 'a' }, { $pull: { tags: 'code' } });
    t.deepEqual(
      (await people.find({ tags: 'code' })).map((p) => p._id),
      ['c'],
    );
  });

  it('sorts on several fields, limits, skips and pages with a range cursor', async (t, store, name) => {
    const people = await seed(store, name);
    t.deepEqual(
      (await people.find({}, { sort: { city: 1, age: -1 } })).map((p) => p._id),
      ['c', 'a', 'b', 'd'],
    );
    const firstPage = await people.find({ age: { $exists: true } }, { sort: { age: 1 }, limit: 2 });
    t.deepEqual(
      firstPage.map((p) => p._id),
      ['b', 'a'],
    );
    const nextPage = await people.find({ age: { $gt: firstPage[1]!.age! } }, { sort: { age: 1 }, limit: 2 });
    t.deepEqual(
      nextPage.map((p) => p._id),
      ['c'],
    );
    t.deepEqual(
      (await people.find({}, { sort: { _id: -1 }, skip: 1, limit: 2 })).map((p) => p._id),
      ['c', 'b'],
    );
  });

  it('applies $set, $unset, $inc, $push, $pull and $addToSet', async (t, store, name) => {
    const people = await seed(store, name);
    const result = await people.updateOne(
      { _id: 'b' },
      {
        $set: { 'address.zip': '75001', name: 'Bobby' },
        $unset: { active: '' },
        $inc: { age: 2 },
        $push: { friends: { id: 'a', since: 2020 } },
      },
    );
    t.is(result.matched, 1);
    await people.updateOne(
      { _id: 'b' },
      {
        $push: {
          friends: {
            $each: [
              { id: 'c', since: 2021 },
              { id: 'd', since: 2022 },
            ],
          },
        },
      },
    );
    await people.updateOne({ _id: 'b' }, { $pull: { friends: { id: 'c' } } });
    await people.updateOne({ _id: 'b' }, { $addToSet: { tags: { $each: ['art', 'film'] } } });
    const bob = await people.findOne({ _id: 'b' });
    t.like(bob, { name: 'Bobby', age: 27, address: { zip: '75001' }, tags: ['art', 'film'] });
    t.false('active' in bob!);
    t.deepEqual(
      bob!.friends!.map((f) => f.id),
      ['a', 'd'],
    );
    const many = await people.updateMany({ city: 'London' }, { $inc: { age: 1 } });
    t.is(many.matched, 2);
    t.is((await people.findOne({ _id: 'c' }))?.age, 53);
  });

  it('upserts from the filter and $setOnInsert, and replaces documents', async (t, store, name) => {
    const people = store.collection<Person>(name);
    const inserted = await people.updateOne({ _id: 'n' }, { $set: { name: 'New' }, $setOnInsert: { age: 1 } }, { upsert: true });
    t.is(inserted.upsertedId, 'n');
    await people.updateOne({ _id: 'n' }, { $set: { name: 'Newer' }, $setOnInsert: { age: 99 } }, { upsert: true });
    t.like(await people.findOne({ _id: 'n' }), { name: 'Newer', age: 1 });
    await people.replaceOne({ _id: 'n' }, { _id: 'n', name: 'Replaced' });
    t.deepEqual(await people.findOne({ _id: 'n' }), { _id: 'n', name: 'Replaced' });
    const missed = await people.replaceOne({ _id: 'zz' }, { _id: 'zz', name: 'Nobody' });
    t.is(missed.matched, 0);
    t.is(await people.findOne({ _id: 'zz' }), null);
  });

  it('enforces unique indexes with a duplicate_key conflict', async (t, store, name) => {
    await store.ensureIndexes(name, [{ key: { name: 1 }, unique: true }]);
    await store.ensureIndexes(name, [{ key: { name: 1 }, unique: true }]);
    const people = store.collection<Person>(name);
    await people.insertOne({ _id: 'x', name: 'Unique' });
    const error = await t.throwsAsync(people.insertOne({ _id: 'y', name: 'Unique' }), { instanceOf: ConflictError });
    t.is(error?.code, 'duplicate_key');
    await t.throwsAsync(people.insertOne({ _id: 'x', name: 'Other' }), { instanceOf: ConflictError });
    t.is(await people.countDocuments({}), 1);
  });

  it('deletes one and many', async (t, store, name) => {
    const people = await seed(store, name);
    t.is(await people.deleteOne({ city: 'London' }), 1);
    t.is(await people.deleteMany({ city: { $in: ['London', 'Paris'] } }), 2);
    t.deepEqual(
      (await people.find({})).map((p) => p._id),
      ['d'],
    );
    t.deepEqual(await people.find({ tags: 'code' }), []);
  });

  it('replaces a collection with another by renaming', async (t, store, name) => {
    const live = await seed(store, name);
    const fresh = store.collection<Person>(`${name}_fresh`);
    await store.ensureIndexes(`${name}_fresh`, [{ key: { tags: 1 }, multikey: true }]);
    await fresh.insertOne({ _id: 'z', name: 'Zed', tags: ['new'] });
    await store.renameCollections([{ from: `${name}_fresh`, to: name }]);
    t.deepEqual(
      (await store.collection<Person>(name).find({})).map((p) => p._id),
      ['z'],
    );
    t.deepEqual(
      (await store.collection<Person>(name).find({ tags: 'new' })).map((p) => p._id),
      ['z'],
    );
    t.is(await store.collection<Person>(`${name}_fresh`).countDocuments({}), 0);
    void live;
  });

  it('rejects operator-shaped and unsafe input instead of interpreting it', async (t, store, name) => {
    const people = await seed(store, name);
    await t.throwsAsync(people.find({ 'name; DROP TABLE x': 'a' }));
    await t.throwsAsync(people.find({ $where: '1' }));
  });
}
