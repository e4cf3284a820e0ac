import test from 'ava';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (user: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });
const send = async (from: User, body: Record<string, unknown>) => {
  const sent = await api(from, 'POST', '/api/messages', body);
  if (sent.status !== 201) throw new Error(`send: ${sent.status} ${JSON.stringify(sent.body)}`);
  return sent.body.message as { id: string; position: number };
};
const search = async (user: User, q: string, extra = '') => {
  const found = await api(user, 'GET', `/api/search?q=${encodeURIComponent(q)}${extra}`);
  if (found.status !== 200) throw new Error(`search: ${found.status} ${JSON.stringify(found.body)}`);
  return found.body as {
    results: Array<{ messageId: string; snippet: Array<{ text: string; match: boolean }> }>;
    nextCursor: string | null;
  };
};
const ids = async (user: User, q: string) => (await search(user, q)).results.map((hit) => hit.messageId);
const word = () => `w${Math.random().toString(36).slice(2, 10)}`;

test('finds, ranks and highlights; edits are searchable at once; operators and paging', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const w = word();
  const once = await send(a, { recipientId: b.user.id, text: `just one ${w} in a long sentence about other things entirely` });
  const thrice = await send(b, { recipientId: a.user.id, text: `${w} ${w} ${w}` });
  const found = await search(a, w);
  t.deepEqual(
    found.results.map((hit) => hit.messageId),
    [thrice.id, once.id],
    'BM25: the denser match first',
  );
  t.deepEqual(
    found.results[1]!.snippet.filter((piece) => piece.match).map((piece) => piece.text),
    [w],
  );
  t.true(found.results[1]!.snippet.some((piece) => !piece.match && piece.text.includes('just one')));
  t.deepEqual(await ids(a, w.slice(0, 5)), [thrice.id, once.id], 'a prefix of the last word');

  const renamed = word();
  t.is((await api(a, 'PUT', `/api/messages/${once.id}`, { text: `now ${renamed}` })).status, 200);
  t.deepEqual(await ids(a, renamed), [once.id]);
  t.deepEqual(await ids(a, w), [thrice.id], 'the old text is gone from the index');

  t.deepEqual(await ids(a, `${w} from:${b.user.username}`), [thrice.id]);
  t.deepEqual(await ids(a, `${renamed} from:me`), [once.id]);
  t.deepEqual(await ids(a, `${w} from:${a.user.username}`), []);
  t.deepEqual(await ids(a, `${w} in:${b.user.username}`), [thrice.id]);
  t.deepEqual(await ids(a, `${w} has:file`), []);
  t.deepEqual(await ids(a, `${w} before:2000-01-01`), []);
  t.deepEqual(await ids(a, `${w} after:2000-01-01`), [thrice.id]);

  const paged = word();
  for (let i = 0; i < 5; i++) await send(a, { recipientId: b.user.id, text: `${paged} number ${i}` });
  const first = await search(b, paged, '&limit=2');
  t.is(first.results.length, 2);
  t.truthy(first.nextCursor);
  const second = await search(b, paged, `&limit=2&cursor=${first.nextCursor}`);
  const third = await search(b, paged, `&limit=2&cursor=${second.nextCursor}`);
  t.is(third.results.length, 1);
  t.is(third.nextCursor, null);
  t.is(new Set([...first.results, ...second.results, ...third.results].map((hit) => hit.messageId)).size, 5);
});

test('denials: no words, a bad operator, no token', async (t) => {
  const a = await registerUser(app.url);
  t.is((await api(a, 'GET', '/api/search?q=')).status, 400);
  t.is((await api(a, 'GET', `/api/search?q=${encodeURIComponent('from:me')}`)).status, 400);
  t.is((await api(a, 'GET', `/api/search?q=${encodeURIComponent('x has:pony')}`)).status, 400);
  t.is((await api(a, 'GET', `/api/search?q=${encodeURIComponent('x before:yesterday')}`)).status, 400);
  t.is((await request(app.url, 'GET', '/api/search?q=x')).status, 401);
});

test('only what the searcher may read now: not a conversation of others, nor deleted for everyone or for them', async (t) => {
  const [a, b, c] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const w = word();
  const kept = await send(a, { recipientId: b.user.id, text: `${w} kept` });
  const gone = await send(a, { recipientId: b.user.id, text: `${w} deleted for everyone` });
  const mine = await send(a, { recipientId: b.user.id, text: `${w} deleted for b` });
  t.is((await api(a, 'DELETE', `/api/messages/${gone.id}?scope=everyone`)).status, 204);
  t.is((await api(b, 'DELETE', `/api/messages/${mine.id}?scope=me`)).status, 204);
  t.deepEqual((await ids(b, w)).sort(), [kept.id]);
  t.deepEqual((await ids(a, w)).sort(), [kept.id, mine.id].sort());
  t.deepEqual(await ids(c, w), [], 'someone else finds nothing');
  // Erased: the deleted text's row is gone from the read store (only the kept ones remain).
  const rows = await app.readStore.collection('message_search').find({ _id: { $in: [kept.id, gone.id] } });
  t.deepEqual(
    rows.map((row) => row._id),
    [kept.id],
  );
});

test('a group: nothing from before joining or after leaving; nothing across a block', async (t) => {
  const [owner, late, blocker] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(owner, 'POST', '/api/groups', { name: `G ${word()}`, memberIds: [blocker.user.id] })).body.group;
  const w = word();
  const before = await send(owner, { groupId: group.id, text: `${w} before late joined` });
  t.is((await api(owner, 'POST', `/api/groups/${group.id}/members`, { userId: late.user.id })).status, 200);
  const during = await send(owner, { groupId: group.id, text: `${w} while late is in` });
  const fromBlocker = await send(blocker, { groupId: group.id, text: `${w} said by the blocker` });
  t.deepEqual((await ids(late, w)).sort(), [during.id, fromBlocker.id].sort());
  t.deepEqual(await ids(late, `${w} in:${group.id}`), await ids(late, w));

  // A block either way hides the other's messages, in groups and in direct conversations.
  const direct = await send(blocker, { recipientId: late.user.id, text: `${w} direct from the blocker` });
  t.true((await ids(late, w)).includes(direct.id));
  t.is((await api(blocker, 'PUT', `/api/blocks/${late.user.id}`)).status, 204);
  t.deepEqual(await ids(late, w), [during.id]);
  t.false((await ids(blocker, w)).includes(direct.id), 'nor for the blocker');
  t.is((await api(blocker, 'DELETE', `/api/blocks/${late.user.id}`)).status, 204);

  // After leaving: nothing of the group at all.
  t.is((await api(late, 'DELETE', `/api/groups/${group.id}/members/${late.user.id}`)).status, 204);
  const after = await send(owner, { groupId: group.id, text: `${w} after late left` });
  t.deepEqual(await ids(late, `${w} in:${group.id}`), []);
  t.deepEqual((await ids(owner, w)).sort(), [before.id, during.id, fromBlocker.id, after.id].sort());
});
