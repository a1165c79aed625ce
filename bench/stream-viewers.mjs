// Benchmark: sender CPU per WebRTC viewer of one 720x1280 @ 30 fps, ~4 Mbit/s H.264 stream, with N real werift
// receivers in separate processes on loopback (SRTP, RTCP and sockets included, unlike bench/rtp-packetize.mjs).
//
// The sender is this process running the agent's own streaming code (agent/dist): `ViewerPeer` (werift answerer,
// one H.264 payload type) per viewer and `H264Packetizer`. Three pipelines over the SAME peers, measured one after
// the other in the same run:
//   direct: one packetization per access unit for every viewer, sent by DirectRtpWriter (our SRTP, one sendmsg per
//           packet): what the agent does;
//   shared: the same shared packetization, written through werift's sender (the agent before DirectRtpWriter);
//   naive:  one packetizer and one packetization per viewer, werift's sender (the baseline the issue names).
// The source is a clip made by ffmpeg now (testsrc2, libx264 Constrained Baseline), cut into access units and paced
// at 30 fps by a self-correcting timer, as the scrcpy demuxer would deliver frames. What is NOT included: the device
// socket, the scrcpy demuxer and the control plane (constant per device, not per viewer).
// Receivers: werift RTCPeerConnections (recvonly video + `control` data channel), at most 10 per child process;
// each counts RTP packets, sequence gaps (loss) and marker bits (frames) per viewer.
// Reported per viewer count and pipeline: sender CPU ms per wall second, per viewer, viewers per core (1000 / per
// viewer), min/median fps over viewers, packets lost, and the per-frame fan-out time (p50/p99 over frames: the
// synchronous part from frame in hand to its last packet handed to werift for every viewer).
// `--receiver N` is the child mode (also used by bench/stream-latency.mjs); it reports time to first frame too.
// Usage: pnpm bench:viewers [-- --viewers 1,10,25 --seconds 8]   (--smoke: 1 and 2 viewers, 2 s)
import { fork, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { importTsHelper, repoRoot, sleep, summarize, writeResult } from "./lib.mjs";

const FPS = 30;
const PER_CHILD = 10;
const PIPELINES = ["direct", "shared", "naive"];
const self = fileURLToPath(import.meta.url);
const agentRequire = createRequire(join(repoRoot, "agent/package.json"));
const werift = await import(pathToFileURL(agentRequire.resolve("werift")).href);
// ICE on 127.0.0.1 only (the network rule): both sides learn only their loopback candidates.
const { loopbackOnly } = await importTsHelper("test/support/loopback-ice.ts");

if (process.argv[2] === "--receiver") await receiver(Number(process.argv[3]));
else await main();

async function main() {
  const { values: args } = parseArgs({
    options: { viewers: { type: "string", default: "1,10,25" }, seconds: { type: "string", default: "8" }, smoke: { type: "boolean", default: false } },
  });
  const counts = args.smoke ? [1, 2] : args.viewers.split(",").map(Number);
  const seconds = args.smoke ? 2 : Number(args.seconds);
  const { H264Packetizer } = await import("@cloudphone/agent/dist/stream/h264/packetizer.js");
  const { splitAccessUnits } = await import("@cloudphone/agent/dist/stream/h264/nal.js");
  const { ViewerPeer } = await import("@cloudphone/agent/dist/stream/webrtc/peer.js");

  const clip = execFileSync("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", `testsrc2=size=720x1280:rate=${FPS}`, "-t", "10", "-c:v", "libx264",
    "-preset", "veryfast", "-profile:v", "baseline", "-level", "3.1", "-pix_fmt", "yuv420p", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M",
    "-x264-params", `keyint=${FPS}`, "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"], { maxBuffer: 256 * 1024 * 1024 });
  const aus = splitAccessUnits(clip);
  const probe = new H264Packetizer();
  for (const au of aus.slice(0, 2)) probe.packetize(au, 0);
  const profileLevelId = probe.spsInfo?.profileLevelId ?? "42e01f";
  console.log(`clip: ${aus.length} access units, ${((clip.length * 8) / 10 / 1e6).toFixed(2)} Mbit/s, profile-level-id ${profileLevelId}`);

  const results = [];
  for (const n of counts) {
    const children = [];
    const peers = [];
    const pending = new Map();
    const reports = new Map();
    for (let c = 0; c < Math.ceil(n / PER_CHILD); c++) {
      const child = fork(self, ["--receiver", String(Math.min(PER_CHILD, n - c * PER_CHILD))], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      children.push(child);
      child.on("message", async (m) => {
        if (m.type === "offer") {
          const peer = new ViewerPeer(
            { iceServers: [], additionalHostAddresses: ["127.0.0.1"], portRange: undefined, profileLevelId, gatherTimeoutMs: 2000, directRtp: true },
            { onConnected() {}, onChannelOpen() {}, onMessage() {}, onKeyframeRequest() {}, onGone() {} },
          );
          peer.packetizer = new H264Packetizer();
          peers.push(peer);
          const answer = await peer.answer(loopbackOnly(m.sdp, "the werift receiver's offer"));
          child.send({ type: "answer", id: m.id, sdp: loopbackOnly(answer, "the agent's answer") });
        } else if (m.type === "report") {
          reports.set(child, m.viewers);
          pending.get(child)?.();
        }
      });
    }
    await waitUntil(() => peers.length === n && peers.every((p) => p.isLive), 20_000, `${n} viewers connected`);
    const snapshot = async () => {
      const done = children.map((c) => new Promise((r) => pending.set(c, r)));
      for (const c of children) c.send({ type: "report" });
      await Promise.all(done);
      return children.flatMap((c) => reports.get(c));
    };

    // One paced source loop; `mode` switches the pipeline between measurement windows.
    let mode = "direct";
    let i = 0;
    let ptsUs = 0;
    const shared = new H264Packetizer();
    let fanout = [];
    let running = true;
    const start = performance.now();
    const loop = async () => {
      for (let frame = 0; running; frame++) {
        const nals = aus[i];
        i = (i + 1) % aus.length;
        const t0 = process.hrtime.bigint();
        if (mode === "naive") {
          for (const p of peers) {
            const au = p.packetizer.packetize(nals, ptsUs);
            if (au) p.sendAccessUnit(au, "werift");
          }
        } else {
          const au = shared.packetize(nals, ptsUs);
          const via = mode === "direct" ? "auto" : "werift";
          if (au) for (const p of peers) p.sendAccessUnit(au, via);
        }
        fanout.push(Number(process.hrtime.bigint() - t0) / 1000);
        ptsUs += 1_000_000 / FPS;
        const due = start + ((frame + 1) * 1000) / FPS;
        await sleep(Math.max(0, due - performance.now()));
      }
    };
    const looping = loop();
    // Warm up the pipelines (JIT) while every viewer reaches its first keyframe (one per second).
    for (const m of PIPELINES) {
      mode = m;
      await sleep(1000);
    }
    const paths = new Set(peers.map((p) => p.writePath?.kind === "direct" ? `direct ${p.writePath.srtpProfile}` : `werift (${p.writePath?.reason})`));
    console.log(`write paths: ${[...paths].join(", ")}`);
    if (!paths.has("direct aes128-gcm") && !paths.has("direct aes128-cm-hmac-sha1-80")) throw new Error(`no viewer on the direct path: ${[...paths]}`);
    // ABCCBA order, so that drift (JIT warm-up, GC, the other processes) does not favour any pipeline.
    for (const m of [...PIPELINES, ...[...PIPELINES].reverse()]) {
      mode = m;
      await sleep(1000);
      fanout = [];
      const r0 = await snapshot();
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      await sleep(seconds * 1000);
      const cpu = process.cpuUsage(c0);
      const wall = (performance.now() - w0) / 1000;
      const r1 = await snapshot();
      const cpuMsPerSec = (cpu.user + cpu.system) / 1000 / wall;
      const fps = r1.map((v, k) => (v.frames - r0[k].frames) / wall).sort((a, b) => a - b);
      const lost = r1.reduce((s, v, k) => s + (v.lost - r0[k].lost), 0);
      const f = summarize(fanout);
      const row = {
        viewers: n, pipeline: m, cpuMsPerSec: round(cpuMsPerSec), cpuMsPerSecPerViewer: round(cpuMsPerSec / n),
        viewersPerCore: Math.floor(1000 / (cpuMsPerSec / n)), minFps: round(fps[0]), medianFps: round(fps[fps.length >> 1]), packetsLost: lost,
        fanoutUsP50: round(f.p50), fanoutUsP99: round(f.p99),
      };
      results.push(row);
      console.log(JSON.stringify(row));
    }
    running = false;
    await looping;
    for (const p of peers) p.close();
    for (const c of children) c.kill();
    await sleep(500);
  }
  // Each (viewers, pipeline) is the mean of its two windows.
  const windows = results.splice(0);
  for (const n of counts) {
    for (const m of PIPELINES) {
      const w = windows.filter((r) => r.viewers === n && r.pipeline === m);
      const mean = (k) => round(w.reduce((s, r) => s + r[k], 0) / w.length);
      const cpuMsPerSec = mean("cpuMsPerSec");
      results.push({
        viewers: n, pipeline: m, cpuMsPerSec, cpuMsPerSecPerViewer: round(cpuMsPerSec / n), viewersPerCore: Math.floor(1000 / (cpuMsPerSec / n)),
        minFps: Math.min(...w.map((r) => r.minFps)), medianFps: mean("medianFps"), packetsLost: w.reduce((s, r) => s + r.packetsLost, 0),
        fanoutUsP50: mean("fanoutUsP50"), fanoutUsP99: Math.max(...w.map((r) => r.fanoutUsP99)),
      });
    }
  }
  console.table(results);
  // Marginal cost of a viewer (the slope between the smallest and largest count), free of the fixed per-stream part.
  const marginal = {};
  if (counts.length > 1) {
    const lo = Math.min(...counts);
    const hi = Math.max(...counts);
    for (const m of PIPELINES) {
      const a = results.find((r) => r.viewers === lo && r.pipeline === m);
      const b = results.find((r) => r.viewers === hi && r.pipeline === m);
      const perViewer = (b.cpuMsPerSec - a.cpuMsPerSec) / (hi - lo);
      marginal[m] = { cpuMsPerSecPerViewer: round(perViewer), viewersPerCore: Math.floor(1000 / perViewer) };
    }
    console.log(`marginal per viewer (${lo} → ${hi}): ${JSON.stringify(marginal)}`);
  }
  console.log(`results: ${writeResult("stream-viewers", { fps: FPS, seconds, results, marginal, windows })}`);
  process.exit(0);
}

/** A child hosting `n` werift receivers; answers `report` with per-viewer counters. */
async function receiver(n) {
  const { RTCPeerConnection, RTCRtpCodecParameters } = werift;
  const viewers = [];
  for (let id = 0; id < n; id++) {
    const t0 = performance.now();
    const v = { packets: 0, frames: 0, lost: 0, lastSeq: -1, firstFrameMs: null, answeredMs: null };
    viewers.push(v);
    const pc = new RTCPeerConnection({
      iceServers: [], iceUseIpv6: false, iceAdditionalHostAddresses: ["127.0.0.1"],
      codecs: { video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }], parameters: "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1" })], audio: [] },
    });
    const tr = pc.addTransceiver("video", { direction: "recvonly" });
    pc.createDataChannel("control");
    tr.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => {
      const seq = rtp.header.sequenceNumber;
      if (v.lastSeq >= 0) {
        const gap = (seq - v.lastSeq - 1 + 65536) % 65536;
        if (gap < 1000) v.lost += gap; // a large jump is reordering, not loss
      }
      v.lastSeq = seq;
      v.packets++;
      if (rtp.header.marker) {
        v.frames++;
        v.firstFrameMs ??= performance.now() - t0;
      }
    }));
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== "complete") await pc.iceGatheringStateChange.watch((s) => s === "complete", 3000).catch(() => {});
    const answer = new Promise((resolve) => {
      const on = (m) => {
        if (m.type === "answer" && m.id === id) {
          process.off("message", on);
          resolve(m.sdp);
        }
      };
      process.on("message", on);
    });
    process.send({ type: "offer", id, sdp: pc.localDescription.sdp });
    const sdp = await answer;
    v.answeredMs = performance.now() - t0;
    await pc.setRemoteDescription({ type: "answer", sdp });
  }
  process.on("message", (m) => {
    if (m.type === "report") process.send({ type: "report", viewers: viewers.map(({ packets, frames, lost, firstFrameMs, answeredMs }) => ({ packets, frames, lost, firstFrameMs, answeredMs })) });
  });
  process.on("disconnect", () => process.exit(0));
}

async function waitUntil(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function round(x) {
  return Math.round(x * 100) / 100;
}
