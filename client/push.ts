import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type PushSubscriptionInfo = ResponseOf<Contract<'post', '/api/push/subscriptions'>>['subscription'];
export type PushSettings = ResponseOf<Contract<'get', '/api/push/settings'>>['settings'];
/** `PushSubscription.toJSON()` as the server takes it. */
export type PushSubscriptionJson = Contract<'post', '/api/push/subscriptions'>['body'];

/** The VAPID key as `PushManager.subscribe` wants it (bytes, from the server's base64url). */
export function applicationServerKeyOf(base64Url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64Url
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(base64Url.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

/** Web Push (`client.push`): the VAPID key, this device's subscription, the preview setting and mutes. */
export class PushApi {
  constructor(private readonly api: RestClient) {}

  async vapidPublicKey(): Promise<string> {
    return (await this.api.request('get', '/api/push/vapid-public-key')).publicKey;
  }

  /** Registers a subscription (`PushSubscription.toJSON()`); the same endpoint again replaces its keys. */
  async subscribe(subscription: PushSubscriptionJson): Promise<PushSubscriptionInfo> {
    return (await this.api.request('post', '/api/push/subscriptions', { body: subscription })).subscription;
  }

  /**
   * In a browser: subscribes this device through its service worker registration (asking for permission if needed)
   * and registers it; null when the user refuses notifications.
   */
  async subscribeBrowser(registration: ServiceWorkerRegistration): Promise<PushSubscriptionInfo | null> {
    if ((await Notification.requestPermission()) !== 'granted') return null;
    const subscription =
      (await registration.pushManager.getSubscription()) ??
      (await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: applicationServerKeyOf(await this.vapidPublicKey()),
      }));
    return this.subscribe(subscription.toJSON() as PushSubscriptionJson);
  }

  async list(): Promise<PushSubscriptionInfo[]> {
    return (await this.api.request('get', '/api/push/subscriptions')).subscriptions;
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    await this.api.request('delete', '/api/push/subscriptions/{subscriptionId}', { params: { subscriptionId } });
  }

  async settings(): Promise<PushSettings> {
    return (await this.api.request('get', '/api/push/settings')).settings;
  }

  /** Off: pushes show "New message", no sender and no text. */
  async setPreview(pushPreview: boolean): Promise<PushSettings> {
    return (await this.api.request('put', '/api/push/settings', { body: { pushPreview } })).settings;
  }

  /** No push for the conversation until `until` (ISO), or until unmuted (null). */
  async mute(conversationId: string, until: string | null = null): Promise<PushSettings> {
    return (await this.api.request('put', '/api/conversations/{conversationId}/mute', { params: { conversationId }, body: { until } }))
      .settings;
  }

  async unmute(conversationId: string): Promise<PushSettings> {
    return (await this.api.request('delete', '/api/conversations/{conversationId}/mute', { params: { conversationId } })).settings;
  }
}
