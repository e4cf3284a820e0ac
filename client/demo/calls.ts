import type { LetsAppClient, ServerFrame } from '../index.ts';
import { byId, h, shortTime, showError } from './dom.ts';
import type { People } from './people.ts';

type Media = 'audio' | 'video';
/** Whom to call: a user (a direct call) or a group (everyone in it rings; each who answers joins). */
export type Callee = { calleeId: string } | { groupId: string };

interface ActiveCall {
  id: string;
  media: Media;
  role: 'caller' | 'callee';
  groupId: string | null;
  /**
   * Whether this device is in the call: the caller's from the start, an invitee's once its own join is in its feed.
   * In a group call whoever was in first offers to whoever joins later, so each pair connects exactly once.
   */
  joined: boolean;
}

type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null };

/** A peer connection to one other device in the call: one in a direct call, one per other participant in a group call (a mesh). */
interface Link {
  connectionId: number;
  peer: RTCPeerConnection;
  view: HTMLElement;
  outgoing: Candidate[];
  flushTimer: ReturnType<typeof setTimeout> | null;
}

const LIVE_ICE = ['connected', 'completed'];

/**
 * Audio and video calls, direct and in groups: the server rings, relays the WebRTC offers, answers and ICE candidates
 * between the devices in the call, and ends it for everyone; the media flow peer to peer.
 */
export class CallView {
  private call: ActiveCall | null = null;
  private readonly links = new Map<number, Link>();
  private local: MediaStream | null = null;
  private iceServers: RTCIceServer[] = [];
  /** Signals are applied one after another: a candidate must not overtake the offer it belongs to. */
  private signals: Promise<void> = Promise.resolve();
  private readonly panel = byId('call');
  private readonly status = byId('call-status');
  /** Whom the call is with, for its title once connected: the person, or the group. */
  private with = '';

  constructor(
    private readonly client: LetsAppClient,
    private readonly people: People,
    private readonly me: string,
  ) {
    client.on('call.incoming', (frame) => this.incoming(frame));
    client.on('call.ringing', (frame) => {
      if (frame.callId === this.call?.id && this.links.size === 0) this.setStatus('ringing');
    });
    client.on('call.answered', (frame) => void this.answered(frame).catch((error: unknown) => this.fail(error)));
    client.on('call.participant', (frame) => void this.participant(frame).catch((error: unknown) => this.fail(error)));
    client.on('call.rejected', (frame) => {
      if (frame.callId === this.call?.id && this.call.groupId === null) this.setStatus('rejected');
    });
    client.on('call.ended', (frame) => this.ended(frame));
    client.on('call.signal', (frame) => {
      this.signals = this.signals.then(() => this.signal(frame)).catch((error: unknown) => this.fail(error));
    });
    client.on('synced', () => void this.history());
    byId('answer').addEventListener('click', () => void this.answer().catch((error: unknown) => this.fail(error)));
    byId('reject').addEventListener('click', () => void this.reject());
    byId('hangup').addEventListener('click', () => void this.hangup());
  }

  async start(callee: Callee, title: string, media: Media): Promise<void> {
    if (this.call) return;
    this.with = title;
    this.show(`Calling ${title}`, 'calling');
    try {
      await this.openMedia(media);
      const { call, iceServers } = await this.client.api.request('post', '/api/calls/initiate', { body: { ...callee, media } });
      this.iceServers = iceServers;
      this.call = { id: call.id, media, role: 'caller', groupId: call.groupId, joined: true };
    } catch (error) {
      this.cleanUp();
      this.fail(error);
    }
  }

  async history(): Promise<void> {
    const { calls } = await this.client.api.request('get', '/api/calls', { query: { limit: 20 } });
    byId('call-history').replaceChildren(
      ...calls.map((call) =>
        h(
          'li',
          { 'data-testid': 'call-history-item', 'data-call-id': call.id, 'data-state': call.state },
          `${call.direction}${call.groupId ? ' group' : ''} ${call.media} · ${call.outcome ?? call.state}` +
            `${call.durationMs !== null ? ` · ${Math.round(call.durationMs / 1000)} s` : ''} · ${shortTime(call.startedAt)}`,
        ),
      ),
    );
  }

  /** Rings on top of whatever is on the screen, saying who calls (and in which group). */
  private incoming(frame: ServerFrame<'call.incoming'>): void {
    if (this.call) return;
    const call: ActiveCall = { id: frame.callId, media: frame.media, role: 'callee', groupId: frame.groupId, joined: false };
    this.call = call;
    this.show(`Incoming ${frame.media} call`, 'incoming');
    byId('incoming').hidden = false;
    // Ringing shows who calls and two buttons; the videos and the hang-up come with the answer.
    this.panel.dataset.ringing = '';
    void Promise.all([this.people.name(frame.from), frame.groupId ? this.people.groupName(frame.groupId) : null]).then(
      ([caller, group]) => {
        this.with = group ?? caller;
        if (this.call === call && !call.joined) byId('call-title').textContent = `${caller} is calling ${group ?? 'you'} (${frame.media})`;
      },
    );
    void this.client.live.request('call.ack', { callId: frame.callId }).catch(() => undefined);
  }

  private async answer(): Promise<void> {
    const call = this.call;
    if (!call || call.role !== 'callee') return;
    byId('incoming').hidden = true;
    delete this.panel.dataset.ringing;
    this.setStatus('connecting');
    // Media first: with the camera granted, Chromium offers real host candidates instead of mDNS names.
    await this.openMedia(call.media);
    this.iceServers = (await this.client.api.request('get', '/api/calls/turn-credentials')).iceServers;
    const connectionId = this.client.live.connectionId;
    if (connectionId === null) throw new Error('Not connected');
    // A direct call is answered (the caller then offers); a group call is joined (those already in it offer).
    await this.client.api.request('post', '/api/calls/{id}/answer', { params: { id: call.id }, body: { connectionId } });
    if (call.groupId === null) call.joined = true;
  }

  private async reject(): Promise<void> {
    const call = this.call;
    if (!call) return;
    await this.client.api.request('post', '/api/calls/{id}/reject', { params: { id: call.id } }).catch(() => undefined);
    this.close();
  }

  /** Hanging up closes the panel at once: the call is over for this device whatever the others do. */
  private async hangup(): Promise<void> {
    const call = this.call;
    if (!call) return this.close();
    try {
      await this.client.api.request('post', '/api/calls/{id}/end', { params: { id: call.id }, body: { reason: 'hangup' } });
      this.close();
    } catch (error) {
      this.fail(error);
    }
  }

  /** A direct call: the caller learns which device answered, and sends it the offer. */
  private async answered(frame: ServerFrame<'call.answered'>): Promise<void> {
    const call = this.call;
    if (!call || frame.callId !== call.id) return;
    if (frame.byUserId === this.me) {
      // Answered on another of my devices: this one stops ringing.
      if (frame.byConnectionId !== this.client.live.connectionId) this.close();
      return;
    }
    if (call.role === 'caller') await this.offer(frame.byConnectionId, frame.byUserId);
  }

  /** A group call: each device in it offers to each one that joins after it; one that leaves is dropped. */
  private async participant(frame: ServerFrame<'call.participant'>): Promise<void> {
    const call = this.call;
    if (!call || frame.callId !== call.id) return;
    const mine = this.client.live.connectionId;
    if (frame.change === 'left') {
      if (frame.userId === this.me) return this.close();
      for (const link of [...this.links.values()]) if (link.view.dataset.userId === frame.userId) this.drop(link);
      return;
    }
    if (frame.userId === this.me) {
      if (frame.connectionId === mine) call.joined = true;
      // Joined on another of my devices: this one stops ringing.
      else if (!call.joined) this.close();
      return;
    }
    if (call.joined && frame.connectionId !== null) await this.offer(frame.connectionId, frame.userId);
  }

  private async offer(connectionId: number, userId?: string): Promise<void> {
    const call = this.call!;
    const link = this.link(call, connectionId, userId ?? null);
    await link.peer.setLocalDescription(await link.peer.createOffer());
    await this.sendSignal(call, link, 'offer', { type: 'offer', sdp: link.peer.localDescription!.sdp });
    this.setStatus('connecting');
  }

  private async signal(frame: ServerFrame<'call.signal'>): Promise<void> {
    const call = this.call;
    if (!call || frame.callId !== call.id) return;
    const link = this.links.get(frame.fromConnectionId) ?? this.link(call, frame.fromConnectionId, frame.fromUserId);
    if (frame.kind === 'candidates') {
      for (const candidate of (frame.payload as { candidates: Candidate[] }).candidates) await link.peer.addIceCandidate(candidate);
      return;
    }
    const description = frame.payload as { type: RTCSdpType; sdp: string };
    await link.peer.setRemoteDescription(description);
    if (description.type === 'offer') {
      await link.peer.setLocalDescription(await link.peer.createAnswer());
      await this.sendSignal(call, link, 'answer', { type: 'answer', sdp: link.peer.localDescription!.sdp });
    }
  }

  private link(call: ActiveCall, connectionId: number, userId: string | null): Link {
    const existing = this.links.get(connectionId);
    if (existing) return existing;
    const peer = new RTCPeerConnection({ iceServers: this.iceServers });
    const video = h('video', { 'data-testid': 'remote-video', autoplay: true, playsinline: true });
    const caption = h('figcaption', {});
    const view = h('figure', { class: 'remote', 'data-user-id': userId ?? undefined }, video, caption);
    if (userId)
      void this.people.name(userId).then((name) => {
        caption.textContent = name;
      });
    byId('remote-videos').append(view);
    const link: Link = { connectionId, peer, view, outgoing: [], flushTimer: null };
    this.links.set(connectionId, link);
    for (const track of this.local?.getTracks() ?? []) peer.addTrack(track, this.local!);
    peer.ontrack = (event) => {
      video.srcObject = event.streams[0] ?? null;
    };
    peer.onicecandidate = (event) => {
      if (!event.candidate) return;
      const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = event.candidate.toJSON();
      link.outgoing.push({
        candidate: candidate ?? '',
        sdpMid: sdpMid ?? null,
        sdpMLineIndex: sdpMLineIndex ?? null,
        usernameFragment: usernameFragment ?? null,
      });
      // Candidates come in bursts: one frame per burst.
      link.flushTimer ??= setTimeout(() => void this.flushCandidates(call, link).catch((error: unknown) => this.fail(error)), 50);
    };
    peer.oniceconnectionstatechange = () => this.showIce();
    return link;
  }

  /** One line for all the links: connected once every one is, else the state of the first that is not. */
  private showIce(): void {
    const states = [...this.links.values()].map((link) => link.peer.iceConnectionState);
    const waiting = states.find((state) => !LIVE_ICE.includes(state));
    byId('ice-state').textContent = waiting ?? (states.length ? 'connected' : 'new');
    if (states.length && !waiting) {
      this.setStatus('connected');
      byId('call-title').textContent = `In a call with ${this.with}`;
    }
  }

  private async flushCandidates(call: ActiveCall, link: Link): Promise<void> {
    link.flushTimer = null;
    const candidates = link.outgoing.splice(0, 50);
    if (candidates.length) await this.sendSignal(call, link, 'candidates', { candidates });
    if (link.outgoing.length)
      link.flushTimer = setTimeout(() => void this.flushCandidates(call, link).catch((error: unknown) => this.fail(error)), 0);
  }

  private async sendSignal(
    call: ActiveCall,
    link: Link,
    kind: 'offer' | 'answer' | 'candidates',
    payload: { type: 'offer' | 'answer'; sdp: string } | { candidates: Candidate[] },
  ): Promise<void> {
    if (this.call !== call || this.links.get(link.connectionId) !== link) return;
    const frame =
      kind === 'candidates'
        ? { callId: call.id, toConnectionId: link.connectionId, kind, payload: payload as { candidates: Candidate[] } }
        : { callId: call.id, toConnectionId: link.connectionId, kind, payload: payload as { type: 'offer' | 'answer'; sdp: string } };
    await this.client.live.request('call.signal', frame);
  }

  private ended(frame: ServerFrame<'call.ended'>): void {
    // A call this device already left (or never took) still ends in the history.
    if (frame.callId !== this.call?.id) return void this.history().catch(() => undefined);
    this.setStatus(`ended (${frame.reason})`);
    this.close();
  }

  private async openMedia(media: Media): Promise<void> {
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
    byId<HTMLVideoElement>('local-video').srcObject = this.local;
  }

  private show(title: string, status: string): void {
    byId('call-title').textContent = title;
    byId('ice-state').textContent = 'new';
    this.setStatus(status);
    this.panel.hidden = false;
  }

  private setStatus(status: string): void {
    this.status.textContent = status;
    this.status.dataset.status = status;
  }

  private fail(error: unknown): void {
    showError(this.status, error);
    this.status.dataset.status = 'failed';
  }

  /** The call is over here: media stopped, the panel closed, the history brought up to date. */
  private close(): void {
    this.cleanUp();
    this.panel.hidden = true;
    void this.history().catch(() => undefined);
  }

  private drop(link: Link): void {
    if (link.flushTimer) clearTimeout(link.flushTimer);
    link.peer.close();
    link.view.remove();
    this.links.delete(link.connectionId);
    this.showIce();
  }

  private cleanUp(): void {
    for (const link of [...this.links.values()]) this.drop(link);
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = null;
    this.call = null;
    byId('incoming').hidden = true;
    delete this.panel.dataset.ringing;
    byId<HTMLVideoElement>('local-video').srcObject = null;
  }
}
