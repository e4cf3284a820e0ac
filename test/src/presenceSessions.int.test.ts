import { MemoryPresenceSessions } from '../../src/presence/presenceSessions.ts';
import { PostgresPresenceSessions } from '../../src/presence/postgresPresenceSessions.ts';
import { freshSchema, postgresFactory, postgresTest, rawClient } from '../helpers/postgres.ts';
import { presenceSessionsContract } from './presenceSessions.contract.ts';

presenceSessionsContract('in-memory', { open: async () => new MemoryPresenceSessions() });
// Each test a schema of its own, so each starts empty (the factory's open fails when REQUIRE_POSTGRES=1 has no server).
const server = postgresFactory(async (settings) => settings);
presenceSessionsContract(
  'PostgreSQL',
  'skip' in server
    ? server
    : {
        open: async () => {
          await server.open();
          return PostgresPresenceSessions.connect(await freshSchema());
        },
      },
);

postgresTest(
  'PostgreSQL presence sessions: rows of presence_sessions keyed by (instance_id, connection_id), seen by every instance',
  async (t, settings) => {
    const [a, b] = [await PostgresPresenceSessions.connect(settings), await PostgresPresenceSessions.connect(settings)];
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    await a.open({ instanceId: 'instance-a', connectionId: 3, userId: 'alice' }, new Date(0), new Date(30_000));
    t.deepEqual([...(await b.liveUsers(['alice'], new Date(1_000)))], ['alice'], 'another instance sees the session');
    const client = await rawClient(t);
    const rows = (await client.query(`SELECT instance_id, connection_id, user_id, expires_at FROM "${settings.schema}".presence_sessions`))
      .rows;
    t.deepEqual(rows, [{ instance_id: 'instance-a', connection_id: 3, user_id: 'alice', expires_at: new Date(30_000) }]);
  },
);
