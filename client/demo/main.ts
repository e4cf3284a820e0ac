import { LetsAppClient, webStorageStore, type Session } from '../index.ts';
import { CallView } from './calls.ts';
import { ChatView } from './chat.ts';
import { GroupSettingsView } from './groupSettings.ts';
import { DisappearingView } from './disappearing.ts';
import { byId, formValues, showError } from './dom.ts';
import { wireAccountDeletion } from './accountDeletion.ts';
import { LetaView } from './leta.ts';
import { SearchView } from './search.ts';
import { ScheduledView } from './scheduled.ts';
import { MediaCache } from './media.ts';
import { VoiceView } from './voice.ts';
import { People } from './people.ts';
import { wireDataExport } from './dataExport.ts';
import { wireNotifications } from './notifications.ts';
import { wireWebhooks } from './webhooks.ts';
import { wireBots } from './bots.ts';

/**
 * The demo page: log in, then chat, Leta and calls, all through the typed client. The session, the last position and
 * unsent messages are kept in localStorage, so a reload resumes where the page left off.
 */
const config = (await (await fetch('/demo/config')).json()) as { wsPort: number; wsPath: string };
const client = new LetsAppClient({
  baseUrl: '',
  wsUrl: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:${config.wsPort}${config.wsPath}`,
  store: webStorageStore(),
});
// For the console and the browser tests.
(globalThis as { letsapp?: LetsAppClient }).letsapp = client;

const connection = byId('connection');
client.on('state', ({ state }) => {
  connection.dataset.state = state;
  connection.textContent = state;
});
client.on('unauthorized', ({ reason }) => {
  byId('auth-error').textContent = `Please log in again (${reason.replaceAll('_', ' ')})`;
  byId('auth').hidden = false;
});

let started: string | null = null;
client.on('session', (session) => (session ? start(session) : location.reload()));

function start(session: Session): void {
  byId('auth').hidden = true;
  byId('auth-error').textContent = '';
  if (started === session.user.id) return; // a new token for the same user: the views carry on
  if (started !== null) return location.reload();
  started = session.user.id;
  byId('app').hidden = false;
  byId('me').textContent = `${session.user.displayName} (@${session.user.username})`;
  const me = session.user.id;
  const media = new MediaCache(client);
  const people = new People(client);
  const chat = new ChatView(client, media, people, me);
  new VoiceView(client, chat);
  const calls = new CallView(client, people, me);
  new GroupSettingsView(client, chat, me);
  new DisappearingView(client, chat, me);
  new ScheduledView(client, chat);
  // Refusals of the sidebar's forms show under them, where the user is looking, and go with the next try.
  const sidebarError = byId('sidebar-error');
  const failed = (error: unknown) => showError(sidebarError, error);
  new LetaView(client, me);
  new SearchView(client);
  void showAvatar(media);

  const newChat = byId<HTMLFormElement>('new-chat');
  newChat.addEventListener('submit', (event) => {
    event.preventDefault();
    sidebarError.textContent = '';
    chat.chatWith(formValues(newChat).username ?? '').then(() => newChat.reset(), failed);
  });
  const newGroup = byId<HTMLFormElement>('new-group');
  newGroup.addEventListener('submit', (event) => {
    event.preventDefault();
    sidebarError.textContent = '';
    const { name = '', members = '' } = formValues(newGroup);
    const usernames = members
      .split(',')
      .map((username) => username.trim())
      .filter(Boolean);
    chat.createGroup(name, usernames).then(() => newGroup.reset(), failed);
  });
  for (const media of ['audio', 'video'] as const) {
    byId(`${media}-call`).addEventListener('click', () => {
      const open = chat.current;
      if (!open) return;
      void calls.start(open.peerId ? { calleeId: open.peerId } : { groupId: open.target.groupId! }, open.title, media);
    });
  }
  const uploadAvatar = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (!file) return;
    sidebarError.textContent = '';
    try {
      await client.api.upload('/api/users/profile-picture', file);
      await showAvatar(media);
    } catch (error) {
      failed(error);
    }
  };
  const avatarInput = byId<HTMLInputElement>('avatar-input');
  avatarInput.addEventListener('change', () => void uploadAvatar(avatarInput));
  byId('logout').addEventListener('click', () => void client.logout());
  wireAccountDeletion(client);
  wireDataExport(client);
  wireNotifications(client);
  wireWebhooks(client);
  wireBots(client);
}

async function showAvatar(media: MediaCache): Promise<void> {
  const { profile } = await client.api.request('get', '/api/users/profile');
  media.show(byId<HTMLImageElement>('my-avatar'), profile.avatarMediaId, '128');
  byId('my-avatar').dataset.mediaId = profile.avatarMediaId ?? '';
}

function onSubmit(id: string, act: (values: Record<string, string>) => Promise<unknown>): void {
  const form = byId<HTMLFormElement>(id);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    byId('auth-error').textContent = '';
    act(formValues(form)).catch((error: unknown) => showError(byId('auth-error'), error));
  });
}
onSubmit('register-form', ({ email = '', username = '', displayName, password = '' }) =>
  client.register({ email, username, password, ...(displayName ? { displayName } : {}) }),
);
onSubmit('login-form', ({ email = '', password = '' }) => client.login(email, password));

await client.resume();
