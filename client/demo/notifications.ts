import type { LetsAppClient } from '../index.ts';
import { byId, showError } from './dom.ts';

/** The service worker (client/demo/serviceWorker.ts) as the server serves it, and the part of the site it controls. */
const SERVICE_WORKER = '/demo/sw.js';
const SCOPE = '/demo';

/**
 * "Notifications": registers the demo's service worker, subscribes this browser with the server's VAPID key and
 * registers the subscription; "Previews" turns the sender and text in pushes on or off.
 */
export function wireNotifications(client: LetsAppClient): void {
  const button = byId<HTMLButtonElement>('enable-push');
  const preview = byId<HTMLInputElement>('push-preview');
  const status = byId('push-status');
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    button.disabled = true;
    status.textContent = 'This browser has no Web Push';
    return;
  }
  client.push.settings().then(
    (settings) => {
      preview.checked = settings.pushPreview;
    },
    (error: unknown) => showError(status, error),
  );
  button.addEventListener('click', () => {
    button.disabled = true;
    navigator.serviceWorker
      .register(SERVICE_WORKER, { scope: SCOPE })
      .then(async (registration) => {
        await navigator.serviceWorker.ready;
        const subscription = await client.push.subscribeBrowser(registration);
        status.textContent = subscription ? `Notifications on (${subscription.origin})` : 'Notifications were not allowed';
      })
      .catch((error: unknown) => showError(status, error))
      .finally(() => {
        button.disabled = false;
      });
  });
  preview.addEventListener('change', () => {
    client.push.setPreview(preview.checked).then(
      (settings) => {
        status.textContent = settings.pushPreview ? 'Pushes show the sender and text' : 'Pushes say "New message" only';
      },
      (error: unknown) => showError(status, error),
    );
  });
}
