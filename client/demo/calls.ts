import type { LetsAppClient, ServerFrame } from '../index.ts';
import { byId, h, shortTime, showError } from './dom.ts';

interface ActiveCall {
  id: string;
  peerId: string;
  media: 'audio' | 'video';
  role: 'caller' | 'callee';
  /** The other party's socket: signaling is relayed to one connection. */
  remoteConnectionId: number | null;
}

type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null };

/**
 * One-to-one audio and video calls: the server rings, relays the WebRTC offer, answer and ICE candidates between the
 * caller's device and the answering one, and ends the call for both; the media flow peer to peer.
 */
export class CallView {
  private call: ActiveCall | null = null;
  private peer: RTCPeerConnection | null = null;
  private local: MediaStream | null = null;
  private iceServers: RTCIceServer[] = [];
  /** Signals are applied one after another: a candidate must not overtake the offer it belongs to. */
  private signals: Promise<void> = Promise.resolve();
  private outgoing: Candidate[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly status = byId('call-status');

  constructor(private readonly client: LetsAppClient, private readonly me: string) {
    client.on('call.incoming', (frame) => this.incoming(frame));
    client.on('call.ringing', () => this.setStatus('ringing'));
    client.on('call.answered', (frame) => void this.answered(frame).catch((error: unknown) => this.fail(error)));
    client.on('call.rejected', (frame) => { if (frame.callId === this.call?.id) this.setStatus('rejected'); });
    client.on('call.ended', (frame) => this.ended(frame));
    client.on('call.signal', (frame) => {
      this.signals = this.signals.then(() => this.signal(frame)).catch((error: unknown) => this.fail(error));
    });
    client.on('synced', () => void this.history());
    byId('answer').addEventListener('click', () => void this.answer().catch((error: unknown) => this.fail(error)));
    byId('reject').addEventListener('click', () => void this.reject());
    byId('hangup').addEventListener('click', () => void this.hangup());
  }

  async start(peerId: string, media: 'audio' | 'video'): Promise<void> {
    if (this.call) return;
    try {
      await this.openMedia(media);
      const { call, iceServers } = await this.client.api.request('post', '/api/calls/initiate', { body: { calleeId: peerId, media } });
      this.iceServers = iceServers;
      this.call = { id: call.id, peerId, media, role: 'caller', remoteConnectionId: null };
      this.show('calling');
    } catch (error) {
      this.cleanUp();
      this.fail(error);
    }
  }

  async history(): Promise<void> {
    const { calls } = await this.client.api.request('get', '/api/calls', { query: { limit: 20 } });
    byId('call-history').replaceChildren(...calls.map((call) => h('li', { 'data-testid': 'call-history-item', 'data-call-id': call.id, 'data-state': call.state },
      `${call.direction} ${call.media} · ${call.outcome ?? call.state}${call.durationMs !== null ? ` · ${Math.round(call.durationMs / 1000)} s` : ''} · ${shortTime(call.startedAt)}`)));
  }

  private incoming(frame: ServerFrame<'call.incoming'>): void {
    if (this.call || frame.groupId !== null) return;
    this.call = { id: frame.callId, peerId: frame.from, media: frame.media, role: 'callee', remoteConnectionId: null };
    byId('incoming').hidden = false;
    byId('incoming-from').textContent = `Incoming ${frame.media} call`;
    this.show('incoming');
    void this.client.live.request('call.ack', { callId: frame.callId }).catch(() => undefined);
  }

  private async answer(): Promise<void> {
    const call = this.call;
    if (!call || call.role !== 'callee') return;
    byId('incoming').hidden = true;
    // Media first: with the camera granted, Chromium offers real host candidates instead of mDNS names.
    await this.openMedia(call.media);
    this.iceServers = (await this.client.api.request('get', '/api/calls/turn-credentials')).iceServers;
    const connectionId = this.client.live.connectionId;
    if (connectionId === null) throw new Error('Not connected');
    await this.client.api.request('post', '/api/calls/{id}/answer', { params: { id: call.id }, body: { connectionId } });
    this.setStatus('connecting');
  }

  private async reject(): Promise<void> {
    const call = this.call;
    if (!call) return;
    await this.client.api.request('post', '/api/calls/{id}/reject', { params: { id: call.id } }).catch(() => undefined);
    this.cleanUp();
  }

  private async hangup(): Promise<void> {
    const call = this.call;
    if (!call) return;
    await this.client.api.request('post', '/api/calls/{id}/end', { params: { id: call.id }, body: { reason: 'hangup' } })
      .catch((error: unknown) => this.fail(error));
  }

  /** The caller learns which device answered, and sends it the offer. */
  private async answered(frame: ServerFrame<'call.answered'>): Promise<void> {
    const call = this.call;
    if (!call || frame.callId !== call.id) return;
    if (frame.byUserId === this.me) {
      // Answered on another of my devices: this one stops ringing.
      if (frame.byConnectionId !== this.client.live.connectionId) this.cleanUp();
      return;
    }
    call.remoteConnectionId = frame.byConnectionId;
    const peer = this.connect(call);
    await peer.setLocalDescription(await peer.createOffer());
    await this.sendSignal(call, 'offer', { type: 'offer', sdp: peer.localDescription!.sdp });
    this.setStatus('connecting');
  }

  private async signal(frame: ServerFrame<'call.signal'>): Promise<void> {
    const call = this.call;
    if (!call || frame.callId !== call.id) return;
    call.remoteConnectionId ??= frame.fromConnectionId;
    const peer = this.peer ?? this.connect(call);
    if (frame.kind === 'candidates') {
      for (const candidate of (frame.payload as { candidates: Candidate[] }).candidates) await peer.addIceCandidate(candidate);
      return;
    }
    const description = frame.payload as { type: RTCSdpType; sdp: string };
    await peer.setRemoteDescription(description);
    if (description.type === 'offer') {
      await peer.setLocalDescription(await peer.createAnswer());
      await this.sendSignal(call, 'answer', { type: 'answer', sdp: peer.localDescription!.sdp });
    }
  }

  private connect(call: ActiveCall): RTCPeerConnection {
    const peer = new RTCPeerConnection({ iceServers: this.iceServers });
    this.peer = peer;
    for (const track of this.local?.getTracks() ?? []) peer.addTrack(track, this.local!);
    peer.ontrack = (event) => { byId<HTMLVideoElement>('remote-video').srcObject = event.streams[0] ?? null; };
    peer.onicecandidate = (event) => {
      if (!event.candidate) return;
      const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = event.candidate.toJSON();
      this.outgoing.push({ candidate: candidate ?? '', sdpMid: sdpMid ?? null, sdpMLineIndex: sdpMLineIndex ?? null, usernameFragment: usernameFragment ?? null });
      // Candidates come in bursts: one frame per burst.
      this.flushTimer ??= setTimeout(() => void this.flushCandidates(call), 50);
    };
    peer.oniceconnectionstatechange = () => {
      byId('ice-state').textContent = peer.iceConnectionState;
      if (peer.iceConnectionState === 'connected' || peer.iceConnectionState === 'completed') this.setStatus('connected');
    };
    return peer;
  }

  private async flushCandidates(call: ActiveCall): Promise<void> {
    this.flushTimer = null;
    const candidates = this.outgoing.splice(0, 50);
    if (candidates.length) await this.sendSignal(call, 'candidates', { candidates });
    if (this.outgoing.length) this.flushTimer = setTimeout(() => void this.flushCandidates(call), 0);
  }

  private async sendSignal(call: ActiveCall, kind: 'offer' | 'answer' | 'candidates', payload: { type: 'offer' | 'answer'; sdp: string } | { candidates: Candidate[] }): Promise<void> {
    if (call.remoteConnectionId === null) return;
    const frame = kind === 'candidates'
      ? { callId: call.id, toConnectionId: call.remoteConnectionId, kind, payload: payload as { candidates: Candidate[] } }
      : { callId: call.id, toConnectionId: call.remoteConnectionId, kind, payload: payload as { type: 'offer' | 'answer'; sdp: string } };
    await this.client.live.request('call.signal', frame);
  }

  private ended(frame: ServerFrame<'call.ended'>): void {
    if (frame.callId !== this.call?.id) return;
    this.cleanUp();
    this.setStatus(`ended (${frame.reason})`);
    byId('call').hidden = false;
    void this.history();
  }

  private async openMedia(media: 'audio' | 'video'): Promise<void> {
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
    byId<HTMLVideoElement>('local-video').srcObject = this.local;
  }

  private show(status: string): void {
    byId('call').hidden = false;
    byId('ice-state').textContent = 'new';
    this.setStatus(status);
  }

  private setStatus(status: string): void {
    this.status.textContent = status;
    this.status.dataset.status = status;
  }

  private fail(error: unknown): void {
    showError(this.status, error);
    this.status.dataset.status = 'failed';
  }

  private cleanUp(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.outgoing = [];
    this.peer?.close();
    this.peer = null;
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = null;
    this.call = null;
    byId('incoming').hidden = true;
    byId<HTMLVideoElement>('remote-video').srcObject = null;
    byId<HTMLVideoElement>('local-video').srcObject = null;
  }
}
