import { PostgresReadStore } from '../../src/readstore/postgres.ts';
import { freshSchema, postgresTest } from '../helpers/postgres.ts';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

postgresTest(
  "a notice sent in a read-store transaction reaches another instance's listener once it commits, and never when it rolls back",
  async (t, settings) => {
    const [projecting, following] = [await PostgresReadStore.connect(settings), await PostgresReadStore.connect(settings)];
    t.teardown(async () => {
      await projecting.close();
      await following.close();
    });
    let heard = 0;
    following.onNotice('projected', () => {
      heard++;
    });
    // The listening session announces itself once connected (it may have missed notices before).
    for (let i = 0; i < 100 && heard === 0; i++) await tick(20);
    t.is(heard, 1, 'woken once when the listening session is up');

    await t.throwsAsync(
      projecting.withTransaction(async (tx) => {
        await tx.notify!('projected', '1');
        throw new Error('the batch fails');
      }),
      { message: 'the batch fails' },
    );
    let heardInside = -1;
    await projecting.withTransaction(async (tx) => {
      await tx.notify!('projected', '2');
      await tick(200);
      heardInside = heard;
    });
    t.is(heardInside, 1, 'nothing is heard before the commit, nor of the rolled-back transaction');
    for (let i = 0; i < 100 && heard === 1; i++) await tick(20);
    t.is(heard, 2, 'the committed notice is heard');

    // Another schema's instances do not hear it.
    const elsewhere = await PostgresReadStore.connect(await freshSchema());
    t.teardown(() => elsewhere.close());
    await elsewhere.withTransaction(async (tx) => tx.notify!('projected', '3'));
    await tick(300);
    t.is(heard, 2);
  },
);
