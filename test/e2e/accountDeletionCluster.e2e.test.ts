import { registerUser, request } from '../helpers/app.ts';
import { clusterTest, ping, startCluster } from '../helpers/cluster.ts';
import { connect } from '../helpers/socket.ts';

/** A deleted account's sockets close on every instance, not only on the one that projected the deletion. */
clusterTest(
  'deleting an account closes its sockets on the other instances too (4401 account_deleted), whichever instance took the request',
  async (t, settings) => {
    const instances = await startCluster(t, settings, 2);
    const pings = await Promise.all(instances.map(ping));
    const leaderIndex = pings.findIndex((p) => p.projections.leader);
    t.not(leaderIndex, -1, 'one instance projects');
    const [projecting, other] = [instances[leaderIndex]!, instances[1 - leaderIndex]!];

    const user = await registerUser(other.url);
    const [onOther, onProjecting] = [await connect(other.wsUrl, user.accessToken), await connect(projecting.wsUrl, user.accessToken)];
    const deleted = await request(other.url, 'DELETE', '/api/users/me', { token: user.accessToken, body: { password: user.password } });
    t.is(deleted.status, 204);

    const timeout = (ms: number) => new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref());
    t.like(await Promise.race([onProjecting.closed, timeout(10_000)]), { code: 4401, reason: 'account_deleted' });
    t.like(await Promise.race([onOther.closed, timeout(10_000)]), { code: 4401, reason: 'account_deleted' });
  },
);
