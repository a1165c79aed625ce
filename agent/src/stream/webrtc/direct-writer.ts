import type { Socket } from "node:dgram";
import { ntpTime, ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80, type GenericNack, type RTCRtpSender } from "werift";
import type { PacketizedAccessUnit } from "../h264/packetizer.js";
import { RtpHistory } from "../rtp/history.js";
import { RTP_HEADER_BYTES, writeRtpHeader, type ViewerRtpStream } from "../rtp/viewer.js";
import { TokenBucket } from "../session/rate-limiter.js";
import { SrtpProtector, type SrtpProfileName } from "../srtp/protect.js";

/**
 * Sends one viewer's RTP without werift's per-packet sender path: our SRTP (srtp/protect.ts) with the keys werift's
 * DTLS derived, straight onto the nominated ICE pair's UDP socket as a gather list, one `sendmsg` per packet.
 * werift keeps everything else: ICE and consent, DTLS, RTCP (its sender reports read the counters kept here), PLI.
 * NACKs are answered from this writer's own history, with the original sequence number and rollover counter.
 *
 * werift 0.24's internals are read through the narrow shapes below, checked when the writer is made; anything
 * unexpected (header extensions, RTX or RED negotiated, an unknown SRTP profile) keeps the viewer on werift's path.
 */

/** What the writer reads of werift's RTCRtpSender (some of it private in werift's typings). */
interface SenderInternals {
  ssrc: number;
  headerExtensions: unknown[];
  rtxPayloadType?: number;
  redRedundantPayloadType?: number;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  runRtcp(): Promise<void>;
  onGenericNack: { subscribe(cb: (nack: GenericNack) => void): { unSubscribe(): void } };
  dtlsTransport: DtlsInternals;
}

interface DtlsInternals {
  state: string;
  srtp?: { localContext?: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer } };
  iceTransport: { connection: ConnectionInternals };
}

interface ConnectionInternals {
  nominated?: PairInternals;
  canSendApplicationData?: () => boolean;
  send(data: Buffer): Promise<void>;
}

interface PairInternals {
  protocol: { type?: string; transport?: { type?: string; closed?: boolean; socket?: Socket } };
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
}

const PROFILE_NAMES = new Map<number, SrtpProfileName>([
  [ProtectionProfileAeadAes128Gcm, "aes128-gcm"],
  [ProtectionProfileAes128CmHmacSha1_80, "aes128-cm-hmac-sha1-80"],
]);

/** At most this many NACKed packets resent per second per viewer (a NACK storm must not multiply the stream). */
const RETRANSMIT_PER_SECOND = 1000;

export type DirectWriterResult = { ok: true; writer: DirectRtpWriter } | { ok: false; reason: string };

export class DirectRtpWriter {
  readonly history = new RtpHistory();
  retransmitted = 0;
  private readonly retransmitBudget = new TokenBucket(RETRANSMIT_PER_SECOND, RETRANSMIT_PER_SECOND, Date.now());
  private protector: SrtpProtector;
  private keysFrom: object;
  private readonly unsubscribe: () => void;
  private closed = false;

  private constructor(
    private readonly sender: SenderInternals,
    private readonly rtp: ViewerRtpStream,
    protector: SrtpProtector,
    keysFrom: object,
  ) {
    this.protector = protector;
    this.keysFrom = keysFrom;
    const s = sender.onGenericNack.subscribe((nack) => this.onNack(nack.lost));
    this.unsubscribe = () => s.unSubscribe();
    void sender.runRtcp().catch(() => undefined); // sender reports; idempotent, werift starts it on its first send
  }

  /** A writer for `sender` once its DTLS is connected, or why werift's own path must be used. */
  static create(weriftSender: RTCRtpSender, rtp: ViewerRtpStream): DirectWriterResult {
    // One cast to the narrow shape above; every field used is checked here before the writer exists.
    const sender = weriftSender as unknown as SenderInternals;
    if (rtp.ssrc !== sender.ssrc) return { ok: false, reason: "the viewer's SSRC differs from the sender's" };
    if (sender.headerExtensions.length > 0) return { ok: false, reason: "RTP header extensions negotiated" };
    if (sender.rtxPayloadType !== undefined || sender.redRedundantPayloadType !== undefined) return { ok: false, reason: "RTX or RED negotiated" };
    if (typeof sender.runRtcp !== "function" || typeof sender.onGenericNack?.subscribe !== "function") return { ok: false, reason: "unexpected werift sender" };
    const keys = protectorFor(sender.dtlsTransport);
    if (!keys.ok) return keys;
    return { ok: true, writer: new DirectRtpWriter(sender, rtp, keys.protector, keys.from) };
  }

  get srtpProfile(): SrtpProfileName {
    return this.protector.profile;
  }

  /** Sends every packet of `au` (viewer headers from `rtp`); returns the bytes put on the wire (0: not sendable). */
  writeAccessUnit(au: PacketizedAccessUnit): number {
    if (this.closed || !this.refreshKeys()) return 0;
    const conn = this.sender.dtlsTransport.iceTransport.connection;
    const pair = conn.nominated;
    if (!pair || (conn.canSendApplicationData && !conn.canSendApplicationData())) return 0; // RFC 7675 consent
    const firstSeq = this.rtp.nextSequence;
    const firstRoc = this.rtp.rolloverCounter;
    const packets = this.protector.protectAll(this.rtp.headerBlock(au), au.payloads, firstRoc);
    let bytes = 0;
    let payloadBytes = 0;
    for (let i = 0; i < au.payloads.length; i++) {
      const payload = au.payloads[i] as Buffer;
      const seq = (firstSeq + i) & 0xffff;
      const roc = (firstRoc + ((firstSeq + i) >> 16)) >>> 0;
      this.history.record(seq, roc, au.timestamp, i === au.payloads.length - 1, payload);
      bytes += this.send(pair, conn, packets[i] as [Buffer, Buffer, Buffer]);
      payloadBytes += payload.length;
    }
    // What werift's sender reports (RTCP SR) and uses for RTT: kept as its own sendRtp would.
    const s = this.sender;
    s.packetCount = (s.packetCount + au.payloads.length) >>> 0;
    s.octetCount = (s.octetCount + payloadBytes) >>> 0;
    s.rtpTimestamp = au.timestamp;
    s.ntpTimestamp = ntpTime();
    return bytes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.history.clear();
  }

  private send(pair: PairInternals, conn: ConnectionInternals, parts: [Buffer, Buffer, Buffer]): number {
    const size = parts[0].length + parts[1].length + parts[2].length;
    const transport = pair.protocol.transport;
    if (pair.protocol.type === "stun" && transport?.type === "udp" && transport.socket) {
      if (transport.closed) return 0;
      transport.socket.send(parts, pair.remoteAddr[1], pair.remoteAddr[0]);
    } else {
      // TURN relays and TCP pairs frame the data themselves: one buffer through werift's connection.
      conn.send(Buffer.concat(parts, size)).catch(() => undefined);
    }
    pair.packetsSent++;
    pair.bytesSent += size;
    return size;
  }

  private onNack(lost: readonly number[]): void {
    if (this.closed || !this.refreshKeys()) return;
    const conn = this.sender.dtlsTransport.iceTransport.connection;
    const pair = conn.nominated;
    if (!pair) return;
    for (const seq of lost) {
      const p = this.history.find(seq);
      if (!p) continue;
      if (!this.retransmitBudget.take(Date.now())) return;
      const header = Buffer.allocUnsafe(RTP_HEADER_BYTES);
      writeRtpHeader(header, 0, { payloadType: this.rtp.payloadType, sequenceNumber: seq, timestamp: p.timestamp, marker: p.marker, ssrc: this.rtp.ssrc });
      this.send(pair, conn, this.protector.protect(header, p.payload, p.rolloverCounter));
      this.retransmitted++;
    }
  }

  /** DTLS may re-key (a new handshake): follow werift's current SRTP session. False while there is none. */
  private refreshKeys(): boolean {
    const dtls = this.sender.dtlsTransport;
    if (dtls.state !== "connected") return false;
    if (dtls.srtp === this.keysFrom) return true;
    const keys = protectorFor(dtls);
    if (!keys.ok) return false;
    this.protector = keys.protector;
    this.keysFrom = keys.from;
    return true;
  }
}

function protectorFor(dtls: DtlsInternals): { ok: true; protector: SrtpProtector; from: object } | { ok: false; reason: string } {
  if (dtls?.state !== "connected") return { ok: false, reason: "DTLS is not connected" };
  const ctx = dtls.srtp?.localContext;
  if (!dtls.srtp || !ctx) return { ok: false, reason: "no SRTP session" };
  const profile = PROFILE_NAMES.get(ctx.profile);
  if (!profile) return { ok: false, reason: `SRTP profile ${ctx.profile} not supported` };
  if (!dtls.iceTransport?.connection || typeof dtls.iceTransport.connection.send !== "function") return { ok: false, reason: "unexpected werift ICE transport" };
  try {
    const protector = new SrtpProtector({ profile, key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag });
    return { ok: true, protector, from: dtls.srtp };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}
