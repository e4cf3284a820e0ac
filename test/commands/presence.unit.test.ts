import test from 'ava';
import { evolve, initialState, presenceDecider, presenceStream, type PresenceEvent, type PresenceMode } from '../../commands/presence.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:10:00.000Z';
const earlier = '2026-01-01T00:00:00.000Z';
const presence = spec(presenceDecider);
const meta = metadata({ now });

const cameOnline = (at = now): PresenceEvent => ({ type: 'UserCameOnline', data: { userId: 'u', at } });
const wentOffline = (lastSeenAt: string, at = now, reason: 'disconnect' | 'server_restart' = 'disconnect'): PresenceEvent => ({
  type: 'UserWentOffline',
  data: { userId: 'u', at, lastSeenAt, reason },
});
const modeSet = (mode: PresenceMode, statusText: string | null = null, expiresAt: string | null = null, at = now): PresenceEvent => ({
  type: 'PresenceModeSet',
  data: { userId: 'u', mode, statusText, expiresAt, at },
});

const markOnline = { type: 'MarkOnline' as const, data: { userId: 'u' }, metadata: meta };
const markOffline = (lastSeenAt: string, reason: 'disconnect' | 'server_restart' = 'disconnect') => ({
  type: 'MarkOffline' as const,
  data: { userId: 'u', lastSeenAt, reason },
  metadata: meta,
});
const setMode = (mode: PresenceMode, statusText: string | null = null, expiresAt: string | null = null) => ({
  type: 'SetPresenceMode' as const,
  data: { userId: 'u', mode, statusText, expiresAt },
  metadata: meta,
});

test('the stream is named after the user', (t) => {
  t.is(presenceStream('u1'), 'presence-u1');
});

test('a user never seen, or offline, who comes online is recorded online at the command time', (t) => {
  presence.given([]).when(markOnline).then(t, [cameOnline()]);
  presence
    .given([cameOnline(earlier), wentOffline(earlier, earlier)])
    .when(markOnline)
    .then(t, [cameOnline()]);
});

test('marking an online user online again records nothing', (t) => {
  presence
    .given([cameOnline(earlier)])
    .when(markOnline)
    .then(t, []);
});

test('an online user going offline is recorded with the given last-seen time and reason', (t) => {
  presence
    .given([cameOnline(earlier)])
    .when(markOffline('2026-01-01T00:09:00.000Z'))
    .then(t, [wentOffline('2026-01-01T00:09:00.000Z')]);
  presence
    .given([cameOnline(earlier)])
    .when(markOffline(earlier, 'server_restart'))
    .then(t, [wentOffline(earlier, now, 'server_restart')]);
});

test('marking offline a user who is already offline, or was never online, records nothing', (t) => {
  presence.given([]).when(markOffline(earlier)).then(t, []);
  presence
    .given([cameOnline(earlier), wentOffline(earlier, earlier)])
    .when(markOffline(now))
    .then(t, []);
});

test('a last-seen time is never refused, but one later than the event (or unreadable) becomes the event time', (t) => {
  presence
    .given([cameOnline(earlier)])
    .when(markOffline(now))
    .then(t, [wentOffline(now)]);
  presence
    .given([cameOnline(earlier)])
    .when(markOffline('2026-01-01T00:10:00.001Z'))
    .then(t, [wentOffline(now)]);
  presence
    .given([cameOnline(earlier)])
    .when(markOffline('2027-01-01T00:00:00.000Z'))
    .then(t, [wentOffline(now)]);
  presence
    .given([cameOnline(earlier)])
    .when(markOffline('not a time'))
    .then(t, [wentOffline(now)]);
});

test('setting a presence mode records it, online or offline', (t) => {
  presence
    .given([])
    .when(setMode('dnd', 'In a meeting', '2026-01-01T01:00:00.000Z'))
    .then(t, [modeSet('dnd', 'In a meeting', '2026-01-01T01:00:00.000Z')]);
  presence
    .given([cameOnline(earlier)])
    .when(setMode('invisible'))
    .then(t, [modeSet('invisible')]);
});

test('setting the mode, status text and expiry already in place records nothing', (t) => {
  presence.given([]).when(setMode('auto')).then(t, []);
  presence
    .given([modeSet('away', 'brb', null, earlier)])
    .when(setMode('away', 'brb'))
    .then(t, []);
});

test('a change of only the status text, only the expiry or only the mode is a change', (t) => {
  const given = presence.given([modeSet('away', 'brb', '2026-01-01T01:00:00.000Z', earlier)]);
  given.when(setMode('away', 'back soon', '2026-01-01T01:00:00.000Z')).then(t, [modeSet('away', 'back soon', '2026-01-01T01:00:00.000Z')]);
  given.when(setMode('away', 'brb', null)).then(t, [modeSet('away', 'brb', null)]);
  given.when(setMode('dnd', 'brb', '2026-01-01T01:00:00.000Z')).then(t, [modeSet('dnd', 'brb', '2026-01-01T01:00:00.000Z')]);
  presence
    .given([modeSet('away', 'brb', null, earlier)])
    .when(setMode('auto'))
    .then(t, [modeSet('auto')]);
});

test('the state folds status, mode and the last-seen time; coming online keeps the mode and the last-seen time', (t) => {
  const history: PresenceEvent[] = [
    cameOnline(earlier),
    modeSet('dnd', 'focus', null, earlier),
    wentOffline(earlier, now),
    cameOnline(now),
  ];
  t.deepEqual(history.reduce(evolve, initialState), {
    status: 'online',
    mode: 'dnd',
    statusText: 'focus',
    expiresAt: null,
    lastSeenAt: earlier,
  });
  t.deepEqual(history.slice(0, 3).reduce(evolve, initialState), {
    status: 'offline',
    mode: 'dnd',
    statusText: 'focus',
    expiresAt: null,
    lastSeenAt: earlier,
  });
});
