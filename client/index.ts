/**
 * The LetsApp client: ES modules with no Node-only API, for browsers and Node alike. Types come from the server's
 * route table and socket protocol (type-only imports, erased when compiled), so a call that the server would
 * refuse for its shape does not compile.
 */
export {
  LetsAppClient,
  type LetsAppClientOptions,
  type ClientEvents,
  type Session,
  type Message,
  type Conversation,
  type DisappearingTimer,
} from './client.ts';
export { LiveSocket, type ConnectionState, type SnapshotEvent, type WebSocketFactory, type WebSocketLike } from './liveSocket.ts';
export { RestClient, fillPath, type Contract, type Method, type PathOf, type RequestInput, type ResponseOf } from './rest.ts';
export { LetsAppError } from './errors.ts';
export { DataExportApi, type DataExport } from './dataExport.ts';
export {
  GroupsApi,
  inviteTokenOf,
  type GroupInvite,
  type GroupInvitePreview,
  type GroupJoinRequest,
  type GroupJoinResult,
  type GroupSettings,
} from './groups.ts';
export { BotsApi, type Bot, type BotWithToken } from './bots.ts';
export { PushApi, applicationServerKeyOf, type PushSettings, type PushSubscriptionInfo, type PushSubscriptionJson } from './push.ts';
export { memoryStore, webStorageStore, type ClientStore } from './stores.ts';
export { reconnectDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export {
  CLOSE_CODES,
  SOCKET_PATH,
  isLiveFrame,
  type AnyServerFrame,
  type ClientFrameType,
  type ClientPayload,
  type LiveFrame,
  type ReplyOf,
  type ServerFrame,
  type ServerFrameType,
} from './frames.ts';
export type { PendingSend, SendInput } from './outbox.ts';
export { EndToEnd, EncryptionError, E2E_ALGORITHM, type EncryptedPayload, type KeyPair, type Sodium } from './e2e.ts';
export { peaksOf, VoiceApi, WAVEFORM_PEAKS, type Transcript, type VoiceNoteMedia } from './voice.ts';
