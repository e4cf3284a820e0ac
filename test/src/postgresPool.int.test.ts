import { createPool, isUnavailable } from '../../src/postgres/connection.ts';
import { tcpProxy } from '../helpers/cluster.ts';
import { postgresTest } from '../helpers/postgres.ts';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

postgresTest(
  'a session checked out of a pool whose connection is reset between queries fails its next query as unavailable, the process lives on, and the pool opens a fresh session once the server is back',
  async (t, settings) => {
    const target = new URL(settings.url);
    const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(settings.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const pool = createPool({ ...settings, url: viaProxy.toString() });
    t.teardown(() => pool.end());

    const held = await pool.connect();
    t.is((await held.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1);
    // The reset arrives while the session is checked out and no query runs (a transaction between statements): an
    // 'error' event with no listener would end the process here.
    proxy.cut();
    await tick(200);
    const failed = await held.query('SELECT 1').then(
      () => null,
      (error: unknown) => error,
    );
    t.true(isUnavailable(failed), `the next query fails as unavailable: ${String(failed)}`);
    held.release(failed as Error);

    proxy.restore();
    t.is((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1, 'the pool serves again on a fresh session');
  },
);
