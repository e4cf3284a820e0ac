import test from 'ava';
import pino from 'pino';
import { InProcessClusterBus, type ClusterHub, type ClusterMessage } from '../../src/cluster/clusterBus.ts';
import { PostgresCluster } from '../../src/cluster/postgresCluster.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function received(messages: ClusterMessage[], count: number, timeoutMs = 5_000): Promise<ClusterMessage[]> {
  const until = Date.now() + timeoutMs;
  while (messages.length < count && Date.now() < until) await sleep(20);
  return messages;
}

test('in process: buses on one hub hear each other in order, never themselves; a bus alone hears nothing', async (t) => {
  const hub: ClusterHub = new Set();
  const [a, b, alone] = [new InProcessClusterBus('a', hub), new InProcessClusterBus('b', hub), new InProcessClusterBus('alone')];
  const [atA, atB, atAlone]: [ClusterMessage[], ClusterMessage[], ClusterMessage[]] = [[], [], []];
  a.onMessage((m) => atA.push(m));
  b.onMessage((m) => atB.push(m));
  alone.onMessage((m) => atAlone.push(m));
  for (let i = 1; i <= 3; i++) a.publish({ type: 'toConnection', connectionId: i, bytes: `#${i}` });
  alone.publish({ type: 'revokeToken', tokenId: 't' });
  await sleep(10);
  t.deepEqual(
    atB.map((m) => (m as { bytes: string }).bytes),
    ['#1', '#2', '#3'],
  );
  t.deepEqual(atA, []);
  t.deepEqual(atAlone, []);
});

postgresTest(
  "PostgreSQL: a message over NOTIFY's 8,000 bytes goes through cluster_messages, in order with the small ones around it",
  async (t, settings) => {
    const [a, b] = [await PostgresCluster.connect(settings, 'a', logger), await PostgresCluster.connect(settings, 'b', logger)];
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    const atA: ClusterMessage[] = [];
    const atB: ClusterMessage[] = [];
    a.onMessage((m) => atA.push(m));
    b.onMessage((m) => atB.push(m));
    const big = 'x'.repeat(20_000);
    a.publish({ type: 'toConnection', connectionId: 1, bytes: 'before' });
    a.publish({ type: 'toConnection', connectionId: 1, bytes: big });
    a.publish({ type: 'toConnection', connectionId: 1, bytes: 'after' });
    t.deepEqual(
      (await received(atB, 3)).map((m) => (m as { bytes: string }).bytes),
      ['before', big, 'after'],
    );
    t.deepEqual(atA, [], 'not heard by its sender');
    const client = await rawClient(t);
    t.is(
      (await client.query(`SELECT count(*)::int AS n FROM "${settings.schema}".cluster_messages`)).rows[0].n,
      1,
      'only the large one was stored',
    );
  },
);

postgresTest('PostgreSQL: a listener whose session is ended reconnects and hears again', async (t, settings) => {
  const [a, b] = [await PostgresCluster.connect(settings, 'a', logger), await PostgresCluster.connect(settings, 'b', logger)];
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const atB: ClusterMessage[] = [];
  b.onMessage((m) => atB.push(m));
  const pid = await b.listenerPid();
  t.truthy(pid);
  const client = await rawClient(t);
  await client.query('SELECT pg_terminate_backend($1)', [pid]);
  const until = Date.now() + 10_000;
  let heard = false;
  // Said until heard: what is published while the listener is away is missed (the traffic is ephemeral).
  for (let i = 0; !heard && Date.now() < until; i++) {
    a.publish({ type: 'revokeToken', tokenId: `t${i}` });
    await sleep(200);
    heard = atB.length > 0;
  }
  t.true(heard, 'heard after the reconnect');
  t.not(await b.listenerPid(), pid, 'on a new session');
});

postgresTest('PostgreSQL: connection ids are unique across instances', async (t, settings) => {
  const [a, b] = [await PostgresCluster.connect(settings, 'a', logger), await PostgresCluster.connect(settings, 'b', logger)];
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const ids = await Promise.all(Array.from({ length: 1_500 }, (_, i) => (i % 2 ? a : b).next()));
  t.is(new Set(ids).size, ids.length);
  t.true(ids.every((id) => Number.isSafeInteger(id) && id > 0));
});
