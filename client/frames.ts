import type { z } from 'zod';
import type { CLIENT_FRAMES, CLOSE, LIVE_FRAMES, SERVER_FRAMES, WS_PATH } from '../src/contract/socketProtocol.ts';

/** The socket protocol's frames, typed from the server's own schemas (src/contract/socketProtocol.ts), types only. */
export type ClientFrameType = keyof typeof CLIENT_FRAMES;
export type ClientPayload<T extends ClientFrameType> = z.input<(typeof CLIENT_FRAMES)[T]['payload']>;

export type ServerFrameType = keyof typeof SERVER_FRAMES;
export type ServerFrame<T extends ServerFrameType> = z.output<(typeof SERVER_FRAMES)[T]>;
export type AnyServerFrame = { [T in ServerFrameType]: ServerFrame<T> }[ServerFrameType];

export type LiveFrameType = keyof typeof LIVE_FRAMES;
/** An update with a place in the user's feed: `sync` replays it after a disconnect. */
export type LiveFrame = ServerFrame<LiveFrameType>;

type OkFrame<T extends ClientFrameType> = (typeof CLIENT_FRAMES)[T]['reply'] extends infer R extends z.ZodType
  ? z.output<R> & { type: `${T}.ok`; id?: string }
  : never;

/** What answers a request frame. */
export type ReplyOf<T extends ClientFrameType> = T extends 'presence.subscribe'
  ? ServerFrame<'presence.snapshot'>
  : T extends 'ai.send'
    ? ServerFrame<'ai.send.ok'>
    : T extends 'sync'
      ? ServerFrame<'sync.ok' | 'sync.snapshot' | 'sync.reset'>
      : OkFrame<T>;

/** The types are checked against the server's: if it changes a value, this stops compiling. */
export const CLOSE_CODES: { readonly [K in keyof typeof CLOSE]: (typeof CLOSE)[K] } = {
  UNAUTHORIZED: 4401,
  SLOW_CONSUMER: 4408,
  RATE_LIMITED: 4429,
  TOO_MANY_CONNECTIONS: 4409,
  FRAME_TOO_LARGE: 1009,
  GOING_AWAY: 1001,
};

export const SOCKET_PATH: typeof WS_PATH = '/ws';

/** Exactly the live frame types (a missing or extra one does not compile). */
const LIVE: Record<LiveFrameType, true> = {
  'message.created': true,
  'message.edited': true,
  'message.transcribed': true,
  'message.deleted': true,
  'message.expired': true,
  'conversation.timer': true,
  receipt: true,
  'group.updated': true,
  'user.updated': true,
  'call.incoming': true,
  'call.answered': true,
  'call.rejected': true,
  'call.participant': true,
  'call.ended': true,
  'ai.reply': true,
  'contacts.updated': true,
  'thread.updated': true,
  reaction: true,
  'scheduled.failed': true,
};

export const isLiveFrame = (frame: AnyServerFrame): frame is LiveFrame => Object.hasOwn(LIVE, frame.type);
