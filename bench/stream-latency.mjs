// Benchmark: time to first frame for a viewer joining a running stream, on loopback, and the per-frame fan-out time
// the sender adds (frame in hand → its last RTP packet handed to werift, synchronous part, SRTP included).
//
// Sender: this process with the agent's streaming code (agent/dist: ViewerPeer, H264Packetizer), one clip made by
// ffmpeg now (720x1280 @ 30 fps, ~4 Mbit/s, an IDR every second) paced at 30 fps, and one viewer already watching.
// Joining viewers: werift receivers in a child process each (bench/stream-viewers.mjs --receiver 1), one at a time.
// As the agent does, a viewer whose DTLS comes up asks the encoder for a keyframe; here the "encoder" answers at the
// next frame tick by jumping to the clip's next IDR, like the device's RESET_VIDEO (a new IDR within a few ms).
// Time to first frame = the receiver's offer creation → its first complete frame (marker bit), measured in the
// receiver; it includes ICE gathering on both sides, the answer, ICE checks, DTLS (pure JS in werift) and the frame.
// Not included: the control plane's WHEP relay over MQTT (one request/response on loopback, a few ms) and the
// browser's decode. Usage: pnpm bench:latency [-- --joins 20]
import { execFileSync, fork } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot, sleep, summarize, writeResult } from "./lib.mjs";

const FPS = 30;
const { values: args } = parseArgs({ options: { joins: { type: "string", default: "20" }, smoke: { type: "boolean", default: false } } });
const joins = args.smoke ? 3 : Number(args.joins);
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

/** A receiver child with one viewer; resolves with its report once it has seen a frame. */
async function join1(keep = false) {
  const child = fork(join(repoRoot, "bench/stream-viewers.mjs"), ["--receiver", "1"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let peer = null;
  let poll = null;
  const report = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no first frame within 10 s")), 10_000);
    child.on("message", async (m) => {
      if (m.type === "offer") {
        peer = new ViewerPeer(
          { iceServers: [], additionalHostAddresses: ["127.0.0.1"], portRange: undefined, profileLevelId, gatherTimeoutMs: 2000 },
          { onConnected: () => (keyframeWanted = true), onChannelOpen() {}, onMessage() {}, onKeyframeRequest: () => (keyframeWanted = true), onGone() {} },
        );
        peers.add(peer);
        child.send({ type: "answer", id: m.id, sdp: await peer.answer(m.sdp) });
        poll = setInterval(() => child.connected && child.send({ type: "report" }), 20);
      } else if (m.type === "report" && m.viewers[0].firstFrameMs !== null) {
        clearTimeout(timer);
        resolve(m.viewers[0]);
      }
    });
  });
  try {
    return await report;
  } finally {
    clearInterval(poll);
    if (!keep) {
      if (peer) {
        peers.delete(peer);
        peer.close();
      }
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
running = false;
await looping;
for (const p of peers) p.close();
const result = {
  joins,
  timeToFirstFrameMs: roundAll(summarize(ttff)),
  offerToAnswerMs: roundAll(summarize(answered)),
  fanoutUsPerFrame: roundAll(summarize(fanout)),
};
console.log(JSON.stringify(result, null, 2));
console.log(`results: ${writeResult("stream-latency", result)}`);
process.exit(0);

function roundAll(o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}
