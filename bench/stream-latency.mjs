// Benchmark: time to first frame for a viewer joining a running stream, on loopback, and the per-frame fan-out time
// the sender adds (frame in hand → its last RTP packet handed to werift, synchronous part, SRTP included).
//
// Sender: this process with the agent's streaming code (agent/dist: ViewerPeer, H264Packetizer), one clip made by
// ffmpeg now (720x1280 @ 30 fps, ~4 Mbit/s, an IDR every second) paced at 30 fps, and one viewer already watching.
// Joining viewers, one at a time, two kinds in the same run, ICE on 127.0.0.1 only (test/support/loopback-ice.ts):
//   werift: a receiver in a fresh child process each (bench/stream-viewers.mjs --receiver 1);
//   chromium: Debian's Chromium (one browser, one page, a new RTCPeerConnection per join, set up like the console's
//     viewer), see bench/chromium-viewer.mjs (incl. how ICE is kept on 127.0.0.1).
// As the agent does, a viewer whose DTLS comes up asks the encoder for a keyframe; here the "encoder" answers at the
// next frame tick by jumping to the clip's next IDR, like the device's RESET_VIDEO (a new IDR within a few ms).
// werift time to first frame = the receiver's offer creation → its first complete frame (marker bit), measured in the
// receiver; it includes ICE gathering on both sides, the answer, ICE checks, DTLS (pure JS in werift) and the frame.
// chromium time to first frame = just before `new RTCPeerConnection()` in the page → the first requestVideoFrameCallback
// (the first frame decoded and presented): gathering (until complete, as the console page waits), the answer (a CDP
// round trip to Node), ICE, DTLS (BoringSSL in the browser, werift in the agent), decode, presentation. The page also
// records when gathering completed, the answer arrived, ICE connected and the connection (DTLS) connected.
// Not included in either: the control plane's WHEP relay over MQTT (one request/response on loopback).
// Usage: pnpm bench:latency [-- --joins 20]   (--joins applies to both kinds; --smoke: 3 werift, 2 chromium joins)
import { execFileSync, fork } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { launchChromiumViewer } from "./chromium-viewer.mjs";
import { importTsHelper, repoRoot, sleep, summarize, writeResult } from "./lib.mjs";
const { assertLoopbackPairs, loopbackOnly } = await importTsHelper("test/support/loopback-ice.ts");

const FPS = 30;
const { values: args } = parseArgs({ options: { joins: { type: "string", default: "20" }, smoke: { type: "boolean", default: false } } });
const joins = args.smoke ? 3 : Number(args.joins);
const chromiumJoins = args.smoke ? 2 : joins;
if (!Number.isInteger(joins) || joins < 1) throw new Error(`--joins must be a positive integer, got ${args.joins}`);
// First, so that a missing browser fails the run before anything else.
const browser = await launchChromiumViewer();
const { H264Packetizer } = await import("@cloudphone/agent/dist/stream/h264/packetizer.js");
const { splitAccessUnits, nalType } = await import("@cloudphone/agent/dist/stream/h264/nal.js");
const { ViewerPeer } = await import("@cloudphone/agent/dist/stream/webrtc/peer.js");

const clip = execFileSync("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", `testsrc2=size=720x1280:rate=${FPS}`, "-t", "10", "-c:v", "libx264",
  "-preset", "veryfast", "-profile:v", "baseline", "-level", "3.1", "-pix_fmt", "yuv420p", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M",
  "-x264-params", `keyint=${FPS}`, "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"], { maxBuffer: 256 * 1024 * 1024 });
const aus = splitAccessUnits(clip);
const isIdr = aus.map((au) => au.some((n) => nalType(n) === 5));
const packetizer = new H264Packetizer();
const probe = new H264Packetizer();
probe.packetize(aus[0], 0);
const profileLevelId = probe.spsInfo?.profileLevelId ?? "42e01f";

const peers = new Set();
let keyframeWanted = false;
let running = true;
const fanout = [];

async function sourceLoop() {
  let i = 0;
  let ptsUs = 0;
  const start = performance.now();
  for (let frame = 0; running; frame++) {
    if (keyframeWanted) {
      keyframeWanted = false;
      while (!isIdr[i]) i = (i + 1) % aus.length;
    }
    const t0 = process.hrtime.bigint();
    const au = packetizer.packetize(aus[i], ptsUs);
    if (au) for (const p of peers) p.sendAccessUnit(au);
    fanout.push(Number(process.hrtime.bigint() - t0) / 1000);
    i = (i + 1) % aus.length;
    ptsUs += 1_000_000 / FPS;
    await sleep(Math.max(0, start + ((frame + 1) * 1000) / FPS - performance.now()));
  }
}

/**
 * The agent side of one viewer, configured as the agent's defaults (stream.directRtp on; an agent/dist without that
 * option ignores it), with the agent's keyframe logic: DTLS up or a PLI/FIR → a keyframe at the next tick.
 */
function newPeer() {
  const peer = new ViewerPeer(
    { iceServers: [], additionalHostAddresses: ["127.0.0.1"], portRange: undefined, profileLevelId, gatherTimeoutMs: 2000, directRtp: true },
    { onConnected: () => (keyframeWanted = true), onChannelOpen() {}, onMessage() {}, onKeyframeRequest: () => (keyframeWanted = true), onGone() {} },
  );
  peers.add(peer);
  return peer;
}

/** How each kind of viewer was written to (the agent's write path, when agent/dist reports it). */
const writePaths = { werift: new Set(), chromium: new Set() };

function dropPeer(peer, kind) {
  if (!peer) return;
  if (peer.writePath) writePaths[kind].add(peer.writePath.kind === "direct" ? `direct ${peer.writePath.srtpProfile}` : `werift (${peer.writePath.reason})`);
  peers.delete(peer);
  peer.close();
}

/** A receiver child with one viewer; resolves with its report once it has seen a frame. */
async function join1(keep = false) {
  const child = fork(join(repoRoot, "bench/stream-viewers.mjs"), ["--receiver", "1"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let peer = null;
  let poll = null;
  const report = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no first frame within 10 s")), 10_000);
    child.on("message", async (m) => {
      if (m.type === "offer") {
        // Both sides learn only each other's 127.0.0.1 candidate (the receiver also offers the host's own addresses).
        peer = newPeer();
        const answer = await peer.answer(loopbackOnly(m.sdp, "the werift receiver's offer"));
        child.send({ type: "answer", id: m.id, sdp: loopbackOnly(answer, "the agent's answer") });
        poll = setInterval(() => child.connected && child.send({ type: "report" }), 20);
      } else if (m.type === "report" && m.viewers[0].firstFrameMs !== null) {
        clearTimeout(timer);
        resolve(m.viewers[0]);
      }
    });
  });
  try {
    const r = await report;
    assertLoopbackPairs(peer.pc, "the agent (werift join)");
    return r;
  } finally {
    clearInterval(poll);
    if (!keep) {
      dropPeer(peer, "werift");
      child.kill();
    }
  }
}

const looping = sourceLoop();
await join1(true); // the viewer already watching (kept), also a warm-up of the whole path
const ttff = [];
const answered = [];
for (let k = 0; k < joins; k++) {
  const r = await join1();
  ttff.push(r.firstFrameMs);
  answered.push(r.answeredMs);
  await sleep(300);
}

// The same stream, still running with its first viewer, now joined by the browser.
const chromium = { timeToFirstFrameMs: [], gatheredMs: [], answerMs: [], iceConnectedMs: [], connectedMs: [] };
for (let k = 0; k < chromiumJoins; k++) {
  let peer = null;
  try {
    const r = await browser.join(async (offer) => {
      peer = newPeer();
      return { sdp: await peer.answer(offer), pc: peer.pc };
    });
    chromium.timeToFirstFrameMs.push(r.firstFrameMs);
    for (const key of ["gatheredMs", "answerMs", "iceConnectedMs", "connectedMs"]) chromium[key].push(r[key]);
  } finally {
    dropPeer(peer, "chromium");
  }
  await sleep(300);
}
await browser.close();
running = false;
await looping;
for (const p of peers) p.close();
const result = {
  joins,
  timeToFirstFrameMs: roundAll(summarize(ttff)),
  offerToAnswerMs: roundAll(summarize(answered)),
  fanoutUsPerFrame: roundAll(summarize(fanout)),
  writePaths: { werift: [...writePaths.werift], chromium: [...writePaths.chromium] },
  chromium: { browser: browser.version, joins: chromiumJoins, ...Object.fromEntries(Object.entries(chromium).map(([k, v]) => [k, roundAll(summarize(v))])) },
};
console.log(JSON.stringify(result, null, 2));
const line = (name, s) => `${name.padEnd(9)} p50 ${s.p50} ms, p90 ${s.p90} ms, max ${s.max} ms (n=${s.n})`;
console.log(`time to first frame, joining a running stream:\n  ${line("werift", result.timeToFirstFrameMs)}  [first complete frame received]\n  ${line("chromium", result.chromium.timeToFirstFrameMs)}  [first frame presented]`);
console.log(`results: ${writeResult("stream-latency", result)}`);
process.exit(0);

function roundAll(o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}
