// One live view of a phone: WHEP signalling (non-trickle), the video, the `control` data channel with its 1 s
// heartbeat, and the session's end (DELETE on leave, also with keepalive when the page goes away).
// Messages are those of shared-protocol/src/stream-input.ts.
import { parseIceServerLinks } from "./input-map.js";

const CHANNEL_LABEL = "control";
const HEARTBEAT_MS = 1000;
/** Non-trickle: the offer goes out once gathering completes, or after this long with what was gathered. */
const GATHER_TIMEOUT_MS = 3000;
/**
 * With no STUN/TURN servers only host candidates matter, and the browser has them all within a few ms of the first;
 * it still reports gathering complete ~120 ms later (bench:latency), so the offer goes out this long after the first.
 */
const HOST_SETTLE_MS = 40;
/** Recent messages sent, kept for diagnostics (and read by the browser tests). */
const SENT_LOG_SIZE = 500;

export class StreamSession {
  pc = null;
  channel = null;
  /** The WHEP session URL (the POST's Location), once created. */
  location = null;
  holder = false;
  sessionId = null;
  /** Whether the stream accepts input at all (the agent's `control` message; false in screenrecord mode); null before it. */
  input = null;
  closed = false;
  sent = [];
  /** When the last heartbeat ping went out (epoch ms). */
  lastPingAt = 0;
  #heartbeat = 0;

  /**
   * @param api      the Api (api.js)
   * @param deviceId the phone
   * @param video    the <video> element
   * @param events   callbacks: state(text), control({holder, sessionId, input}), video({width, height}), clipboard(text),
   *                 error(code, message), rtt(ms), closed(reason)
   */
  constructor(api, deviceId, video, events) {
    this.api = api;
    this.deviceId = deviceId;
    this.video = video;
    this.events = events;
  }

  get whepUrl() {
    return `/api/devices/${encodeURIComponent(this.deviceId)}/whep`;
  }

  async start() {
    const iceServers = await this.#iceServers();
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    // Created before the offer so the offer carries the SCTP m-line (one negotiation, no renegotiation).
    this.channel = pc.createDataChannel(CHANNEL_LABEL, { ordered: true });
    this.#wireChannel(this.channel);
    pc.ontrack = (e) => {
      this.video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    };
    pc.onconnectionstatechange = () => {
      this.events.state(pc.connectionState);
      if (pc.connectionState === "failed") this.close("the connection to the phone failed");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc, GATHER_TIMEOUT_MS, iceServers.length === 0 ? HOST_SETTLE_MS : null);
    if (this.closed) return;
    const res = await this.api.request("POST", this.whepUrl, { body: pc.localDescription.sdp, contentType: "application/sdp" });
    const location = res.headers.get("location");
    if (!location) throw new Error("the WHEP answer has no Location header");
    this.location = new URL(location, window.location.href).pathname;
    const answer = await res.text();
    if (this.closed) {
      this.#deleteSession(false);
      return;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  /** ICE servers the control plane advertises (WHEP OPTIONS → Link headers); none when it offers none. */
  async #iceServers() {
    try {
      const res = await this.api.request("OPTIONS", this.whepUrl);
      return parseIceServerLinks(res.headers.get("link"));
    } catch {
      return [];
    }
  }

  #wireChannel(dc) {
    dc.onopen = () => {
      this.events.state("connected");
      this.send({ t: "ping", ts: Date.now() });
      this.#heartbeat = setInterval(() => this.send({ t: "ping", ts: Date.now() }), HEARTBEAT_MS);
    };
    dc.onclose = () => {
      clearInterval(this.#heartbeat);
      if (!this.closed) this.close("the phone ended the session");
    };
    dc.onmessage = (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      this.#onMessage(m);
    };
  }

  #onMessage(m) {
    switch (m?.t) {
      case "pong":
        this.events.rtt(Date.now() - m.ts);
        break;
      case "video":
        this.events.video({ width: m.width, height: m.height });
        break;
      case "control":
        this.holder = m.holder;
        this.sessionId = m.sessionId;
        this.input = m.input !== false;
        this.events.control({ holder: m.holder, sessionId: m.sessionId, input: this.input });
        break;
      case "clipboard":
        this.events.clipboard(m.text);
        break;
      case "error":
        this.events.error(m.code, m.message);
        break;
      default:
        break;
    }
  }

  /** Sends one ViewerMessage; false when the channel is not open (the message is dropped). */
  send(msg) {
    if (this.channel?.readyState !== "open") return false;
    this.channel.send(JSON.stringify(msg));
    if (msg.t === "ping") this.lastPingAt = msg.ts;
    else {
      this.sent.push(msg);
      if (this.sent.length > SENT_LOG_SIZE) this.sent.splice(0, this.sent.length - SENT_LOG_SIZE);
    }
    return true;
  }

  /**
   * Ends the session: heartbeat, channel and connection closed, the WHEP resource deleted. `unloading`: the page
   * is going away, so the DELETE must survive it (keepalive).
   */
  close(reason = "left", unloading = false) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#heartbeat);
    try {
      this.channel?.close();
      this.pc?.close();
    } catch {
      // already closed
    }
    this.video.srcObject = null;
    this.#deleteSession(unloading);
    this.events.closed(reason);
  }

  #deleteSession(keepalive) {
    if (this.location === null || !this.api.signedIn) return;
    const url = this.location;
    this.location = null;
    // fetch with keepalive outlives the page (sendBeacon cannot DELETE or set Authorization).
    this.api.request("DELETE", url, { keepalive }).catch(() => {});
  }
}

/** Resolves when gathering completes, after `timeoutMs`, or `hostSettleMs` after the first host candidate (if set). */
function gatheringComplete(pc, timeoutMs, hostSettleMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    let settle = null;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(settle);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const onCandidate = (e) => {
      if (hostSettleMs !== null && settle === null && e.candidate && / typ host/.test(e.candidate.candidate)) settle = setTimeout(done, hostSettleMs);
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}
