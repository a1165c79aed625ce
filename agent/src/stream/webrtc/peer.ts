import { STREAM_CHANNEL_LABEL, type AgentMessage, type IceServer } from "@cloudphone/shared-protocol";
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCDataChannel, type RTCRtpTransceiver } from "werift";
import type { PacketizedAccessUnit } from "../h264/packetizer.js";
import { RTP_HEADER_BYTES, ViewerRtpStream } from "../rtp/viewer.js";
import { answerParameters, pickH264 } from "./codec.js";
import { DirectRtpWriter } from "./direct-writer.js";

/**
 * One viewer's WebRTC peer (werift), the answerer of a WHEP offer: sendonly H.264 with exactly one payload type,
 * the viewer's `control` data channel, non-trickle (the answer carries the gathered candidates). Media is written
 * only once DTLS is up (werift drops earlier packets), starting at a keyframe.
 */
export interface PeerOptions {
  iceServers: readonly IceServer[];
  /** Extra host candidates (e.g. 127.0.0.1 for same-host viewers, or the public address behind 1:1 NAT). */
  additionalHostAddresses: readonly string[];
  portRange: [number, number] | undefined;
  /** The stream's profile-level-id (from its SPS). */
  profileLevelId: string;
  gatherTimeoutMs: number;
  /** Send RTP through DirectRtpWriter (our SRTP, one sendmsg per packet) instead of werift's sender path. */
  directRtp: boolean;
}

export interface PeerEvents {
  /** DTLS connected: media can flow (the viewer needs a keyframe now). */
  onConnected(): void;
  /** The control channel is open (the viewer can be told the video size and who controls). */
  onChannelOpen(): void;
  /** A text message on the control channel (not yet validated). */
  onMessage(text: string): void;
  /** The viewer sent a PLI or FIR. */
  onKeyframeRequest(): void;
  /** ICE failed/closed or the peer closed: the session must end. */
  onGone(reason: string): void;
}

export class NoH264Error extends Error {
  constructor() {
    super("the offer has no H.264 video with packetization-mode=1");
    this.name = "NoH264Error";
  }
}

export class ViewerPeer {
  readonly pc: RTCPeerConnection;
  private readonly track = new MediaStreamTrack({ kind: "video" });
  private transceiver: RTCRtpTransceiver | null = null;
  private channel: RTCDataChannel | null = null;
  private rtp: ViewerRtpStream | null = null;
  private writer: DirectRtpWriter | null = null;
  /** How media is written once connected, and why werift's own path when it is. */
  writePath: { kind: "direct" | "werift"; srtpProfile?: string; reason?: string } | null = null;
  private live = false;
  /** Waiting for a keyframe before the first (or next, after a gap) access unit. */
  private needKeyframe = true;
  private closed = false;
  private readonly unsubscribers: (() => void)[] = [];
  /** Statistics (fan-out side): frames and bytes written. */
  frames = 0;
  bytes = 0;
  packets = 0;
  connectedAt: number | null = null;

  constructor(
    private readonly o: PeerOptions,
    private readonly events: PeerEvents,
  ) {
    this.pc = new RTCPeerConnection({
      iceServers: o.iceServers.map((s) => ({ urls: s.urls, ...(s.username ? { username: s.username } : {}), ...(s.credential ? { credential: s.credential } : {}) })),
      codecs: { video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90_000, parameters: `packetization-mode=1;profile-level-id=${o.profileLevelId}`, rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }] })], audio: [] },
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [...o.additionalHostAddresses],
      ...(o.portRange ? { icePortRange: o.portRange } : {}),
    });
    const sub = <T extends unknown[]>(ev: { subscribe(cb: (...a: T) => void): { unSubscribe(): void } }, cb: (...a: T) => void) => {
      const s = ev.subscribe(cb);
      this.unsubscribers.push(() => s.unSubscribe());
    };
    sub(this.pc.connectionStateChange, (state) => {
      if (state === "connected" && !this.live && !this.closed) {
        this.chooseWritePath();
        this.live = true;
        this.connectedAt = Date.now();
        this.events.onConnected();
      } else if (state === "failed" || state === "closed") {
        this.events.onGone(`connection ${state}`);
      }
    });
    sub(this.pc.iceConnectionStateChange, (state) => {
      if (state === "failed" || state === "closed") this.events.onGone(`ice ${state}`);
    });
    sub(this.pc.onDataChannel, (dc) => {
      if (dc.label !== STREAM_CHANNEL_LABEL || this.channel) {
        dc.close();
        return;
      }
      this.channel = dc;
      sub(dc.onMessage, (data) => this.events.onMessage(typeof data === "string" ? data : data.toString("utf8")));
      if (dc.readyState === "open") queueMicrotask(() => !this.closed && this.events.onChannelOpen());
      else sub(dc.stateChanged, (st) => st === "open" && !this.closed && this.events.onChannelOpen());
    });
  }

  /** Applies the offer and returns the complete answer SDP (after ICE gathering, bounded). */
  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
    // Answer as the DTLS server (a=setup:passive): werift as a DTLS client sleeps 100 ms before its ClientHello, a
    // third of the time to first frame (bench:latency).
    for (const t of this.pc.dtlsTransports) t.role = "server";
    // Without a configured STUN server werift falls back to stun.l.google.com: a DNS lookup and a request to Google
    // for every viewer. Only the operator's ICE servers are used.
    if (!this.o.iceServers.some((s) => [s.urls].flat().some((u) => /^stuns?:/i.test(u)))) {
      for (const t of this.pc.iceTransports) t.connection.stunServer = undefined;
    }
    const tr = this.pc.getTransceivers().find((t) => t.kind === "video");
    if (!tr) throw new NoH264Error();
    const chosen = pickH264(tr.codecs, this.o.profileLevelId);
    if (!chosen) throw new NoH264Error();
    const codec = new RTCRtpCodecParameters({
      mimeType: "video/H264",
      clockRate: 90_000,
      payloadType: chosen.payloadType,
      parameters: answerParameters(chosen, this.o.profileLevelId),
      rtcpFeedback: (chosen as RTCRtpCodecParameters).rtcpFeedback ?? [],
    });
    tr.codecs = [codec];
    tr.setDirection("sendonly");
    await tr.sender.replaceTrack(this.track);
    this.transceiver = tr;
    this.rtp = new ViewerRtpStream({ payloadType: chosen.payloadType, ssrc: tr.sender.ssrc });
    const s1 = tr.sender.onPictureLossIndication.subscribe(() => this.keyframeWanted());
    this.unsubscribers.push(() => s1.unSubscribe());
    const s2 = tr.sender.onRtcp.subscribe((p) => {
      // FIR (RFC 5104, PSFB fmt 4) asks for a keyframe too; werift only surfaces PLI.
      if ((p as { type?: number; feedback?: { count?: number } }).type === 206 && (p as { feedback?: { count?: number } }).feedback?.count === 4) this.keyframeWanted();
    });
    this.unsubscribers.push(() => s2.unSubscribe());
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    if (this.pc.iceGatheringState !== "complete") {
      await this.pc.iceGatheringStateChange.watch((s) => s === "complete", this.o.gatherTimeoutMs).catch(() => undefined);
    }
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error("werift produced no local description");
    return sdp;
  }

  private chooseWritePath(): void {
    if (!this.transceiver || !this.rtp) return;
    if (!this.o.directRtp) {
      this.writePath = { kind: "werift", reason: "stream.directRtp is off" };
      return;
    }
    const r = DirectRtpWriter.create(this.transceiver.sender, this.rtp);
    if (r.ok) {
      this.writer = r.writer;
      this.writePath = { kind: "direct", srtpProfile: r.writer.srtpProfile };
    } else {
      this.writePath = { kind: "werift", reason: r.reason };
    }
  }

  /** NACKed packets sent again (direct path only). */
  get retransmitted(): number {
    return this.writer?.retransmitted ?? 0;
  }

  private keyframeWanted(): void {
    if (this.closed) return;
    this.events.onKeyframeRequest();
  }

  get isLive(): boolean {
    return this.live && !this.closed;
  }

  /**
   * Writes one shared access unit with this viewer's headers; skipped until a keyframe once live. `via: "werift"`
   * forces werift's sender path for this unit (bench:viewers compares both paths over the same peers).
   */
  sendAccessUnit(au: PacketizedAccessUnit, via: "auto" | "werift" = "auto"): void {
    if (!this.live || this.closed || !this.rtp) return;
    if (this.needKeyframe) {
      if (!au.keyframe) return;
      this.needKeyframe = false;
    }
    if (this.writer && via === "auto") {
      if (this.writer.writeAccessUnit(au) === 0) {
        this.needKeyframe = true; // a gap (no consent or keys): resume at a keyframe, which the viewer's PLI asks for
        return;
      }
      this.packets += au.payloads.length;
      for (const p of au.payloads) this.bytes += p.length + RTP_HEADER_BYTES;
    } else {
      this.rtp.forEach(au, (h, payload) => {
        this.track.writeRtp(new RtpPacket(new RtpHeader(h), payload));
        this.packets++;
        this.bytes += payload.length + RTP_HEADER_BYTES;
      });
    }
    this.frames++;
  }

  /** Sends a message on the control channel when it is open. */
  send(msg: AgentMessage): void {
    if (this.closed || !this.channel || this.channel.readyState !== "open") return;
    try {
      this.channel.send(JSON.stringify(msg));
    } catch {
      // the channel is closing; the session ends through onGone/heartbeat
    }
  }

  /** RTT (s) and loss fraction from the viewer's receiver reports, when it sent any. */
  async remoteStats(): Promise<{ rttSeconds: number | null; fractionLost: number | null; packetsLost: number | null }> {
    const none = { rttSeconds: null, fractionLost: null, packetsLost: null };
    if (!this.transceiver || this.closed) return none;
    try {
      const report = await this.transceiver.sender.getStats();
      for (const s of report.values()) {
        if (s.type === "remote-inbound-rtp") {
          const r = s as { roundTripTime?: number; fractionLost?: number; packetsLost?: number };
          return { rttSeconds: r.roundTripTime ?? null, fractionLost: r.fractionLost ?? null, packetsLost: r.packetsLost ?? null };
        }
      }
    } catch {
      // stats are best effort
    }
    return none;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribers.splice(0)) u();
    this.writer?.close();
    try {
      this.channel?.close();
    } catch {
      // already closed
    }
    this.track.stop();
    void this.pc.close().catch(() => undefined);
  }
}
