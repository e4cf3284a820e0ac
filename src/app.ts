import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { eventUpcaster } from '../commands/upcasters.ts';
import type { AccountDeleted, UserLoggedOut, UserSuspended } from '../commands/users.ts';
import { projectors } from '../projections/index.ts';
import { Authenticator } from './auth/authenticator.ts';
import { AuthService } from './auth/authService.ts';
import { LoginThrottle } from './auth/loginThrottle.ts';
import { PasswordHasher } from './auth/passwords.ts';
import { TokenService } from './auth/tokens.ts';
import { CommandHandler, DEFAULT_STATE_CACHE_BYTES } from './commandHandler.ts';
import { PortUnavailableError, type Config } from './config.ts';
import type { EventStore } from './eventstore/port.ts';
import { authRoutes } from './http/routes/auth.ts';
import { systemRoutes } from './http/routes/system.ts';
import { mountRoutes } from './http/mountRoutes.ts';
import type { AnyRoute } from './http/routeTable.ts';
import type Router from '@koa/router';
import { openApiDocument } from './http/openapi.ts';
import { asyncApiDocument } from './realtime/asyncapi.ts';
import { RateLimits } from './rateLimit/rateLimits.ts';
import { answerClientError, createHttpApp } from './http/server.ts';
import { createLogger } from './logger.ts';
import { EventLoopMonitor } from './eventLoopMonitor.ts';
import { Tracing } from './tracing/tracing.ts';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Metrics } from './metrics/metrics.ts';
import { Instrumentation, startMetricsServer } from './metrics/instrumentation.ts';
import { ReadinessCheck } from './health.ts';
import type { Projections } from './projection/projections.ts';
import { ProjectionRunner, type ProjectionRunnerOptions } from './projection/runner.ts';
import { WorkerProjections } from './projection/workerProjections.ts';
import { SqliteEventStore } from './eventstore/sqlite.ts';
import type { ReadStore } from './readstore/port.ts';
import { groupRoutes } from './http/routes/groups.ts';
import { contactRoutes } from './http/routes/contacts.ts';
import { demoRoutes } from './http/routes/demo.ts';
import { Blocks } from './people/blocks.ts';
import { ContactService } from './people/contactService.ts';
import { ProfileService } from './people/profileService.ts';
import { userRoutes } from './http/routes/users.ts';
import { presenceRoutes } from './http/routes/presence.ts';
import { PresenceService } from './presence/presenceService.ts';
import { mediaRoutes } from './http/routes/media.ts';
import { voiceRoutes } from './http/routes/voice.ts';
import { TranscriptionService } from './ai/transcriptionService.ts';
import { AutoTranscription } from './ai/autoTranscription.ts';
import { LocalBlobStore } from './media/blobStore.ts';
import { ImageProcessor } from './media/imageProcessor.ts';
import { MediaService } from './media/mediaService.ts';
import { MediaTokens } from './media/mediaTokens.ts';
import { collectMedia } from './media/mediaCollector.ts';
import { aiRoutes } from './http/routes/ai.ts';
import { callRoutes } from './http/routes/calls.ts';
import { pushRoutes } from './http/routes/push.ts';
import { createPush } from './push/startPush.ts';
import type { PushDeliveries } from './push/pushDeliveries.ts';
import { webhookRoutes } from './http/routes/webhooks.ts';
import { createWebhooks, type WebhookTestOptions } from './webhooks/startWebhooks.ts';
import type { WebhookDeliveries } from './webhooks/webhookDeliveries.ts';
import { auditRoutes } from './http/routes/audit.ts';
import { dataExportRoutes } from './http/routes/dataExport.ts';
import { DataExports, type DataExportsDeps } from './privacy/dataExports.ts';
import { CallService } from './calls/callService.ts';
import { AiService } from './ai/aiService.ts';
import { createModel } from './ai/model/index.ts';
import { SecretBox } from './secrets/secretBox.ts';
import { revealingProjectors } from './privacy/revealingProjectors.ts';
import { IdentityClaimKeys } from './privacy/personalData.ts';
import { AccountDeletionService } from './people/accountDeletionService.ts';
import { accountRoutes } from './http/routes/account.ts';
import { botRoutes } from './http/routes/bots.ts';
import { BotService } from './auth/botService.ts';
import type { BotTokenIssued, BotTokenRevoked } from '../commands/bots.ts';
import { StoredShreddingKeys } from './privacy/shreddingKeys.ts';
import { messageRoutes } from './http/routes/messages.ts';
import { reactionRoutes } from './http/routes/reactions.ts';
import { ReactionService } from './messaging/reactionService.ts';
import { threadRoutes } from './http/routes/threads.ts';
import { ThreadService } from './messaging/threadService.ts';
import { ConversationAccess } from './messaging/access.ts';
import { GroupService } from './messaging/groupService.ts';
import { MessagingService } from './messaging/messagingService.ts';
import { DisappearingService } from './messaging/disappearingService.ts';
import { MessageExpiry, type MessageExpirySettings } from './messaging/messageExpiry.ts';
import { disappearingRoutes } from './http/routes/disappearing.ts';
import { ScheduledMessageService } from './messaging/scheduledMessageService.ts';
import { scheduledMessageRoutes } from './http/routes/scheduledMessages.ts';
import { SearchService } from './messaging/searchService.ts';
import { searchRoutes } from './http/routes/search.ts';
import { frameHandlers } from './realtime/frames.ts';
import { SocketGateway } from './realtime/gateway.ts';
import { FeedTail } from './realtime/feedTail.ts';
import { FEED } from '../projections/feed.ts';
import {
  openCallGraceDeadlines,
  openCluster,
  openEventStore,
  openPresenceSessions,
  openReadStore,
  openSecretStore,
  openSharedBuckets,
} from './stores.ts';
import { newId } from './ids.ts';
import type { PostgresEventStore } from './eventstore/postgres.ts';
import type { SqliteStoreOptions } from './sqlite/checkpointer.ts';
import { lockStorageDir } from './sqlite/storageDirLock.ts';

/** The API's version in `/openapi.json` and `/asyncapi.json`. */
const API_VERSION = '0.1.0';

/** How long an idle HTTP keep-alive connection is kept (see the server's creation). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface RunningApp {
  httpPort: number;
  wsPort: number;
  /** The loopback port serving /metrics (METRICS_PORT), or null. */
  metricsPort: number | null;
  /** Null with METRICS_ENABLED=false. */
  metrics: Metrics | null;
  /** Traces: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  tracing: Tracing;
  logger: Logger;
  eventStore: EventStore;
  readStore: ReadStore;
  projections: Projections;
  gateway: SocketGateway;
  /** What /health/ready answers; `beginShutdown()` is the first step of `close()`. */
  readiness: ReadinessCheck;
  /** The route table and the router it registered (tests compare both with the document). */
  routes: readonly AnyRoute[];
  router: Router;
  /** Disappearing messages and RETENTION_DAYS (tests run a pass with `sweep(now)` / `retain(now)`). */
  messageExpiry: MessageExpiry;
  /** Web Push's consumer of the event log (null with PUSH_ENABLED=false). */
  pushDeliveries: PushDeliveries | null;
  /** Outgoing webhooks' planner and sender (consumers of the event log). */
  webhookDeliveries: WebhookDeliveries;
  /** Scheduled messages and their dispatcher (tests run a pass with `tick()`). */
  scheduledMessages: ScheduledMessageService;
  close(): Promise<void>;
}

export interface AppOptions {
  clock?: () => Date;
  logger?: Logger;
  /** Per-socket send buffer before a slow consumer is closed (tests lower it). */
  maxBufferedBytes?: number;
  /** Per-socket frames waiting their turn before the socket is closed (tests lower it). */
  maxPendingFrames?: number;
  /** WAL size past which the embedded stores checkpoint with TRUNCATE (tests lower it). */
  walLimitBytes?: number;
  /** Projection runner settings (tests shorten the retry of a held projector). */
  projection?: ProjectionRunnerOptions;
  /** On the embedded stores, project in a worker thread (the default) or in this one. */
  projectionInWorker?: boolean;
  /** The module that worker runs, asked for when it starts (tests pass one compiled once per test process). */
  projectionWorkerEntry?: () => Promise<URL>;
  /** The data export pool's bounds and ZIP writer (tests hold an export in progress with it). */
  dataExports?: Pick<DataExportsDeps, 'settings' | 'write'>;
  /**
   * Checkpoints beyond the log's head (a log restored from a backup) rebuild every collection instead of refusing to
   * start (`npm start -- --rebuild-projections`).
   */
  rebuildProjectionsBeyondHead?: boolean;
  /** Where spans go instead of the OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set (tests: the SDK's in-memory one). */
  traceExporter?: SpanExporter;
  /** The expiry and retention job's batch size and timings (tests shorten them); RETENTION_DAYS comes from the config. */
  messageExpiry?: Partial<Omit<MessageExpirySettings, 'retentionDays'>>;
  /** Outgoing webhooks' fixed bounds and name resolver (tests lower the failure threshold, resolve names without DNS). */
  webhooks?: WebhookTestOptions;
}

/** The composition root: builds every store, service and server from the config, and tears them down. */
export async function startApp(config: Config, options: AppOptions = {}): Promise<RunningApp> {
  const logger = options.logger ?? createLogger(config.logLevel, config.nodeEnv);
  const clock = options.clock ?? (() => new Date());
  const storeOptions = (name: string): SqliteStoreOptions => ({
    walLimitBytes: options.walLimitBytes,
    onCheckpointProblem: (status) =>
      status.healthy
        ? logger.info({ store: name, status }, 'WAL checkpoints succeed again')
        : logger.error({ store: name, status }, 'WAL checkpoints keep failing: the WAL grows until they succeed'),
  });
  // One server per embedded STORAGE_DIR: a second would append to the same log and project into the same read store.
  const storageLock = config.database || config.eventStoreConnectionString ? null : lockStorageDir(config.storageDir);
  const eventStore = await openEventStore(config, storeOptions('events')).catch((error: unknown) => {
    storageLock?.release();
    throw error;
  });
  // The newest events' hash chain and its anchor are checked at every start: an altered, recomputed or cut-short log
  // is reported, loudly, not refused (nor repaired: the anchor is kept as it was, as evidence).
  const chainTail =
    eventStore instanceof SqliteEventStore
      ? eventStore.verifyTail()
      : eventStore.kind === 'postgres'
        ? await (eventStore as PostgresEventStore).verifyTail()
        : null;
  if (chainTail?.breakAt != null)
    logger.error({ breakAt: chainTail.breakAt }, "the event log's hash chain is broken: an event was altered (npm run audit -- verify)");
  const anchorAtStart = eventStore instanceof SqliteEventStore ? eventStore.anchorAtOpen : null;
  if (anchorAtStart?.status === 'missing')
    logger.warn(
      { anchor: anchorAtStart },
      'the event log had no anchor: anchored from its head now; a rewrite before now is not detectable by it',
    );
  else if (anchorAtStart && anchorAtStart.status !== 'ok') {
    logger.error(
      { anchor: anchorAtStart },
      'the event log does not match its anchor: it was rewritten or cut short (npm run audit -- verify); the anchor is kept as it is',
    );
  }
  // Secrets (users' Gemini keys, the crypto-shredding keys) live sealed in a store of their own (a file, or PostgreSQL's
  // table), never in the event log, so they can be rotated and erased.
  const secrets = await openSecretStore(config, { backgroundCheckpoints: true, ...storeOptions('secrets') });
  const box = await SecretBox.create(config.keyring);
  const shreddingKeys = new StoredShreddingKeys(secrets, box);
  // On the embedded stores the projections run in a worker thread with their own connections (and the read
  // store's checkpoints): this thread only reads the read store.
  const inWorker = eventStore instanceof SqliteEventStore && !config.mongoUri && options.projectionInWorker !== false;
  const readStore = await openReadStore(config, { ...storeOptions('read'), checkpoints: !inWorker });
  // This process among the instances sharing one database: its presence sessions and its projection lease are keyed by it.
  const instanceId = newId();
  const projections: Projections = inWorker
    ? new WorkerProjections(eventStore, logger, {
        storageDir: config.storageDir,
        logLevel: logger.level,
        nodeEnv: config.nodeEnv,
        walLimitBytes: options.walLimitBytes,
        runner: { ...options.projection, rebuildBeyondHead: options.rebuildProjectionsBeyondHead },
        // MessageSent: voice notes are transcribed for recipients who asked for it (src/ai/autoTranscription.ts).
        // BotTokenIssued and BotTokenRevoked: a bot's replaced or revoked token closes its sockets, as a logout does.
        forwardEventTypes: ['UserLoggedOut', 'UserSuspended', 'AccountDeleted', 'MessageSent', 'BotTokenIssued', 'BotTokenRevoked'],
        keyring: config.keyring,
        entry: options.projectionWorkerEntry,
      })
    : // Instances sharing one MongoDB or PostgreSQL take turns projecting through a lease.
      new ProjectionRunner(eventStore, readStore, revealingProjectors(projectors, shreddingKeys), eventUpcaster, logger, {
        // A lease of 3 s renewed every second: a killed projecting instance is replaced within about 4 s.
        exclusive: readStore.kind === 'embedded' ? null : { ttlMs: 3_000, owner: instanceId },
        ...options.projection,
        rebuildBeyondHead: options.rebuildProjectionsBeyondHead,
      });
  try {
    await projections.start();
  } catch (error) {
    // A refused start (checkpoints beyond the log's head) leaves nothing open behind it.
    await projections.stop().catch(() => undefined);
    await eventStore.close();
    await readStore.close();
    storageLock?.release();
    throw error;
  }

  const tracing = await Tracing.start(config.tracing, options.traceExporter);
  const commands = new CommandHandler(eventStore, eventUpcaster, DEFAULT_STATE_CACHE_BYTES, tracing);
  // Sends answered before a restart may not be projected yet: reads wait for them too.
  commands.acknowledge(await eventStore.headPosition());
  // Every write this server acknowledged is readable: one number in memory, not a query of the log (a page of $all
  // on EventStoreDB). Sends answer before their projection; the reads and the lookups after them wait for this.
  // Several instances on PostgreSQL: writes other instances acknowledged count too, so reads wait for the log's head
  // as of their arrival (one indexed query), not just for what this instance acknowledged.
  const caughtUp =
    readStore.kind === 'postgres'
      ? async () => projections.waitFor(await eventStore.headPosition())
      : () => projections.waitFor(commands.acknowledgedPosition);
  const tokens = new TokenService(config.jwtSecret, config.jwtExpiresInSeconds);
  // Revocation reads the write side when the users projection is behind: a held projector cannot undo a logout.
  const authenticator = new Authenticator(tokens, readStore, commands, projections);

  const access = new ConversationAccess(readStore);
  const blocks = new Blocks(readStore);
  const blobs = await new LocalBlobStore(config.mediaDir).init();
  // GDPR exports: ZIPs under STORAGE_DIR/exports (0700; files 0600), made by a small shared pool.
  const dataExports = new DataExports({
    commands,
    readStore,
    projections,
    blobs,
    logger,
    clock,
    directory: join(config.storageDir, 'exports'),
    ...options.dataExports,
  });
  const images = new ImageProcessor({ maxPixels: 40_000_000, concurrency: 2, maxQueue: 32 });
  const media = new MediaService({ commands, readStore, projections, access, blobs, images, settings: config.media });
  const disappearing = new DisappearingService(commands, readStore, projections, access);
  const messaging = new MessagingService(commands, readStore, projections, access, blocks, media, caughtUp, shreddingKeys, disappearing);
  const messageExpiry = new MessageExpiry(
    { commands, readStore, projections, keys: shreddingKeys, logger, clock },
    { ...options.messageExpiry, retentionDays: config.retentionDays },
  );
  const scheduledMessages = new ScheduledMessageService({
    commands,
    readStore,
    projections,
    access,
    blocks,
    keys: shreddingKeys,
    messaging,
    clock,
    logger,
  });
  const groups = new GroupService(commands, readStore, projections, blocks, media);
  const reactions = new ReactionService(commands, readStore, projections, access, blocks);
  const threads = new ThreadService(commands, readStore, projections, access);
  const contacts = new ContactService(commands, readStore, projections, shreddingKeys);
  const profiles = new ProfileService(commands, readStore, projections, blocks, shreddingKeys);
  const presenceSessions = await openPresenceSessions(config);
  // The other instances on the same database: typing, signaling, presence changes and revocations cross over it.
  const cluster = await openCluster(config, instanceId, logger);
  const presence = new PresenceService({
    commands,
    readStore,
    projections,
    logger,
    clock,
    settings: config.presence,
    sessions: presenceSessions,
    instanceId,
    announce: (change) => cluster.bus.publish({ type: 'presence', ...change }),
  });
  const mediaTokens = new MediaTokens(config.jwtSecret, config.media.tokenTtlSeconds);
  // The gateway is made below: calls reach sockets through it once it exists.
  let gatewayRef: SocketGateway | null = null;
  // Sockets anywhere in the cluster: this instance's directly, the others' through the bus (connection ids are unique
  // in the cluster, and the presence sessions say which connections are open anywhere).
  const sendToUser = (userId: string, bytes: string) => {
    gatewayRef?.sendToUser(userId, bytes);
    cluster.bus.publish({ type: 'toUser', userId, bytes });
  };
  const sendToConnection = async (connectionId: number, bytes: string) => {
    if (gatewayRef?.sendToConnection(connectionId, bytes)) return true;
    if (!(await presenceSessions.find(connectionId, clock()))) return false;
    cluster.bus.publish({ type: 'toConnection', connectionId, bytes });
    return true;
  };
  const callGraceDeadlines = await openCallGraceDeadlines(config);
  const calls = new CallService({
    commands,
    readStore,
    projections,
    blocks,
    logger,
    clock,
    settings: config.calls,
    graceDeadlines: callGraceDeadlines,
    connections: {
      ownerOf: async (id) => gatewayRef?.ownerOf(id) ?? (await presenceSessions.find(id, clock()))?.userId ?? null,
      isConnectedHere: (userId) => gatewayRef?.isConnected(userId) ?? false,
      isConnected: async (userId) =>
        (gatewayRef?.isConnected(userId) ?? false) || (await presenceSessions.liveUsers([userId], clock())).has(userId),
      sendToConnection,
      sendToUser,
    },
  });
  // Web Push: the routes' service now, the deliveries (a consumer of the log) once the servers listen.
  const push = await createPush(config, {
    commands,
    eventStore,
    readStore,
    projections,
    upcaster: eventUpcaster,
    access,
    keys: shreddingKeys,
    secrets,
    box,
    // A synced socket here, or (several instances) a socket on another instance hears it live: no push then.
    isOnline: async (userId) =>
      (gatewayRef?.hasLiveSocket(userId) ?? false) ||
      (readStore.kind === 'postgres' && (await presenceSessions.liveUsers([userId], clock())).has(userId)),
    clock,
    logger,
    owner: instanceId,
  });
  // Outgoing webhooks: the routes' service now, the deliveries (a consumer of the log) once the servers listen.
  const webhooks = await createWebhooks(
    config,
    {
      commands,
      eventStore,
      readStore,
      projections,
      upcaster: eventUpcaster,
      keys: shreddingKeys,
      secrets,
      box,
      clock,
      logger,
      owner: instanceId,
    },
    options.webhooks,
  );
  // Rate limits are shared by REST and the socket: switching transport does not reset a budget; with DATABASE_URL
  // they are shared by every instance too.
  const rateLimits = new RateLimits(config.rateLimits, Date.now, await openSharedBuckets(config));
  const metrics = config.metrics.enabled
    ? new Metrics({
        projections: () => projections.status(),
        storage: async () => ({ events: eventStore.checkpointStatus?.() ?? null, read: (await projections.readStoreStatus()) ?? null }),
        presenceSessions: async () => (await presenceSessions.list()).filter((session) => session.instanceId === instanceId).length,
      })
    : null;
  if (metrics) {
    commands.observeAppends(metrics);
    rateLimits.observeRefusals((policy) => metrics.rateLimited(policy));
    projections.onCommitted(({ timing }) => {
      if (timing) metrics.projectionBatch(timing.seconds, timing.byProjector);
    });
  }
  // Request and refused-frame logs, and the transports' metrics; users appear in logs as a keyed hash.
  const instrumentation = new Instrumentation(logger, metrics, config.jwtSecret);
  const loginThrottle = new LoginThrottle(rateLimits);
  const passwords = new PasswordHasher(config.bcryptCost);
  const auth = new AuthService(
    commands,
    readStore,
    projections,
    tokens,
    passwords,
    loginThrottle,
    shreddingKeys,
    await IdentityClaimKeys.open(secrets, box),
  );
  const ai = new AiService({
    commands,
    readStore,
    projections,
    logger,
    rateLimits,
    secrets,
    box,
    keys: shreddingKeys,
    model: createModel(config.ai.sdk, {
      baseUrl: config.ai.baseUrl,
      firstTokenTimeoutMs: config.ai.firstTokenTimeoutMs,
      totalTimeoutMs: config.ai.totalTimeoutMs,
    }),
    settings: {
      model: config.ai.model,
      serverApiKey: config.geminiApiKey,
      contextTokenBudget: config.ai.contextTokenBudget,
      maxOutputTokens: config.ai.maxOutputTokens,
      baseUrl: config.ai.baseUrl,
    },
  });
  const accountDeletions = new AccountDeletionService({
    commands,
    readStore,
    projections,
    keys: shreddingKeys,
    passwords,
    auth,
    media,
    ai,
    logger,
    clock,
    graceMs: config.accountDeletionGraceHours * 3_600_000,
  });
  const bots = new BotService({
    commands,
    readStore,
    projections,
    keys: shreddingKeys,
    auth,
    deletions: accountDeletions,
    maxPerOwner: config.botsMaxPerOwner,
  });

  const transcription = new TranscriptionService({
    commands,
    readStore,
    projections,
    access,
    // The same adapter and timeouts as Leta's (AI_SDK, GEMINI_API_BASE_URL, AI_*_TIMEOUT_MS).
    model: createModel(config.ai.sdk, {
      baseUrl: config.ai.baseUrl,
      firstTokenTimeoutMs: config.ai.firstTokenTimeoutMs,
      totalTimeoutMs: config.ai.totalTimeoutMs,
    }),
    keys: shreddingKeys,
    blobPathOf: (sha256) => media.pathOf(sha256),
    apiKeyOf: (userId) => ai.apiKeyOf(userId),
    rateLimits,
    settings: { model: config.ai.model, maxOutputTokens: config.ai.maxOutputTokens },
    logger,
  });

  const autoTranscription = new AutoTranscription({ readStore, transcription, logger, clock });
  projections.onCommitted(({ events }) => autoTranscription.observe(events));

  const handlers = frameHandlers({
    messaging,
    reactions,
    access,
    blocks,
    presence,
    ai,
    calls,
    logger,
    readStore,
    projections,
    clock,
    sendToUser,
    caughtUp,
  });
  const gateway = new SocketGateway({
    authenticator,
    logger,
    handlers,
    rateLimits,
    tracing,
    instrumentation,
    // Told of each socket's life: presence (online, away, offline) and calls (a party's last socket gone).
    observer: {
      connected: (connection) => {
        calls.connected(connection.principal.userId);
        return presence.connected(connection);
      },
      activity: (connection) => presence.activity(connection),
      disconnected: (connection) => {
        presence.disconnected(connection);
        calls.disconnected(connection.principal.userId);
        ai.cancelConnection(connection.principal.userId, connection.id);
      },
    },
    maxBufferedBytes: options.maxBufferedBytes,
    maxPendingFrames: options.maxPendingFrames,
    clock,
    connectionIds: cluster.connectionIds,
  });
  // What the other instances say: to this instance's sockets.
  cluster.bus.onMessage((message) => {
    switch (message.type) {
      case 'toUser':
        gateway.sendToUser(message.userId, message.bytes);
        break;
      case 'toConnection':
        gateway.sendToConnection(message.connectionId, message.bytes);
        break;
      case 'revokeToken':
        gateway.revokeToken(message.tokenId);
        break;
      case 'suspendUser':
        gateway.closeUser(message.userId, 'account_suspended');
        break;
      case 'accountDeleted':
        gateway.closeUser(message.userId, 'account_deleted');
        break;
      case 'presence':
        presence.heard(message);
        break;
      default:
        message satisfies never;
    }
  });
  // Live reactions to each committed batch, from the one subscription: what the projectors published goes to
  // each recipient's synced sockets, a logout closes that token's sockets and a suspension (written by an operator's
  // script, seen here) all the user's. The users projection committed in the same batch, so a reconnect is refused
  // from then on.
  // On PostgreSQL every instance pushes what any instance projected, read back from the feed (see FeedTail).
  const feedTail =
    readStore.kind === 'postgres' && projections.onProgress
      ? new FeedTail(
          readStore,
          projections.positionOf(FEED),
          () => projections.positionOf(FEED),
          (publications) => gateway.deliverAll(publications),
          logger,
        )
      : null;
  if (feedTail) projections.onProgress!(() => feedTail.wake());
  projections.onCommitted(({ events, publications, trace }) => {
    if (!feedTail) tracing.projected(trace, publications, () => gateway.deliverAll(publications));
    for (const event of events) {
      // A deleted account's sockets here and, over the bus, on the other instances (its tokens are refused everywhere:
      // it has no user document).
      if (event.type === 'AccountDeleted') {
        const { userId } = event.data as AccountDeleted['data'];
        gateway.closeUser(userId, 'account_deleted');
        cluster.bus.publish({ type: 'accountDeleted', userId });
      }
      if (event.type === 'UserSuspended') {
        const { userId } = event.data as UserSuspended['data'];
        gateway.closeUser(userId, 'account_suspended');
        cluster.bus.publish({ type: 'suspendUser', userId });
      }
      // A bot's rotated or revoked token: its sockets, as a logout's.
      const botToken =
        event.type === 'BotTokenIssued'
          ? (event.data as BotTokenIssued['data']).replacesTokenId
          : event.type === 'BotTokenRevoked'
            ? (event.data as BotTokenRevoked['data']).tokenId
            : null;
      if (botToken !== null) {
        gateway.revokeToken(botToken);
        cluster.bus.publish({ type: 'revokeToken', tokenId: botToken });
      }
      if (event.type !== 'UserLoggedOut') continue;
      const { tokenId } = event.data as UserLoggedOut['data'];
      gateway.revokeToken(tokenId);
      // The token's sockets on the other instances too.
      cluster.bus.publish({ type: 'revokeToken', tokenId });
    }
  });

  // Uploads never attached expire, and bytes nothing names any more go (see npm run gc-media): in the background.
  const collector =
    config.media.gcIntervalMs > 0
      ? setInterval(() => {
          collectMedia(
            { readStore, commands, blobs },
            { now: clock(), unattachedTtlMs: config.media.unattachedTtlMs, graceMs: 3_600_000, dryRun: false },
          ).then(
            (summary) => logger.info({ summary }, 'media collected'),
            (error: unknown) => logger.error({ err: error }, 'media collection failed'),
          );
        }, config.media.gcIntervalMs)
      : null;
  collector?.unref();

  const eventLoop = new EventLoopMonitor();
  const readiness = new ReadinessCheck({ eventStore, readStore, projections, clock, maxLagMs: config.readyMaxLagMs });
  let wsPort = 0;
  let openApi: Record<string, unknown> | null = null;
  let asyncApi: Record<string, unknown> | null = null;
  const routes: AnyRoute[] = [
    ...systemRoutes({
      ping: async () => ({
        time: clock().toISOString(),
        instanceId,
        projections: await projections.status(),
        storage: { events: eventStore.checkpointStatus?.() ?? null, read: (await projections.readStoreStatus()) ?? null },
        eventLogChain: chainTail
          ? {
              checkedAtStart: chainTail.checked,
              breakAt: chainTail.breakAt,
              anchor: anchorAtStart,
              anchorWriteError: eventStore instanceof SqliteEventStore && eventStore.anchorError ? errorText(eventStore.anchorError) : null,
            }
          : null,
        eventLoop: eventLoop.recent().slice(-10),
      }),
      ready: () => readiness.check(),
      // Built on first request, from the same table that registered the handlers.
      openApi: () => (openApi ??= { ...openApiDocument(routes, config.rateLimits, API_VERSION) }),
      asyncApi: () => (asyncApi ??= asyncApiDocument(config.rateLimits, API_VERSION)),
      demoEnabled: config.demoEnabled,
    }),
    ...authRoutes({ auth, clock }),
    ...scheduledMessageRoutes({ scheduled: scheduledMessages, clock }),
    ...searchRoutes({ search: new SearchService(readStore) }),
    ...messageRoutes({ messaging, scheduled: scheduledMessages, clock }),
    ...disappearingRoutes({ disappearing, clock }),
    ...reactionRoutes({ reactions, clock }),
    ...threadRoutes({ threads, clock }),
    ...groupRoutes({ groups, clock }),
    ...contactRoutes({ contacts, clock }),
    ...accountRoutes({ deletions: accountDeletions, graceHours: config.accountDeletionGraceHours, clock }),
    ...botRoutes({ bots, maxPerOwner: config.botsMaxPerOwner, clock }),
    ...userRoutes({ profiles, clock }),
    ...presenceRoutes({ presence, clock }),
    ...mediaRoutes({ media, profiles, tokens: mediaTokens, clock }),
    ...voiceRoutes({ media, transcription, clock }),
    ...aiRoutes({ ai, clock, logger }),
    ...callRoutes({ calls, clock }),
    ...pushRoutes({ push: push.service, clock }),
    ...webhookRoutes({ webhooks: webhooks.service, clock }),
    ...auditRoutes({ eventStore, logger }),
    ...dataExportRoutes({ exports: dataExports, clock }),
    ...(config.demoEnabled ? demoRoutes({ wsPort: () => wsPort }) : []),
  ];
  const router = mountRoutes(routes, {
    authenticator,
    rateLimits,
    caughtUp,
  });
  const koa = createHttpApp({
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    router,
    trustProxy: config.trustProxy,
    tracing,
    instrumentation,
    metricsToken: config.metrics.token,
  });
  // Koa's handler answers its own failures (the error middleware, then its onerror): its promise is owned there.
  const handleRequest = koa.callback();
  // Idle keep-alive connections live 65 s, longer than a load balancer's idle timeout (60 s is common) and than a
  // client's reuse window: the client or the balancer closes first, so no request is sent on a connection the server
  // is closing at that moment (Node's default, 5 s, makes that race likely for any client pausing about 5 s).
  // A request's headers may take a second longer than that (Node's own default, 60 s, is below it).
  const http: Server = createServer(
    { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: KEEP_ALIVE_TIMEOUT_MS + 1_000 },
    (req, res) => void handleRequest(req, res),
  );
  // Requests Node refuses before Koa sees them (headers or URL over its limit, malformed HTTP) get the JSON shape too.
  http.on('clientError', (error: NodeJS.ErrnoException, socket) => answerClientError(error, socket));
  await new Promise<void>((resolve, reject) => {
    http.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' ? new PortUnavailableError('PORT', config.host, config.port, 'is in use by another process') : error,
      ),
    );
    http.listen(config.port, config.host, () => resolve());
  });
  const httpPort = (http.address() as AddressInfo).port;
  const metricsServer = metrics && config.metrics.port !== null ? await startMetricsServer(metrics, config.metrics.port, logger) : null;
  gatewayRef = gateway;
  // Ring timeouts, maximum durations and dropped parties: on a tick, and once now for what a restart left behind.
  await calls.tick(true);
  const callTimer = setInterval(
    () => void calls.tick().catch((error: unknown) => logger.error({ err: error }, 'call timers failed')),
    1_000,
  );
  callTimer.unref();
  // Scheduled messages due while the server was down go out on the first pass.
  scheduledMessages.start();
  // Nothing is being answered after a restart: prompts left pending end as `interrupted`.
  // Disappearing messages due (a restart finds what came due meanwhile) and RETENTION_DAYS, in the background.
  messageExpiry.start();
  const interrupted = await ai.recoverInterrupted(clock());
  if (interrupted > 0) logger.info({ prompts: interrupted }, 'prompts to Leta interrupted by the restart were marked failed');
  // Before sockets are accepted: nobody is still "online" from before a crash or restart.
  // Exports a stopped server left unfinished are failed (the only server on the embedded stores); expired ones go.
  await dataExports.start(readStore.kind === 'embedded');
  // Account deletions a crash left half-done are finished, and scheduled ones that came due meanwhile are done.
  await accountDeletions.start();
  const recovered = await presence.recoverAfterRestart();
  if (recovered > 0) logger.info({ users: recovered }, 'marked users offline who were online when the server stopped');
  const boundWsPort = await gateway.listen(config.host, config.wsPort);
  if (boundWsPort === null)
    throw new PortUnavailableError('WS_PORT', config.host, config.wsPort, 'is in use by another process (or not ours to bind)');
  wsPort = boundWsPort;
  await push.deliveries?.start();
  await webhooks.deliveries.start();
  logger.info({ httpPort, wsPort, eventStore: eventStore.kind, readStore: readStore.kind }, 'LetsApp is listening');

  return {
    httpPort,
    wsPort,
    tracing,
    metricsPort: metricsServer?.port ?? null,
    metrics,
    logger,
    eventStore,
    readStore,
    projections,
    gateway,
    readiness,
    routes,
    router,
    messageExpiry,
    scheduledMessages,
    pushDeliveries: push.deliveries,
    webhookDeliveries: webhooks.deliveries,
    async close() {
      // Graceful: not ready from now on, no new connections; requests and socket frames already received are answered
      // within SHUTDOWN_GRACE_MS; then sockets are told 1001, the projection finishes its batch, the stores close.
      readiness.beginShutdown();
      const deadline = Date.now() + config.shutdownGraceMs;
      const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
      // A keep-alive connection whose answer went out is idle: closed as it gets there, not left for the client to end.
      const idleSweep = setInterval(() => http.closeIdleConnections(), 50);
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, config.shutdownGraceMs);
      });
      await Promise.race([Promise.all([httpClosed, gateway.settle(deadline)]), grace]);
      clearTimeout(graceTimer);
      clearInterval(idleSweep);
      http.closeAllConnections();
      await httpClosed;
      eventLoop.stop();
      if (collector) clearInterval(collector);
      clearInterval(callTimer);
      await messageExpiry.stop();
      await dataExports.stop();
      await accountDeletions.stop();
      calls.stop();
      loginThrottle.close();
      // Stopped first: sockets closing on shutdown are not users going offline (the next start sees to that).
      await presence.stop();
      await presenceSessions.close();
      await cluster.bus.close();
      await calls.settled();
      // In-flight pushes end (or stay before the checkpoint, to be sent after the restart) before the stores close.
      await push.close();
      // In-flight webhook attempts are cut and given back (made again after the restart, under the same delivery id).
      await webhooks.close();
      await callGraceDeadlines.close();
      await scheduledMessages.stop();
      await gateway.close();
      await metricsServer?.close();
      await projections.stop();
      feedTail?.stop();
      await eventStore.close();
      await readStore.close();
      await shreddingKeys.close();
      await secrets.close();
      await rateLimits.close();
      // The last requests' and batches' spans are exported before the process goes.
      await tracing.shutdown();
      storageLock?.release();
    },
  };
}

/** A caught value as one line of text: an Error as `Name: message`, anything else as JSON. */
function errorText(error: unknown): string {
  return error instanceof Error ? String(error) : JSON.stringify(error);
}
