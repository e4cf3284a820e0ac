import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request, registerUser, startTestApp } from '../helpers/app.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

postgresTest('with DATABASE_URL the server keeps its event log and read collections in PostgreSQL, not in embedded files', async (t, settings) => {
  const app = await startTestApp({ env: { DATABASE_URL: settings.url, DATABASE_SCHEMA: settings.schema! } });
  t.teardown(() => app.dispose());
  t.is(app.eventStore.kind, 'postgres');
  t.is(app.readStore.kind, 'postgres');
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const client = await rawClient(t);
  const eventsAfter = async (position: number) => (await client.query(
    `SELECT type, position FROM "${settings.schema}".events WHERE position > $1 ORDER BY position`, [position])).rows;
  const headBeforeSend = await app.eventStore.headPosition();
  const sent = await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'hello over PostgreSQL', clientMessageId: 'pg-1' } });
  t.is(sent.status, 201);
  const appended = await eventsAfter(headBeforeSend);
  t.deepEqual(appended.map((e) => e.type), ['MessageSent'], 'the send appended one MessageSent, in PostgreSQL');
  t.is(Number(appended[0].position), sent.body.message.position);
  const list = await request(app.url, 'GET', '/api/conversations', { token: b.accessToken });
  t.like(list.body.conversations[0], { unreadCount: 1, lastMessage: { id: sent.body.message.id, preview: 'hello over PostgreSQL' } });
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.deepEqual(page.body.messages.map((m: { id: string }) => m.id), [sent.body.message.id]);

  t.is((await eventsAfter(0)).filter((e) => e.type === 'UserRegistered').length, 2);
  const messageRows = (await client.query(`SELECT doc FROM "${settings.schema}".c_messages WHERE id = $1`, [sent.body.message.id])).rows;
  t.like(messageRows[0]?.doc, { _id: sent.body.message.id }, 'the message document is a row of a PostgreSQL table');
  t.false(existsSync(join(app.storageDir, 'events.sqlite')), 'no embedded event log');
  t.false(existsSync(join(app.storageDir, 'read.sqlite')), 'no embedded read store');
});
