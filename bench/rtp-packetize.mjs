// Benchmark: RTP fan-out of one H.264 stream to N viewers, shared packetization versus per-viewer packetization.
//
// Input: 10 s of 720x1280 @ 30 fps, about 4 Mbit/s, Constrained Baseline H.264 made by ffmpeg (libx264) now, cut into
// access units and handed over as Annex-B frames, as the scrcpy demuxer delivers them (SPS/PPS once, then frames).
// Ours: the agent's `H264Packetizer` runs ONCE per frame; each viewer's `ViewerRtpStream` only writes its 12-byte
// headers (sequence, SSRC, PT) next to the shared payloads (what a scatter/gather send or werift's `writeRtp` needs).
// Baseline, same run and interleaved with ours: the naive pipeline, one packetizer per viewer (split, FU-A copies,
// STAP-A) followed by the same header write. Neither side includes SRTP or socket sends (those cost the same per
// packet in both designs); the figures isolate what sharing the packetization saves.
// Reported per viewer count: viewer-packets per CPU second, µs of CPU per frame per viewer, ratio naive / ours, and
// ours' per-frame fan-out time (p50/p99, all viewers), the part of the latency the agent adds before werift.
// Usage: pnpm bench:packetize [-- --viewers 1,10,100 --seconds 10 --rounds 3]   (--smoke: tiny run, no targets)
// (runs with --expose-gc so each side starts with a clean heap)
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { H264Packetizer } from "@cloudphone/agent/dist/stream/h264/packetizer.js";
import { ViewerRtpStream } from "@cloudphone/agent/dist/stream/rtp/viewer.js";
import { joinAnnexB, nalType, splitAccessUnits } from "@cloudphone/agent/dist/stream/h264/nal.js";
import { summarize, writeResult } from "./lib.mjs";

const { values: args } = parseArgs({
  options: {
    viewers: { type: "string", default: "1,10,100" },
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    smoke: { type: "boolean", default: false },
  },
});
const viewerCounts = args.smoke ? [1, 2] : args.viewers.split(",").map(Number);
const seconds = args.smoke ? 1 : Number(args.seconds);
const rounds = args.smoke ? 1 : Number(args.rounds);
const FPS = 30;

const clip = execFileSync(
  "ffmpeg",
  ["-v", "error", "-f", "lavfi", "-i", `testsrc2=size=720x1280:rate=${FPS}`, "-t", String(seconds), "-c:v", "libx264",
    "-preset", "veryfast", "-profile:v", "baseline", "-level", "3.1", "-pix_fmt", "yuv420p", "-b:v", "4M", "-maxrate", "4M",
    "-bufsize", "4M", "-x264-params", `keyint=${2 * FPS}`, "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"],
  { maxBuffer: 256 * 1024 * 1024 },
);
// scrcpy-like input: one CONFIG packet (SPS+PPS) then one Annex-B buffer per frame with its PTS.
const isPs = (n) => nalType(n) === 7 || nalType(n) === 8;
const aus = splitAccessUnits(clip);
const config = joinAnnexB(aus.flatMap((au) => au.filter(isPs)).slice(0, 2));
const frames = aus.map((au, i) => ({ data: joinAnnexB(au.filter((n) => !isPs(n))), ptsUs: Math.round((i * 1e6) / FPS) }));
const bitrate = Math.round((clip.length * 8) / seconds);

function cpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Shared: packetize once, stamp headers per viewer. Returns CPU µs, packets and per-frame wall µs. */
function runOurs(n) {
  const packetizer = new H264Packetizer();
  packetizer.packetizeAnnexB(config, 0);
  const viewers = Array.from({ length: n }, () => new ViewerRtpStream());
  const perFrame = [];
  let packets = 0;
  const c0 = cpuUs();
  for (const f of frames) {
    const t0 = performance.now();
    const au = packetizer.packetizeAnnexB(f.data, f.ptsUs);
    for (const v of viewers) packets += v.headerBlock(au).length / 12;
    perFrame.push((performance.now() - t0) * 1000);
  }
  return { cpuUs: cpuUs() - c0, packets, perFrame };
}

/** Naive: every viewer has its own packetizer over the same frames. */
function runNaive(n) {
  const viewers = Array.from({ length: n }, () => {
    const packetizer = new H264Packetizer();
    packetizer.packetizeAnnexB(config, 0);
    return { packetizer, rtp: new ViewerRtpStream() };
  });
  const perFrame = [];
  let packets = 0;
  const c0 = cpuUs();
  for (const f of frames) {
    const t0 = performance.now(); // same instrumentation as ours
    for (const v of viewers) packets += v.rtp.headerBlock(v.packetizer.packetizeAnnexB(f.data, f.ptsUs)).length / 12;
    perFrame.push((performance.now() - t0) * 1000);
  }
  return { cpuUs: cpuUs() - c0, packets, perFrame };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (let i = 0; i < 3; i++) {
  runOurs(4);
  runNaive(4); // warm-up (JIT)
}

const results = [];
for (const n of viewerCounts) {
  const ours = [];
  const naive = [];
  let frameTimes = [];
  let naiveFrameTimes = [];
  let packetsPerViewer = 0;
  for (let r = 0; r < rounds; r++) {
    // Collect the other side's garbage first, so neither run pays for the other's (needs --expose-gc).
    globalThis.gc?.();
    const o = runOurs(n);
    globalThis.gc?.();
    const b = runNaive(n);
    if (o.packets !== b.packets) throw new Error(`packet counts differ: ${o.packets} vs ${b.packets}`);
    ours.push(o.cpuUs);
    naive.push(b.cpuUs);
    frameTimes = frameTimes.concat(o.perFrame);
    naiveFrameTimes = naiveFrameTimes.concat(b.perFrame);
    packetsPerViewer = o.packets / n;
  }
  const oursCpu = median(ours);
  const naiveCpu = median(naive);
  const viewerPackets = packetsPerViewer * n;
  const ft = summarize(frameTimes);
  const nft = summarize(naiveFrameTimes);
  const row = {
    viewers: n,
    packetsPerViewer,
    ours: { cpuMs: +(oursCpu / 1000).toFixed(1), packetsPerCpuSecond: Math.round((viewerPackets / oursCpu) * 1e6), usPerFramePerViewer: +(oursCpu / frames.length / n).toFixed(2) },
    naive: { cpuMs: +(naiveCpu / 1000).toFixed(1), packetsPerCpuSecond: Math.round((viewerPackets / naiveCpu) * 1e6), usPerFramePerViewer: +(naiveCpu / frames.length / n).toFixed(2) },
    ratioNaiveOverOurs: +(naiveCpu / oursCpu).toFixed(2),
    oursFanOutPerFrameUs: { p50: +ft.p50.toFixed(1), p99: +ft.p99.toFixed(1), max: +ft.max.toFixed(1) },
    naiveFanOutPerFrameUs: { p50: +nft.p50.toFixed(1), p99: +nft.p99.toFixed(1), max: +nft.max.toFixed(1) },
  };
  results.push(row);
  console.log(
    `viewers=${n}: ours ${row.ours.usPerFramePerViewer} µs/frame/viewer (${row.ours.packetsPerCpuSecond} pkt/s), ` +
      `naive ${row.naive.usPerFramePerViewer} µs/frame/viewer (${row.naive.packetsPerCpuSecond} pkt/s), ratio ${row.ratioNaiveOverOurs}, ` +
      `fan-out per frame p50/p99 ours ${row.oursFanOutPerFrameUs.p50}/${row.oursFanOutPerFrameUs.p99} µs, naive ${row.naiveFanOutPerFrameUs.p50}/${row.naiveFanOutPerFrameUs.p99} µs`,
  );
}

const file = writeResult("rtp-packetize", {
  params: { seconds, fps: FPS, frames: frames.length, width: 720, height: 1280, bitrate, clipBytes: clip.length, rounds, maxPayloadBytes: 1200, smoke: args.smoke },
  results,
});
console.log(`wrote ${file}`);
