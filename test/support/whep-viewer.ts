/**
 * A WHEP viewer in the test process (werift): offers recvonly H.264 plus the `control` data channel, posts the offer
 * to the control plane, collects RTP, depacketizes it (RFC 6184: single NAL, STAP-A, FU-A) into Annex-B access
 * units, and pings on the data channel like the viewer page does.
 */
import { RTCPeerConnection, useH264, type RTCDataChannel, type RtpPacket } from "werift";
import { loopbackOnly } from "./loopback-ice.js";

export interface ViewerStats {
  frames: number;
  packets: number;
  firstFrameAt: number | null;
}

export interface WhepViewerOptions {
  /**
   * Drop this percentage of everything arriving on the viewer's ICE transport (werift's own debug switch, which
   * takes the percentage of packets to KEEP), to exercise NACK retransmission.
   */
  inboundLossPercent?: number;
}

export class WhepViewer {
  readonly pc: RTCPeerConnection;
  readonly dc: RTCDataChannel;
  /**
   * Complete access units as Annex-B (with 4-byte start codes), in arrival order. It keeps growing (~30/s) while a
   * test awaits anything: take `accessUnits.slice()` once and compare decoded frames with that, not with a later
   * `accessUnits.length`.
   */
  readonly accessUnits: Buffer[] = [];
  readonly frameTimes: number[] = [];
  readonly messages: Record<string, unknown>[] = [];
  keepAccessUnits = true;
  packets = 0;
  location: string | null = null;
  status = 0;
  answerSdp = "";
  errorBody = "";
  private cur: Buffer[] = [];
  private fu: Buffer[] | null = null;
  private pinger: NodeJS.Timeout | null = null;
  /** Extended (wrap-free) RTP sequence numbers received, when `trackSequences` is on. */
  readonly sequences = new Set<number>();
  trackSequences = false;
  private lastExtSeq: number | null = null;

  constructor(opts: WhepViewerOptions = {}) {
    const loss = opts.inboundLossPercent;
    this.pc = new RTCPeerConnection({
      codecs: { video: [useH264()], audio: [] },
      iceServers: [],
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ["127.0.0.1"],
      ...(loss ? { debug: { inboundPacketLoss: 100 - loss } } : {}),
    });
    const tr = this.pc.addTransceiver("video", { direction: "recvonly" });
    tr.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.onRtp(rtp)));
    this.dc = this.pc.createDataChannel("control", { ordered: true });
    this.dc.onMessage.subscribe((data) => this.messages.push(JSON.parse(typeof data === "string" ? data : data.toString("utf8")) as Record<string, unknown>));
  }

  get frames(): number {
    return this.frameTimes.length;
  }

  /** Frames per second over the last `windowMs` of received frames. */
  fps(windowMs = 3000): number {
    const now = performance.now();
    return this.frameTimes.filter((t) => now - t <= windowMs).length / (windowMs / 1000);
  }

  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    if (this.pc.iceGatheringState !== "complete") await this.pc.iceGatheringStateChange.watch((s) => s === "complete", 5000).catch(() => undefined);
    return this.pc.localDescription!.sdp;
  }

  /** POSTs the offer; on 201 applies the answer. */
  async connect(url: string, headers: Record<string, string>): Promise<number> {
    // The network rule: both sides learn only each other's 127.0.0.1 candidate (test/support/loopback-ice.ts).
    const sdp = loopbackOnly(await this.offer(), "the test viewer's offer");
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/sdp", ...headers }, body: sdp, signal: AbortSignal.timeout(30_000) });
    this.status = res.status;
    const text = await res.text();
    if (res.status !== 201) {
      this.errorBody = text;
      return res.status;
    }
    this.location = res.headers.get("location");
    this.answerSdp = text;
    await this.pc.setRemoteDescription({ type: "answer", sdp: loopbackOnly(text, "the agent's answer") });
    return res.status;
  }

  async channelOpen(timeoutMs = 10_000): Promise<void> {
    if (this.dc.readyState === "open") return;
    await this.dc.stateChanged.watch((s) => s === "open", timeoutMs);
  }

  send(msg: Record<string, unknown>): void {
    this.dc.send(JSON.stringify(msg));
  }

  startPinging(everyMs = 1000): void {
    const ping = () => {
      if (this.dc.readyState === "open") this.send({ t: "ping", ts: Date.now() });
    };
    ping();
    this.pinger = setInterval(ping, everyMs);
  }

  stopPinging(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = null;
  }

  async close(): Promise<void> {
    this.stopPinging();
    await this.pc.close().catch(() => undefined);
  }

  private onRtp(rtp: RtpPacket): void {
    this.packets++;
    if (this.trackSequences) {
      const seq = rtp.header.sequenceNumber;
      const ext = this.lastExtSeq === null ? seq : this.lastExtSeq + ((((seq - (this.lastExtSeq & 0xffff) + 0x8000) & 0xffff) - 0x8000));
      if (this.lastExtSeq === null || ext > this.lastExtSeq) this.lastExtSeq = ext;
      this.sequences.add(ext);
    }
    const payload = rtp.payload;
    const type = payload[0]! & 0x1f;
    if (type === 24) {
      for (let o = 1; o + 2 <= payload.length; ) {
        const len = payload.readUInt16BE(o);
        this.cur.push(Buffer.from(payload.subarray(o + 2, o + 2 + len)));
        o += 2 + len;
      }
    } else if (type === 28) {
      const h = payload[1]!;
      if (h & 0x80) this.fu = [Buffer.from([(payload[0]! & 0xe0) | (h & 0x1f)])];
      if (this.fu) this.fu.push(Buffer.from(payload.subarray(2)));
      if (h & 0x40 && this.fu) {
        this.cur.push(Buffer.concat(this.fu));
        this.fu = null;
      }
    } else if (type >= 1 && type <= 23) {
      this.cur.push(Buffer.from(payload));
    }
    if (rtp.header.marker) {
      const start = Buffer.from([0, 0, 0, 1]);
      if (this.keepAccessUnits) this.accessUnits.push(Buffer.concat(this.cur.flatMap((n) => [start, n])));
      this.frameTimes.push(performance.now());
      if (this.frameTimes.length > 2000) this.frameTimes.splice(0, 1000);
      this.cur = [];
    }
  }
}
