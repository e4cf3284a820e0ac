/**
 * The demo's service worker (served at /demo/sw.js, scope /demo): shows each Web Push as a notification and opens the
 * demo when one is clicked. The payload is what the server sends (README "Push notifications").
 */
interface PushPayload {
  type: 'message' | 'mention' | 'call' | 'missed_call';
  conversationId: string;
  title: string;
  body: string;
}
interface WorkerEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface PushMessageEvent extends WorkerEvent {
  data: { json(): unknown } | null;
}
interface NotificationClickEvent extends WorkerEvent {
  notification: Notification;
}
interface WorkerScope {
  registration: ServiceWorkerRegistration;
  clients: { openWindow(url: string): Promise<unknown> };
  addEventListener(type: 'push', listener: (event: PushMessageEvent) => void): void;
  addEventListener(type: 'notificationclick', listener: (event: NotificationClickEvent) => void): void;
}

// The DOM library types `self` as a Window; in a service worker it is the worker's global scope.
const scope: unknown = Reflect.get(globalThis, 'self');
const worker = scope as WorkerScope;

worker.addEventListener('push', (event) => {
  const payload = (event.data?.json() ?? { type: 'message', conversationId: '', title: 'LetsApp', body: '' }) as PushPayload;
  // One notification per conversation: a newer push replaces the older one (as the push service's Topic does).
  event.waitUntil(
    worker.registration.showNotification(payload.title, {
      body: payload.body,
      tag: payload.conversationId || payload.type,
      data: { conversationId: payload.conversationId },
      requireInteraction: payload.type === 'call',
    }),
  );
});

worker.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(worker.clients.openWindow('/demo'));
});
