import type { accountRoutes } from './routes/account.ts';
import type { aiRoutes } from './routes/ai.ts';
import type { auditRoutes } from './routes/audit.ts';
import type { authRoutes } from './routes/auth.ts';
import type { callRoutes } from './routes/calls.ts';
import type { contactRoutes } from './routes/contacts.ts';
import type { dataExportRoutes } from './routes/dataExport.ts';
import type { demoRoutes } from './routes/demo.ts';
import type { disappearingRoutes } from './routes/disappearing.ts';
import type { groupRoutes } from './routes/groups.ts';
import type { mediaRoutes } from './routes/media.ts';
import type { messageRoutes } from './routes/messages.ts';
import type { reactionRoutes } from './routes/reactions.ts';
import type { scheduledMessageRoutes } from './routes/scheduledMessages.ts';
import type { searchRoutes } from './routes/search.ts';
import type { threadRoutes } from './routes/threads.ts';
import type { presenceRoutes } from './routes/presence.ts';
import type { pushRoutes } from './routes/push.ts';
import type { systemRoutes } from './routes/system.ts';
import type { userRoutes } from './routes/users.ts';
import type { voiceRoutes } from './routes/voice.ts';
import type { webhookRoutes } from './routes/webhooks.ts';
import type { botRoutes } from './routes/bots.ts';

type RoutesOf<F extends (...args: never[]) => readonly unknown[]> = ReturnType<F>[number];

/**
 * Every REST operation with its literal method and path and its contract (inputs and answers), read off the same
 * route table that mounts the handlers and writes /openapi.json. Types only: the client (client/) imports it with
 * `import type`, so no server code reaches a browser.
 */
export type ApiRoute =
  | RoutesOf<typeof accountRoutes>
  | RoutesOf<typeof aiRoutes>
  | RoutesOf<typeof auditRoutes>
  | RoutesOf<typeof authRoutes>
  | RoutesOf<typeof callRoutes>
  | RoutesOf<typeof contactRoutes>
  | RoutesOf<typeof dataExportRoutes>
  | RoutesOf<typeof demoRoutes>
  | RoutesOf<typeof disappearingRoutes>
  | RoutesOf<typeof groupRoutes>
  | RoutesOf<typeof mediaRoutes>
  | RoutesOf<typeof messageRoutes>
  | RoutesOf<typeof reactionRoutes>
  | RoutesOf<typeof scheduledMessageRoutes>
  | RoutesOf<typeof searchRoutes>
  | RoutesOf<typeof threadRoutes>
  | RoutesOf<typeof presenceRoutes>
  | RoutesOf<typeof pushRoutes>
  | RoutesOf<typeof webhookRoutes>
  | RoutesOf<typeof botRoutes>
  | RoutesOf<typeof systemRoutes>
  | RoutesOf<typeof userRoutes>
  | RoutesOf<typeof voiceRoutes>;
